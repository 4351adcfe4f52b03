/**
 * Publish throughput, 1 KiB persistent messages, classic and quorum queues:
 * the SDK's ConfirmedPublisher (all publishes started at once; 1,000 concurrent await-loops) against
 * raw amqplib on a confirm channel (sliding window of 1,000 unconfirmed; awaiting each confirm).
 *
 *   npx tsx bench/rabbitmq-publish.ts
 *   BENCH_N=20000 BENCH_N_EACH=2000 BENCH_WINDOW=1000 BENCH_LOOPS=1000 BENCH_QUEUES=classic,quorum RMQ_URL=amqp://…
 *   BENCH_ROUNDS=5: the cases run that many times, interleaved (the await-each case in the first round only); the
 *   targets are judged on the median of the rounds' ratios
 */
import type { ChannelModel } from 'amqplib';
import { RabbitMqTransport, type ConfirmedPublisher } from '../src/adapters/rabbitmq/index.js';
import { AMQP_URL, intEnv, listEnv } from './lib/env.js';
import { count, fixed, printTable, ratio } from './lib/format.js';
import { MESSAGE_TYPE, RAW_BODY, RAW_PUBLISH, SDK_PAYLOAD, envelopeProperties } from './lib/payload.js';
import { QUEUE_TYPES, brokerVersion, connectRaw, declareRoute, printHeader, publishEach, publishWindow, runBench, type QueueType, type Scratch } from './lib/rabbit.js';
import { ROUNDS, inRounds, printMedianRatio, printRoundRates, roundTag } from './lib/rounds.js';
import { concurrentLoops, measure, perSecond, type Measured } from './lib/timing.js';

const N = intEnv('BENCH_N', 20_000);
const N_EACH = intEnv('BENCH_N_EACH', 2_000);
const WINDOW = intEnv('BENCH_WINDOW', 1_000);
const LOOPS = intEnv('BENCH_LOOPS', 1_000);
const WARMUP = intEnv('BENCH_WARMUP', 2_000);
const TYPES = listEnv('BENCH_QUEUES', QUEUE_TYPES, QUEUE_TYPES);
const TARGET = 0.9;

type CaseId = 'sdk-all' | 'sdk-loops' | 'raw-window' | 'raw-window-props' | 'raw-each';

const LABELS: Record<CaseId, string> = {
  'sdk-all': `(a1) SDK, all N publish() started at once`,
  'sdk-loops': `(a2) SDK, ${count(LOOPS)} concurrent await-loops`,
  'raw-window': `(b) raw, sliding window ${count(WINDOW)}`,
  'raw-window-props': `(b') raw, window ${count(WINDOW)}, SDK's properties`,
  'raw-each': '(c) raw, await each confirm',
};

interface Result extends Measured {
  readonly type: QueueType;
  readonly id: CaseId;
  readonly messages: number;
  readonly queued: number;
  readonly expected: number;
}

interface Clients {
  readonly transport: RabbitMqTransport;
  readonly raw: ChannelModel;
  readonly scratch: Scratch;
}

const sdkMessage = { type: MESSAGE_TYPE, payload: SDK_PAYLOAD };

async function sdkCase(clients: Clients, type: QueueType, id: 'sdk-all' | 'sdk-loops', messages: number, label: string): Promise<Result> {
  const { transport, scratch } = clients;
  const topic = scratch.name(`${type}.${label}`);
  const queue = `${topic}.q`;
  scratch.track({ exchanges: [topic], queues: [queue] });
  await transport.declare({ exchanges: { [topic]: { type: 'topic' } }, queues: { [queue]: { type } }, bindings: [{ exchange: topic, queue, pattern: '#' }] });
  const publisher: ConfirmedPublisher = await transport.publisher();
  let measured: Measured;
  try {
    await publisher.publish(topic, sdkMessage); // declares the exchange on this publisher's first use: not measured
    measured = await measure(async () => {
      if (id === 'sdk-all') await Promise.all(Array.from({ length: messages }, () => publisher.publish(topic, sdkMessage)));
      else await concurrentLoops(messages, LOOPS, () => publisher.publish(topic, sdkMessage));
    });
  } finally {
    await publisher.close();
  }
  const queued = await scratch.messageCount(queue);
  await scratch.remove({ queues: [queue], exchanges: [topic] });
  return { type, id, messages, queued, expected: messages + 1, ...measured };
}

async function rawCase(clients: Clients, type: QueueType, id: 'raw-window' | 'raw-window-props' | 'raw-each', messages: number, label: string): Promise<Result> {
  const { raw, scratch } = clients;
  const exchange = scratch.name(`${type}.${label}`);
  const queue = `${exchange}.q`;
  scratch.track({ exchanges: [exchange], queues: [queue] });
  await declareRoute(await scratch.channel(), exchange, queue, type);
  const channel = await raw.createConfirmChannel();
  const target = { exchange, routingKey: MESSAGE_TYPE };
  let measured: Measured;
  try {
    measured = await measure(() => {
      if (id === 'raw-each') return publishEach(channel, target, RAW_BODY, RAW_PUBLISH, messages);
      const options = id === 'raw-window' ? () => RAW_PUBLISH : () => envelopeProperties(true);
      return publishWindow(channel, target, RAW_BODY, options, messages, WINDOW);
    });
  } finally {
    await channel.close().catch(() => undefined);
  }
  const queued = await scratch.messageCount(queue);
  await scratch.remove({ queues: [queue], exchanges: [exchange] });
  return { type, id, messages, queued, expected: messages, ...measured };
}

