import assert from 'node:assert/strict';
import { MessageValidationError, PoisonMessageError, baseContentType, bytesCodec, jsonCodec, textCodec } from '../../../src/core/index.js';

const bytes = (text: string): Uint8Array => Buffer.from(text, 'utf8'); // what the codecs return
const INVALID_UTF8 = Uint8Array.of(0x7b, 0xc3, 0x28, 0x7d); // '{', broken 2-byte sequence, '}'

function poisonReason(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof PoisonMessageError, `expected PoisonMessageError, got ${String(error)}`);
    assert.equal(error.code, 'RMQ_POISON_MESSAGE');
    return error.reason;
  }
  assert.fail('did not throw');
}

describe('jsonCodec', () => {
  it('round trips a JSON value', () => {
    const payload = { a: 1, b: ['x', null], c: { d: true } };
    assert.deepEqual(jsonCodec.decode(jsonCodec.encode(payload)), payload);
    assert.equal(new TextDecoder().decode(jsonCodec.encode({ a: 1 })), '{"a":1}');
    assert.equal(jsonCodec.contentType, 'application/json');
  });

  it('rejects malformed JSON as malformed-payload, keeping the parse error as cause', () => {
    assert.equal(poisonReason(() => jsonCodec.decode(bytes('{"a":'))), 'malformed-payload');
    try {
      jsonCodec.decode(bytes('not json'));
      assert.fail('did not throw');
    } catch (error) {
      assert.ok(error instanceof PoisonMessageError);
      assert.match(error.message, /^malformed-payload: invalid JSON/);
      assert.ok(error.cause instanceof SyntaxError);
    }
  });

  it('rejects invalid UTF-8 as malformed-payload', () => {
    assert.equal(poisonReason(() => jsonCodec.decode(INVALID_UTF8)), 'malformed-payload');
  });

  it('reads a body with a UTF-8 byte order mark as the text after it (as a TextDecoder does)', () => {
    assert.deepEqual(jsonCodec.decode(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), bytes('{"a":1}')])), { a: 1 });
    assert.equal(textCodec.decode(new Uint8Array([0xef, 0xbb, 0xbf, 0x68, 0x69])), 'hi');
  });

  it('reads a Uint8Array that is a view into a larger buffer: only its own bytes', () => {
    const backing = bytes('xx{"a":2}yy');
    assert.deepEqual(jsonCodec.decode(new Uint8Array(backing.buffer, backing.byteOffset + 2, 7)), { a: 2 });
  });

  it('rejects an empty body as malformed-payload', () => {
    assert.equal(poisonReason(() => jsonCodec.decode(new Uint8Array())), 'malformed-payload');
  });

  for (const [label, payload] of [
    ['a BigInt', { n: 1n }],
    ['a circular object', (() => {
      const o: Record<string, unknown> = {};
      o.self = o;
      return o;
    })()],
    ['undefined', undefined],
    ['a function', () => 1],
    ['a symbol', Symbol('s')],
  ] as const) {
    it(`refuses to encode ${label} with MessageValidationError`, () => {
      assert.throws(
        () => jsonCodec.encode(payload),
        (error: unknown) => error instanceof MessageValidationError && error.code === 'RMQ_MESSAGE_INVALID' && /JSON/.test(error.message),
      );
    });
  }

  it('keeps the stringify error as cause', () => {
    try {
      jsonCodec.encode({ n: 1n });
      assert.fail('did not throw');
    } catch (error) {
      assert.ok(error instanceof MessageValidationError);
      assert.ok(error.cause instanceof TypeError);
    }
  });
});

describe('textCodec', () => {
  it('round trips a string', () => {
    assert.equal(textCodec.decode(textCodec.encode('héllo ✓')), 'héllo ✓');
    assert.equal(textCodec.contentType, 'text/plain');
  });

  it('refuses a non-string payload', () => {
    assert.throws(() => textCodec.encode(42), MessageValidationError);
  });

  it('rejects invalid UTF-8 as malformed-payload', () => {
    assert.equal(poisonReason(() => textCodec.decode(INVALID_UTF8)), 'malformed-payload');
  });
});

describe('bytesCodec', () => {
  it('passes bytes through unchanged', () => {
    const body = Uint8Array.of(0, 255, 0xc3, 0x28);
    assert.deepEqual(bytesCodec.decode(bytesCodec.encode(body)), body);
    assert.equal(bytesCodec.contentType, 'application/octet-stream');
  });

  it('refuses a non-Uint8Array payload', () => {
    assert.throws(() => bytesCodec.encode('abc'), MessageValidationError);
    assert.throws(() => bytesCodec.encode([1, 2]), MessageValidationError);
  });
});

describe('baseContentType', () => {
  it('drops parameters, trims and lower-cases', () => {
    assert.equal(baseContentType('application/json; charset=utf-8'), 'application/json');
    assert.equal(baseContentType('  Text/Plain ;charset=UTF-8'), 'text/plain');
    assert.equal(baseContentType('application/octet-stream'), 'application/octet-stream');
  });
});
