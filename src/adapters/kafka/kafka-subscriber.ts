import {
  ClosedError,
  createDeliveryPipeline,
  requireHandler,
  requireTopic,
  type BatchHandler,
  type Handler,
  type MessageSerializer,
  type Subscriber,
} from '../../core/index.js';
import type { ResolvedKafkaConfig } from './config.js';
import type { KafkaDriver } from './driver.js';
import type { KafkaPublisher } from './kafka-publisher.js';
import { KafkaSubscription } from './kafka-subscription.js';
import { KafkaNaming } from './naming.js';
import { resolveKafkaSubscribeOptions, type KafkaSubscribeOptions } from './subscribe-options.js';
import type { TopicRegistry } from './topic-registry.js';

export interface KafkaSubscriberDeps {
  readonly driver: KafkaDriver;
  readonly onFailure: (error: Error) => void;
  readonly topics: TopicRegistry;
  readonly deadLetters: KafkaPublisher;
  readonly serializer: MessageSerializer;
  readonly config: ResolvedKafkaConfig;
}

export class KafkaSubscriber implements Subscriber {
  private readonly subscriptions = new Set<KafkaSubscription>();
  private closed = false;

  constructor(private readonly deps: KafkaSubscriberDeps) {}

  /**
   * Creates the topic and its dead-letter topic if needed, joins the consumer group and resolves once this
   * member has its partitions. A new group starts at the earliest retained offset (`consumer.fromBeginning`).
   */
  async subscribe<T = unknown>(topic: string, handler: Handler<T>, options: KafkaSubscribeOptions): Promise<KafkaSubscription> {
    return this.start(topic, handler as Handler, undefined, options);
  }

  /**
   * Batch mode: the handler gets up to `maxBatchSize` consecutive messages of a partition at once (middleware
   * does not apply). Resolving settles them all and commits their offsets; throwing retries the group once,
   * then handles each message alone (retries, then dead letter). For the inbox's batch mode.
   */
  async subscribeBatch<T = unknown>(topic: string, handler: BatchHandler<T>, options: KafkaSubscribeOptions): Promise<KafkaSubscription> {
    requireHandler(handler);
    const batch = handler as BatchHandler;
    return this.start(topic, (message, context) => batch([message], context), batch, options);
  }

  private async start(topic: string, handler: Handler, batch: BatchHandler | undefined, options: KafkaSubscribeOptions): Promise<KafkaSubscription> {
    if (this.closed) throw new ClosedError('KafkaSubscriber');
    requireTopic(topic);
    requireHandler(handler);
    const resolved = resolveKafkaSubscribeOptions(options);
    const { driver, topics, config, serializer } = this.deps;
    const deadLetterTopic = KafkaNaming.deadLetterTopic(topic, resolved.group);
    await Promise.all([topics.ensure(topic), topics.ensure(deadLetterTopic)]);
    const groupId = resolved.groupId ?? KafkaNaming.groupId(topic, resolved.group);
    const consumer = driver.consumer({
      groupId,
      sessionTimeout: config.consumer.sessionTimeoutMs,
      heartbeatInterval: config.consumer.heartbeatIntervalMs,
      rebalanceTimeout: config.consumer.rebalanceTimeoutMs,
      maxBytesPerPartition: config.consumer.maxBytesPerPartition,
      maxBytes: config.consumer.maxBytes,
      maxWaitTimeInMs: config.consumer.maxWaitTimeMs,
      allowAutoTopicCreation: false,
    });
    const subscription = new KafkaSubscription(topic, resolved.group, groupId, resolved, {
      ...(batch ? { batch: { handler: batch, serializer, maxBatchSize: resolved.maxBatchSize } } : {}),
      consumer,
      onFailure: this.deps.onFailure,
      pipeline: createDeliveryPipeline({ serializer, handler, middleware: batch ? [] : resolved.middleware }),
      deadLetters: this.deps.deadLetters,
      deadLetterTopic,
      defaultContentType: serializer.defaultContentType,
      config: config.consumer,
    });
    try {
      await subscription.start();
    } catch (error) {
      await subscription.crash();
      throw error;
    }
    for (const known of this.subscriptions) if (known.isClosed) this.subscriptions.delete(known);
    this.subscriptions.add(subscription);
    return subscription;
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.subscriptions].map((s) => s.close()));
  }
}
