import {
  ClosedError,
  ConnectionLostError,
  createDeliveryPipeline,
  requireHandler,
  requireTopic,
  type Handler,
  type MessageSerializer,
  type Subscriber,
} from '../../core/index.js';
import type { ResolvedRabbitMqConfig } from './config.js';
import type { ConfirmedPublisher } from './confirmed-publisher.js';
import type { RabbitConnection } from './connection.js';
import { Naming } from './naming.js';
import { RabbitSubscription } from './rabbit-subscription.js';
import { resolveRabbitSubscribeOptions, type RabbitSubscribeOptions } from './subscribe-options.js';
import type { TopologyRegistry } from './topology-registry.js';

export interface SubscriberDeps {
  readonly connection: RabbitConnection;
  readonly topology: TopologyRegistry;
  readonly deadLetters: ConfirmedPublisher;
  readonly serializer: MessageSerializer;
  readonly config: ResolvedRabbitMqConfig;
}

export class RabbitSubscriber implements Subscriber {
  private readonly subscriptions = new Set<RabbitSubscription>();
  private closed = false;

  constructor(private readonly deps: SubscriberDeps) {}

  /**
   * Declares the group's queue (and the topic exchange and dead-letter topic) and starts consuming.
   * Rejects with `TopologyError` when the broker refuses a declaration, `ConnectionLostError` when not connected.
   */
  async subscribe<T = unknown>(topic: string, handler: Handler<T>, options: RabbitSubscribeOptions): Promise<RabbitSubscription> {
    if (this.closed) throw new ClosedError('RabbitSubscriber');
    requireTopic(topic);
    requireHandler(handler);
    const resolved = resolveRabbitSubscribeOptions(options);
    const queue = resolved.queue ?? Naming.queue(topic, resolved.group);
    const { topology, connection, config } = this.deps;
    const queueType = config.topology.queues?.[queue]?.type ?? config.queues.type;
    const subscription = new RabbitSubscription(
      topic,
      resolved.group,
      queue,
      topology.groupTopology(topic, resolved.group, { queue, singleActiveConsumer: resolved.singleActiveConsumer }),
      Naming.deadLetterTopic(topic, resolved.group),
      resolved,
      {
        connection,
        topology,
        deadLetters: this.deps.deadLetters,
        pipeline: createDeliveryPipeline({ serializer: this.deps.serializer, handler: handler as Handler, middleware: resolved.middleware }),
        defaultContentType: this.deps.serializer.defaultContentType,
        deliveryLimit: queueType === 'quorum' ? (config.topology.queues?.[queue]?.deliveryLimit ?? config.queues.deliveryLimit) : undefined,
      },
    );
    if (!connection.connected) throw new ConnectionLostError('Not connected to RabbitMQ: cannot subscribe now');
    try {
      await connection.register(subscription);
    } catch (error) {
      connection.unregister(subscription);
      await subscription.crash();
      throw error;
    }
    this.subscriptions.add(subscription);
    void subscription.closed.then(() => this.subscriptions.delete(subscription));
    return subscription;
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.subscriptions].map((s) => s.close()));
  }
}
