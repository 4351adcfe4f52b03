import { WireHeader, envelopeHeaders, type Envelope, type WireRecord } from '../../core/index.js';

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
  /** Milliseconds since the epoch: the envelope's created-at travels as the record's timestamp. */
  timestamp?: string;
}

/**
 * Envelope → record: the envelope's fields as `rmq-*` headers (see core `wire.ts`) except created-at, which is
 * the record's own timestamp (one header less to encode and decode); the key is the record key.
 */
export function envelopeToKafka(envelope: Envelope, body: Uint8Array): OutgoingKafkaMessage {
  return { key: envelope.key ?? null, value: toBuffer(body), headers: envelopeHeaders(envelope), timestamp: String(envelope.createdAt.getTime()) };
}

/** A wire record (outbox rows, dead letters) → record; an `rmq-created-at` header becomes the record's timestamp. */
export function toKafka(record: WireRecord): OutgoingKafkaMessage {
  const { [WireHeader.CREATED_AT]: createdAt, ...rest } = record.headers;
  const headers: Record<string, string> = rest;
  const ms = createdAt === undefined ? Number.NaN : Date.parse(createdAt);
  const message: OutgoingKafkaMessage = { key: record.key ?? null, value: toBuffer(record.body), headers };
  if (!Number.isNaN(ms)) message.timestamp = String(ms);
  else if (createdAt !== undefined) headers[WireHeader.CREATED_AT] = createdAt; // not a date: passed on as it came
  return message;
}

/** The record's timestamp as the created-at a record without an `rmq-created-at` header falls back to. */
/** The record's timestamp (the SDK writes created-at there), or undefined when it has none that makes sense. */
export function kafkaTimestamp(message: KafkaMessage): Date | undefined {
  if (message.timestamp === undefined) return undefined;
  const ms = Number(message.timestamp);
  return Number.isFinite(ms) && ms >= 0 ? new Date(ms) : undefined;
}

/** The record with its timestamp written into `rmq-created-at`: a dead letter keeps the original created-at. */
export function withCreatedAt(record: WireRecord, message: KafkaMessage): WireRecord {
  const timestamp = kafkaTimestamp(message);
  if (record.headers[WireHeader.CREATED_AT] !== undefined || timestamp === undefined) return record;
  return { ...record, headers: { ...record.headers, [WireHeader.CREATED_AT]: timestamp.toISOString() } };
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
  const body = message.value ?? Buffer.alloc(0);
  const key = message.key === undefined || message.key === null ? undefined : typeof message.key === 'string' ? message.key : message.key.toString('utf8');
  return key === undefined ? { headers, body } : { key, headers, body };
}
