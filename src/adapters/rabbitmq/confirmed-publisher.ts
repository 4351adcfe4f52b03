import type { ChannelModel, ConfirmChannel, Message } from 'amqplib';
import {
  ClosedError,
  ConnectionLostError,
  InFlight,
  PublishNackedError,
  PublishTimeoutError,
  Semaphore,
  SharedDeadline,
  attempt,
  UnroutableError,
  envelopeFor,
  type Envelope,
  type MessageSerializer,
  type OutgoingMessage,
  type Publisher,
  type WireRecord,
} from '../../core/index.js';
import { recordToAmqp, toAmqp, type AmqpMessage } from './amqp-wire.js';
import type { ResolvedRabbitMqConfig } from './config.js';
import type { ConnectionParticipant, RabbitConnection } from './connection.js';
import { ConfirmTimer, type PendingConfirm } from './confirm-timer.js';
import type { TopologyRegistry } from './topology-registry.js';

/** Nacks in a row after which the channel is replaced (a channel opened during a failover can nack everything). */
const NACK_STREAK_LIMIT = 25;

/**
 * Publishes over a confirm channel. `publish` resolves on the broker's ack and rejects with a typed error
 * on nack (`PublishNackedError`), on return (`UnroutableError`), when no confirm came within
 * `confirmTimeoutMs` of sending (`PublishTimeoutError`) or when the channel died first (`ConnectionLostError`).
 * Publishes pipeline on one channel within a window of `maxInFlight` unanswered messages; a full window or
 * a full socket buffer makes `publish` wait before encoding, so memory stays bounded.
 */
