import { createHash } from 'node:crypto';
import type { Options } from 'amqplib';
import { WireHeader, uuidv7TimestampOf, type Envelope, type WireRecord } from '../../core/index.js';

/** AMQP header carrying the envelope's ordering key (AMQP has no key property). */
export const KEY_HEADER = 'rmq-key';

export interface AmqpMessage {
  readonly exchange: string;
  readonly routingKey: string;
  readonly content: Buffer;
  readonly options: Options.Publish;
}

/**
 * Envelope → AMQP: id → `message-id`, type → `type` (and the routing key), content type → `content-type`,
 * correlation id → `correlation-id`, created-at → `timestamp` (seconds), causation id and key →
 * `rmq-causation-id` and `rmq-key` headers, user headers as headers. The milliseconds of created-at travel
 * in the id when it is a UUIDv7 of that very millisecond (the SDK's own ids are); otherwise in an
 * `rmq-created-at` header (ISO-8601). A message with nothing else for it carries no header table at all:
 * amqplib and the broker spend about 15 µs of client CPU and 5–12 % of throughput on one (docs/benchmarks.md).
 */
export function toAmqp(topic: string, envelope: Envelope, body: Uint8Array, persistent: boolean, mandatory: boolean): AmqpMessage {
  const ms = envelope.createdAt.getTime();
  const options: Options.Publish = {
    messageId: envelope.id,
    type: envelope.type,
    contentType: envelope.contentType,
    timestamp: Math.floor(ms / 1000),
    persistent,
    mandatory,
  };
  if (envelope.correlationId !== undefined) options.correlationId = envelope.correlationId;
  const headers = envelopeHeadersOf(envelope, ms);
  if (headers) options.headers = headers;
  return { exchange: topic, routingKey: envelope.type, content: toBuffer(body), options };
}

/** The header table of an envelope, or undefined when it needs none. */
function envelopeHeadersOf(envelope: Envelope, ms: number): Record<string, string> | undefined {
  const sameMillisecond = uuidv7TimestampOf(envelope.id) === ms;
  if (sameMillisecond && envelope.causationId === undefined && envelope.key === undefined && !hasAny(envelope.headers)) return undefined;
  const headers: Record<string, string> = { ...envelope.headers };
  if (envelope.causationId !== undefined) headers[WireHeader.CAUSATION_ID] = envelope.causationId;
  if (envelope.key !== undefined) headers[KEY_HEADER] = envelope.key;
  if (!sameMillisecond) headers[WireHeader.CREATED_AT] = envelope.createdAt.toISOString();
  return headers;
}

/** A wire record (dead letters, outbox rows, raw publishes) → AMQP, the envelope headers moved into properties. */
export function recordToAmqp(exchange: string, record: WireRecord, persistent: boolean, mandatory: boolean): AmqpMessage {
  const { [WireHeader.ID]: id, [WireHeader.TYPE]: type, [WireHeader.CONTENT_TYPE]: contentType, [WireHeader.CORRELATION_ID]: correlationId, [WireHeader.CREATED_AT]: createdAt, ...rest } =
    record.headers;
  const headers: Record<string, string> = { ...rest };
  if (record.key !== undefined) headers[KEY_HEADER] = record.key;
  const ms = createdAt === undefined ? Number.NaN : Date.parse(createdAt);
  if (createdAt !== undefined && (Number.isNaN(ms) || uuidv7TimestampOf(id) !== ms)) headers[WireHeader.CREATED_AT] = createdAt;
  return {
    exchange,
    routingKey: type ?? '',
    content: toBuffer(record.body),
    options: {
      ...(id === undefined ? {} : { messageId: id }),
      ...(type === undefined ? {} : { type }),
      ...(contentType === undefined ? {} : { contentType }),
      ...(correlationId === undefined ? {} : { correlationId }),
      ...(Number.isNaN(ms) ? {} : { timestamp: Math.floor(ms / 1000) }),
      ...(hasAny(headers) ? { headers } : {}),
      persistent,
      mandatory,
    },
  };
}

function hasAny(headers: Readonly<Record<string, string>>): boolean {
  for (const _ in headers) return true;
  return false;
}

export interface AmqpDelivery {
  readonly content: Buffer;
  readonly fields: { readonly exchange: string; readonly routingKey: string; readonly redelivered: boolean };
  readonly properties: {
    readonly messageId?: unknown;
    readonly type?: unknown;
    readonly contentType?: unknown;
    readonly correlationId?: unknown;
    readonly timestamp?: unknown;
    readonly headers?: Record<string, unknown> | undefined;
  };
}

/** AMQP delivery → wire record; foreign messages get only what their properties carry. */
export function fromAmqp(message: AmqpDelivery): WireRecord {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(message.properties.headers ?? {})) {
    if (name === 'x-delivery-count' || value === undefined || value === null) continue;
    headers[name] = headerText(value);
  }
  const props = message.properties;
  setIfText(headers, WireHeader.ID, props.messageId);
  setIfText(headers, WireHeader.TYPE, props.type);
  setIfText(headers, WireHeader.CONTENT_TYPE, props.contentType);
  setIfText(headers, WireHeader.CORRELATION_ID, props.correlationId);
  if (headers[WireHeader.CREATED_AT] === undefined && typeof props.timestamp === 'number') {
    headers[WireHeader.CREATED_AT] = new Date(createdAtMs(props.messageId, props.timestamp)).toISOString();
  }
  if (headers[WireHeader.DEAD_LETTER_REASON] === undefined && headers['x-first-death-reason'] === 'delivery_limit') {
    headers[WireHeader.DEAD_LETTER_REASON] = 'delivery-limit';
  }
  const { [KEY_HEADER]: key, ...rest } = headers;
  return key === undefined ? { headers: rest, body: message.content } : { key, headers: rest, body: message.content };
}

/** 1 on the first delivery; quorum queues count redeliveries in `x-delivery-count`, classic ones only flag them. */
export function deliveryAttempt(message: AmqpDelivery): number {
  const count = message.properties.headers?.['x-delivery-count'];
  if (typeof count === 'number') return count + 1;
  return message.fields.redelivered ? 2 : 1;
}

/**
 * The id of a message whose producer set no `message-id`: a digest of where it was published, its
 * timestamp and its body. Stable across redeliveries, so deduplication works; two byte-identical messages
 * published in the same second to the same place get the same id (documented in docs/rabbitmq.md).
 */
export function fallbackId(message: AmqpDelivery): string {
  const hash = createHash('sha256');
  const timestamp = typeof message.properties.timestamp === 'number' ? String(message.properties.timestamp) : '';
  hash.update(`${message.fields.exchange}\u0000${message.fields.routingKey}\u0000${timestamp}\u0000`);
  hash.update(message.content);
  return `amqp-sha256:${hash.digest('hex').slice(0, 32)}`;
}

/** The id's millisecond when it is a UUIDv7 of the timestamp's second (it then is the created-at), else the second. */
function createdAtMs(id: unknown, seconds: number): number {
  const ms = uuidv7TimestampOf(id);
  return ms !== undefined && Math.floor(ms / 1000) === seconds ? ms : seconds * 1000;
}

function setIfText(headers: Record<string, string>, name: string, value: unknown): void {
  if (typeof value === 'string' && value.length > 0) headers[name] = value;
}

function headerText(value: unknown): string {
  if (typeof value === 'string') return value;
  if (Buffer.isBuffer(value)) return value.toString('utf8');
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  if (value instanceof Date) return value.toISOString();
  return JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v));
}

function toBuffer(body: Uint8Array): Buffer {
  return Buffer.isBuffer(body) ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
}
