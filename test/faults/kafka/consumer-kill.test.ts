import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { Admin } from 'kafkajs';
import { KafkaTransport } from '../../../src/adapters/kafka/index.js';
import { committedOffsets, describePositions, endOffsets, gaps, rawAdmin, readLog, uniqueTopic } from '../../support/kafka-faults.js';
import { KafkaNode } from '../../support/kafka-node.js';
import { sleep, waitFor } from '../../support/wait.js';

const CONSUMER = fileURLToPath(new URL('./consumer-process.ts', import.meta.url));
const TOTAL = 3000;
const PARTITIONS = 3;
const NODE = 4;
/** The first consumer's handler always fails here: the committed offset of partition 0 must stay at or below it. */
const STUCK = { partition: 0, offset: 100 };

interface Done {
  readonly id: string;
  readonly partition: number;
  readonly offset: number;
}

function startConsumer(brokers: string, topic: string, args: string[], onDone: (done: Done) => void, onFail: () => void): { child: ChildProcess; ready: Promise<void> } {
  const child = spawn(process.execPath, ['--import', 'tsx', CONSUMER, brokers, topic, 'g', ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  const ready = new Promise<void>((resolve, reject) => {
    child.once('exit', (code, signal) => {
      reject(new Error(`consumer exited early with ${String(code ?? signal)}`));
    });
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      const [word, id, partition, offset] = line.split(' ');
      if (word === 'ready') resolve();
      else if (word === 'done' && id) onDone({ id, partition: Number(partition), offset: Number(offset) });
      else if (word === 'fail') onFail();
    });
  });
  ready.catch(() => undefined); // observed where awaited; an exit after the kill is expected
  return { child, ready };
}

function byPartition(list: readonly Done[]): Map<number, Set<number>> {
  const map = new Map<number, Set<number>>();
  for (const { partition, offset } of list) {
    const set = map.get(partition) ?? new Set<number>();
    set.add(offset);
    map.set(partition, set);
  }
  return map;
}

