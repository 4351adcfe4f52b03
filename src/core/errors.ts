/**
 * Every error this SDK raises is a `ReliableMqError` with a stable `code` from `ErrorCode`.
 * `retriable` says whether trying the same operation again can succeed.
 */
export const ErrorCode = {
  CONFIG_INVALID: 'RMQ_CONFIG_INVALID',
  CONNECTION_LOST: 'RMQ_CONNECTION_LOST',
  PUBLISH_NACKED: 'RMQ_PUBLISH_NACKED',
  PUBLISH_TIMEOUT: 'RMQ_PUBLISH_TIMEOUT',
  UNROUTABLE: 'RMQ_UNROUTABLE',
  TOPOLOGY_MISMATCH: 'RMQ_TOPOLOGY_MISMATCH',
  POISON_MESSAGE: 'RMQ_POISON_MESSAGE',
  MESSAGE_INVALID: 'RMQ_MESSAGE_INVALID',
  CLOSED: 'RMQ_CLOSED',
  HANDLER_RETRYABLE: 'RMQ_HANDLER_RETRYABLE',
  HANDLER_FATAL: 'RMQ_HANDLER_FATAL',
  DELIVERY_LIMIT_EXCEEDED: 'RMQ_DELIVERY_LIMIT_EXCEEDED',
  SCHEMA_MISSING: 'RMQ_SCHEMA_MISSING',
  OUTBOX_NOT_IN_TRANSACTION: 'RMQ_OUTBOX_NOT_IN_TRANSACTION',
} as const;

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

const BRAND = Symbol.for('reliable-mq.error');

export interface ErrorOptions {
  readonly cause?: unknown;
}

export class ReliableMqError extends Error {
  readonly code: ErrorCode;
  readonly retriable: boolean;
  readonly [BRAND] = true;

  constructor(code: ErrorCode, message: string, retriable: boolean, options: ErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.retriable = retriable;
  }

  /** Brand check that also works across realms and duplicated package copies. */
  static is(error: unknown): error is ReliableMqError {
    return typeof error === 'object' && error !== null && (error as Record<symbol, unknown>)[BRAND] === true;
  }
}

export interface ConfigIssue {
  readonly field: string;
  readonly expected: string;
  readonly received: string;
}

/** Invalid configuration: names every offending field, what was expected and what was given. */
export class ConfigError extends ReliableMqError {
  readonly component: string;
  readonly issues: readonly ConfigIssue[];

  constructor(component: string, issues: readonly ConfigIssue[]) {
    const list = issues.map((i) => `${i.field}: expected ${i.expected}, received ${i.received}`).join('; ');
    super(ErrorCode.CONFIG_INVALID, `Invalid ${component} configuration: ${list}`, false);
    this.component = component;
    this.issues = issues;
  }
}

/** The connection to the broker was lost; the operation may succeed after reconnecting. */
export class ConnectionLostError extends ReliableMqError {
  constructor(message = 'Connection to the broker was lost', options: ErrorOptions = {}) {
    super(ErrorCode.CONNECTION_LOST, message, true, options);
  }
}

/** The broker refused to take the message (e.g. AMQP basic.nack, queue full). */
export class PublishNackedError extends ReliableMqError {
  constructor(message = 'The broker refused the message', options: ErrorOptions = {}) {
    super(ErrorCode.PUBLISH_NACKED, message, true, options);
  }
}

/** No confirmation arrived in time: the message may or may not be stored (indeterminate). */
export class PublishTimeoutError extends ReliableMqError {
  readonly timeoutMs: number;

  constructor(timeoutMs: number, options: ErrorOptions = {}) {
    super(ErrorCode.PUBLISH_TIMEOUT, `No broker confirmation within ${String(timeoutMs)} ms`, true, options);
    this.timeoutMs = timeoutMs;
  }
}

/** A mandatory publish matched no queue. */
export class UnroutableError extends ReliableMqError {
  readonly destination: string;

