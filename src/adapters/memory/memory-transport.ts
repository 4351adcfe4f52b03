import { MessageSerializer, MessageValidationError, type SerializerConfig, type WireRecord } from '../../core/index.js';
import { resolveMemoryConfig, type MemoryTransportConfig, type ResolvedMemoryConfig } from './config.js';
import { MemoryBroker, type GroupStats } from './memory-broker.js';
import { MemoryPublisher } from './memory-publisher.js';
import { MemorySubscriber } from './memory-subscriber.js';

/**
 * The in-memory transport: the same delivery semantics as the broker adapters (groups, manual ack,
 * redelivery, per-key order, prefetch, dead-letters) with no infrastructure, for unit tests and demos.
 */
export class MemoryTransport {
  readonly broker: MemoryBroker;
  readonly serializer: MessageSerializer;
  private readonly config: ResolvedMemoryConfig;

  constructor(config: MemoryTransportConfig = {}) {
    this.config = resolveMemoryConfig(config);
    this.serializer = new MessageSerializer(this.config.serializer);
    this.broker = new MemoryBroker(this.config);
  }

  /** `serializer` overrides the transport's codecs and message types for this publisher. */
  publisher(options: { serializer?: SerializerConfig } = {}): MemoryPublisher {
    return new MemoryPublisher(this.broker, this.serializerFor(options.serializer));
  }

  /** `serializer` overrides the transport's codecs and message types for this subscriber. */
  subscriber(options: { serializer?: SerializerConfig } = {}): MemorySubscriber {
    return new MemorySubscriber(this.broker, this.serializerFor(options.serializer));
  }

  /** Appends a record as another producer would, bypassing the SDK's envelope and codecs. */
  publishRaw(topic: string, record: WireRecord): void {
    if (typeof topic !== 'string' || topic.length === 0) throw new MessageValidationError('Topic must be a non-empty string');
    this.broker.append(topic, record);
  }

  deadLetterTopic(topic: string, group: string): string {
    return this.config.deadLetterTopic(topic, group);
  }

  private serializerFor(config: SerializerConfig | undefined): MessageSerializer {
    return config === undefined ? this.serializer : new MessageSerializer(config);
  }

  stats(topic: string, group: string): GroupStats {
    return this.broker.stats(topic, group);
  }
}
