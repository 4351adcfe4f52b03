/**
 * Transactional outbox on PostgreSQL + RabbitMQ, 1 KiB payloads, W concurrent writers (one business row per
 * transaction):
 *   (a) unsafe baseline — COMMIT the business row, then a direct confirmed publish (SDK ConfirmedPublisher);
 *   (b) outbox — business row + `outbox.add` in the same transaction, 1 relay publishing with confirms,
 *       measured from the first write until the relay confirmed all N (end-to-end);
 *   (c) as (b) with 3 relays;
 *   (d) commit → confirmed latency at a steady paced rate, 1 relay, with LISTEN/NOTIFY (and polling only, for contrast).
 * Every case uses a fresh classic queue (checked to hold exactly N); the schema and queues are dropped at the end.
 *
 *   npx tsx bench/outbox.ts
 *   BENCH_N=5000 BENCH_WRITERS=8 BENCH_BATCH=100 BENCH_RATE=200 BENCH_LATENCY_S=10 BENCH_POLL_LATENCY_S=5 RMQ_URL=… PGHOST=…
 */
import type { DataSource } from 'typeorm';
import { type Publisher, type WireRecord } from '../src/core/index.js';
import { RabbitMqTransport, type ConfirmedPublisher } from '../src/adapters/rabbitmq/index.js';
import { OutboxRelay, TransactionalOutbox } from '../src/outbox/index.js';
import { AMQP_URL, intEnv } from './lib/env.js';
import { count, fixed, printTable, ratio } from './lib/format.js';
import { MESSAGE_TYPE, RAW_BODY, SDK_PAYLOAD } from './lib/payload.js';
import { dropSchema, openSchema, percentile, postgresVersion } from './lib/pg.js';
import { brokerVersion, printHeader, runBench, type Scratch } from './lib/rabbit.js';
import { concurrentLoops, now, perSecond, sleep, within } from './lib/timing.js';

const N = intEnv('BENCH_N', 5_000);
const WARMUP = intEnv('BENCH_WARMUP', 500);
const WRITERS = intEnv('BENCH_WRITERS', 8);
const BATCH = intEnv('BENCH_BATCH', 100);
const RATE = intEnv('BENCH_RATE', 200);
const LATENCY_S = intEnv('BENCH_LATENCY_S', 10);
const POLL_LATENCY_S = intEnv('BENCH_POLL_LATENCY_S', 5);
const CASE_TIMEOUT_MS = intEnv('BENCH_CASE_TIMEOUT_MS', 60_000);
const TARGET = 0.7;

const INSERT = 'INSERT INTO bench_row (ref, body) VALUES ($1, $2)';
const message = { type: MESSAGE_TYPE, payload: SDK_PAYLOAD };

/** The relay's publisher, noting when each record's publish resolved (the broker confirmed), by its `rmq-id`. */
class TimedPublisher implements Publisher {
  confirmed = 0;
  readonly at = new Map<string, number>();
  constructor(
    private readonly inner: ConfirmedPublisher,
    private readonly onConfirmed: () => void,
  ) {}

  publish: Publisher['publish'] = (topic, outgoing) => this.inner.publish(topic, outgoing);