  constructor(destination: string, message?: string) {
    super(ErrorCode.UNROUTABLE, message ?? `Message to '${destination}' was routed to no queue`, false);
    this.destination = destination;
  }
}

/** The broker refused a declaration because the entity exists with other arguments. */
export class TopologyError extends ReliableMqError {
  readonly entity: string;

  constructor(entity: string, message: string, options: ErrorOptions = {}) {
    super(ErrorCode.TOPOLOGY_MISMATCH, `Topology mismatch for ${entity}: ${message}`, false, options);
    this.entity = entity;
  }
}

export type PoisonReason =
  | 'malformed-payload'
  | 'malformed-envelope'
  | 'unknown-content-type'
  | 'unknown-type'
  | 'schema-violation';

/** A message that can never be processed as it is: it is dead-lettered, never retried. */
export class PoisonMessageError extends ReliableMqError {
  readonly reason: PoisonReason;

  constructor(reason: PoisonReason, message: string, options: ErrorOptions = {}) {
    super(ErrorCode.POISON_MESSAGE, `${reason}: ${message}`, false, options);
    this.reason = reason;
  }
}

/** An outgoing message is not valid (missing field, reserved header, schema violation). */
export class MessageValidationError extends ReliableMqError {
  constructor(message: string, options: ErrorOptions = {}) {
    super(ErrorCode.MESSAGE_INVALID, message, false, options);
  }
}

/** The component was closed; it cannot be used again. */
export class ClosedError extends ReliableMqError {
  constructor(component: string) {
    super(ErrorCode.CLOSED, `${component} is closed`, false);
  }
}

/** Thrown by a handler: the failure is transient, deliver the message again. */
export class RetryableError extends ReliableMqError {
  constructor(message: string, options: ErrorOptions = {}) {
    super(ErrorCode.HANDLER_RETRYABLE, message, true, options);
  }
}

/** Thrown by a handler: retrying cannot help, dead-letter the message now. */
export class FatalError extends ReliableMqError {
  constructor(message: string, options: ErrorOptions = {}) {
    super(ErrorCode.HANDLER_FATAL, message, false, options);
  }
}

/** Describes any thrown value in one line, for logs and dead-letter headers. */
/** What `work` returns, or what it threw as an Error: for code paths that reject rather than throw. */
export function attempt<T>(work: () => T): T | Error {
  try {
    return work();
  } catch (error) {
    return asError(error);
  }
}

/** `value` if it is an Error, else an Error saying what was thrown. */
export function asError(value: unknown): Error {
  return value instanceof Error ? value : new Error(`non-error thrown: ${String(value)}`);
}

export function describeError(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return `non-error thrown: ${String(error)}`;
}

/** A message was delivered more times than the configured limit; it is dead-lettered. */
export class DeliveryLimitExceededError extends ReliableMqError {
  readonly attempts: number;

  constructor(attempts: number, lastError?: unknown) {
    const last = lastError === undefined ? '' : `; last error: ${describeError(lastError)}`;
    super(ErrorCode.DELIVERY_LIMIT_EXCEEDED, `Delivered ${String(attempts)} times without success${last}`, false, { cause: lastError });
    this.attempts = attempts;
  }
}

/** The outbox or inbox tables are missing: the migration was not run. The message says what to run. */
export class SchemaMissingError extends ReliableMqError {
  constructor(message: string, options: ErrorOptions = {}) {
    super(ErrorCode.SCHEMA_MISSING, message, false, options);
  }
}

/** `outbox.add()` was called outside a transaction: the messages would not commit with the business rows. */
export class OutboxTransactionError extends ReliableMqError {
  constructor(message = 'outbox.add() needs the EntityManager or QueryRunner of an open transaction') {
    super(ErrorCode.OUTBOX_NOT_IN_TRANSACTION, message, false);
  }
}
