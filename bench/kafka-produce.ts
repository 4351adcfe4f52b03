/**
 * Produce throughput, 1 KiB messages with 100 keys, a 6-partition topic with replication factor 1, idempotent
 * producers with `acks: -1`: the SDK's KafkaPublisher (1,000 concurrent await-loops; all N publishes started at once)
 * against raw kafkajs (sendBatch of 1,000 awaited in turn, plain and with the SDK's headers; one awaited send per message).
 *
 *   npx tsx bench/kafka-produce.ts
 *   BENCH_N=100000 BENCH_N_EACH=5000 BENCH_BATCH=1000 BENCH_LOOPS=1000 BENCH_KEYS=100 BENCH_PARTITIONS=6 KAFKA_BROKERS=127.0.0.1:9092
 *   BENCH_CASES=sdk-loops,raw-batch,sdk-all,raw-batch-headers,raw-each (a subset, in that order)
 *   BENCH_ROUNDS=5: the cases run that many times, interleaved; the targets are judged on the median of the rounds' ratios
 *   SDK publish settings to experiment with: BENCH_LINGER_MS, BENCH_MAX_BATCH, BENCH_MAX_BUFFERED, BENCH_PRODUCERS (unset: the SDK's defaults)
 */
import type { Kafka } from 'kafkajs';
import { KafkaTransport, type KafkaPublishConfig } from '../src/adapters/kafka/index.js';
import { confluentProducerDriver, type ConfluentKafka } from '../src/adapters/kafka/index.js';
import { partitionOfKey } from '../src/adapters/kafka/murmur2.js';
import { intEnv, listEnv, propertiesEnv } from './lib/env.js';
import { count, fixed, mb, printTable, ratio } from './lib/format.js';
import {
  KAFKA_BROKERS,
  RAW_PRODUCER,
  envelopeMessage,
  kafkaBrokerPid,
  kafkaVersionInfo,
  keyOf,
  loadConfluent,
  collectGarbage,
  measureKafka,
  optionalIntEnv,
  printHeader,
  rawKafka,
  rawMessage,
  runKafkaBench,
  sendBatches,
  sendEach,
  type KafkaScratch,
} from './lib/kafka.js';
import { MemorySampler } from './lib/memory.js';
import { ROUNDS, inRounds, printMedianRatio, printRoundRates, roundTag } from './lib/rounds.js';
import { MESSAGE_TYPE, RAW_BODY, SDK_PAYLOAD } from './lib/payload.js';
import { concurrentLoops, type Measured } from './lib/timing.js';

const N = intEnv('BENCH_N', 100_000);
const N_EACH = intEnv('BENCH_N_EACH', 5_000);
const BATCH = intEnv('BENCH_BATCH', 1_000);
const LOOPS = intEnv('BENCH_LOOPS', 1_000);
const KEYS = intEnv('BENCH_KEYS', 100);
const PARTITIONS = intEnv('BENCH_PARTITIONS', 6);
const WARMUP = intEnv('BENCH_WARMUP', 10_000);
const ALL_CASES = ['sdk-loops', 'raw-batch', 'ck-sdk-loops', 'sdk-all', 'raw-batch-headers', 'ck-raw-batch-headers', 'raw-each'] as const;
type CaseId = (typeof ALL_CASES)[number];
const CASES = listEnv('BENCH_CASES', ALL_CASES, ALL_CASES);
const PUBLISH: KafkaPublishConfig = {
  ...opt('lingerMs', optionalIntEnv('BENCH_LINGER_MS', 0)),
  ...opt('maxBatchSize', optionalIntEnv('BENCH_MAX_BATCH', 1)),
  ...opt('maxBuffered', optionalIntEnv('BENCH_MAX_BUFFERED', 1)),
  ...opt('producers', optionalIntEnv('BENCH_PRODUCERS', 1)),
};
const TARGET_BATCH = 0.8;

class HeapSampler extends MemorySampler {
  baseline = 0;
}
const TARGET_EACH = 10;

function opt<K extends string>(key: K, value: number | undefined): Partial<Record<K, number>> {
  return value === undefined ? {} : ({ [key]: value } as Record<K, number>);
}

const LABELS: Record<CaseId, string> = {
  'sdk-all': '(a1) SDK, all N publish() started at once',
  'sdk-loops': `(a2) SDK, ${count(LOOPS)} concurrent await-loops`,
  'raw-each': '(b) raw, send() per message, awaited in turn',
  'raw-batch': `(c) raw, sendBatch of ${count(BATCH)}, awaited in turn`,
  'raw-batch-headers': `(c') raw, sendBatch of ${count(BATCH)}, SDK's headers`,
  'ck-sdk-loops': `(a3) SDK on Confluent's producer, ${count(LOOPS)} await-loops`,
  'ck-raw-batch-headers': `(d) raw Confluent, sendBatch of ${count(BATCH)}, SDK's headers`,
};

