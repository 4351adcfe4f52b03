import { setImmediate as nextTurn } from 'node:timers/promises';
import {
  ClosedError,
  InFlight,
  createEnvelope,
  requireTopic,
  toWireRecord,
  type Envelope,
  type MessageSerializer,
  type OutgoingMessage,
  type Publisher,
  type WireRecord,
} from '../../core/index.js';
import type { MemoryBroker } from './memory-broker.js';

/** Resolves a publish once the memory broker holds the message, one event-loop turn later (like a confirm). */
export class MemoryPublisher implements Publisher {
  private readonly inFlight = new InFlight();
  private closed = false;

  constructor(
    private readonly broker: MemoryBroker,
    private readonly serializer: MessageSerializer,
  ) {}

  publish<T>(topic: string, message: OutgoingMessage<T>): Promise<Envelope<T>> {
    if (this.closed) return Promise.reject(new ClosedError('MemoryPublisher'));
    return this.inFlight.track(this.send(topic, message));
  }

  publishRecord(topic: string, record: WireRecord): Promise<void> {
    if (this.closed) return Promise.reject(new ClosedError('MemoryPublisher'));
    return this.inFlight.track(this.append(topic, record));
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.inFlight.settled();
  }

  private async send<T>(topic: string, message: OutgoingMessage<T>): Promise<Envelope<T>> {
    requireTopic(topic);
    const envelope = createEnvelope(message, this.serializer.defaultContentType);
    const body = await this.serializer.encode(envelope.type, envelope.contentType, envelope.payload);
    await this.append(topic, toWireRecord(envelope, body));
    return envelope;
  }

  private async append(topic: string, record: WireRecord): Promise<void> {
    requireTopic(topic);
    await nextTurn();
    this.broker.append(topic, record);
  }
}
