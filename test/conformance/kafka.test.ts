import { createRequire } from 'node:module';
import { Kafka, logLevel } from 'kafkajs';
import { KafkaSubscription, KafkaTransport, confluentProducerDriver, kafkajsDriver, type ConfluentKafka } from '../../src/adapters/kafka/index.js';
import type { Subscription, WireRecord } from '../../src/core/index.js';
import { runTransportConformance } from './suite.js';

function brokers(): string[] {
  return (process.env['KAFKA_BROKERS'] ?? '127.0.0.1:9092').split(',');
}

/** Confluent's client, provisioned by `scripts/clients/confluent-kafka.sh ensure` (npm test runs it). */
function confluent(): ConfluentKafka {
  return createRequire(import.meta.url)('@confluentinc/kafka-javascript') as ConfluentKafka;
}

/** The one suite, over kafkajs end to end and over Confluent's producer with kafkajs consumers. */
for (const [name, driver] of [
  ['kafka', kafkajsDriver],
  ['kafka, Confluent producer', confluentProducerDriver(confluent())],
] as const) {
  runTransportConformance(
    name,
    { orderPerKeyWithConcurrency: true, newGroupReceivesOldMessages: true, balancesGroupMembers: false, deliveryLimit: 5, attemptSurvivesConsumerLoss: false, timeoutMs: 30_000 },
    async () => {
      const transport = await KafkaTransport.connect(
        {
          brokers: brokers(),
          topics: { defaults: { partitions: 3, config: { 'max.message.bytes': '4194304' } } },
          consumer: { deliveryLimit: 5, sessionTimeoutMs: 6000, heartbeatIntervalMs: 500, retryInitialDelayMs: 20, retryMaxDelayMs: 200, maxWaitTimeMs: 200 },
        },
        driver,
      );
      const raw = new Kafka({ clientId: 'conformance-raw', brokers: brokers(), logLevel: logLevel.NOTHING }).producer({ allowAutoTopicCreation: false });
      await raw.connect();
      return {
        publisher: (serializer) => transport.publisher(serializer ? { serializer } : {}),
        subscriber: (serializer) => transport.subscriber(serializer ? { serializer } : {}),
        publishRaw: async (topic: string, record: WireRecord) => {
          await transport.ensureTopic(topic);
          await raw.send({ topic, acks: -1, messages: [{ key: record.key ?? null, value: Buffer.from(record.body), headers: { ...record.headers } }] });
        },
        deadLetterTopic: (topic, group) => transport.deadLetterTopic(topic, group),
        crash: (subscription: Subscription) => {
          if (!(subscription instanceof KafkaSubscription)) throw new Error('not a Kafka subscription');
          return subscription.crash();
        },
        close: async () => {
          const topics = transport.createdTopics();
          await raw.disconnect();
          await transport.close();
          const admin = new Kafka({ clientId: 'conformance-admin', brokers: brokers(), logLevel: logLevel.NOTHING }).admin();
          await admin.connect();
          await admin.deleteTopics({ topics }).catch(() => undefined);
          await admin.disconnect();
        },
      };
    },
  );
}
