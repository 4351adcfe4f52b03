import type { ResolvedKafkaConfig } from './config.js';
import type { KafkaDriver, ProducerDriver, ProducerOptions } from './driver.js';
import type { OutgoingKafkaMessage } from './kafka-wire.js';
import { kafkajsDriver } from './kafkajs-driver.js';

/**
 * The part of `@confluentinc/kafka-javascript`'s KafkaJS-compatible API (`require(…).KafkaJS`) this driver uses.
 * The package is not a dependency of the SDK: the application passes its `KafkaJS` export in.
 */
export interface ConfluentKafkaJS {
  readonly Kafka: new (config: Record<string, unknown>) => {
    producer(config: Record<string, unknown>): ConfluentProducer;
  };
}

interface ConfluentProducer {
  connect(): Promise<void>;
  disconnect(): Promise<void>;
  send(record: { topic: string; messages: OutgoingKafkaMessage[] }): Promise<Array<{ topicName: string; partition: number; errorCode: number }>>;
}

/** What the driver sets on librdkafka beyond the SDK's resolved configuration (all overridable). */
export interface ConfluentDriverOptions {
  /** Extra librdkafka producer properties, applied last. */
  readonly producerConfig?: Readonly<Record<string, string | number | boolean>>;
}

/**
 * A driver whose producers are Confluent's librdkafka-based client, and whose consumers and admin client
 * stay kafkajs (`kafkajsDriver`): librdkafka encodes records and their headers natively and batches them
 * itself, which is where kafkajs spends most of a produce. Idempotent with `acks = -1` as always; librdkafka
 * keeps order per partition with up to five requests in flight, so the SDK's `maxInFlightRequests: 1` (a
 * kafkajs requirement) is not passed on.
 *
 * ```ts
 * import { KafkaJS } from '@confluentinc/kafka-javascript';
 * const transport = await KafkaTransport.connect(config, confluentProducerDriver(KafkaJS));
 * ```
 */
export function confluentProducerDriver(client: ConfluentKafkaJS, options: ConfluentDriverOptions = {}): (config: ResolvedKafkaConfig) => KafkaDriver {
  return (config) => {
    const base = kafkajsDriver(config);
    const kafka = new client.Kafka({
      kafkaJS: { clientId: config.clientId, brokers: [...config.brokers], connectionTimeout: config.connectionTimeoutMs, logLevel: 0 },
    });
    return {
      ...base,
      pipelines: true,
      producer: (producerOptions: ProducerOptions): ProducerDriver => confluentProducer(kafka.producer(producerConfig(config, producerOptions, options))),
    };
  };
}

function producerConfig(config: ResolvedKafkaConfig, producer: ProducerOptions, options: ConfluentDriverOptions): Record<string, unknown> {
  return {
    kafkaJS: { idempotent: producer.idempotent, acks: -1, allowAutoTopicCreation: producer.allowAutoTopicCreation, logLevel: 0 },
    'linger.ms': config.publish.lingerMs,
    'batch.num.messages': config.publish.maxBatchSize,
    'batch.size': config.publish.maxBatchBytes,
    // The broker (the topic's max.message.bytes) decides what is too large, as with kafkajs; librdkafka's own
    // default would refuse anything over 1,000,000 bytes before sending it.
    'message.max.bytes': 100 * 1024 * 1024,
    // librdkafka gives up on a message after this long and reports it failed; the SDK's own deadline is the same.
    'message.timeout.ms': config.publish.timeoutMs,
    'request.timeout.ms': Math.min(config.requestTimeoutMs, config.publish.timeoutMs),
    // Retried until then (the compatible API's default would give up after 5 tries, within a broker restart).
    retries: 2_147_483_647,
    'retry.backoff.ms': config.retry.initialRetryTimeMs,
    'retry.backoff.max.ms': Math.max(config.retry.initialRetryTimeMs, config.retry.maxRetryTimeMs),
    ...options.producerConfig,
  };
}

function confluentProducer(producer: ConfluentProducer): ProducerDriver {
  return {
    connect: () => producer.connect(),
    disconnect: () => producer.disconnect(),
    // `acks` and `timeout` are the producer's configuration here (see producerConfig), not per call. The
    // compatible API rewrites the messages it is given (timestamp, header list): the publisher hands over
    // objects it made for this send and reads nothing from them afterwards.
    sendBatch: async ({ topicMessages }) => {
      const acks = await Promise.all(topicMessages.map(({ topic, messages }) => producer.send({ topic, messages })));
      return acks.length === 1 ? (acks[0] ?? []) : acks.flat();
    },
  };
}
