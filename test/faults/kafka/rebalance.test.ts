import assert from 'node:assert/strict';
import type { Admin } from 'kafkajs';
import { KafkaTransport, type KafkaConfig, type KafkaSubscription } from '../../../src/adapters/kafka/index.js';
import { committedOffsets, describePositions, endOffsets, gaps, position, rawAdmin, taggingDriver, uniqueTopic, type CommitListener } from '../../support/kafka-faults.js';
import { KafkaNode } from '../../support/kafka-node.js';
import { sleep, waitFor } from '../../support/wait.js';

const TOTAL = 5000;
const PARTITIONS = 6;
const LANES = 5;
const BACKLOG = 1500;
const NODE = 5;

interface Processed {
  readonly member: 'A' | 'B';
  readonly id: string;
  readonly partition: number;
  readonly offset: number;
}

describe('fault: Kafka consumer-group rebalances while publishing and consuming', function () {
  this.timeout(240_000);
  let node: KafkaNode | undefined;
  let admin: Admin | undefined;
  const transports: KafkaTransport[] = [];

  before(async function () {
    this.timeout(200_000);
    node = await KafkaNode.start(NODE);
    admin = await rawAdmin(node.brokers);
  });

  after(async () => {
    for (const transport of transports.splice(0)) await transport.close().catch(() => undefined);
    await admin?.disconnect().catch(() => undefined);
    await node?.wipe();
  });

  async function connect(onCommit?: CommitListener): Promise<KafkaTransport> {
    const config: KafkaConfig = {
      brokers: (node as KafkaNode).brokers,
      topics: { defaults: { partitions: PARTITIONS } },
      consumer: { sessionTimeoutMs: 6000, heartbeatIntervalMs: 500, maxWaitTimeMs: 200, commitIntervalMs: 200 },
    };
    const transport = await KafkaTransport.connect(config, taggingDriver(onCommit));
    transports.push(transport);
    return transport;
  }

  /**
   * A backlog of 1,500, then A consumes throughout while 3,500 more are published; B joins once A has processed 500
   * (A is revoked mid-batch) and leaves (`close` or `crash`) once it has processed 300 (mid-batch, on a backlog).
   */
  async function scenario(leave: 'close' | 'crash'): Promise<void> {
    const t0 = Date.now();
    const topic = uniqueTopic(`rebalance-${leave}`);
    const groupId = `${topic}.g`;
    const processed: Processed[] = [];
    const committedByB = new Map<number, number>();
    const subscribe = async (member: 'A' | 'B', onCommit?: CommitListener): Promise<KafkaSubscription> =>
      (await connect(onCommit)).subscriber().subscribe(
        topic,
        async (message) => {
          await sleep(2);
          processed.push({ member, id: message.id, ...position(message.headers) });
        },
        { group: 'g', concurrency: PARTITIONS },
      );
    const producer = await connect();
    await producer.ensureTopic(topic);
    const publisher = await producer.publisher();
    const publish = async (i: number): Promise<string> => (await publisher.publish(topic, { type: 'fault.rebalance', key: `k${String(i % 211)}`, payload: { i } })).id;
    const resolved: string[] = await Promise.all(Array.from({ length: BACKLOG }, (_, i) => publish(i)));
    await subscribe('A');

    let next = BACKLOG;
    const lanes = Array.from({ length: LANES }, async () => {
      while (next < TOTAL) {
        resolved.push(await publish(next++));
        await sleep(8);
      }
    });

    const by = (member: 'A' | 'B'): number => processed.filter((p) => p.member === member).length;
    await waitFor(() => by('A') >= 500, 60_000, () => `A processed ${String(by('A'))} before B joins`);
    const joinAt = processed.length;
    const b = await subscribe('B', (partition, offset) => committedByB.set(partition, offset));
    await waitFor(() => by('B') >= 300, 60_000, () => `B processed ${String(by('B'))}`);
    const leaveAt = processed.length;
    await (leave === 'close' ? b.close() : b.crash());
    const bPartitions = new Set(processed.filter((p) => p.member === 'B').map((p) => p.partition));
    // What B processed at or beyond its last commit of the partition: what the next owner processes again.
    const bUncommitted = processed.filter((p) => p.member === 'B' && p.offset >= (committedByB.get(p.partition) ?? 0)).length;
    const bTotal = by('B');
    await Promise.all(lanes);

    const ends = await endOffsets(admin as Admin, topic);
    let committed = new Map<number, number>();
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      committed = await committedOffsets(admin as Admin, groupId, topic);
      if ([...ends].every(([p, end]) => committed.get(p) === end)) break;
      await sleep(250);
    }
    await sleep(300); // a handler that finished after the last commit would show up as a late duplicate

    const times = new Map<string, number>();
    for (const p of processed) times.set(`${String(p.partition)}:${String(p.offset)}`, (times.get(`${String(p.partition)}:${String(p.offset)}`) ?? 0) + 1);
    const duplicates = [...times.values()].filter((n) => n > 1).reduce((sum, n) => sum + n - 1, 0);
    const union = new Map<number, Set<number>>();
    for (const p of processed) union.set(p.partition, (union.get(p.partition) ?? new Set<number>()).add(p.offset));
    const skipped = gaps(union, ends);
    const ids = new Set(processed.map((p) => p.id));
    const lost = resolved.filter((id) => !ids.has(id)).length;
    console.log(
      `      ${leave}: published ${String(resolved.length)} on ${String(PARTITIONS)} partitions (backlog ${String(BACKLOG)}); B joined at ${String(joinAt)} processed, left (${leave}) at ${String(leaveAt)} ` +
        `after processing ${String(bTotal)} on partitions [${[...bPartitions].sort().join(',')}] (${String(bUncommitted)} of them past its last commit); ` +
        `processed ${String(processed.length)}, reprocessed (duplicates) ${String(duplicates)}, skipped ${String(skipped.length)}, lost ${String(lost)}; ` +
        `committed = end: ${String([...ends].every(([p, end]) => committed.get(p) === end))}; ${String(Date.now() - t0)} ms`,
    );
    assert.equal(skipped.length, 0, `offsets never processed: ${describePositions(skipped)}`);
    assert.equal(lost, 0);
    assert.deepEqual(Object.fromEntries(committed), Object.fromEntries(ends), 'committed offsets reach the end offsets');
    assert.ok(bPartitions.size > 0 && bPartitions.size < PARTITIONS, 'B owned some of the partitions');
    if (leave === 'crash') assert.ok(duplicates <= bUncommitted + PARTITIONS, `duplicates ${String(duplicates)} beyond B's uncommitted work ${String(bUncommitted)} + the handlers in flight at A's revoke`);
    else assert.ok(duplicates <= PARTITIONS * 2, `duplicates ${String(duplicates)}: more than the handlers in flight at the two revokes`);
  }

  afterEach(async () => {
    for (const transport of transports.splice(0)) await transport.close().catch(() => undefined);
  });

  it('a second member joins, then leaves gracefully (close): no offset skipped, every message processed', async () => {
    await scenario('close');
  });

  it('a second member joins, then crashes (no commit of its finished work): no offset skipped, its uncommitted work processed again', async () => {
    await scenario('crash');
  });
});
