/**
 * Consume throughput: N preloaded 1 KiB messages (with the SDK's headers, 100 keys) in a 6-partition topic, a handler
 * doing nothing, offsets committed after processing: the SDK's subscriber (concurrency 6 and 1, `orderBy: 'partition'`)
 * against raw kafkajs `eachBatch` (resolve each offset, commit the batch's next offset, 6 partitions concurrently), once
 * doing nothing with the records and once reading the SDK's envelope from them (header values to strings, JSON.parse).
 * Every case reads the same topic from the beginning with a fresh consumer group. When Confluent's client loads, two
 * more cases for comparison, doing what raw kafkajs does: its KafkaJS-compatible consumer and its own `KafkaConsumer`
 * (not the SDK: its consumers are kafkajs).
 *
 *   npx tsx bench/kafka-consume.ts
 *   BENCH_N=200000 BENCH_PARTITIONS=6 BENCH_KEYS=100 BENCH_WARMUP=20000 BENCH_CASE_TIMEOUT_MS=120000 KAFKA_BROKERS=127.0.0.1:9092
 *   BENCH_CK_CONSUMER='js.consumer.max.batch.size=1000,fetch.wait.max.ms=100': librdkafka properties for the Confluent cases (`js.*` ones for the KafkaJS-compatible case only)
 *   BENCH_ROUNDS=5: the cases run that many times, interleaved; the target is judged on the median of the rounds' ratios
 */
import type { Consumer, EachBatchPayload, Kafka, KafkaMessage } from 'kafkajs';
import { KafkaTransport, kafkajsDriver, type KafkaDriver, type KafkaSubscriber } from '../src/adapters/kafka/index.js';
import { intEnv, propertiesEnv } from './lib/env.js';
import { count, fixed, printTable, ratio } from './lib/format.js';
import {
  KAFKA_BROKERS,
  RAW_PRODUCER,
  envelopeMessage,
  kafkaBrokerPid,
  kafkaVersionInfo,
  loadConfluent,
  measureKafka,
  printHeader,
  rawKafka,
  runKafkaBench,
  sendBatches,
  type KafkaScratch,
} from './lib/kafka.js';
import { RAW_BODY } from './lib/payload.js';
import { ROUNDS, inRounds, printMedianRatio, printRoundRates } from './lib/rounds.js';
import { HandledCounter, now, within } from './lib/timing.js';

const N = intEnv('BENCH_N', 200_000);
const PARTITIONS = intEnv('BENCH_PARTITIONS', 6);
const KEYS = intEnv('BENCH_KEYS', 100);
const WARMUP = intEnv('BENCH_WARMUP', 20_000);
const CASE_TIMEOUT_MS = intEnv('BENCH_CASE_TIMEOUT_MS', 120_000);
const TARGET = 0.8;

/** The consumer settings the SDK uses by default (`config.ts`), given to the raw consumer too. */
const CONSUMER = { sessionTimeout: 30_000, heartbeatInterval: 3_000, rebalanceTimeout: 60_000, maxBytesPerPartition: 1_048_576, maxBytes: 10_485_760, maxWaitTimeInMs: 1_000, allowAutoTopicCreation: false };

type Impl = 'sdk-c6' | 'sdk-c1' | 'raw' | 'raw-decode' | 'ck-raw' | 'ck-native';

const LABELS: Record<Impl, string> = {
  'sdk-c6': `SDK, concurrency ${String(PARTITIONS)}, orderBy partition`,
  'sdk-c1': 'SDK, concurrency 1 (default), orderBy partition',
  raw: `raw eachBatch, ${String(PARTITIONS)} partitions concurrently, commit per batch`,
  'raw-decode': "raw eachBatch as above, reading the SDK's envelope (headers to strings, JSON.parse)",
  'ck-raw': "raw Confluent (KafkaJS-compatible API), eachBatch as raw above",
  'ck-native': 'raw Confluent (its own KafkaConsumer), consume(1,000) in a loop, commit per call',
};

