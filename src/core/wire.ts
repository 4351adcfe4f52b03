import type { Envelope, MessageHeaders } from './envelope.js';
import { PoisonMessageError } from './errors.js';

/**
 * A message as header-based transports carry it (Kafka records, the memory transport): the envelope's
 * fields travel as `rmq-*` headers, user headers beside them, the encoded payload as the body.
 */
export interface WireRecord {
  readonly key?: string;
  readonly headers: MessageHeaders;
  readonly body: Uint8Array;
}

export const WireHeader = {
  ID: 'rmq-id',
  TYPE: 'rmq-type',
  CONTENT_TYPE: 'rmq-content-type',
  CREATED_AT: 'rmq-created-at',
  CORRELATION_ID: 'rmq-correlation-id',
  CAUSATION_ID: 'rmq-causation-id',
  DEAD_LETTER_REASON: 'rmq-dead-letter-reason',
  DEAD_LETTER_ERROR: 'rmq-dead-letter-error',
  DEAD_LETTER_TOPIC: 'rmq-dead-letter-original-topic',
  DEAD_LETTER_GROUP: 'rmq-dead-letter-original-group',
  DEAD_LETTER_AT: 'rmq-dead-lettered-at',
  DEAD_LETTER_ATTEMPTS: 'rmq-dead-letter-attempts',
} as const;

/** Type given to a message from a producer that does not use this SDK and names no type. */
export const UNTYPED = 'untyped';

const ENVELOPE_HEADERS: ReadonlySet<string> = new Set([
  WireHeader.ID,
  WireHeader.TYPE,
  WireHeader.CONTENT_TYPE,
  WireHeader.CREATED_AT,
  WireHeader.CORRELATION_ID,
  WireHeader.CAUSATION_ID,
]);

export function toWireRecord(envelope: Envelope, body: Uint8Array): WireRecord {
  const headers = envelopeHeaders(envelope);
  headers[WireHeader.CREATED_AT] = envelope.createdAt.toISOString();
  return envelope.key === undefined ? { headers, body } : { key: envelope.key, headers, body };
}

/**
 * The user headers and the envelope's fields as `rmq-*` headers, all but created-at (transports may carry it
 * natively). `impliedContentType`: a content type the transport's reader assumes for an SDK record that names none
 * (Kafka: JSON), left out when the envelope has it, since each header costs the client per record.
 */
export function envelopeHeaders(envelope: Envelope, impliedContentType?: string): Record<string, string> {
  const headers: Record<string, string> = { ...envelope.headers, [WireHeader.ID]: envelope.id, [WireHeader.TYPE]: envelope.type };
  if (envelope.contentType !== impliedContentType) headers[WireHeader.CONTENT_TYPE] = envelope.contentType;
  if (envelope.correlationId !== undefined) headers[WireHeader.CORRELATION_ID] = envelope.correlationId;
  if (envelope.causationId !== undefined) headers[WireHeader.CAUSATION_ID] = envelope.causationId;
  return headers;
}

/** What the transport knows when the record carries no envelope headers (a foreign producer). */
export interface WireFallback {
  /** Stable id derived from the transport's position (Kafka topic/partition/offset, AMQP message-id). */
  readonly id: string;
  readonly attempt: number;
  readonly defaultContentType: string;
  readonly timestamp?: Date | undefined;
}

/** Reads the envelope's fields from a record; the payload is decoded separately by the serializer. */
export function fromWireRecord(record: WireRecord, fallback: WireFallback): Omit<Envelope, 'payload'> {
  const { payload: _payload, ...meta } = envelopeOf(record, fallback, undefined);
  return meta;
}

/** `fromWireRecord` with the decoded payload, built in one object (the consume path runs it per message). */
export function envelopeOf<T>(record: WireRecord, fallback: WireFallback, payload: T): Envelope<T> {
  const h = record.headers;
  const id = h[WireHeader.ID] ?? fallback.id;
  const type = h[WireHeader.TYPE] ?? UNTYPED;
  if (id.length === 0) throw new PoisonMessageError('malformed-envelope', `header ${WireHeader.ID} is empty`);
  if (type.length === 0) throw new PoisonMessageError('malformed-envelope', `header ${WireHeader.TYPE} is empty`);
  const headers: Record<string, string> = {};
  for (const name in h) if (!ENVELOPE_HEADERS.has(name)) headers[name] = h[name] as string;
  const envelope: { -readonly [K in keyof Envelope<T>]: Envelope<T>[K] } = {
    id,
    type,
    headers,
    payload,
    contentType: h[WireHeader.CONTENT_TYPE] ?? h['content-type'] ?? fallback.defaultContentType,
    createdAt: parseCreatedAt(h[WireHeader.CREATED_AT], fallback.timestamp),
    attempt: fallback.attempt,
  };
  if (record.key !== undefined) envelope.key = record.key;
  const correlationId = h[WireHeader.CORRELATION_ID];
  if (correlationId !== undefined) envelope.correlationId = correlationId;
  const causationId = h[WireHeader.CAUSATION_ID];
  if (causationId !== undefined) envelope.causationId = causationId;
  return envelope;
}

function parseCreatedAt(value: string | undefined, fallback: Date | undefined): Date {
  if (value === undefined) return fallback ?? new Date();
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) throw new PoisonMessageError('malformed-envelope', `header ${WireHeader.CREATED_AT} is not a date: '${value}'`);
  return date;
}
