import {
  ClosedError,
  createDeliveryPipeline,
  requireHandler,
  requireTopic,
  resolveSubscribeOptions,
  type Handler,
  type MessageSerializer,
  type SubscribeOptions,
  type Subscriber,
} from '../../core/index.js';
import type { MemoryBroker } from './memory-broker.js';
import { MemorySubscription } from './memory-subscription.js';

export class MemorySubscriber implements Subscriber {
  private readonly subscriptions = new Set<MemorySubscription>();
  private closed = false;

  constructor(
    private readonly broker: MemoryBroker,
    private readonly serializer: MessageSerializer,
  ) {}

  async subscribe<T = unknown>(topic: string, handler: Handler<T>, options: SubscribeOptions): Promise<MemorySubscription> {
    if (this.closed) throw new ClosedError('MemorySubscriber');
    requireTopic(topic);
    requireHandler(handler);
    const resolved = resolveSubscribeOptions('MemorySubscriber.subscribe', options);
    const pipeline = createDeliveryPipeline({ serializer: this.serializer, handler: handler as Handler, middleware: resolved.middleware });
    const queue = this.broker.group(topic, resolved.group);
    const subscription = new MemorySubscription(topic, resolved.group, queue, pipeline, resolved, this.serializer.defaultContentType, (s) =>
      this.subscriptions.delete(s),
    );
    this.subscriptions.add(subscription);
    queue.addMember(subscription);
    return Promise.resolve(subscription);
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.subscriptions].map((s) => s.close()));
  }
}
