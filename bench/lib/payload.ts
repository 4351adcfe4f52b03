import type { Options } from 'amqplib';
import { uuidv7 } from '../../src/core/index.js';

/** Every benchmark message body is this many bytes on the wire. */
export const BODY_BYTES = 1024;

export const MESSAGE_TYPE = 'bench.sample';

/** The SDK's payload: a string whose JSON encoding (the SDK's default codec) is exactly `BODY_BYTES` bytes. */
export const SDK_PAYLOAD = 'x'.repeat(BODY_BYTES - 2);

/** The same bytes the SDK puts on the wire, for the raw client. */
export const RAW_BODY: Buffer = Buffer.from(JSON.stringify(SDK_PAYLOAD));

if (RAW_BODY.length !== BODY_BYTES) throw new Error(`payload is ${String(RAW_BODY.length)} bytes, expected ${String(BODY_BYTES)}`);

/** Publish options of a minimal raw persistent message (same delivery semantics as the SDK: persistent, mandatory). */
export const RAW_PUBLISH: Options.Publish = { persistent: true, mandatory: true };

/**
 * The properties the SDK sets on a message without key or headers (preloaded messages read as well-formed
 * envelopes): a UUIDv7 message-id, whose millisecond is the created-at, so no header table. Built as one
 * object literal, as the SDK builds its own: amqplib reads an object made by spreading (`{ ...props,
 * mandatory }`) 4–5 µs slower per publish (measured), which would handicap the raw baseline.
 */
export function envelopeProperties(mandatory = false): Options.Publish {
  const now = Date.now();
  return {
    persistent: true,
    mandatory,
    messageId: uuidv7(now),
    type: MESSAGE_TYPE,
    contentType: 'application/json',
    timestamp: Math.floor(now / 1000),
  };
}
