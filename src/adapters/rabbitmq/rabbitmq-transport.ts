import { MessageSerializer, type SerializerConfig } from '../../core/index.js';
import { resolveRabbitMqConfig, type RabbitMqConfig, type ResolvedRabbitMqConfig } from './config.js';
import { ConfirmedPublisher } from './confirmed-publisher.js';
import { RabbitConnection, type RabbitMqEvents } from './connection.js';
import { Naming } from './naming.js';
import { RabbitSubscriber } from './rabbit-subscriber.js';
import type { TopologyConfig } from './topology-config.js';
import { TopologyRegistry } from './topology-registry.js';
import type { EventEmitter } from 'node:events';

/**
 * RabbitMQ through the core's ports: one recovering connection, confirmed publishers, manual-ack
 * subscribers, the configured topology declared on every (re)connect.
 */
export class RabbitMqTransport {
  readonly config: ResolvedRabbitMqConfig;
  readonly serializer: MessageSerializer;
  private readonly connection: RabbitConnection;
  private readonly topology: TopologyRegistry;
  private readonly deadLetters: ConfirmedPublisher;
  private readonly publishers = new Set<ConfirmedPublisher>();
  private readonly subscribers = new Set<RabbitSubscriber>();

  private constructor(config: ResolvedRabbitMqConfig) {
    this.config = config;
    this.serializer = new MessageSerializer(config.serializer);
    this.connection = new RabbitConnection(config);
    this.topology = new TopologyRegistry(this.connection, config);
    this.deadLetters = new ConfirmedPublisher(this.connection, this.topology, this.serializer, config.publish);
  }

  /**
   * Validates the configuration (`ConfigError`), connects (`ConnectionLostError` after
   * `reconnect.initialMaxRetries`) and declares the configured topology (`TopologyError`).
   */
  static async connect(config: RabbitMqConfig = {}): Promise<RabbitMqTransport> {
    const transport = new RabbitMqTransport(resolveRabbitMqConfig(config));
    await transport.start();
    return transport;
  }

  /** Lifecycle events: connect, disconnect, reconnect-scheduled, reconnect-failed, blocked, unblocked, failure. */
  get events(): EventEmitter<RabbitMqEvents> {
    return this.connection.events;
  }

  get connected(): boolean {
    return this.connection.connected;
  }

  async publisher(options: { serializer?: SerializerConfig } = {}): Promise<ConfirmedPublisher> {
    const publisher = new ConfirmedPublisher(this.connection, this.topology, this.serializerFor(options.serializer), this.config.publish);
    await this.connection.register(publisher);
    for (const known of this.publishers) if (known.isClosed) this.publishers.delete(known);
    this.publishers.add(publisher);
    return publisher;
  }

  subscriber(options: { serializer?: SerializerConfig } = {}): RabbitSubscriber {
    const subscriber = new RabbitSubscriber({
      connection: this.connection,
      topology: this.topology,
      deadLetters: this.deadLetters,
      serializer: this.serializerFor(options.serializer),
      config: this.config,
    });
    this.subscribers.add(subscriber);
    return subscriber;
  }

  /** Declares more topology now (and on every reconnect from then on is up to the configuration). */
  declare(topology: TopologyConfig): Promise<void> {
    return this.topology.declare(topology);
  }

  deadLetterTopic(topic: string, group: string): string {
    return Naming.deadLetterTopic(topic, group);
  }

  /** Every exchange and queue this transport declared (for clean-up in tests and tools). */
  declared(): { exchanges: string[]; queues: string[] } {
    return { exchanges: [...this.topology.declaredExchanges], queues: [...this.topology.declaredQueues] };
  }

  /** Closes subscribers (handlers finish, results acked), publishers (confirms awaited), then the connection. */
  async close(): Promise<void> {
    await Promise.all([...this.subscribers].map((s) => s.close()));
    await Promise.all([...this.publishers].map((p) => p.close()));
    await this.deadLetters.close();
    await this.connection.close();
  }

  private async start(): Promise<void> {
    await this.connection.register(this.topology);
    await this.connection.register(this.deadLetters);
    await this.connection.open();
    try {
      await this.topology.declareConfigured();
    } catch (error) {
      await this.connection.close();
      throw error;
    }
  }

  private serializerFor(config: SerializerConfig | undefined): MessageSerializer {
    return config === undefined ? this.serializer : new MessageSerializer(config);
  }
}
