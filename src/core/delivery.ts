import type { Envelope } from './envelope.js';
import { ErrorCode, PoisonMessageError, ReliableMqError, describeError, type PoisonReason } from './errors.js';
import { composeMiddleware } from './middleware.js';
import type { Handler, HandlerContext, Middleware } from './ports.js';
import type { MessageSerializer } from './serializer.js';
import { WireHeader, envelopeOf, type WireFallback, type WireRecord } from './wire.js';

export type DeadLetterReason = PoisonReason | 'handler-fatal' | 'delivery-limit';

/** What the transport must do with a delivery once the pipeline has run. */
export type DeliveryOutcome =
  | { readonly action: 'ack' }
  | { readonly action: 'requeue'; readonly error: unknown }
  | { readonly action: 'dead-letter'; readonly reason: DeadLetterReason; readonly error: unknown };

export type DeliveryPipeline = (record: WireRecord, fallback: WireFallback, context: HandlerContext) => Promise<DeliveryOutcome>;

const ACK: DeliveryOutcome = Object.freeze({ action: 'ack' });

/**
 * The one consume path every transport runs: decode (poison → dead-letter, never the handler),
 * run the middleware chain and handler, and classify the result. The transport acks only on `ack`.
 * Dead-lettered at once: poison messages, `FatalError`, `MessageValidationError` (the handler built an
 * invalid message). Everything else is redelivered, up to the transport's delivery limit.
 */
export function createDeliveryPipeline(options: {
  serializer: MessageSerializer;
  handler: Handler;
  middleware: readonly Middleware[];
}): DeliveryPipeline {
  const chain = composeMiddleware(options.middleware, options.handler);
  return async (record, fallback, context) => {
    let envelope: Envelope;
    try {
      const decoded = decodeRecord(options.serializer, record, fallback);
      envelope = decoded instanceof Promise ? await decoded : decoded;
    } catch (error) {
      return classifyFailure(error);
    }
    try {
      await chain(envelope, context);
      return ACK;
    } catch (error) {
      return classifyFailure(error);
    }
  };
}

/**
 * A record as an envelope with its decoded payload; throws `PoisonMessageError` when it cannot be read.
 * Synchronous unless the type's schema validates asynchronously.
 */
export function decodeRecord(serializer: MessageSerializer, record: WireRecord, fallback: WireFallback): Envelope | Promise<Envelope> {
  const envelope: { payload: unknown } & Envelope = envelopeOf<unknown>(record, fallback, undefined); // malformed-envelope before payload errors
  const payload = serializer.decodeNow(envelope.type, envelope.contentType, record.body);
  if (payload instanceof Promise) {
    return payload.then((value: unknown) => {
      envelope.payload = value;
      return envelope;
    });
  }
  envelope.payload = payload;
  return envelope;
}

/**
 * What a failure means for the message: poison and fatal errors dead-letter it at once; anything else
 * (including a codec or validator that broke, which is not the message's fault) redelivers it.
 */
export function classifyFailure(error: unknown): Exclude<DeliveryOutcome, { action: 'ack' }> {
  if (error instanceof PoisonMessageError) return { action: 'dead-letter', reason: error.reason, error };
  if (isFatal(error)) return { action: 'dead-letter', reason: 'handler-fatal', error };
  return { action: 'requeue', error };
}

/** Retrying cannot help: the handler said so (`FatalError`), or it built an invalid message (deterministic). */
function isFatal(error: unknown): boolean {
  return ReliableMqError.is(error) && (error.code === ErrorCode.HANDLER_FATAL || error.code === ErrorCode.MESSAGE_INVALID);
}

/**
 * The dead-lettered copy of a record: body and headers untouched, the reason added as headers. A record
 * from a producer without the SDK gets the id it was consumed under (`id`), so the dead letter keeps it.
 */
export function deadLetterRecord(
  record: WireRecord,
  details: { id: string; reason: DeadLetterReason; error: unknown; topic: string; group: string; attempts: number; at?: Date },
): WireRecord {
  const headers = {
    [WireHeader.ID]: details.id,
    ...record.headers,
    [WireHeader.DEAD_LETTER_REASON]: details.reason,
    [WireHeader.DEAD_LETTER_ERROR]: describeError(details.error).slice(0, 1000),
    [WireHeader.DEAD_LETTER_TOPIC]: details.topic,
    [WireHeader.DEAD_LETTER_GROUP]: details.group,
    [WireHeader.DEAD_LETTER_ATTEMPTS]: String(details.attempts),
    [WireHeader.DEAD_LETTER_AT]: (details.at ?? new Date()).toISOString(),
  };
  return record.key === undefined ? { headers, body: record.body } : { key: record.key, headers, body: record.body };
}
