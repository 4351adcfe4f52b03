import { EventEmitter } from 'node:events';
import { ConnectionLostError, MessageSerializer, type SerializerConfig } from '../../core/index.js';
import { resolveKafkaConfig, type KafkaConfig, type ResolvedKafkaConfig } from './config.js';
import type { AdminDriver, KafkaDriver, ProducerDriver } from './driver.js';
import { KafkaPublisher } from './kafka-publisher.js';
import { KafkaSubscriber } from './kafka-subscriber.js';
import { kafkajsDriver } from './kafkajs-driver.js';
import { KafkaNaming } from './naming.js';
import { TopicRegistry } from './topic-registry.js';

/** Transport events; none is named `error`, so an unobserved one never crashes the process. */
export interface KafkaEvents {
  /** A failure no caller awaits, e.g. a consumer that crashed (kafkajs restarts it unless the error is final). */
  failure: [error: Error];
}

/** Kafka through the core's ports: idempotent batching publishers, commit-after-processing subscribers. */
export class KafkaTransport {
  readonly events = new EventEmitter<KafkaEvents>();
  readonly config: ResolvedKafkaConfig;
  readonly serializer: MessageSerializer;
  private readonly publishers = new Set<KafkaPublisher>();
  private readonly subscribers = new Set<KafkaSubscriber>();

  private constructor(
    config: ResolvedKafkaConfig,
    private readonly driver: KafkaDriver,
    private readonly admin: AdminDriver,
    private readonly topics: TopicRegistry,
    private readonly deadLetters: KafkaPublisher,
  ) {
    this.config = config;
    this.serializer = new MessageSerializer(config.serializer);
  }

  /**
   * Validates the configuration (`ConfigError`), connects an admin client and reads the cluster size (to fit
   * replication defaults), and starts the producer used for dead letters. `ConnectionLostError` when no broker answers.
   */
  static async connect(config: KafkaConfig = {}, driverFactory: (config: ResolvedKafkaConfig) => KafkaDriver = kafkajsDriver): Promise<KafkaTransport> {
    const resolved = resolveKafkaConfig(config);
    const driver = driverFactory(resolved);
    const admin = driver.admin();
    let clusterSize: number;
    try {
      await admin.connect();
      clusterSize = (await admin.describeCluster()).brokers.length;
    } catch (error) {
      await admin.disconnect().catch(() => undefined);
      throw new ConnectionLostError(`Cannot reach Kafka at ${resolved.brokers.join(', ')}: ${(error as Error).message}`, { cause: error });
    }
    const topics = new TopicRegistry(admin, resolved.topics, clusterSize);
    const serializer = new MessageSerializer(resolved.serializer);
    const deadLetters = await KafkaTransport.startPublisher(driver, topics, serializer, resolved);
    return new KafkaTransport(resolved, driver, admin, topics, deadLetters);
  }

  async publisher(options: { serializer?: SerializerConfig } = {}): Promise<KafkaPublisher> {
    const publisher = await KafkaTransport.startPublisher(this.driver, this.topics, this.serializerFor(options.serializer), this.config);
    for (const known of this.publishers) if (known.isClosed) this.publishers.delete(known);
    this.publishers.add(publisher);
    return publisher;
  }

  subscriber(options: { serializer?: SerializerConfig } = {}): KafkaSubscriber {
    const subscriber = new KafkaSubscriber({
      driver: this.driver,
      onFailure: (error) => this.events.emit('failure', error),
      topics: this.topics,
      deadLetters: this.deadLetters,
      serializer: this.serializerFor(options.serializer),
      config: this.config,
    });
    this.subscribers.add(subscriber);
    return subscriber;
  }

  /** Creates a topic now with the configured (or default) partitions and replication. */
  ensureTopic(topic: string): Promise<void> {
    return this.topics.ensure(topic);
  }

  deadLetterTopic(topic: string, group: string): string {
    return KafkaNaming.deadLetterTopic(topic, group);
  }

  /** The topics this transport created (for clean-up in tests and tools). */
  createdTopics(): string[] {
    return [...this.topics.created];
  }

  /** Deletes topics (tests and tools). */
  async deleteTopics(topics: readonly string[]): Promise<void> {
    if (topics.length > 0) await this.admin.deleteTopics({ topics: [...topics] });
  }

  /** Closes subscribers (handlers finish, offsets committed), publishers (acks awaited), then the admin client. */
  async close(): Promise<void> {
    await Promise.all([...this.subscribers].map((s) => s.close()));
    await Promise.all([...this.publishers].map((p) => p.close()));
    await this.deadLetters.close();
    await this.admin.disconnect().catch(() => undefined);
  }

  private static async startPublisher(driver: KafkaDriver, topics: TopicRegistry, serializer: MessageSerializer, config: ResolvedKafkaConfig): Promise<KafkaPublisher> {
    const newProducer = async (): Promise<ProducerDriver> => {
      const producer = driver.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false });
      try {
        await producer.connect();
      } catch (error) {
        throw new ConnectionLostError(`Cannot connect a Kafka producer: ${(error as Error).message}`, { cause: error });
      }
      return producer;
    };
    const first = await newProducer(); // fail fast at startup when no broker answers
    return new KafkaPublisher(newProducer, driver.partitioner(), topics, serializer, config.publish, first, driver.pipelines === true);
  }

  private serializerFor(config: SerializerConfig | undefined): MessageSerializer {
    return config === undefined ? this.serializer : new MessageSerializer(config);
  }
}
