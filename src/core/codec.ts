import { isUtf8 } from 'node:buffer';
import { MessageValidationError, PoisonMessageError } from './errors.js';

/** Turns payloads into bytes and back for one content type. */
export interface Codec {
  readonly contentType: string;
  encode(payload: unknown): Uint8Array;
  /** Throws `PoisonMessageError('malformed-payload')` when the bytes cannot be decoded. */
  decode(body: Uint8Array): unknown;
}

/** UTF-8 bytes; `Buffer.from` takes small strings from Node's pool: about 3× faster than `TextEncoder` for 1 KiB. */
function utf8(text: string): Uint8Array {
  return Buffer.from(text, 'utf8');
}
/**
 * The body as text, or `malformed-payload` when it is not valid UTF-8 (never U+FFFD in place of bad bytes).
 * `isUtf8` then `toString` is about twice as fast as a fatal `TextDecoder` for 1 KiB; like the decoder, it
 * drops a leading byte order mark.
 */
function decodeText(body: Uint8Array, contentType: string): string {
  if (!isUtf8(body)) throw new PoisonMessageError('malformed-payload', `body is not valid UTF-8 for ${contentType}`);
  const text = (Buffer.isBuffer(body) ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength)).toString('utf8');
  return text.charCodeAt(0) === BYTE_ORDER_MARK ? text.slice(1) : text;
}

const BYTE_ORDER_MARK = 0xfeff;

/** `JSON.stringify` returns undefined for undefined, functions and symbols, whatever its typing says. */
function stringify(payload: unknown): string | undefined {
  return JSON.stringify(payload);
}

export const jsonCodec: Codec = {
  contentType: 'application/json',
  encode(payload) {
    let text: string | undefined;
    try {
      text = stringify(payload);
    } catch (error) {
      throw new MessageValidationError(`Payload cannot be encoded as JSON: ${(error as Error).message}`, { cause: error });
    }
    if (text === undefined) throw new MessageValidationError(`Payload of type ${typeof payload} cannot be encoded as JSON`);
    return utf8(text);
  },
  decode(body) {
    const text = decodeText(body, 'application/json');
    try {
      return JSON.parse(text) as unknown;
    } catch (error) {
      throw new PoisonMessageError('malformed-payload', `invalid JSON: ${(error as Error).message}`, { cause: error });
    }
  },
};

export const textCodec: Codec = {
  contentType: 'text/plain',
  encode(payload) {
    if (typeof payload !== 'string') throw new MessageValidationError('A text/plain payload must be a string');
    return utf8(payload);
  },
  decode(body) {
    return decodeText(body, 'text/plain');
  },
};

export const bytesCodec: Codec = {
  contentType: 'application/octet-stream',
  encode(payload) {
    if (!(payload instanceof Uint8Array)) throw new MessageValidationError('An application/octet-stream payload must be a Uint8Array');
    return payload;
  },
  decode(body) {
    return body;
  },
};

/** `application/json; charset=utf-8` → `application/json`. */
export function baseContentType(contentType: string): string {
  return (contentType.split(';')[0] ?? '').trim().toLowerCase();
}