/** The parts of Confluent's client the `ck-raw` (KafkaJS-compatible API) and `ck-native` cases use. */
interface ConfluentKafkaJS {
  readonly KafkaJS: {
    readonly Kafka: new (config: Record<string, unknown>) => { consumer(config: Record<string, unknown>): Consumer };
  };
  readonly KafkaConsumer: new (config: Record<string, unknown>, topicConfig: Record<string, unknown>) => NativeConsumer;
}

interface NativeConsumer {
  connect(options: Record<string, unknown>, callback: (error: unknown) => void): void;
  subscribe(topics: string[]): void;
  consume(count: number, callback: (error: unknown, messages: Array<{ partition: number; offset: number }>) => void): void;
  commit(offsets: Array<{ topic: string; partition: number; offset: number }>): void;
  disconnect(callback: () => void): void;
  on(event: 'rebalance', listener: (error: { code: number }) => void): void;
}
const confluent = loadConfluent() as ConfluentKafkaJS | undefined;
/** librdkafka's code for a rebalance that assigns partitions (ERR__ASSIGN_PARTITIONS). */
const ASSIGN_PARTITIONS = -175;
const CK_CONSUMER = propertiesEnv('BENCH_CK_CONSUMER');

/** What any consumer of the SDK's records does before its handler: header values to strings, the JSON body parsed. */
function readEnvelope(message: KafkaMessage): unknown {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(message.headers ?? {})) if (value !== undefined && !Array.isArray(value)) headers[name] = value.toString();
  return { headers, payload: message.value ? (JSON.parse(message.value.toString('utf8')) as unknown) : undefined };
}

interface Result {
  readonly impl: Impl;
  readonly messages: number;
  /** From the call to subscribe/run until the group join. */
  readonly joinMs: number;
  /** Joins seen (more than 1: a rebalance happened during the case). */
  readonly joins: number;
  /** From the group join to the last handled message. */
  readonly ms: number;
  readonly cpuMs: number;
  readonly brokerCpuMs: number | undefined;
  /** Partitions whose committed offset equals the end offset, out of all. */
  readonly committedPartitions: number;
  readonly partitions: number;
}


/** Times of GROUP_JOIN by group id: the SDK's consumers are its own, so the driver is wrapped to see their joins. */
const joins = new Map<string, number[]>();
const noteJoin = (groupId: string): void => {
  const list = joins.get(groupId) ?? [];
  list.push(now());
  joins.set(groupId, list);
};

function watchedDriver(config: Parameters<typeof kafkajsDriver>[0]): KafkaDriver {
  const driver = kafkajsDriver(config);
  return {
    producer: (options) => driver.producer(options),
    admin: () => driver.admin(),
    partitioner: () => driver.partitioner(),
    consumer: (options) => {
      const consumer = driver.consumer(options);
      consumer.on(consumer.events.GROUP_JOIN, () => {
        noteJoin(options.groupId);
      });
      return consumer;
    },
  };
}

interface Clients {
  readonly subscriber: KafkaSubscriber;
  readonly raw: Kafka;
  readonly scratch: KafkaScratch;
  readonly brokerPid: number | undefined;
}

async function preload(clients: Clients, topic: string, messages: number): Promise<void> {
  await clients.scratch.createTopic(topic, PARTITIONS);
  const producer = clients.raw.producer(RAW_PRODUCER);
  const unregister = clients.scratch.closeOnCleanUp(() => producer.disconnect());
  try {
    await producer.connect();
    await sendBatches(producer, topic, messages, 1_000, (i) => envelopeMessage(i, KEYS));
  } finally {
    await producer.disconnect();
    unregister();
  }
  const stored = await clients.scratch.stored(topic);
  if (stored !== messages) throw new Error(`${topic}: preloaded ${String(stored)} of ${String(messages)} messages`);
}

