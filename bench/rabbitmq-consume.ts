/**
 * Consume throughput: N preloaded 1 KiB messages, handler doing nothing, ack per message after it, classic
 * and quorum queues, prefetch 100 and 1,000: the SDK's subscriber against raw amqplib consume + ack.
 *
 *   npx tsx bench/rabbitmq-consume.ts
 *   BENCH_N=20000 BENCH_PREFETCH=100,1000 BENCH_QUEUES=classic,quorum RMQ_URL=amqp://…
 */
import type { ChannelModel } from 'amqplib';
import { RabbitMqTransport, type RabbitSubscriber } from '../src/adapters/rabbitmq/index.js';
import { AMQP_URL, intEnv, listEnv } from './lib/env.js';
import { count, fixed, printTable, ratio } from './lib/format.js';
import { RAW_BODY, envelopeProperties } from './lib/payload.js';
import { QUEUE_TYPES, brokerVersion, connectRaw, printHeader, publishWindow, runBench, type QueueType, type Scratch } from './lib/rabbit.js';
import { HandledCounter, measure, perSecond, sleep, within } from './lib/timing.js';

const N = intEnv('BENCH_N', 20_000);
const WARMUP = intEnv('BENCH_WARMUP', 2_000);
const PREFETCHES = listEnv('BENCH_PREFETCH', ['100', '1000'], ['100', '1000']).map(Number);
const TYPES = listEnv('BENCH_QUEUES', QUEUE_TYPES, QUEUE_TYPES);
const CASE_TIMEOUT_MS = intEnv('BENCH_CASE_TIMEOUT_MS', 120_000);
/**
 * RabbitMQ 3.10.8 (Ra): deleting a quorum queue within milliseconds of its last acks can crash the node's
 * `ra_log_segment_writer` (badmatch enoent on `truncate_segments`), which restarts every quorum queue on the
 * node and closes channels. Seen here after 100,000-message cases; a pause before the delete avoids the race.
 */
const QUORUM_DELETE_GRACE_MS = intEnv('BENCH_QUORUM_DELETE_GRACE_MS', 2_000);
const TARGET = 0.8;
const GROUP = 'bench';

type Impl = 'sdk' | 'sdk-c1' | 'raw';

interface Result {
  readonly type: QueueType;
  readonly prefetch: number;
  readonly impl: Impl;
  readonly messages: number;
  /** First delivery to last handled (and acked) message. */
  readonly ms: number;
  readonly cpuMs: number;
  readonly brokerCpuMs: number | undefined;
  readonly left: number;
}

interface Clients {
  readonly subscribers: ReadonlyMap<QueueType, RabbitSubscriber>;
  readonly raw: ChannelModel;
  readonly scratch: Scratch;
}

const label = (r: { impl: Impl; prefetch: number }): string =>
  r.impl === 'raw' ? 'raw amqplib, ack each' : r.impl === 'sdk' ? `SDK, concurrency ${count(r.prefetch)}` : 'SDK, concurrency 1 (default)';


async function runCase(clients: Clients, type: QueueType, prefetch: number, impl: Impl, messages: number, tag: string): Promise<Result> {
  const { scratch, raw } = clients;
  const subscriber = clients.subscribers.get(type);
  if (!subscriber) throw new Error(`no subscriber for ${type}`);
  const topic = scratch.name(`${type}.p${String(prefetch)}.${tag}`);
  const queue = `${topic}.${GROUP}`;
  scratch.track({ exchanges: [topic, `${queue}.dlq`], queues: [queue, `${queue}.dlq`] });

  // The SDK declares the group's queue exactly as it will consume it; the raw consumer reads the same kind of queue.
  await (await subscriber.subscribe(topic, () => Promise.resolve(), { group: GROUP, prefetch: 1 })).close();
  const loader = await raw.createConfirmChannel();
  try {
    await publishWindow(loader, { exchange: '', routingKey: queue }, RAW_BODY, () => envelopeProperties(), messages, 1_000);
  } finally {
    await loader.close().catch(() => undefined);
  }
  const loaded = await scratch.messageCount(queue);
  if (loaded !== messages) throw new Error(`${queue}: preloaded ${String(loaded)} of ${String(messages)} messages`);

  const counter = new HandledCounter(messages);
  const measured = await measure(async () => {
    if (impl === 'raw') {
      const channel = await raw.createChannel();
      try {
        await channel.prefetch(prefetch);
        const { consumerTag } = await channel.consume(queue, (message) => {
          if (message === null) return;
          channel.ack(message);
          counter.hit();
        });
        await within(CASE_TIMEOUT_MS, `${queue} raw consume`, counter.finished);
        await channel.cancel(consumerTag);
      } finally {
        await channel.close().catch(() => undefined);
      }
    } else {
      const concurrency = impl === 'sdk' ? prefetch : 1;
      const subscription = await subscriber.subscribe(
        topic,
        () => {
          counter.hit();
          return Promise.resolve();
        },
        { group: GROUP, prefetch, concurrency },
      );
      try {
        await within(CASE_TIMEOUT_MS, `${queue} SDK consume`, counter.finished);
      } finally {
        await subscription.close();
      }
    }
  });
  const left = await scratch.messageCount(queue);
  if (type === 'quorum') await sleep(QUORUM_DELETE_GRACE_MS);
  await scratch.remove({ queues: [queue, `${queue}.dlq`], exchanges: [topic, `${queue}.dlq`] });
  return { type, prefetch, impl, messages, ms: counter.last - counter.first, cpuMs: measured.cpuMs, brokerCpuMs: measured.brokerCpuMs, left };
}

