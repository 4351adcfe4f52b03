import type { Envelope, OutgoingMessage } from './envelope.js';
import type { WireRecord } from './wire.js';

/**
 * Publishes messages to a topic. `publish` resolves only once the transport holds the message
 * durably (a broker confirm, a Kafka ack); it rejects with a typed `ReliableMqError` otherwise.
 * A resolved publish is never lost by the transport; a rejected one may be retried by the caller.
 */
export interface Publisher {
  /** Resolves with the envelope as sent (its `id` assigned) once the transport confirmed it. */
  publish<T>(topic: string, message: OutgoingMessage<T>): Promise<Envelope<T>>;
  /**
   * Publishes an already encoded message (its envelope in `rmq-*` headers, see `wire.ts`) byte for byte,
   * with the same confirmation: dead letters, replays, the outbox relay.
   */
  publishRecord(topic: string, record: WireRecord): Promise<void>;
  /** Stops taking publishes, awaits every publish in flight, then releases resources. Idempotent. */
  close(): Promise<void>;
}

export interface HandlerContext {
  readonly topic: string;
  readonly group: string;
  /** Aborted when the subscription is closing past its grace period or crashed: stop early if you can. */
  readonly signal: AbortSignal;
}

/**
 * Processes one message. Resolving acks it (after the work the handler awaited is done); throwing
 * redelivers it, except a `FatalError` or `PoisonMessageError`, which dead-letter it at once.
 */
export type Handler<T = unknown> = (message: Envelope<T>, context: HandlerContext) => Promise<void> | void;

/**
 * Processes messages in groups (Kafka batch mode): resolving settles all of them; throwing retries the
 * group, then each message alone, so one failing message is dead-lettered without its neighbours.
 */
export type BatchHandler<T = unknown> = (messages: ReadonlyArray<Envelope<T>>, context: HandlerContext) => Promise<void> | void;

/** Wraps a handler: retry, deduplication, tracing, logging and timeouts plug in here. */
export type Middleware = (next: Handler) => Handler;

export interface SubscribeOptions {
  /**
   * Consumer group (a durable queue per group in RabbitMQ, a consumer group in Kafka): each message
   * goes to one member of each group, and to every group.
   */
  readonly group: string;
  /** Handlers running at once in this subscription. Default 1. */
  readonly concurrency?: number;
  /** Unacknowledged messages this subscription may hold (broker prefetch). Default 10, at least `concurrency`. */
  readonly prefetch?: number;
  /** Outermost first. */
  readonly middleware?: readonly Middleware[];
  /** How long `close()` waits for running handlers before abandoning them to redelivery. Default 30 s. */
  readonly closeTimeoutMs?: number;
}

export interface Subscription {
  readonly topic: string;
  readonly group: string;
  /**
   * Graceful: stops taking deliveries, returns buffered ones to the broker, lets running handlers
   * finish (bounded by `closeTimeoutMs`) and acks their results. Idempotent.
   */
  close(): Promise<void>;
}

export interface Subscriber {
  /**
   * Starts consuming `topic` as a member of `options.group`. Resolves once the group's queue exists
   * and this consumer is registered: from then on the group keeps every message published to the topic.
   */
  subscribe<T = unknown>(topic: string, handler: Handler<T>, options: SubscribeOptions): Promise<Subscription>;
  /** Closes every subscription gracefully. Idempotent. */
  close(): Promise<void>;
}