/**
 * Confluent's client for the (a3) and (d) cases, when it loads (`bash scripts/clients/confluent-kafka.sh ensure`
 * builds it); extra librdkafka producer properties for (a3) from BENCH_RDKAFKA='linger.ms=5,batch.num.messages=500'.
 */
/** Confluent's KafkaJS-compatible API, as (d) uses it: the client's own batching API with the SDK's records. */
interface ConfluentKafkaJS {
  readonly Kafka: new (config: Record<string, unknown>) => {
    producer(config: Record<string, unknown>): { connect(): Promise<void>; disconnect(): Promise<void>; send(record: { topic: string; messages: unknown[] }): Promise<unknown> };
  };
}

const RDKAFKA = propertiesEnv('BENCH_RDKAFKA');

interface Result extends Measured {
  readonly id: CaseId;
  /** Peak heap in use during the measured section (sampled every 50 ms) above the heap in use after a GC before it. */
  readonly heapGrowth: number;
  readonly messages: number;
  readonly stored: number;
  readonly expected: number;
}

interface Clients {
  readonly transport: KafkaTransport;
  /** The SDK with `confluentProducerDriver`, and Confluent's client itself; undefined when it does not load. */
  readonly confluent: { readonly transport: KafkaTransport; readonly client: ConfluentKafka & { readonly KafkaJS: ConfluentKafkaJS } } | undefined;
  readonly raw: Kafka;
  readonly scratch: KafkaScratch;
  readonly brokerPid: number | undefined;
}

const sdkMessage = (index: number): { type: string; key: string; payload: string } => ({ type: MESSAGE_TYPE, key: keyOf(index, KEYS), payload: SDK_PAYLOAD });

async function sdkCase(clients: Clients, id: 'sdk-all' | 'sdk-loops' | 'ck-sdk-loops', messages: number, label: string): Promise<Result> {
  const { scratch, brokerPid } = clients;
  const transport = id === 'ck-sdk-loops' ? clients.confluent?.transport : clients.transport;
  if (!transport) throw new Error(`${id}: Confluent's client does not load`);
  const topic = scratch.name(label);
  await scratch.createTopic(topic, PARTITIONS);
  const publisher = await transport.publisher();
  const unregister = scratch.closeOnCleanUp(() => publisher.close());
  const memory = new HeapSampler();
  let measured: Measured;
  try {
    await publisher.publish(topic, sdkMessage(0)); // producer id, metadata, the topic check: not measured
    measured = await sampled(memory, () => measureKafka(brokerPid, async () => {
      if (id === 'sdk-all') await Promise.all(Array.from({ length: messages }, (_, i) => publisher.publish(topic, sdkMessage(i))));
      else await concurrentLoops(messages, LOOPS, (i) => publisher.publish(topic, sdkMessage(i))); // sdk-loops, ck-sdk-loops
    }));
  } finally {
    await publisher.close();
    unregister();
  }
  return finished(scratch, id, topic, messages + 1, memory, measured);
}

/** (d): Confluent's KafkaJS-compatible producer, idempotent, acks -1 (set on the producer), librdkafka's linger 2 ms. */
async function confluentRawCase(clients: Clients, id: 'ck-raw-batch-headers', messages: number, label: string): Promise<Result> {
  const { scratch, brokerPid } = clients;
  if (!clients.confluent) throw new Error(`${id}: Confluent's client does not load`);
  const topic = scratch.name(label);
  await scratch.createTopic(topic, PARTITIONS);
  const kafka = new clients.confluent.client.KafkaJS.Kafka({ kafkaJS: { clientId: `${scratch.prefix}.ck-raw`, brokers: [...KAFKA_BROKERS], logLevel: 0 } });
  const producer = kafka.producer({ kafkaJS: { idempotent: true, acks: -1, logLevel: 0 }, 'linger.ms': 2 });
  const unregister = scratch.closeOnCleanUp(() => producer.disconnect());
  const memory = new HeapSampler();
  const send = (start: number, end: number): Promise<unknown> => {
    const batch = [];
    for (let i = start; i < end; i++) batch.push({ ...envelopeMessage(i, KEYS), partition: partitionOfKey(keyOf(i, KEYS), PARTITIONS) });
    return producer.send({ topic, messages: batch });
  };
  let measured: Measured;
  try {
    await producer.connect();
    await send(0, 1); // producer id and metadata: not measured
    measured = await sampled(memory, () =>
      measureKafka(brokerPid, async () => {
        for (let start = 0; start < messages; start += BATCH) await send(start, Math.min(messages, start + BATCH));
      }),
    );
  } finally {
    await producer.disconnect();
    unregister();
  }
  return finished(scratch, id, topic, messages + 1, memory, measured);
}