/** Confluent's KafkaJS-compatible consumer, set up as the raw kafkajs one (it has no GROUP_JOIN event: its assignment is the join). */
function confluentConsumer(groupId: string): Consumer {
  if (!confluent) throw new Error("ck-raw: Confluent's client does not load");
  const kafka = new confluent.KafkaJS.Kafka({ kafkaJS: { clientId: `${groupId}.ck`, brokers: [...KAFKA_BROKERS], logLevel: 0 } });
  const { sessionTimeout, heartbeatInterval, maxWaitTimeInMs } = CONSUMER;
  return kafka.consumer({
    kafkaJS: { groupId, sessionTimeout, heartbeatInterval, maxWaitTimeInMs, fromBeginning: true, autoCommit: false },
    ...CK_CONSUMER,
    rebalance_cb: (error: { code: number }) => {
      if (error.code === ASSIGN_PARTITIONS) noteJoin(groupId);
    },
  });
}

async function rawConsume(clients: Clients, topic: string, groupId: string, counter: HandledCounter, decode: boolean, kind: 'kafkajs' | 'confluent' = 'kafkajs'): Promise<void> {
  const consumer: Consumer = kind === 'confluent' ? confluentConsumer(groupId) : clients.raw.consumer({ groupId, ...CONSUMER });
  const unregister = clients.scratch.closeOnCleanUp(() => consumer.disconnect());
  if (kind === 'kafkajs') {
    consumer.on(consumer.events.GROUP_JOIN, () => {
      noteJoin(groupId);
    });
  }
  try {
    await consumer.connect();
    await consumer.subscribe(kind === 'confluent' ? { topics: [topic] } : { topics: [topic], fromBeginning: true });
    await consumer.run({
      ...(kind === 'kafkajs' ? { autoCommit: false } : {}), // Confluent's takes it in the consumer's config
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: PARTITIONS,
      eachBatch: async (payload: EachBatchPayload) => {
        const { batch } = payload;
        let last: string | undefined;
        for (const message of batch.messages) {
          if (!payload.isRunning() || payload.isStale()) break;
          if (decode) readEnvelope(message);
          counter.hit(); // the handler: does nothing
          payload.resolveOffset(message.offset);
          last = message.offset;
        }
        if (last !== undefined) {
          await payload.commitOffsetsIfNecessary({ topics: [{ topic: batch.topic, partitions: [{ partition: batch.partition, offset: (BigInt(last) + 1n).toString() }] }] });
        }
      },
    });
    await within(CASE_TIMEOUT_MS, `${groupId} raw consume`, counter.finished);
  } finally {
    await consumer.disconnect(); // stops after the running batches, whose commits are awaited
    unregister();
  }
}

/** Without the KafkaJS-compatible layer's own `js.*` properties, which librdkafka refuses. */
function librdkafkaOnly(properties: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(properties).filter(([key]) => !key.startsWith('js.')));
}

/** Confluent's own consumer API: batches of up to 1,000 records per call, the next offsets committed per call. */
async function nativeConsume(clients: Clients, topic: string, groupId: string, counter: HandledCounter): Promise<void> {
  if (!confluent) throw new Error("ck-native: Confluent's client does not load");
  const consumer = new confluent.KafkaConsumer(
    { 'group.id': groupId, 'metadata.broker.list': KAFKA_BROKERS.join(','), 'enable.auto.commit': false, rebalance_cb: true, 'fetch.wait.max.ms': CONSUMER.maxWaitTimeInMs, ...librdkafkaOnly(CK_CONSUMER) },
    { 'auto.offset.reset': 'earliest' },
  );
  consumer.on('rebalance', (error) => {
    if (error.code === ASSIGN_PARTITIONS) noteJoin(groupId);
  });
  let running = true;
  const stop = (): Promise<void> => {
    running = false;
    return new Promise((resolve) => {
      consumer.disconnect(resolve);
    });
  };
  const unregister = clients.scratch.closeOnCleanUp(stop);
  try {
    await new Promise<void>((resolve, reject) => {
      consumer.connect({}, (error) => {
        if (error) reject(error instanceof Error ? error : new Error(JSON.stringify(error)));
        else resolve();
      });
    });
    consumer.subscribe([topic]);
    const loop = (): void => {
      consumer.consume(1_000, (error, messages) => {
        if (!running) return;
        const next = new Map<number, number>();
        if (!error) {
          for (const message of messages) {
            counter.hit(); // the handler: does nothing
            next.set(message.partition, message.offset + 1);
          }
        }
        if (next.size > 0) consumer.commit([...next].map(([partition, offset]) => ({ topic, partition, offset })));
        setImmediate(loop);
      });
    };
    loop();
    await within(CASE_TIMEOUT_MS, `${groupId} native Confluent consume`, counter.finished);
  } finally {
    await stop();
    unregister();
  }
}

