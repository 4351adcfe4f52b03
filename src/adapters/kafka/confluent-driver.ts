import type { ResolvedKafkaConfig } from './config.js';
import type { KafkaDriver, ProducerDriver, ProducerOptions } from './driver.js';
import type { OutgoingKafkaMessage } from './kafka-wire.js';
import { kafkajsDriver } from './kafkajs-driver.js';

/**
 * The part of `@confluentinc/kafka-javascript` this driver uses: its librdkafka `Producer` (the node-rdkafka-style
 * API) and its table of error codes. The package is not a dependency of the SDK: the application passes it in.
 */
export interface ConfluentKafka {
  readonly Producer: new (config: Record<string, unknown>) => RdProducer;
  readonly CODES: { readonly ERRORS: Readonly<Record<string, number>> };
}

interface DeliveryReport {
  readonly opaque?: unknown;
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
}

interface RdProducer {
  connect(metadataOptions: { allTopics?: boolean }, callback: (error: unknown) => void): unknown;
  disconnect(timeoutMs: number, callback: (error: unknown) => void): unknown;
  produce(topic: string, partition: number, value: Buffer, key: string | null, timestamp: number | null, opaque: unknown, headers: Array<Record<string, string>> | undefined): unknown;
  setPollInBackground(enabled: boolean): unknown;
  on(event: 'delivery-report', listener: (error: unknown, report: DeliveryReport) => void): unknown;
}

/** librdkafka's default `linger.ms`; `publish.lingerMs` above it is passed on. */
export const CONFLUENT_MIN_LINGER_MS = 5;

/** How long librdkafka may keep trying to deliver a message (Kafka's Java client: `delivery.timeout.ms`, 120 s). */
export const CONFLUENT_DELIVERY_TIMEOUT_MS = 120_000;

/** What the driver sets on librdkafka beyond the SDK's resolved configuration. */
export interface ConfluentDriverOptions {
  /** Extra librdkafka producer properties, applied last. */
  readonly producerConfig?: Readonly<Record<string, string | number | boolean>>;
}

/**
 * A driver whose producers are Confluent's librdkafka client, and whose consumers and admin client stay kafkajs
 * (`kafkajsDriver`): librdkafka encodes records and their headers natively and batches them itself, which is
 * where kafkajs spends most of a produce. Idempotent with `acks = -1` as always; librdkafka keeps order per
 * partition with up to five requests in flight, so the publisher hands messages over without waiting for
 * earlier requests (`pipelines`), and the SDK's `maxInFlightRequests: 1` (a kafkajs requirement) is not passed on.
 *
 * ```ts
 * import Confluent from '@confluentinc/kafka-javascript';
 * const transport = await KafkaTransport.connect(config, confluentProducerDriver(Confluent));
 * ```
 */
export function confluentProducerDriver(client: ConfluentKafka, options: ConfluentDriverOptions = {}): (config: ResolvedKafkaConfig) => KafkaDriver {
  const codeNames = new Map(Object.entries(client.CODES.ERRORS).map(([name, code]) => [code, name]));
  return (config) => ({
    ...kafkajsDriver(config),
    pipelines: true,
    producer: (producerOptions: ProducerOptions): ProducerDriver => confluentProducer(new client.Producer(producerConfig(config, producerOptions, options)), codeNames),
  });
}

function producerConfig(config: ResolvedKafkaConfig, producer: ProducerOptions, options: ConfluentDriverOptions): Record<string, unknown> {
  return {
    'bootstrap.servers': config.brokers.join(','),
    'client.id': config.clientId,
    'enable.idempotence': producer.idempotent,
    acks: -1,
    'allow.auto.create.topics': producer.allowAutoTopicCreation,
    'socket.connection.setup.timeout.ms': config.connectionTimeoutMs,
    // librdkafka batches by lingering alone (kafkajs' publisher also gathers while a request is in flight): at least
    // its own default, 5 ms, which measured 0.85–0.86× of raw kafkajs sendBatch against 0.76–0.82× with 2 ms.
    'linger.ms': Math.max(config.publish.lingerMs, CONFLUENT_MIN_LINGER_MS),
    'batch.num.messages': config.publish.maxBatchSize,
    'batch.size': config.publish.maxBatchBytes,
    // The broker (the topic's max.message.bytes) decides what is too large, as with kafkajs; librdkafka's own
    // default would refuse anything over 1,000,000 bytes before sending it.
    'message.max.bytes': 100 * 1024 * 1024,
    // Not the SDK's deadline (its own timer rejects the caller then, indeterminate): a message that times out while
    // in flight makes librdkafka bump its epoch and send the later in-flight ones again under new sequence numbers,
    // and the broker may then store those twice (seen in the leader-kill fault test with a 2 s deadline).
    'message.timeout.ms': Math.max(config.publish.timeoutMs, CONFLUENT_DELIVERY_TIMEOUT_MS),
    'request.timeout.ms': Math.min(config.requestTimeoutMs, config.publish.timeoutMs),
    'retry.backoff.ms': config.retry.initialRetryTimeMs,
    'retry.backoff.max.ms': Math.max(config.retry.initialRetryTimeMs, config.retry.maxRetryTimeMs),
    dr_cb: true,
    ...options.producerConfig,
  };
}