async function rawCase(clients: Clients, id: 'raw-batch' | 'raw-batch-headers' | 'raw-each', messages: number, label: string): Promise<Result> {
  const { raw, scratch, brokerPid } = clients;
  const topic = scratch.name(label);
  await scratch.createTopic(topic, PARTITIONS);
  const producer = raw.producer(RAW_PRODUCER);
  const unregister = scratch.closeOnCleanUp(() => producer.disconnect());
  const memory = new HeapSampler();
  const make = id === 'raw-batch-headers' ? (i: number) => envelopeMessage(i, KEYS) : (i: number) => rawMessage(i, KEYS);
  let measured: Measured;
  try {
    await producer.connect();
    await producer.send({ topic, messages: [make(0)], acks: -1 }); // producer id and metadata: not measured
    measured = await sampled(memory, () => measureKafka(brokerPid, () => (id === 'raw-each' ? sendEach(producer, topic, messages, make) : sendBatches(producer, topic, messages, BATCH, make))));
  } finally {
    await producer.disconnect();
    unregister();
  }
  return finished(scratch, id, topic, messages + 1, memory, measured);
}

/** Counts what the topic holds, deletes it, and gives the case's result (`expected`: the records acknowledged). */
async function finished(scratch: KafkaScratch, id: CaseId, topic: string, expected: number, memory: HeapSampler, measured: Measured): Promise<Result> {
  const stored = await scratch.stored(topic);
  await scratch.remove({ topics: [topic] });
  return { id, messages: expected - 1, stored, expected, heapGrowth: memory.peakHeapUsed - memory.baseline, ...measured };
}

async function sampled<T>(memory: HeapSampler, task: () => Promise<T>): Promise<T> {
  collectGarbage();
  memory.baseline = process.memoryUsage().heapUsed;
  memory.start();
  try {
    return await task();
  } finally {
    memory.stop();
  }
}

function report(results: readonly Result[]): void {
  const find = (id: CaseId): Result | undefined => results.find((o) => o.id === id);
  const batch = find('raw-batch');
  const headers = find('raw-batch-headers');
  const each = find('raw-each');
  const confluentRaw = find('ck-raw-batch-headers');
  printTable(
    [
      { header: 'case' },
      { header: 'msgs', align: 'right' },
      { header: 'ms', align: 'right' },
      { header: 'msgs/s', align: 'right' },
      { header: 'client CPU µs/msg', align: 'right' },
      { header: 'broker CPU µs/msg', align: 'right' },
      { header: 'peak heap growth', align: 'right' },
      { header: 'SDK/(c)', align: 'right' },
      { header: "SDK/(c')", align: 'right' },
      { header: 'SDK/(b)', align: 'right' },
      { header: 'SDK/(d)', align: 'right' },
      { header: 'end offsets sum to N+1' },
    ],
    results.map((r) => {
      const sdk = isSdk(r.id);
      return [
        LABELS[r.id],
        count(r.messages),
        count(r.ms),
        count(rate(r)),
        fixed((r.cpuMs * 1000) / r.messages),
        r.brokerCpuMs === undefined ? '?' : fixed((r.brokerCpuMs * 1000) / r.messages),
        mb(r.heapGrowth),
        sdk && batch ? ratio(rate(r) / rate(batch)) : '',
        sdk && headers ? ratio(rate(r) / rate(headers)) : '',
        sdk && each ? ratio(rate(r) / rate(each)) : '',
        sdk && confluentRaw ? ratio(rate(r) / rate(confluentRaw)) : '',
        r.stored === r.expected ? 'yes' : `NO (${count(r.stored)} of ${count(r.expected)})`,
      ];
    }),
  );
}

const rate = (r: Result): number => (r.messages * 1000) / r.ms;
const isSdk = (id: CaseId): boolean => id === 'sdk-all' || id === 'sdk-loops' || id === 'ck-sdk-loops';

