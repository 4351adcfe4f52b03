import { WireHeader, envelopeHeaders, jsonCodec, uuidv7TimestampOf, type Envelope, type WireRecord } from '../../core/index.js';

/** A record as Kafka clients hand it over: header values are bytes (or strings), the key may be absent. */
export interface KafkaMessage {
  readonly key?: Buffer | string | null;
  readonly value: Buffer | null;
  readonly headers?: Record<string, Buffer | string | Array<Buffer | string> | undefined>;
  readonly timestamp?: string;
  readonly offset: string;
}

export interface OutgoingKafkaMessage {
  key: string | null;
  /** Set by the publisher, so it knows which partitions must acknowledge the request. */
  partition?: number;
  value: Buffer;
  headers: Record<string, string>;
  /** Milliseconds since the epoch, set for relayed records (their created-at); unset, kafkajs stamps the send time. */
  timestamp?: string;
}

/**
 * The content type of an SDK record (one with an `rmq-id` header) that names none: JSON, the default codec's. The
 * SDK leaves `rmq-content-type` out for it: every header costs the client per record (kafkajs an encoder and a
 * zeroed 512-byte buffer, librdkafka's Node binding about 2 µs).
 */
export const IMPLIED_CONTENT_TYPE = jsonCodec.contentType;

/**
 * Envelope → record: the envelope's fields as `rmq-*` headers (see core `wire.ts`) except created-at, which an
 * SDK id (a UUIDv7) already holds to the millisecond, and a JSON content type (`IMPLIED_CONTENT_TYPE`); the key
 * is the record key. Such a record carries no
 * timestamp of its own either: kafkajs then stamps it when it encodes the request, instead of sorting the
 * timestamps of every batch. An id that does not hold created-at brings an `rmq-created-at` header.
 */
export function envelopeToKafka(envelope: Envelope, body: Uint8Array): OutgoingKafkaMessage {
  const headers = envelopeHeaders(envelope, IMPLIED_CONTENT_TYPE);
  const ms = envelope.createdAt.getTime();
  if (uuidv7TimestampOf(envelope.id) !== ms) headers[WireHeader.CREATED_AT] = envelope.createdAt.toISOString();
  return { key: envelope.key ?? null, value: toBuffer(body), headers };
}

/**
 * A wire record (outbox rows, dead letters) → record. Its `rmq-created-at` becomes the record's timestamp (a
 * relayed message may be old); the header stays unless the id holds that millisecond.
 */
export function toKafka(record: WireRecord): OutgoingKafkaMessage {
  const { [WireHeader.CREATED_AT]: createdAt, ...rest } = record.headers;
  const headers: Record<string, string> = rest;
  const ms = createdAt === undefined ? Number.NaN : Date.parse(createdAt);
  const message: OutgoingKafkaMessage = { key: record.key ?? null, value: toBuffer(record.body), headers };
  if (!Number.isNaN(ms)) message.timestamp = String(ms);
  if (createdAt !== undefined && (Number.isNaN(ms) || uuidv7TimestampOf(rest[WireHeader.ID]) !== ms)) headers[WireHeader.CREATED_AT] = createdAt;
  return message;
}

/**
 * The created-at a record without an `rmq-created-at` header falls back to: the millisecond of its SDK id (a
 * UUIDv7), else the record's timestamp, else undefined.
 */
export function createdAtOf(record: WireRecord, message: KafkaMessage): Date | undefined {
  const ms = uuidv7TimestampOf(record.headers[WireHeader.ID]);
  return ms !== undefined ? new Date(ms) : kafkaTimestamp(message);
}

/** The record's timestamp, or undefined when it has none that makes sense. */
function kafkaTimestamp(message: KafkaMessage): Date | undefined {
  if (message.timestamp === undefined) return undefined;
  const ms = Number(message.timestamp);
  return Number.isFinite(ms) && ms >= 0 ? new Date(ms) : undefined;
}

/** The record with its created-at written into `rmq-created-at`: a dead letter keeps the original created-at. */
export function withCreatedAt(record: WireRecord, message: KafkaMessage): WireRecord {
  const createdAt = createdAtOf(record, message);
  if (record.headers[WireHeader.CREATED_AT] !== undefined || createdAt === undefined) return record;
  return { ...record, headers: { ...record.headers, [WireHeader.CREATED_AT]: createdAt.toISOString() } };
}

function toBuffer(body: Uint8Array): Buffer {
  return Buffer.isBuffer(body) ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
}

export function fromKafka(message: KafkaMessage): WireRecord {
  const headers: Record<string, string> = {};
  const given = message.headers;
  if (given) {
    for (const name in given) {
      const value = given[name];
      if (value === undefined) continue;
      const last = Array.isArray(value) ? value[value.length - 1] : value; // a repeated header: the last one wins
      if (last !== undefined) headers[name] = typeof last === 'string' ? last : last.toString('utf8');
    }
  }
  if (headers[WireHeader.ID] !== undefined && headers[WireHeader.CONTENT_TYPE] === undefined && headers['content-type'] === undefined) {
    headers[WireHeader.CONTENT_TYPE] = IMPLIED_CONTENT_TYPE;
  }
  const body = message.value ?? Buffer.alloc(0);
  const key = message.key === undefined || message.key === null ? undefined : typeof message.key === 'string' ? message.key : message.key.toString('utf8');
  return key === undefined ? { headers, body } : { key, headers, body };
}