describe('fault: a Kafka consumer process killed with kill -9 mid-batch (commit after processing)', function () {
  this.timeout(240_000);
  const children: ChildProcess[] = [];
  let node: KafkaNode | undefined;
  let transport: KafkaTransport | undefined;
  let admin: Admin | undefined;

  after(async () => {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await transport?.close().catch(() => undefined);
    await admin?.disconnect().catch(() => undefined);
    await node?.wipe();
  });

  it('resumes at the last committed offset: every offset processed, none skipped, only the uncommitted ones processed again', async () => {
    const t0 = Date.now();
    node = await KafkaNode.start(NODE);
    const brokers = node.brokers.join(',');
    transport = await KafkaTransport.connect({ brokers: node.brokers, topics: { defaults: { partitions: PARTITIONS } } });
    admin = await rawAdmin(node.brokers);
    const topic = uniqueTopic('consumer-kill');
    const groupId = `${topic}.g`;
    await transport.ensureTopic(topic);
    const publisher = await transport.publisher();
    const sent = await Promise.all(Array.from({ length: TOTAL }, (_, i) => publisher.publish(topic, { type: 'fault.kill', key: `k${String(i % 101)}`, payload: { i } })));
    const ends = await endOffsets(admin, topic);
    const log = new Map((await readLog(node.brokers, topic)).map((r) => [`${String(r.partition)}:${String(r.offset)}`, r.id]));
    assert.equal(log.size, TOTAL, 'the log holds every publish once');
    const logIds = new Set(log.values());
    assert.ok(sent.every((e) => logIds.has(e.id)), 'every published id is in the log');
    assert.ok([...ends.values()].every((end) => end > STUCK.offset * 2), `keys spread over the partitions: ends ${JSON.stringify([...ends])}`);

    // First consumer: keys of a partition run concurrently (the watermark is what keeps commits honest), one record stuck.
    const first: Done[] = [];
    let failures = 0;
    const a = startConsumer(brokers, topic, ['key', '6', `${String(STUCK.partition)}:${String(STUCK.offset)}`], (d) => first.push(d), () => failures++);
    children.push(a.child);
    await a.ready;
    await waitFor(() => first.length >= TOTAL / 4 && failures >= 2, 60_000, () => `${String(first.length)} processed and ${String(failures)} failures of the stuck record before the kill`);
    const exited = new Promise((resolve) => a.child.once('exit', resolve));
    a.child.kill('SIGKILL');
    await exited;
    const processedBeforeKill = first.length;
    await sleep(500); // a commit request already on the wire is applied by the broker all the same
    const committedAtKill = await committedOffsets(admin, groupId, topic);
    const start = (p: number): number => Math.max(0, committedAtKill.get(p) ?? -1);
    const firstByPartition = byPartition(first);

    // Row 8: the committed offset never passes an unprocessed record; the stuck record is never committed past.
    for (const [partition, end] of ends) {
      const unprocessedBelow = [...Array(start(partition)).keys()].filter((o) => !firstByPartition.get(partition)?.has(o));
      assert.deepEqual(unprocessedBelow.slice(0, 20), [], `p${String(partition)}: committed ${String(start(partition))} (end ${String(end)}) passes unprocessed offsets`);
    }
    assert.ok(start(STUCK.partition) <= STUCK.offset, `the committed offset ${String(start(STUCK.partition))} passed the failing record ${String(STUCK.offset)}`);
    const uncommittedAtKill = first.filter((d) => d.offset >= start(d.partition)).length;

    // Second consumer: same group, one record per partition at a time, no failures.
    const second: Done[] = [];
    const b = startConsumer(brokers, topic, ['partition', '3'], (d) => second.push(d), () => undefined);
    children.push(b.child);
    await b.ready;
    let committed = new Map<number, number>();
    const deadline = Date.now() + 120_000;
    for (;;) {
      committed = await committedOffsets(admin, groupId, topic);
      if ([...ends].every(([p, end]) => committed.get(p) === end)) break;
      if (Date.now() > deadline) break;
      await sleep(250);
    }
    b.child.kill('SIGKILL');

    const secondByPartition = byPartition(second);
    const union = byPartition([...first, ...second]);
    const skipped = gaps(union, ends);
    const reprocessed = second.filter((d) => firstByPartition.get(d.partition)?.has(d.offset)).length;
    const resumedAt = new Map([...secondByPartition].map(([p, offsets]) => [p, Math.min(...offsets)]));
    const wrongIds = [...first, ...second].filter((d) => log.get(`${String(d.partition)}:${String(d.offset)}`) !== d.id).length;
    const processedIds = new Set([...first, ...second].map((d) => d.id));
    const lost = sent.filter((e) => !processedIds.has(e.id)).length;
    console.log(
      `      ${String(TOTAL)} messages on ${String(PARTITIONS)} partitions (ends ${JSON.stringify(Object.fromEntries(ends))}): first consumer processed ${String(processedBeforeKill)} ` +
        `(record p${String(STUCK.partition)}:${String(STUCK.offset)} failed ${String(failures)} times) before kill -9; committed then ${JSON.stringify(Object.fromEntries(committedAtKill))}, ` +
        `${String(uncommittedAtKill)} processed but uncommitted; second consumer resumed at ${JSON.stringify(Object.fromEntries(resumedAt))} and processed ${String(second.length)}; ` +
        `reprocessed ${String(reprocessed)}, skipped ${String(skipped.length)}, lost ${String(lost)}; final committed ${JSON.stringify(Object.fromEntries(committed))}; ${String(Date.now() - t0)} ms`,
    );
    assert.equal(skipped.length, 0, `offsets never processed: ${describePositions(skipped)}`);
    assert.equal(lost, 0);
    assert.equal(wrongIds, 0, 'each handler saw the record of the position it reported');
    for (const [partition, end] of ends) {
      if (start(partition) < end) assert.equal(resumedAt.get(partition), start(partition), `p${String(partition)} resumed at the last committed offset`);
    }
    assert.ok(reprocessed <= uncommittedAtKill, `reprocessed ${String(reprocessed)} > uncommitted at the kill ${String(uncommittedAtKill)}`);
    assert.deepEqual(Object.fromEntries(committed), Object.fromEntries(ends), 'committed offsets reach the end offsets');
  });
});
