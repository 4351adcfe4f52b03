import type { KafkaMessage, OutgoingKafkaMessage } from './kafka-wire.js';

/**
 * The small part of a KafkaJS-style client this adapter uses. kafkajs implements it (see
 * `kafkajs-driver.ts`); a KafkaJS-compatible client (Confluent's) can be put behind it without
 * touching the adapter or the core.
 */
export interface KafkaDriver {
  producer(options: ProducerOptions): ProducerDriver;
  /** The client's key → partition function (Java-compatible murmur2 for kafkajs); keyless records round-robin. */
  partitioner(): (topic: string, partitionCount: number, key: string | null) => number;
  consumer(options: ConsumerOptions): ConsumerDriver;
  admin(): AdminDriver;
  /**
   * True when the client's producer batches, lingers and pipelines by itself and keeps each partition's order
   * across requests in flight (librdkafka's idempotent producer): the publisher then hands messages over as they
   * come, through one producer. Unset (kafkajs): the publisher batches, and awaits each request before the next.
   */
  readonly pipelines?: boolean;
}

export interface ProducerOptions {
  readonly idempotent: boolean;
  readonly maxInFlightRequests: number;
  readonly allowAutoTopicCreation: boolean;
}

export interface ProducerDriver {
  connect(): Promise<void>;
  disconnect(): Promise<void>;
  sendBatch(batch: { topicMessages: Array<{ topic: string; messages: OutgoingKafkaMessage[] }>; acks: number; timeout: number }): Promise<Array<{ topicName: string; partition: number; errorCode: number }>>;
}

export interface ConsumerOptions {
  readonly groupId: string;
  readonly sessionTimeout: number;
  readonly heartbeatInterval: number;
  readonly rebalanceTimeout: number;
  readonly maxBytesPerPartition: number;
  readonly maxBytes: number;
  readonly maxWaitTimeInMs: number;
  readonly allowAutoTopicCreation: boolean;
}

export interface BatchPayload {
  readonly batch: { readonly topic: string; readonly partition: number; readonly messages: KafkaMessage[] };
  resolveOffset(offset: string): void;
  heartbeat(): Promise<void>;
  commitOffsetsIfNecessary(offsets?: { topics: Array<{ topic: string; partitions: Array<{ partition: number; offset: string }> }> }): Promise<void>;
  isRunning(): boolean;
  isStale(): boolean;
}

export interface ConsumerDriver {
  connect(): Promise<void>;
  disconnect(): Promise<void>;
  subscribe(subscription: { topics: string[]; fromBeginning: boolean }): Promise<void>;
  run(config: { autoCommit: false; eachBatchAutoResolve: false; partitionsConsumedConcurrently: number; eachBatch: (payload: BatchPayload) => Promise<void> }): Promise<void>;
  stop(): Promise<void>;
  on(event: string, listener: (event: { payload: Record<string, unknown> }) => void): unknown;
  readonly events: { readonly GROUP_JOIN: string; readonly CRASH: string; readonly REBALANCING: string };
}

export interface AdminDriver {
  connect(): Promise<void>;
  disconnect(): Promise<void>;
  describeCluster(): Promise<{ brokers: unknown[] }>;
  fetchTopicMetadata(options: { topics: string[] }): Promise<{ topics: Array<{ name: string; partitions: Array<{ leader?: number }> }> }>;
  createTopics(options: {
    waitForLeaders: boolean;
    timeout?: number;
    topics: Array<{ topic: string; numPartitions: number; replicationFactor: number; configEntries: Array<{ name: string; value: string }> }>;
  }): Promise<boolean>;
  deleteTopics(options: { topics: string[] }): Promise<void>;
}