  async publishRecord(topic: string, record: WireRecord): Promise<void> {
    await this.inner.publishRecord(topic, record);
    const id = record.headers['rmq-id'];
    if (id !== undefined) this.at.set(id, now());
    this.confirmed += 1;
    this.onConfirmed();
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

interface Env {
  readonly dataSource: DataSource;
  readonly transport: RabbitMqTransport;
  readonly scratch: Scratch;
  readonly outbox: TransactionalOutbox;
}

interface Throughput {
  readonly label: string;
  readonly messages: number;
  /** Until the last writer transaction committed. */
  readonly writeMs: number;
  /** Until the last message was confirmed by the broker. */
  readonly ms: number;
  readonly queued: number;
  readonly rounds: number;
  readonly leftInOutbox: number;
}

async function route(env: Env, label: string): Promise<{ topic: string; queue: string }> {
  const topic = env.scratch.name(label);
  const queue = `${topic}.q`;
  env.scratch.track({ exchanges: [topic], queues: [queue] });
  await env.transport.declare({ exchanges: { [topic]: { type: 'topic' } }, queues: { [queue]: { type: 'classic' } }, bindings: [{ exchange: topic, queue, pattern: '#' }] });
  return { topic, queue };
}

async function finishRoute(env: Env, r: { topic: string; queue: string }): Promise<number> {
  const queued = await env.scratch.messageCount(r.queue);
  await env.scratch.remove({ queues: [r.queue], exchanges: [r.topic] });
  return queued;
}

/** (a) COMMIT, then publish directly (not atomic: a crash between the two loses the message). */
async function baseline(env: Env, messages: number, tag: string): Promise<Throughput> {
  const r = await route(env, `direct.${tag}`);
  const publisher = await env.transport.publisher();
  try {
    await publisher.publish(r.topic, message); // declares the exchange on this publisher: not measured
    await env.scratch.purge(r.queue);
    const start = now();
    await concurrentLoops(messages, WRITERS, async (i) => {
      await env.dataSource.transaction(async (manager) => {
        await manager.query(INSERT, [`direct-${String(i)}`, RAW_BODY]);
      });
      await publisher.publish(r.topic, message);
    });
    const ms = now() - start;
    return { label: `(a) COMMIT, then direct confirmed publish (${String(WRITERS)} writers)`, messages, writeMs: ms, ms, queued: await finishRoute(env, r), rounds: 0, leftInOutbox: 0 };
  } finally {
    await publisher.close();
  }
}

async function startRelays(env: Env, relays: number, listen: boolean, onConfirmed: () => void): Promise<{ relays: OutboxRelay[]; publishers: TimedPublisher[]; rounds: () => number }> {
  const publishers: TimedPublisher[] = [];
  const list: OutboxRelay[] = [];
  let rounds = 0;
  for (let i = 0; i < relays; i++) {
    const publisher = new TimedPublisher(await env.transport.publisher(), onConfirmed);
    const relay = new OutboxRelay({ dataSource: env.dataSource, publisher, batchSize: BATCH, pollIntervalMs: 500, listen });
    relay.events.on('round', (result) => {
      if (result.claimed > 0) rounds += 1;
    });
    relay.events.on('failure', (error) => {
      console.error('relay failure:', error);
    });
    publishers.push(publisher);
    list.push(relay);
  }
  for (const relay of list) await relay.start();
  return { relays: list, publishers, rounds: () => rounds };
}

async function stopRelays(started: { relays: OutboxRelay[]; publishers: TimedPublisher[] }): Promise<void> {
  for (const relay of started.relays) await relay.stop();
  for (const publisher of started.publishers) await publisher.close();
}

/** (b)/(c) Business row + outbox row in one transaction; relays publish; timed until all N are confirmed. */
async function outboxCase(env: Env, messages: number, relayCount: number, tag: string): Promise<Throughput> {
  const r = await route(env, `outbox.${tag}`);
  let confirmed = 0;
  let done!: () => void;
  const all = new Promise<void>((resolve) => {
    done = resolve;
  });
  const started = await startRelays(env, relayCount, true, () => {
    confirmed += 1;
    if (confirmed === messages) done();
  });
  let writeMs: number;
  let ms: number;
  try {
    const start = now();
    await concurrentLoops(messages, WRITERS, async (i) => {
      await env.dataSource.transaction(async (manager) => {
        await manager.query(INSERT, [`outbox-${String(i)}`, RAW_BODY]);
        await env.outbox.add(manager, { topic: r.topic, ...message });
      });
    });
    writeMs = now() - start;
    await within(CASE_TIMEOUT_MS, `${r.queue}: relay`, all);
    ms = now() - start;
  } finally {
    await stopRelays(started);
  }
  const stats = await started.relays[0]?.stats();
  const left = stats ? stats.pending + stats.inFlight + stats.failed + stats.sent : -1;
  return {
    label: `(${relayCount === 1 ? 'b' : 'c'}) outbox.add in the transaction, ${String(relayCount)} relay${relayCount === 1 ? '' : 's'} (${String(WRITERS)} writers, batchSize ${String(BATCH)})`,
    messages,
    writeMs,
    ms,
    queued: await finishRoute(env, r),
    rounds: started.rounds(),
    leftInOutbox: left,
  };
}

interface Latency {
  readonly label: string;
  readonly messages: number;
  readonly measured: number;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
  /** Messages whose commit → confirmed took over 100 ms. */
  readonly over100: number;
  readonly achievedRate: number;
}

/** (d) Paced writes (one message per transaction every 1000/RATE ms), 1 relay: commit → confirmed per message id. */
async function latencyCase(env: Env, listen: boolean, seconds: number, tag: string): Promise<Latency> {
  const r = await route(env, `latency.${tag}`);
  const messages = RATE * seconds;
  let confirmed = 0;
  let done!: () => void;
  const all = new Promise<void>((resolve) => {
    done = resolve;
  });
  const started = await startRelays(env, 1, listen, () => {
    confirmed += 1;
    if (confirmed === messages) done();
  });
  const committedAt = new Map<string, number>();
  const interval = 1000 / RATE;
  try {
    await sleep(200); // let the relay go idle (and LISTEN)
    const start = now();
    const writes: Array<Promise<void>> = [];
    for (let i = 0; i < messages; i++) {
      const due = start + i * interval;
      const wait = due - now();
      if (wait > 1) await sleep(wait);
      writes.push(
        (async () => {
          const [envelope] = await env.dataSource.transaction(async (manager) => {
            await manager.query(INSERT, [`latency-${String(i)}`, RAW_BODY]);
            return env.outbox.add(manager, { topic: r.topic, ...message });
          });
          if (envelope) committedAt.set(envelope.id, now());
        })(),
      );
    }
    await Promise.all(writes);
    const writeMs = now() - start;
    await within(CASE_TIMEOUT_MS, `${r.queue}: relay`, all);
    const confirmedAt = started.publishers[0]?.at ?? new Map<string, number>();
    const latencies = [...committedAt].flatMap(([id, t]) => {
      const c = confirmedAt.get(id);
      return c === undefined ? [] : [c - t];
    });
    latencies.sort((a, b) => a - b);
    await finishRoute(env, r);
    return {
      label: listen ? `LISTEN/NOTIFY (poll 500 ms as fallback)` : 'polling only (listen: false, pollIntervalMs 500)',
      messages,
      measured: latencies.length,
      p50: percentile(latencies, 50),
      p99: percentile(latencies, 99),
      max: latencies[latencies.length - 1] ?? Number.NaN,
      over100: latencies.filter((l) => l > 100).length,
      achievedRate: perSecond(messages, writeMs),
    };
  } finally {
    await stopRelays(started);
  }
}

function report(results: readonly Throughput[], latencies: readonly Latency[]): void {
  const rate = (t: Throughput): number => perSecond(t.messages, t.ms);
  const base = results.find((t) => t.label.startsWith('(a)'));
  printTable(
    [
      { header: 'case' },
      { header: 'msgs', align: 'right' },
      { header: 'writes done ms', align: 'right' },
      { header: 'all confirmed ms', align: 'right' },
      { header: 'msgs/s (end to end)', align: 'right' },
      { header: '÷ (a)', align: 'right' },
      { header: 'relay rounds', align: 'right' },
      { header: 'in queue', align: 'right' },
      { header: 'left in outbox', align: 'right' },
    ],
    results.map((t) => [
      t.label,
      count(t.messages),
      count(t.writeMs),
      count(t.ms),
      count(rate(t)),
      base && t !== base ? ratio(rate(t) / rate(base)) : '',
      t.rounds === 0 ? '' : count(t.rounds),
      count(t.queued),
      t.label.startsWith('(a)') ? '' : count(t.leftInOutbox),
    ]),
  );
  console.log('');
  const b = results.find((t) => t.label.startsWith('(b)'));
  if (base && b) {
    const value = rate(b) / rate(base);
    console.log(`  (b)/(a): ${ratio(value)}; target ≥ ${ratio(TARGET)}: ${value >= TARGET ? 'met' : 'NOT met'}`);
  }
  console.log('');
  printTable(
    [
      { header: `commit → confirmed, ${String(RATE)} msgs/s paced, 1 relay` },
      { header: 'msgs', align: 'right' },
      { header: 'achieved write rate', align: 'right' },
      { header: 'p50 ms', align: 'right' },
      { header: 'p99 ms', align: 'right' },
      { header: 'max ms', align: 'right' },
      { header: '> 100 ms', align: 'right' },
    ],
    latencies.map((l) => [l.label, `${count(l.measured)} of ${count(l.messages)}`, `${count(l.achievedRate)}/s`, fixed(l.p50), fixed(l.p99), fixed(l.max), count(l.over100)]),
  );
}

await runBench('outbox', 10 * 60_000, async (scratch) => {
  const dataSource = await openSchema(24);
  let transport: RabbitMqTransport | undefined;
  try {
    transport = await RabbitMqTransport.connect({ url: AMQP_URL, connectionName: `${scratch.prefix}.sdk`, reconnect: { initialMaxRetries: 2 } });
    const env: Env = { dataSource, transport, scratch, outbox: new TransactionalOutbox() };
    printHeader('Transactional outbox: PostgreSQL + RabbitMQ, end-to-end throughput and commit → confirmed latency', {
      broker: await brokerVersion(),
      database: await postgresVersion(dataSource),
      'messages per throughput case': count(N),
      writers: `${String(WRITERS)} concurrent loops, one transaction each: INSERT a 1 KiB business row (+ outbox.add)`,
      body: `${String(RAW_BODY.length)} bytes (SDK JSON payload), persistent, classic queue, no key`,
      relay: `batchSize ${String(BATCH)}, pollIntervalMs 500, listen true, one ConfirmedPublisher per relay`,
    });
    // Warm-up: JIT, pools, connections; not reported.
    await baseline(env, WARMUP, 'warmup');
    await outboxCase(env, WARMUP, 1, 'warmup');
    const results: Throughput[] = [];
    results.push(await baseline(env, N, 'run'));
    console.log('  (a) done');
    results.push(await outboxCase(env, N, 1, 'r1'));
    console.log('  (b) done');
    results.push(await outboxCase(env, N, 3, 'r3'));
    console.log('  (c) done');
    const latencies: Latency[] = [];
    latencies.push(await latencyCase(env, true, LATENCY_S, 'listen'));
    console.log('  latency, LISTEN/NOTIFY: done');
    latencies.push(await latencyCase(env, false, POLL_LATENCY_S, 'poll'));
    console.log('  latency, polling: done');
    console.log('');
    report(results, latencies);
    const wrong = results.filter((t) => t.queued !== t.messages || (t.leftInOutbox !== 0 && !t.label.startsWith('(a)')));
    if (wrong.length > 0) throw new Error(`${String(wrong.length)} case(s) ended with a queue count or outbox rows other than expected`);
  } finally {
    await transport?.close();
    await dropSchema(dataSource);
  }
});
