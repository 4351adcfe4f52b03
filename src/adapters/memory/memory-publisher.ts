import { setImmediate as nextTurn } from 'node:timers/promises';
import {
  ClosedError,
  MessageValidationError,
  createEnvelope,
  toWireRecord,
  type Envelope,
  type MessageSerializer,
  type OutgoingMessage,
  type Publisher,
} from '../../core/index.js';
import type { MemoryBroker } from './memory-broker.js';

/** Resolves a publish once the memory broker holds the message, one event-loop turn later (like a confirm). */
export class MemoryPublisher implements Publisher {
  private readonly pending = new Set<Promise<unknown>>();
  private closed = false;

  constructor(
    private readonly broker: MemoryBroker,
    private readonly serializer: MessageSerializer,
  ) {}

  publish<T>(topic: string, message: OutgoingMessage<T>): Promise<Envelope<T>> {
    if (this.closed) return Promise.reject(new ClosedError('MemoryPublisher'));
    const sent = this.send(topic, message);
    this.pending.add(sent);
    void sent.then(
      () => this.pending.delete(sent),
      () => this.pending.delete(sent),
    );
    return sent;
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.allSettled([...this.pending]);
  }

  private async send<T>(topic: string, message: OutgoingMessage<T>): Promise<Envelope<T>> {
    if (typeof topic !== 'string' || topic.length === 0) throw new MessageValidationError('Topic must be a non-empty string');
    const envelope = createEnvelope(message, this.serializer.defaultContentType);
    const body = await this.serializer.encode(envelope.type, envelope.contentType, envelope.payload);
    await nextTurn();
    this.broker.append(topic, toWireRecord(envelope, body));
    return envelope;
  }
}