/** Every round's rates; the SDK's ratios to (c) and (b), the targets judged on their medians. */
function verdicts(rounds: ReadonlyArray<readonly Result[]>): void {
  const ids = (rounds[0] ?? []).map((r) => r.id);
  const pick = (id: CaseId) => (round: readonly Result[]) => round.find((r) => r.id === id);
  printRoundRates(rounds, ids.map((id) => ({ label: LABELS[id], pick: pick(id) })), rate);
  console.log('');
  for (const id of ids.filter(isSdk)) {
    printMedianRatio(rounds, pick(id), pick('raw-batch'), rate, { label: LABELS[id], of: 'raw (c)', target: TARGET_BATCH });
    printMedianRatio(rounds, pick(id), pick('raw-each'), rate, { label: LABELS[id], of: 'raw (b)', target: TARGET_EACH });
  }
}

await runKafkaBench('produce', 10 * 60_000, async (scratch) => {
  const brokerPid = kafkaBrokerPid();
  const transport = await KafkaTransport.connect({
    brokers: [...KAFKA_BROKERS],
    clientId: `${scratch.prefix}.sdk`,
    topics: { defaults: { partitions: PARTITIONS, replicationFactor: 1 } },
    publish: PUBLISH,
  });
  scratch.closeOnCleanUp(() => transport.close());
  const raw = rawKafka(`${scratch.prefix}.raw`);
  const { lingerMs, maxBatchSize, maxBuffered, producers } = transport.config.publish;
  printHeader('Kafka produce: SDK KafkaPublisher vs raw kafkajs producer', {
    broker: await kafkaVersionInfo(scratch),
    'broker pid (CPU column)': brokerPid ?? 'not found',
    'messages per case': `${count(N)} (send-per-message case: ${count(N_EACH)}), after 1 unmeasured message`,
    message: `${String(RAW_BODY.length)}-byte body, ${String(KEYS)} keys, ${String(PARTITIONS)} partitions, replication factor 1`,
    producers: 'idempotent, maxInFlightRequests 1, acks -1, murmur2 partitioner (SDK and raw)',
    'SDK publish settings': `lingerMs ${String(lingerMs)}, maxBatchSize ${count(maxBatchSize)}, maxBuffered ${count(maxBuffered)}, producers ${String(producers)}${Object.keys(PUBLISH).length > 0 ? ' (set by env)' : ' (defaults)'}`,
  });
  const client = loadConfluent() as (ConfluentKafka & { readonly KafkaJS: ConfluentKafkaJS }) | undefined;
  const confluent = client && {
    client,
    transport: await KafkaTransport.connect(
      { brokers: [...KAFKA_BROKERS], clientId: `${scratch.prefix}.sdk-ck`, topics: { defaults: { partitions: PARTITIONS, replicationFactor: 1 } }, publish: PUBLISH },
      confluentProducerDriver(client, { producerConfig: RDKAFKA }),
    ),
  };
  if (confluent) scratch.closeOnCleanUp(() => confluent.transport.close());
  else console.log("  Confluent's client does not load: (a3) and (d) not run (bash scripts/clients/confluent-kafka.sh ensure builds it)");
  const clients: Clients = { transport, confluent, raw, scratch, brokerPid };
  // Warm-up (JIT, broker code paths), not reported.
  await sdkCase(clients, 'sdk-loops', WARMUP, 'warmup-sdk');
  await rawCase(clients, 'raw-batch', WARMUP, 'warmup-raw');
  if (confluent && CASES.includes('ck-sdk-loops')) await sdkCase(clients, 'ck-sdk-loops', WARMUP, 'warmup-ck');
  const cases = ALL_CASES.filter((c) => CASES.includes(c) && (confluent || !c.startsWith('ck-')));
  const rounds = await inRounds(async (round) => {
    const results: Result[] = [];
    for (const id of cases) {
      const label = roundTag(id, round);
      if (isSdk(id)) results.push(await sdkCase(clients, id as 'sdk-all' | 'sdk-loops' | 'ck-sdk-loops', N, label));
      else if (id === 'ck-raw-batch-headers') results.push(await confluentRawCase(clients, id, N, label));
      else results.push(await rawCase(clients, id as 'raw-batch' | 'raw-batch-headers' | 'raw-each', id === 'raw-each' ? N_EACH : N, label));
      console.log(`  ${ROUNDS > 1 ? `round ${String(round)}: ` : ''}${LABELS[id]}: done`);
    }
    return results;
  }, report);
  verdicts(rounds);
  const results = rounds.flat();
  await transport.close();
  await confluent?.transport.close();
  const lost = results.filter((r) => r.stored !== r.expected);
  if (lost.length > 0) throw new Error(`${String(lost.length)} case(s): the topic's end offsets do not sum to the messages acknowledged`);
});