function report(results: readonly Result[]): void {
  const rate = (r: Result): number => perSecond(r.messages, r.ms);
  const rows: string[][] = [];
  for (const r of results) {
    const window = results.find((o) => o.type === r.type && o.id === 'raw-window');
    const props = results.find((o) => o.type === r.type && o.id === 'raw-window-props');
    const each = results.find((o) => o.type === r.type && o.id === 'raw-each');
    const sdk = r.id.startsWith('sdk');
    rows.push([
      r.type,
      LABELS[r.id],
      count(r.messages),
      count(r.ms),
      count(rate(r)),
      fixed((r.cpuMs * 1000) / r.messages),
      r.brokerCpuMs === undefined ? '?' : fixed((r.brokerCpuMs * 1000) / r.messages),
      sdk && window ? ratio(rate(r) / rate(window)) : '',
      sdk && props ? ratio(rate(r) / rate(props)) : '',
      sdk && each ? ratio(rate(r) / rate(each)) : '',
      r.queued === r.expected ? 'yes' : `NO (${count(r.queued)} of ${count(r.expected)})`,
    ]);
  }
  printTable(
    [
      { header: 'queue' },
      { header: 'case' },
      { header: 'msgs', align: 'right' },
      { header: 'ms', align: 'right' },
      { header: 'msgs/s', align: 'right' },
      { header: 'client CPU µs/msg', align: 'right' },
      { header: 'broker CPU µs/msg', align: 'right' },
      { header: 'SDK/(b)', align: 'right' },
      { header: "SDK/(b')", align: 'right' },
      { header: 'SDK/(c)', align: 'right' },
      { header: 'all queued' },
    ],
    rows,
  );
}

/** The SDK's ratios to raw (b) (the target, judged on their median) and to raw (b'), per queue type. */
function verdicts(rounds: ReadonlyArray<readonly Result[]>): void {
  const rate = (r: Result): number => perSecond(r.messages, r.ms);
  const pick = (type: QueueType, id: CaseId) => (round: readonly Result[]) => round.find((r) => r.type === type && r.id === id);
  printRoundRates(
    rounds,
    TYPES.flatMap((type) => (['sdk-loops', 'raw-window', 'raw-window-props'] as const).map((id) => ({ label: `${type}: ${LABELS[id]}`, pick: pick(type, id) }))),
    rate,
  );
  console.log('');
  for (const type of TYPES) {
    for (const id of ['sdk-all', 'sdk-loops'] as const) {
      const label = `${type}, ${LABELS[id]}`;
      printMedianRatio(rounds, pick(type, id), pick(type, 'raw-window'), rate, { label, of: 'raw (b)', target: TARGET });
      printMedianRatio(rounds, pick(type, id), pick(type, 'raw-window-props'), rate, { label, of: "raw (b')" });
    }
    // What the SDK's properties cost raw amqplib: the same target, for reference.
    printMedianRatio(rounds, pick(type, 'raw-window-props'), pick(type, 'raw-window'), rate, { label: `${type}, ${LABELS['raw-window-props']}`, of: 'raw (b)', target: TARGET });
  }
}

await runBench('publish', 10 * 60_000, async (scratch) => {
  printHeader('RabbitMQ publish: SDK ConfirmedPublisher vs raw amqplib confirm channel', {
    broker: await brokerVersion(),
    'messages per case': `${count(N)} (await-each case: ${count(N_EACH)})`,
    body: `${String(RAW_BODY.length)} bytes, persistent, mandatory`,
    'SDK maxInFlight / raw window': `${count(1_000)} (SDK default) / ${count(WINDOW)}`,
  });
  const transport = await RabbitMqTransport.connect({ url: AMQP_URL, connectionName: `${scratch.prefix}.sdk`, reconnect: { initialMaxRetries: 2 } });
  const raw = await connectRaw(`${scratch.prefix}.raw`);
  raw.on('error', () => undefined);
  const clients: Clients = { transport, raw, scratch };
  try {
    // Warm-up (JIT, broker code paths), not reported.
    await sdkCase(clients, 'classic', 'sdk-loops', WARMUP, 'warmup-sdk');
    await rawCase(clients, 'classic', 'raw-window', WARMUP, 'warmup-raw');
    const rounds = await inRounds(async (round) => {
      const results: Result[] = [];
      for (const type of TYPES) {
        results.push(await sdkCase(clients, type, 'sdk-all', N, roundTag('sdk-all', round)));
        results.push(await rawCase(clients, type, 'raw-window', N, roundTag('raw-window', round)));
        results.push(await sdkCase(clients, type, 'sdk-loops', N, roundTag('sdk-loops', round)));
        results.push(await rawCase(clients, type, 'raw-window-props', N, roundTag('raw-window-props', round)));
        if (round === 1) results.push(await rawCase(clients, type, 'raw-each', N_EACH, roundTag('raw-each', round)));
        console.log(`  ${ROUNDS > 1 ? `round ${String(round)}: ` : ''}${type}: done`);
      }
      return results;
    }, report);
    verdicts(rounds);
    const results = rounds.flat();
    const lost = results.filter((r) => r.queued !== r.expected);
    if (lost.length > 0) throw new Error(`${String(lost.length)} case(s) did not find every confirmed message in the queue`);
  } finally {
    await transport.close();
    await raw.close().catch(() => undefined);
  }
});