/** One `sendBatch` call's records of one topic: settled when librdkafka has reported on every one. */
interface Call {
  remaining: number;
  baseOffset: number;
  error: Error | undefined;
  readonly settle: (call: Call) => void;
}

/** One record reported on (or never to be): the call settles with the last one. */
function countDown(call: Call): void {
  call.remaining -= 1;
  if (call.remaining === 0) call.settle(call);
}

function confluentProducer(producer: RdProducer, codeNames: ReadonlyMap<number, string>): ProducerDriver {
  producer.on('delivery-report', (error, report) => {
    const call = report.opaque as Call;
    if (error) call.error ??= named(error as Error, codeNames);
    else if (report.offset < call.baseOffset) call.baseOffset = report.offset;
    countDown(call);
  });
  return {
    connect: () =>
      new Promise<void>((resolve, reject) => {
        producer.connect({ allTopics: false }, (error) => {
          if (error) {
            reject(named(error as Error, codeNames));
            return;
          }
          producer.setPollInBackground(true);
          resolve();
        });
      }),
    disconnect: () =>
      new Promise<void>((resolve) => {
        producer.disconnect(5000, () => {
          resolve();
        });
      }),
    // `acks` and `timeout` are the producer's configuration here (see producerConfig), not per call.
    sendBatch: async ({ topicMessages }) => {
      const acks = await Promise.all(topicMessages.map(({ topic, messages }) => produceAll(producer, topic, messages, codeNames)));
      return acks.flat();
    },
  };
}

/**
 * Hands the messages to librdkafka (each partition's order is the order of these calls) and resolves once every
 * one is delivered, with the lowest offset per partition; rejects with the first failure. A message librdkafka
 * refuses at once (too large, queue full) rejects the call; those handed over before it may still be stored.
 */
function produceAll(producer: RdProducer, topic: string, messages: readonly OutgoingKafkaMessage[], codeNames: ReadonlyMap<number, string>): Promise<Array<{ topicName: string; partition: number; errorCode: number; baseOffset: string }>> {
  const partition = messages[0]?.partition ?? -1;
  return new Promise((resolve, reject) => {
    const call: Call = {
      remaining: messages.length + 1, // + 1 until every message is handed over
      baseOffset: Number.MAX_SAFE_INTEGER,
      error: undefined,
      settle: ({ error, baseOffset }) => {
        if (error) reject(error);
        else resolve([{ topicName: topic, partition, errorCode: 0, baseOffset: String(baseOffset) }]);
      },
    };
    for (const message of messages) {
      try {
        producer.produce(topic, message.partition ?? -1, message.value, message.key, message.timestamp === undefined ? null : Number(message.timestamp), call, headerList(message.headers));
      } catch (error) {
        call.error ??= named(error as Error, codeNames);
        countDown(call); // no report will come for it
      }
    }
    countDown(call);
  });
}

function headerList(headers: Readonly<Record<string, string>>): Array<Record<string, string>> {
  const list: Array<Record<string, string>> = [];
  for (const name in headers) list.push({ [name]: headers[name] as string });
  return list;
}

/** librdkafka's errors carry a numeric `code`; its name goes in `type`, which `kafka-errors.ts` maps. */
function named(error: Error, codeNames: ReadonlyMap<number, string>): Error {
  const code = (error as { code?: unknown }).code;
  const type = typeof code === 'number' ? codeNames.get(code) : undefined;
  return type === undefined ? error : Object.assign(error, { type });
}
