import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { KafkaTransport, confluentProducerDriver, kafkajsDriver, type ConfluentKafka, type KafkaDriver, type KafkaPublishConfig, type KafkaRetryConfig, type ResolvedKafkaConfig } from '../../../src/adapters/kafka/index.js';
import { diagnose, readLog, recordingDriver, uniqueTopic, PublishLanes, type SendRecord } from '../../support/kafka-faults.js';
import { KafkaNode } from '../../support/kafka-node.js';
import { waitFor } from '../../support/wait.js';

const TOTAL = 10_000;
const LANES = 20;
const NODE = 6;
/** Provisioned by `scripts/clients/confluent-kafka.sh ensure` (npm test runs it). */
const confluent = (): ConfluentKafka => createRequire(import.meta.url)('@confluentinc/kafka-javascript') as ConfluentKafka;

describe('fault: Kafka broker killed (kill -9) and restarted during 10,000 idempotent publishes', function () {
  this.timeout(300_000);
  let node: KafkaNode | undefined;
  const transports: KafkaTransport[] = [];

  before(async function () {
    this.timeout(200_000);
    node = await KafkaNode.start(NODE);
  });

  afterEach(async () => {
    for (const transport of transports.splice(0)) await transport.close().catch(() => undefined);
  });

  after(async () => {
    await node?.wipe();
  });

  /**
   * 20 lanes publish ids `m-0`..`m-9999`; the broker is killed at 1/3 and restarted. Then the whole log is read: every
   * resolved publish must be in it (lost 0), nothing unknown (unexpected 0); rejected ones found there are indeterminate.
   */
  async function scenario(label: string, publish: KafkaPublishConfig, retry: KafkaRetryConfig, driver: (config: ResolvedKafkaConfig) => KafkaDriver = kafkajsDriver): Promise<void> {
    const t0 = Date.now();
    const brokers = (node as KafkaNode).brokers;
    const sends: SendRecord[] = [];
    const transport = await KafkaTransport.connect({ brokers, publish, retry, connectionTimeoutMs: 1000, topics: { defaults: { partitions: 6 } } }, recordingDriver(sends, driver));
    transports.push(transport);
    const topic = uniqueTopic(`broker-restart-${label.replace(/ /g, "-")}`);
    await transport.ensureTopic(topic);
    const publisher = await transport.publisher();
    const lanes = new PublishLanes(publisher, topic, 'fault.broker-restart', LANES, TOTAL);
    const { resolved, rejected, codes, untyped } = lanes;

    await waitFor(() => resolved.size >= TOTAL / 3, 120_000, () => `${String(resolved.size)} resolved before the kill`);
    const killAt = resolved.size;
    const tKill = Date.now();
    await (node as KafkaNode).kill9();
    lanes.markKilled();
    await (node as KafkaNode).restart();
    const upMs = Date.now() - tKill;
    await lanes.done;
    const settledMs = Date.now() - tKill;

    const log = await readLog(brokers, topic, 120_000);
    const inLog = new Map<string, number>();
    for (const r of log) inLog.set(r.id, (inLog.get(r.id) ?? 0) + 1);
    const lost = [...resolved].filter((id) => !inLog.has(id));
    const indeterminate = [...rejected].filter((id) => inLog.has(id)).length;
    const duplicates = [...inLog.values()].filter((n) => n > 1).reduce((sum, n) => sum + n - 1, 0);
    const unexpected = [...inLog.keys()].filter((id) => !resolved.has(id) && !rejected.has(id)).length;
    console.log(
      `      ${label} (publish ${JSON.stringify(publish)}, retry ${JSON.stringify(retry)}): published ${String(TOTAL)}: resolved ${String(resolved.size)} ` +
        `(${String(killAt)} before the kill, ${String(lanes.resolvedAfterKill)} after), rejected ${String(rejected.size)} ${JSON.stringify(Object.fromEntries(codes))}` +
        `${untyped.length > 0 ? ` + ${String(untyped.length)} untyped/final` : ''}; log holds ${String(log.length)} records: ${String(indeterminate)} of the rejected found (indeterminate), ` +
        `${String(duplicates)} duplicates, ${String(unexpected)} unexpected; lost ${String(lost.length)}${lost.length > 0 ? ` (${lost.slice(0, 5).join(', ')}…)` : ''}; ` +
        `kill→node up ${String(upMs)} ms, all settled after ${String(settledMs)} ms; ${String(Date.now() - t0)} ms in all`,
    );
    if (lost.length > 0 || duplicates > 0) console.log(diagnose(sends, log, 6, lost, [...inLog].filter(([, n]) => n > 1).map(([id]) => id), tKill));
    assert.deepEqual(untyped.slice(0, 5), [], 'every rejection is a typed retriable ReliableMqError');
    assert.equal(resolved.size + rejected.size, TOTAL, 'every publish settled');
    assert.equal(lost.length, 0, 'every resolved publish is in the log');
    assert.equal(unexpected, 0);
    assert.ok(lanes.resolvedAfterKill > 0, 'publishing went on after the restart');
  }

  it('publish timeout shorter than the restart: publishes settle while the broker is down (rejected, typed, retriable); none resolved is lost', async () => {
    await scenario('short timeout', { timeoutMs: 2000 }, { retries: 5, initialRetryTimeMs: 100, maxRetryTimeMs: 500 });
  });

  it('publish timeout longer than the restart: publishes wait out the restart and resolve; none resolved is lost', async () => {
    await scenario('long timeout', { timeoutMs: 20_000 }, { retries: 30, initialRetryTimeMs: 100, maxRetryTimeMs: 1000 });
  });

  it("Confluent producer, publish timeout shorter than the restart: rejected ones typed and retriable; none resolved is lost", async () => {
    await scenario('Confluent short timeout', { timeoutMs: 2000 }, { retries: 5, initialRetryTimeMs: 100, maxRetryTimeMs: 500 }, confluentProducerDriver(confluent()));
  });

  it('Confluent producer, publish timeout longer than the restart: publishes wait out the restart and resolve; none resolved is lost', async () => {
    await scenario('Confluent long timeout', { timeoutMs: 20_000 }, { retries: 30, initialRetryTimeMs: 100, maxRetryTimeMs: 1000 }, confluentProducerDriver(confluent()));
  });
});
