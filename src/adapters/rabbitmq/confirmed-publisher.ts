import type { ChannelModel, ConfirmChannel, Message } from 'amqplib';
import {
  ClosedError,
  ConnectionLostError,
  MessageValidationError,
  PublishNackedError,
  PublishTimeoutError,
  Semaphore,
  UnroutableError,
  createEnvelope,
  type Envelope,
  type MessageSerializer,
  type OutgoingMessage,
  type Publisher,
  type WireRecord,
} from '../../core/index.js';
import { recordToAmqp, toAmqp, type AmqpMessage } from './amqp-wire.js';
import type { ResolvedRabbitMqConfig } from './config.js';
import type { ConnectionParticipant, RabbitConnection } from './connection.js';
import type { TopologyRegistry } from './topology-registry.js';

interface PendingConfirm {
  readonly channel: ConfirmChannel;
  readonly exchange: string;
  readonly messageId: string | undefined;
  returned: boolean;
  settled: boolean;
  readonly resolve: () => void;
  readonly reject: (error: Error) => void;
  timer?: NodeJS.Timeout;
}

/** Nacks in a row after which the channel is replaced (a channel opened during a failover can nack everything). */
const NACK_STREAK_LIMIT = 25;

/**
 * Publishes over a confirm channel. `publish` resolves on the broker's ack and rejects with a typed error
 * on nack (`PublishNackedError`), on return (`UnroutableError`), on timeout (`PublishTimeoutError`) or when
 * the channel dies first (`ConnectionLostError`). Publishes pipeline on one channel within a window of
 * `maxInFlight`; a full window or a full socket buffer makes `publish` wait, never buffer without bound.
 */
export class ConfirmedPublisher implements Publisher, ConnectionParticipant {
  private channel: ConfirmChannel | undefined;
  private readonly channelWaiters = new Set<(channel: ConfirmChannel) => void>();
  private readonly pending = new Set<PendingConfirm>();
  private readonly inFlight = new Set<Promise<unknown>>();
  private readonly window: Semaphore;
  private readonly exchanges = new Map<string, Promise<void>>();
  private drain: Promise<void> | undefined;
  private nackStreak = 0;
  private closed = false;

  constructor(
    private readonly connection: RabbitConnection,
    private readonly topology: TopologyRegistry,
    private readonly serializer: MessageSerializer,
    private readonly config: ResolvedRabbitMqConfig['publish'],
  ) {
    this.window = new Semaphore(config.maxInFlight);
  }

  publish<T>(topic: string, message: OutgoingMessage<T>): Promise<Envelope<T>> {
    if (this.closed) return Promise.reject(new ClosedError('ConfirmedPublisher'));
    return this.track(this.publishEnvelope(topic, message));
  }

  /** Publishes a wire record as it is (dead letters, replays). Same confirm semantics as `publish`. */
  publishRecord(exchange: string, record: WireRecord): Promise<void> {
    if (this.closed) return Promise.reject(new ClosedError('ConfirmedPublisher'));
    return this.track(this.send(recordToAmqp(exchange, record, this.config.persistent, this.config.mandatory)));
  }

