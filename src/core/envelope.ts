import { MessageValidationError, attempt } from './errors.js';
import { uuidv7 } from './id.js';
import { requireTopic } from './lifecycle.js';

export type MessageHeaders = Readonly<Record<string, string>>;

/**
 * What travels between services. Every field except `payload` maps to broker metadata
 * (see `wire.ts` and each adapter's docs); `payload` is encoded by a codec.
 */
export interface Envelope<T = unknown> {
  /** Producer-assigned, unique, time-ordered (UUIDv7). Deduplication keys on it. */
  readonly id: string;
  /** Message type, e.g. `order.placed`. Selects the schema and the handler. */
  readonly type: string;
  /** Ordering key: messages with the same key keep their order (Kafka partition key). */
  readonly key?: string;
  readonly headers: MessageHeaders;
  readonly payload: T;
  /** MIME type of the encoded payload; selects the codec. */
  readonly contentType: string;
  readonly createdAt: Date;
  /** The id of the conversation this message belongs to. */
  readonly correlationId?: string;
  /** The id of the message that caused this one. */
  readonly causationId?: string;
  /** Delivery attempt, 1 on the first delivery; 0 on a message not yet delivered. */
  readonly attempt: number;
}

/** What a caller publishes; the SDK fills in id, created-at and content type. */
export interface OutgoingMessage<T = unknown> {
  readonly type: string;
  readonly payload: T;
  readonly key?: string;
  readonly headers?: MessageHeaders;
  readonly id?: string;
  readonly correlationId?: string;
  readonly causationId?: string;
  readonly contentType?: string;
  readonly createdAt?: Date;
}

/** Header names the SDK uses on the wire; user headers may not start with this prefix. */
export const RESERVED_HEADER_PREFIX = 'rmq-';

const MAX_ID_LENGTH = 255;

export function createEnvelope<T>(message: OutgoingMessage<T>, defaultContentType: string): Envelope<T> {
  validateOutgoing(message);
  const now = Date.now();
  const envelope: Mutable<Envelope<T>> = {
    id: message.id ?? uuidv7(now),
    type: message.type,
    headers: message.headers ? { ...message.headers } : {},
    payload: message.payload,
    contentType: message.contentType ?? defaultContentType,
    createdAt: message.createdAt ?? new Date(now), // the id's own millisecond, unless the clock stepped back
    attempt: 0,
  };
  if (message.key !== undefined) envelope.key = message.key;
  if (message.correlationId !== undefined) envelope.correlationId = message.correlationId;
  if (message.causationId !== undefined) envelope.causationId = message.causationId;
  return envelope;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/**
 * The envelope of a publish to `topic`, or the typed error that refuses it: a publisher rejects with the
 * error rather than throw, and needs no async frame to turn one into the other.
 */
export function envelopeFor<T>(topic: string, message: OutgoingMessage<T>, defaultContentType: string): Envelope<T> | Error {
  return attempt(() => {
    requireTopic(topic);
    return createEnvelope(message, defaultContentType);
  });
}

/** Correlation and causation for a message produced while handling `parent`. */
export function causedBy(parent: Envelope): { correlationId: string; causationId: string } {
  return { correlationId: parent.correlationId ?? parent.id, causationId: parent.id };
}

function validateOutgoing(message: OutgoingMessage): void {
  if (typeof message !== 'object' || (message as unknown) === null) {
    throw new MessageValidationError('A message must be an object with at least `type` and `payload`');
  }
  requireText('type', message.type);
  optionalText('id', message.id);
  optionalText('key', message.key);
  optionalText('correlationId', message.correlationId);
  optionalText('causationId', message.causationId);
  optionalText('contentType', message.contentType);
  if (message.createdAt !== undefined && !(message.createdAt instanceof Date && !Number.isNaN(message.createdAt.getTime()))) {
    throw new MessageValidationError('Message createdAt must be a valid Date');
  }
  if (message.headers) validateHeaders(message.headers);
}

function validateHeaders(headers: Readonly<Record<string, string>>): void {
  for (const [name, value] of Object.entries(headers)) {
    if (name.toLowerCase().startsWith(RESERVED_HEADER_PREFIX)) {
      throw new MessageValidationError(`Header '${name}' uses the reserved prefix '${RESERVED_HEADER_PREFIX}'`);
    }
    if (typeof value !== 'string') {
      throw new MessageValidationError(`Header '${name}' must be a string, received ${typeof value}`);
    }
  }
}

function requireText(field: string, value: unknown): void {
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_ID_LENGTH) {
    throw new MessageValidationError(`Message ${field} must be a non-empty string of at most ${String(MAX_ID_LENGTH)} characters`);
  }
}

function optionalText(field: string, value: unknown): void {
  if (value !== undefined) requireText(field, value);
}