export class ConfirmedPublisher implements Publisher, ConnectionParticipant {
  private channel: ConfirmChannel | undefined;
  private readonly channelWaiters = new Set<(channel: ConfirmChannel) => void>();
  private readonly inFlight = new InFlight();
  private readonly window: Semaphore;
  private readonly deadline: SharedDeadline;
  private readonly confirms: ConfirmTimer;
  private readonly exchanges = new Map<string, Promise<void>>();
  /** Exchanges whose declaration on the current channel has succeeded: publishes to them need no await. */
  private readonly declared = new Set<string>(['']);
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
    this.deadline = new SharedDeadline(config.confirmTimeoutMs);
    this.confirms = new ConfirmTimer(config.confirmTimeoutMs);
  }

  get isClosed(): boolean {
    return this.closed;
  }

  publish<T>(topic: string, message: OutgoingMessage<T>): Promise<Envelope<T>> {
    if (this.closed) return Promise.reject(new ClosedError('ConfirmedPublisher'));
    const envelope = envelopeFor(topic, message, this.serializer.defaultContentType);
    if (envelope instanceof Error) return Promise.reject(envelope);
    return this.inFlight.track(this.send(() => this.build(topic, envelope), envelope));
  }

  /** Publishes a wire record as it is (dead letters, replays). Same confirm semantics as `publish`. */
  publishRecord(exchange: string, record: WireRecord): Promise<void> {
    if (this.closed) return Promise.reject(new ClosedError('ConfirmedPublisher'));
    return this.inFlight.track(this.send(() => recordToAmqp(exchange, record, this.config.persistent, this.config.mandatory), undefined));
  }

  /** Stops taking publishes, waits until every publish in flight is confirmed or rejected, closes the channel. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.inFlight.settled();
    this.connection.unregister(this);
    this.confirms.stop();
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
    this.declared.clear();
    this.declared.add(''); // the default exchange is never declared
    this.nackStreak = 0;
    this.drain = undefined;
    this.channel = channel;
    for (const wake of [...this.channelWaiters]) wake(channel);
  }

  detach(): void {
    if (this.channel) this.onChannelClosed(this.channel);
  }

  private build(topic: string, envelope: Envelope): AmqpMessage | Promise<AmqpMessage> {
    const body = this.serializer.encodeNow(envelope.type, envelope.contentType, envelope.payload);
    const { persistent, mandatory } = this.config;
    return body instanceof Promise ? body.then((bytes) => toAmqp(topic, envelope, bytes, persistent, mandatory)) : toAmqp(topic, envelope, body, persistent, mandatory);
  }

  /**
   * Takes a window slot, then builds the message (so waiting publishes hold no encoded body), sends it and
   * awaits its confirm; resolves with `result`. The slot is held until the broker answers or the channel
   * dies — also past a timeout, so no more than `maxInFlight` messages are ever unanswered. When a slot is
   * free, the channel open and writable, the exchange declared and the body encoded synchronously, the
   * message goes to amqplib in the caller's tick: no await before the confirm.
   */
  private send<R>(build: () => AmqpMessage | Promise<AmqpMessage>, result: R): Promise<R> {
    const channel = this.channel;
    if (!channel || this.drain || !this.window.tryAcquire()) return this.sendWhenReady(build, result, false);
    const message = attempt(build);
    if (message instanceof Error) {
      this.window.release();
      return Promise.reject(message);
    }
    if (message instanceof Promise || !this.declared.has(message.exchange)) return this.sendWhenReady(() => message, result, true);
    return this.confirm(channel, message, result);
  }

  private async sendWhenReady<R>(build: () => AmqpMessage | Promise<AmqpMessage>, result: R, holdingSlot: boolean): Promise<R> {
    if (!holdingSlot && !this.window.tryAcquire() && !(await this.window.acquire(this.deadline.signal()))) {
      throw new PublishTimeoutError(this.config.confirmTimeoutMs, {
        cause: new Error(`not sent: ${String(this.config.maxInFlight)} published messages stayed unanswered by the broker`),
      });
    }
    let handedOver = false;
    try {
      const message = await build();
      const channel = await this.readyChannel();
      if (!this.declared.has(message.exchange)) await this.ensureExchange(message.exchange);
      await this.writable(channel);
      handedOver = true;
      return await this.confirm(channel, message, result);
    } finally {
      if (!handedOver) this.window.release();
    }
  }

  private confirm<R>(channel: ConfirmChannel, message: AmqpMessage, result: R): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      const entry: PendingConfirm = {
        channel,
        exchange: message.exchange,
        messageId: message.options.messageId,
        returned: false,
        settled: false,
        answered: false,
        deadline: 0,
        result,
        resolve: resolve as (value: unknown) => void,
        reject,
      };
      this.confirms.add(entry);
      try {
        const room = channel.publish(message.exchange, message.routingKey, message.content, message.options, (error: Error | null) => {
          this.onConfirm(entry, error);
        });
        if (!room) this.drain ??= this.awaitDrain(channel);
      } catch (error) {
        this.answer(entry, new ConnectionLostError('The channel closed before the message was sent', { cause: error }));
      }
    });
  }

  private onConfirm(entry: PendingConfirm, error: Error | null): void {
    if (error === null) {
      this.nackStreak = 0;
      this.answer(entry, entry.returned ? new UnroutableError(entry.exchange) : undefined);
      return;
    }
    if (error.message !== 'message nacked') {
      this.answer(entry, new ConnectionLostError('The channel closed before the broker confirmed the message: it may or may not be stored', { cause: error }));
      return;
    }
    this.answer(entry, new PublishNackedError('The broker refused the message (basic.nack)'));
    if (++this.nackStreak >= NACK_STREAK_LIMIT && this.channel === entry.channel) {
      this.nackStreak = 0;
      void entry.channel.close().catch(() => undefined);
    }
  }

  /** The broker answered (or the channel died): settle the caller if it still waits, and free the slot. */
  private answer(entry: PendingConfirm, error: Error | undefined): void {
    if (entry.answered) return;
    entry.answered = true;
    this.confirms.remove(entry);
    ConfirmTimer.settle(entry, error);
    this.window.release();
  }

  private onReturn(channel: ConfirmChannel, message: Message): void {
    const id: unknown = message.properties.messageId;
    const entry = this.confirms.find((e) => e.channel === channel && e.messageId === id && !e.returned);
    if (entry) entry.returned = true; // basic.return precedes the ack of the same message
  }

  private onChannelClosed(channel: ConfirmChannel): void {
    for (const entry of this.confirms.on(channel)) {
      this.answer(entry, new ConnectionLostError('The channel closed before the broker confirmed the message: it may or may not be stored'));
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

  /** The open channel, waiting for one (bounded by the confirm timeout) while disconnected. */
  private readyChannel(): Promise<ConfirmChannel> {
    if (this.channel) return Promise.resolve(this.channel);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.channelWaiters.delete(wake);
        reject(new ConnectionLostError(`Not connected to RabbitMQ within ${String(this.config.confirmTimeoutMs)} ms: the message was not sent`));
      }, this.config.confirmTimeoutMs);
      const wake = (channel: ConfirmChannel): void => {
        this.channelWaiters.delete(wake);
        clearTimeout(timer);
        resolve(channel);
      };
      this.channelWaiters.add(wake);
    });
  }

  private ensureExchange(exchange: string): Promise<void> {
    let declared = this.exchanges.get(exchange);
    if (!declared) {
      const declaring = this.topology.ensureExchange(exchange);
      declared = declaring;
      this.exchanges.set(exchange, declaring);
      declaring.then(
        () => {
          if (this.exchanges.get(exchange) === declaring) this.declared.add(exchange);
        },
        () => this.exchanges.delete(exchange),
      );
    }
    return declared;
  }

  /** Waits while the socket's write buffer is full (bounded by the confirm timeout). */
  private async writable(channel: ConfirmChannel): Promise<void> {
    while (this.drain && this.channel === channel) {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          reject(new PublishTimeoutError(this.config.confirmTimeoutMs, { cause: new Error('not sent: the socket did not drain') }));
        }, this.config.confirmTimeoutMs);
      });
      try {
        await Promise.race([this.drain, timeout]);
      } finally {
        clearTimeout(timer);
      }
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