  /** Stops taking publishes, waits until every publish in flight is confirmed or rejected, closes the channel. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.allSettled([...this.inFlight]);
    this.connection.unregister(this);
    const channel = this.channel;
    this.channel = undefined;
    await channel?.close().catch(() => undefined);
  }

  async attach(model: ChannelModel): Promise<void> {
    if (this.closed) return;
    const channel = await model.createConfirmChannel();
    channel.on('error', () => undefined); // the close that follows rejects what it concerns
    channel.on('close', () => {
      this.onChannelClosed(channel);
    });
    channel.on('return', (message: Message) => {
      this.onReturn(channel, message);
    });
    this.exchanges.clear();
    this.nackStreak = 0;
    this.drain = undefined;
    this.channel = channel;
    for (const wake of [...this.channelWaiters]) wake(channel);
  }

  detach(): void {
    if (this.channel) this.onChannelClosed(this.channel);
  }

  private track<R>(task: Promise<R>): Promise<R> {
    this.inFlight.add(task);
    const forget = (): void => {
      this.inFlight.delete(task);
    };
    task.then(forget, forget);
    return task;
  }

  private async publishEnvelope<T>(topic: string, message: OutgoingMessage<T>): Promise<Envelope<T>> {
    if (typeof topic !== 'string' || topic.length === 0) throw new MessageValidationError('Topic must be a non-empty string');
    const envelope = createEnvelope(message, this.serializer.defaultContentType);
    const body = await this.serializer.encode(envelope.type, envelope.contentType, envelope.payload);
    await this.send(toAmqp(topic, envelope, body, this.config.persistent, this.config.mandatory));
    return envelope;
  }

  private async send(message: AmqpMessage): Promise<void> {
    const deadline = AbortSignal.timeout(this.config.confirmTimeoutMs);
    if (!(await this.window.acquire(deadline))) {
      throw new PublishTimeoutError(this.config.confirmTimeoutMs, { cause: new Error(`not sent: ${String(this.config.maxInFlight)} publishes were awaiting confirms`) });
    }
    try {
      const channel = await this.readyChannel(deadline);
      if (message.exchange !== '') await this.ensureExchange(message.exchange);
      await this.writable(channel, deadline);
      await this.confirm(channel, message, deadline);
    } finally {
      this.window.release();
    }
  }

  private confirm(channel: ConfirmChannel, message: AmqpMessage, deadline: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const entry: PendingConfirm = { channel, exchange: message.exchange, messageId: message.options.messageId, returned: false, settled: false, resolve, reject };
      const onTimeout = (): void => {
        this.settle(entry, new PublishTimeoutError(this.config.confirmTimeoutMs));
      };
      if (deadline.aborted) {
        onTimeout();
        return;
      }
      deadline.addEventListener('abort', onTimeout, { once: true });
      this.pending.add(entry);
      try {
        const room = channel.publish(message.exchange, message.routingKey, message.content, message.options, (error: Error | null) => {
          this.onConfirm(entry, error);
        });
        if (!room) this.drain ??= this.awaitDrain(channel);
      } catch (error) {
        this.settle(entry, new ConnectionLostError('The channel closed before the message was sent', { cause: error }));
      }
    });
  }

  private onConfirm(entry: PendingConfirm, error: Error | null): void {
    if (error === null) {
      this.nackStreak = 0;
      this.settle(entry, entry.returned ? new UnroutableError(entry.exchange) : undefined);
      return;
    }
    if (error.message !== 'message nacked') {
      this.settle(entry, new ConnectionLostError('The channel closed before the broker confirmed the message: it may or may not be stored', { cause: error }));
      return;
    }
    this.settle(entry, new PublishNackedError('The broker refused the message (basic.nack)'));
    if (++this.nackStreak >= NACK_STREAK_LIMIT && this.channel === entry.channel) {
      this.nackStreak = 0;
      void entry.channel.close().catch(() => undefined);
    }
  }

  private settle(entry: PendingConfirm, error: Error | undefined): void {
    if (entry.settled) return;
    entry.settled = true;
    this.pending.delete(entry);
    if (error) entry.reject(error);
    else entry.resolve();
  }

  private onReturn(channel: ConfirmChannel, message: Message): void {
    const id: unknown = message.properties.messageId;
    for (const entry of this.pending) {
      if (entry.channel === channel && entry.messageId === id && !entry.returned) {
        entry.returned = true; // basic.return precedes the ack of the same message
        return;
      }
    }
  }

  private onChannelClosed(channel: ConfirmChannel): void {
    for (const entry of this.pending) {
      if (entry.channel === channel) {
        this.settle(entry, new ConnectionLostError('The channel closed before the broker confirmed the message: it may or may not be stored'));
      }
    }
    if (this.channel !== channel) return;
    this.channel = undefined;
    this.drain = undefined;
    if (!this.closed) this.reopenSoon();
  }

  /** The channel alone closed (the connection lives on): open another; after a reconnect, setup does it. */
  private reopenSoon(): void {
    setTimeout(() => {
      const model = this.connection.current();
      if (this.closed || this.channel || !model) return;
      this.attach(model).catch(() => undefined);
    }, 50).unref();
  }

  private readyChannel(deadline: AbortSignal): Promise<ConfirmChannel> {
    if (this.channel) return Promise.resolve(this.channel);
    return new Promise((resolve, reject) => {
      const onAbort = (): void => {
        this.channelWaiters.delete(wake);
        reject(new ConnectionLostError(`Not connected to RabbitMQ within ${String(this.config.confirmTimeoutMs)} ms: the message was not sent`));
      };
      const wake = (channel: ConfirmChannel): void => {
        this.channelWaiters.delete(wake);
        deadline.removeEventListener('abort', onAbort);
        resolve(channel);
      };
      if (deadline.aborted) {
        onAbort();
        return;
      }
      deadline.addEventListener('abort', onAbort, { once: true });
      this.channelWaiters.add(wake);
    });
  }

  private ensureExchange(exchange: string): Promise<void> {
    let declared = this.exchanges.get(exchange);
    if (!declared) {
      declared = this.topology.ensureExchange(exchange);
      this.exchanges.set(exchange, declared);
      declared.catch(() => this.exchanges.delete(exchange));
    }
    return declared;
  }

  private async writable(channel: ConfirmChannel, deadline: AbortSignal): Promise<void> {
    while (this.drain && this.channel === channel) {
      const drained = this.drain;
      await Promise.race([drained, aborted(deadline, () => new PublishTimeoutError(this.config.confirmTimeoutMs, { cause: new Error('not sent: the socket did not drain') }))]);
    }
  }

  private awaitDrain(channel: ConfirmChannel): Promise<void> {
    const drained: Promise<void> = new Promise<void>((resolve) => {
      const done = (): void => {
        channel.removeListener('drain', done);
        channel.removeListener('close', done);
        if (this.drain === drained) this.drain = undefined;
        resolve();
      };
      channel.once('drain', done);
      channel.once('close', done);
    });
    return drained;
  }
}

function aborted(signal: AbortSignal, error: () => Error): Promise<never> {
  return new Promise((_, reject) => {
    if (signal.aborted) reject(error());
    else signal.addEventListener('abort', () => {
      reject(error());
    }, { once: true });
  });
}
