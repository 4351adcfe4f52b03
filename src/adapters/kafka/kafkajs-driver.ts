import { Kafka, Partitioners, logLevel, type ConsumerConfig, type PartitionMetadata, type ProducerConfig } from 'kafkajs';
import type { ResolvedKafkaConfig } from './config.js';
import { partitionOfKey } from './murmur2.js';
import type { AdminDriver, ConsumerDriver, ConsumerOptions, KafkaDriver, ProducerDriver, ProducerOptions } from './driver.js';

/** The kafkajs client behind the adapter's driver interface. */
export function kafkajsDriver(config: ResolvedKafkaConfig): KafkaDriver {
  const kafka = new Kafka({
    clientId: config.clientId,
    brokers: [...config.brokers],
    connectionTimeout: config.connectionTimeoutMs,
    requestTimeout: config.requestTimeoutMs,
    retry: { retries: config.retry.retries, initialRetryTime: config.retry.initialRetryTimeMs, maxRetryTime: config.retry.maxRetryTimeMs },
    logLevel: logLevel.NOTHING, // failures surface as typed errors and events, not log lines
  });
  return {
    producer: (options: ProducerOptions): ProducerDriver => {
      const producerConfig: ProducerConfig = { ...options, createPartitioner: Partitioners.DefaultPartitioner };
      return kafka.producer(producerConfig);
    },
    consumer: (options: ConsumerOptions): ConsumerDriver => {
      const consumerConfig: ConsumerConfig = { ...options, retry: { retries: config.retry.retries, initialRetryTime: config.retry.initialRetryTimeMs, maxRetryTime: config.retry.maxRetryTimeMs } };
      return kafka.consumer(consumerConfig);
    },
    admin: (): AdminDriver => kafka.admin(),
    partitioner: () => {
      const partition = Partitioners.DefaultPartitioner();
      const metadata = new Map<number, PartitionMetadata[]>(); // per partition count, not per message
      return (topic, partitionCount, key) => {
        if (key !== null) return partitionOfKey(key, partitionCount);
        let partitionMetadata = metadata.get(partitionCount);
        if (!partitionMetadata) {
          partitionMetadata = Array.from({ length: partitionCount }, (_, partitionId) => ({ partitionId, leader: 0, replicas: [0], isr: [0], partitionErrorCode: 0 }));
          metadata.set(partitionCount, partitionMetadata);
        }
        return partition({ topic, partitionMetadata, message: { key, value: null } });
      };
    },
  };
}
