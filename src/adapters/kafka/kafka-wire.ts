import type { WireRecord } from '../../core/index.js';

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
}

/** Envelope headers travel as Kafka headers (see core `wire.ts`); the key is the record key, so it picks the partition. */
export function toKafka(record: WireRecord): OutgoingKafkaMessage {
  const body = record.body;
  return {
    key: record.key ?? null,
    value: Buffer.isBuffer(body) ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength),
    headers: { ...record.headers },
  };
}

export function fromKafka(message: KafkaMessage): WireRecord {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(message.headers ?? {})) {
    if (value === undefined) continue;
    const last = Array.isArray(value) ? value[value.length - 1] : value; // a repeated header: the last one wins
    if (last !== undefined) headers[name] = typeof last === 'string' ? last : last.toString('utf8');
  }
  const body = message.value ?? Buffer.alloc(0);
  const key = message.key === undefined || message.key === null ? undefined : typeof message.key === 'string' ? message.key : message.key.toString('utf8');
  return key === undefined ? { headers, body } : { key, headers, body };
}