function report(results: readonly Result[]): void {
  const rate = (r: Result): number => perSecond(r.messages, r.ms);
  const rawOf = (r: Result): Result | undefined => results.find((o) => o.type === r.type && o.prefetch === r.prefetch && o.impl === 'raw');
  printTable(
    [
      { header: 'queue' },
      { header: 'prefetch', align: 'right' },
      { header: 'consumer' },
      { header: 'msgs', align: 'right' },
      { header: 'ms', align: 'right' },
      { header: 'msgs/s', align: 'right' },
      { header: 'client CPU µs/msg', align: 'right' },
      { header: 'broker CPU µs/msg', align: 'right' },
      { header: 'SDK/raw', align: 'right' },
      { header: 'left in queue', align: 'right' },
    ],
    results.map((r) => {
      const raw = rawOf(r);
      return [
        r.type,
        count(r.prefetch),
        label(r),
        count(r.messages),
        count(r.ms),
        count(rate(r)),
        fixed((r.cpuMs * 1000) / r.messages),
        r.brokerCpuMs === undefined ? '?' : fixed((r.brokerCpuMs * 1000) / r.messages),
        r.impl !== 'raw' && raw ? ratio(rate(r) / rate(raw)) : '',
        count(r.left),
      ];
    }),
  );
  console.log('');
  for (const r of results.filter((o) => o.impl !== 'raw')) {
    const raw = rawOf(r);
    if (!raw) continue;
    const value = rate(r) / rate(raw);
    console.log(`  ${r.type}, prefetch ${count(r.prefetch)}, ${label(r)}: ${ratio(value)} of raw; target ≥ ${ratio(TARGET)}: ${value >= TARGET ? 'met' : 'NOT met'}`);
  }
}

await runBench('consume', 15 * 60_000, async (scratch) => {
  printHeader('RabbitMQ consume: SDK subscriber vs raw amqplib consumer', {
    broker: await brokerVersion(),
    'messages per case': count(N),
    body: `${String(RAW_BODY.length)} bytes, persistent, preloaded with the raw client`,
    handler: 'does nothing; ack per message after it',
    prefetch: PREFETCHES.map(count).join(', '),
  });
  const transports = new Map<QueueType, RabbitMqTransport>();
  const raw = await connectRaw(`${scratch.prefix}.raw`);
  raw.on('error', () => undefined);
  try {
    for (const type of TYPES) {
      transports.set(type, await RabbitMqTransport.connect({ url: AMQP_URL, connectionName: `${scratch.prefix}.sdk.${type}`, queues: { type }, reconnect: { initialMaxRetries: 2 } }));
    }
    const subscribers = new Map([...transports].map(([type, transport]) => [type, transport.subscriber()] as const));
    const clients: Clients = { subscribers, raw, scratch };
    const warmType = TYPES[0] ?? 'classic';
    await runCase(clients, warmType, 100, 'sdk', WARMUP, 'warmup-sdk');
    await runCase(clients, warmType, 100, 'raw', WARMUP, 'warmup-raw');
    const results: Result[] = [];
    for (const type of TYPES) {
      for (const prefetch of PREFETCHES) {
        for (const impl of ['sdk', 'raw', 'sdk-c1'] as const) results.push(await runCase(clients, type, prefetch, impl, N, impl));
        console.log(`  ${type}, prefetch ${count(prefetch)}: done`);
      }
    }
    console.log('');
    report(results);
    const stuck = results.filter((r) => r.left !== 0);
    if (stuck.length > 0) throw new Error(`${String(stuck.length)} case(s) left messages in the queue`);
  } finally {
    for (const transport of transports.values()) await transport.close();
    await raw.close().catch(() => undefined);
  }
});