async function sdkConsume(clients: Clients, topic: string, group: string, concurrency: number, counter: HandledCounter): Promise<void> {
  const subscription = await clients.subscriber.subscribe(
    topic,
    () => {
      counter.hit();
      return Promise.resolve();
    },
    { group, concurrency },
  );
  const unregister = clients.scratch.closeOnCleanUp(() => subscription.close());
  try {
    await within(CASE_TIMEOUT_MS, `${subscription.groupId} SDK consume`, counter.finished);
  } finally {
    await subscription.close(); // handlers finish, the done offsets are committed
    unregister();
  }
}

async function runCase(clients: Clients, topic: string, impl: Impl, messages: number, tag: string): Promise<Result> {
  const { scratch } = clients;
  const group = `${impl}.${tag}`;
  const groupId = `${topic}.${group}`; // the SDK's default group id; the raw consumer uses the same form
  const counter = new HandledCounter(messages);
  const start = now();
  const measured = await measureKafka(clients.brokerPid, () =>
    impl === 'ck-native'
      ? nativeConsume(clients, topic, groupId, counter)
      : impl === 'ck-raw'
      ? rawConsume(clients, topic, groupId, counter, false, 'confluent')
      : impl === 'raw' || impl === 'raw-decode'
        ? rawConsume(clients, topic, groupId, counter, impl === 'raw-decode')
        : sdkConsume(clients, topic, group, impl === 'sdk-c6' ? PARTITIONS : 1, counter),
  );
  const joined = joins.get(groupId) ?? [];
  const firstJoin = joined[0];
  if (firstJoin === undefined) throw new Error(`${groupId}: no group join seen`);
  const ends = await scratch.endOffsets(topic);
  const committed = await scratch.committed(groupId, topic);
  const committedPartitions = [...ends].filter(([partition, end]) => committed.get(partition) === end).length;
  await scratch.remove({ groups: [groupId], topics: impl.startsWith('sdk') ? [`${groupId}.dlq`] : [] });
  return {
    impl,
    messages,
    joinMs: firstJoin - start,
    joins: joined.length,
    ms: counter.last - firstJoin,
    cpuMs: measured.cpuMs,
    brokerCpuMs: measured.brokerCpuMs,
    committedPartitions,
    partitions: ends.size,
  };
}

const rate = (r: Result): number => (r.messages * 1000) / r.ms;

function report(results: readonly Result[]): void {
  const raw = results.find((r) => r.impl === 'raw');
  const decoded = results.find((r) => r.impl === 'raw-decode');
  printTable(
    [
      { header: 'consumer' },
      { header: 'msgs', align: 'right' },
      { header: 'join ms', align: 'right' },
      { header: 'join → last ms', align: 'right' },
      { header: 'msgs/s', align: 'right' },
      { header: 'client CPU µs/msg', align: 'right' },
      { header: 'broker CPU µs/msg', align: 'right' },
      { header: 'SDK/raw', align: 'right' },
      { header: 'SDK/raw+decode', align: 'right' },
      { header: 'committed = end offsets' },
    ],
    results.map((r) => [
      LABELS[r.impl],
      count(r.messages),
      count(r.joinMs) + (r.joins > 1 ? ` (${String(r.joins)} joins)` : ''),
      count(r.ms),
      count(rate(r)),
      fixed((r.cpuMs * 1000) / r.messages),
      r.brokerCpuMs === undefined ? '?' : fixed((r.brokerCpuMs * 1000) / r.messages),
      r.impl.startsWith('sdk') && raw ? ratio(rate(r) / rate(raw)) : '',
      r.impl.startsWith('sdk') && decoded ? ratio(rate(r) / rate(decoded)) : '',
      r.committedPartitions === r.partitions ? `yes (${String(r.partitions)} of ${String(r.partitions)})` : `NO (${String(r.committedPartitions)} of ${String(r.partitions)})`,
    ]),
  );
}

/** Every round's rates; the SDK's ratios to raw (the target, judged on their median) and to raw reading the envelope. */
function verdicts(rounds: ReadonlyArray<readonly Result[]>): void {
  const impls = (rounds[0] ?? []).map((r) => r.impl);
  const pick = (impl: Impl) => (round: readonly Result[]) => round.find((r) => r.impl === impl);
  printRoundRates(rounds, impls.map((impl) => ({ label: LABELS[impl], pick: pick(impl) })), rate);
  console.log('');
  for (const impl of impls.filter((i) => i.startsWith('sdk'))) {
    printMedianRatio(rounds, pick(impl), pick('raw'), rate, { label: LABELS[impl], of: 'raw', target: TARGET });
    printMedianRatio(rounds, pick(impl), pick('raw-decode'), rate, { label: LABELS[impl], of: 'raw reading the envelope' });
  }
  // What reading the envelope costs a consumer without the SDK: the same target, for reference.
  printMedianRatio(rounds, pick('raw-decode'), pick('raw'), rate, { label: 'raw reading the envelope', of: 'raw', target: TARGET });
}

await runKafkaBench('consume', 15 * 60_000, async (scratch) => {
  const brokerPid = kafkaBrokerPid();
  const transport = await KafkaTransport.connect(
    { brokers: [...KAFKA_BROKERS], clientId: `${scratch.prefix}.sdk`, topics: { defaults: { partitions: PARTITIONS, replicationFactor: 1 } } },
    watchedDriver,
  );
  scratch.closeOnCleanUp(() => transport.close());
  const raw = rawKafka(`${scratch.prefix}.raw`);
  const clients: Clients = { subscriber: transport.subscriber(), raw, scratch, brokerPid };
  printHeader('Kafka consume: SDK subscriber vs raw kafkajs eachBatch', {
    broker: await kafkaVersionInfo(scratch),
    'broker pid (CPU column)': brokerPid ?? 'not found',
    'messages per case': `${count(N)}, preloaded once with raw sendBatch; each case a fresh group from the beginning`,
    message: `${String(RAW_BODY.length)}-byte body with the SDK's headers, ${String(KEYS)} keys, ${String(PARTITIONS)} partitions, replication factor 1`,
    handler: 'does nothing; offsets committed after processing',
    consumers: `SDK defaults for both: maxBytesPerPartition 1 MiB, maxBytes 10 MiB, maxWaitTime 1 s; SDK commitIntervalMs ${String(transport.config.consumer.commitIntervalMs)}`,
  });
  // Warm-up (JIT, broker fetch paths), not reported.
  const warm = scratch.name('warmup');
  await preload(clients, warm, WARMUP);
  await runCase(clients, warm, 'sdk-c6', WARMUP, 'warmup');
  await runCase(clients, warm, 'raw', WARMUP, 'warmup');
  await scratch.remove({ topics: [warm] });

  const topic = scratch.name('main');
  await preload(clients, topic, N);
  const impls = confluent ? (['sdk-c6', 'raw', 'sdk-c1', 'raw-decode', 'ck-raw', 'ck-native'] as const) : (['sdk-c6', 'raw', 'sdk-c1', 'raw-decode'] as const);
  const rounds = await inRounds(async (round) => {
    const results: Result[] = [];
    for (const impl of impls) {
      results.push(await runCase(clients, topic, impl, N, `run${String(round)}`));
      console.log(`  ${ROUNDS > 1 ? `round ${String(round)}: ` : ''}${LABELS[impl]}: done`);
    }
    return results;
  }, report);
  verdicts(rounds);
  const results = rounds.flat();
  await transport.close();
  const uncommitted = results.filter((r) => r.committedPartitions !== r.partitions);
  if (uncommitted.length > 0) throw new Error(`${String(uncommitted.length)} case(s) did not commit every partition to its end offset`);
});
