import assert from 'node:assert/strict';
import { z } from 'zod';
import { ConfigError, MessageSerializer, MessageValidationError, PoisonMessageError, jsonCodec } from '../../../src/core/index.js';
import type { Codec, StandardSchemaV1 } from '../../../src/core/index.js';

const bytes = (text: string): Uint8Array => Buffer.from(text, 'utf8'); // what the codecs return
const JSON_TYPE = 'application/json';

function configFields(config: unknown): string[] {
  try {
    new MessageSerializer(config as ConstructorParameters<typeof MessageSerializer>[0]);
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected ConfigError, got ${String(error)}`);
    assert.equal(error.component, 'MessageSerializer');
    assert.equal(error.code, 'RMQ_CONFIG_INVALID');
    return error.issues.map((i) => i.field);
  }
  assert.fail('constructor did not throw');
}

async function poison(promise: Promise<unknown>): Promise<PoisonMessageError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof PoisonMessageError, `expected PoisonMessageError, got ${String(error)}`);
    return error;
  }
  assert.fail('decode did not reject');
}

const orderSchema = z.object({ id: z.string(), items: z.array(z.object({ price: z.number() })) });

describe('MessageSerializer configuration', () => {
  it('defaults to JSON with text and bytes codecs, accepting any type', async () => {
    const s = new MessageSerializer();
    assert.equal(s.defaultContentType, JSON_TYPE);
    assert.deepEqual(await s.decode('any.type', JSON_TYPE, await s.encode('any.type', JSON_TYPE, { a: 1 })), { a: 1 });
    assert.equal(await s.decode('t', 'text/plain', await s.encode('t', 'text/plain', 'hi')), 'hi');
    const raw = Uint8Array.of(1, 2, 3);
    assert.deepEqual(await s.decode('t', 'application/octet-stream', await s.encode('t', 'application/octet-stream', raw)), raw);
  });

  const invalid: [string, unknown, string[]][] = [
    ['a codec object missing decode', { codecs: [{ contentType: 'x/y', encode: () => new Uint8Array() }] }, ['codecs']],
    ['codecs not an array', { codecs: jsonCodec }, ['codecs']],
    ['defaultContentType without a codec', { defaultContentType: 'application/xml' }, ['defaultContentType']],
    ['defaultContentType empty', { defaultContentType: '' }, ['defaultContentType']],
    ['unknownTypes invalid', { unknownTypes: 'ignore' }, ['unknownTypes']],
    ['types with a non-schema', { types: { 'order.placed': { schema: { parse: () => 1 } } } }, ['types']],
    ['types entry not an object', { types: { 'order.placed': 'yes' } }, ['types']],
    ['types an array', { types: [] }, ['types']],
    ['an unknown key', { codec: jsonCodec }, ['codec']],
  ];
  for (const [label, config, fields] of invalid) {
    it(`rejects ${label}, naming the field`, () => {
      assert.deepEqual(configFields(config), fields);
    });
  }

  it('accepts a defaultContentType that matches a codec only after its parameters', () => {
    const s = new MessageSerializer({ defaultContentType: 'Application/JSON; charset=utf-8' });
    assert.equal(s.defaultContentType, 'Application/JSON; charset=utf-8');
  });

  it('uses a custom codec as default content type', async () => {
    const upper: Codec = {
      contentType: 'text/upper',
      encode: (p) => bytes(String(p).toUpperCase()),
      decode: (b) => new TextDecoder().decode(b),
    };
    const s = new MessageSerializer({ codecs: [upper], defaultContentType: 'text/upper' });
    assert.equal(await s.decode('t', 'text/upper', await s.encode('t', 'text/upper', 'abc')), 'ABC');
    await assert.rejects(s.encode('t', JSON_TYPE, {}), MessageValidationError);
  });
});

describe('MessageSerializer decode', () => {
  it('resolves a content type with parameters', async () => {
    const s = new MessageSerializer();
    assert.deepEqual(await s.decode('t', 'application/json; charset=utf-8', bytes('{"a":1}')), { a: 1 });
    assert.deepEqual(await s.decode('t', 'text/plain;charset=UTF-8', bytes('x')), 'x');
  });

  it('rejects malformed JSON as malformed-payload', async () => {
    assert.equal((await poison(new MessageSerializer().decode('t', JSON_TYPE, bytes('{nope')))).reason, 'malformed-payload');
  });

  it('rejects an unknown content type as unknown-content-type', async () => {
    const error = await poison(new MessageSerializer().decode('t', 'application/xml', bytes('<a/>')));
    assert.equal(error.reason, 'unknown-content-type');
    assert.match(error.message, /application\/xml/);
  });

  it('rejects an unregistered type as unknown-type when types are registered', async () => {
    const s = new MessageSerializer({ types: { 'order.placed': { schema: orderSchema } } });
    const error = await poison(s.decode('order.cancelled', JSON_TYPE, bytes('{}')));
    assert.equal(error.reason, 'unknown-type');
    assert.match(error.message, /order\.cancelled/);
  });

  it('does not treat inherited object keys as registered types', async () => {
    const s = new MessageSerializer({ types: { 'order.placed': {} } });
    assert.equal((await poison(s.decode('toString', JSON_TYPE, bytes('{}')))).reason, 'unknown-type');
    assert.equal((await poison(s.decode('__proto__', JSON_TYPE, bytes('{}')))).reason, 'unknown-type');
  });

  it("lets an unregistered type through with unknownTypes: 'accept'", async () => {
    const s = new MessageSerializer({ types: { 'order.placed': { schema: orderSchema } }, unknownTypes: 'accept' });
    assert.deepEqual(await s.decode('order.cancelled', JSON_TYPE, bytes('{"x":1}')), { x: 1 });
    assert.deepEqual(await s.encode('order.cancelled', JSON_TYPE, { x: 1 }), bytes('{"x":1}'));
  });

  it("rejects every type with unknownTypes: 'reject' and nothing registered", async () => {
    const s = new MessageSerializer({ unknownTypes: 'reject' });
    assert.equal((await poison(s.decode('t', JSON_TYPE, bytes('{}')))).reason, 'unknown-type');
  });

  it('passes a registered type without schema through unvalidated', async () => {
    const s = new MessageSerializer({ types: { ping: {} } });
    assert.deepEqual(await s.decode('ping', JSON_TYPE, bytes('[1]')), [1]);
  });

  it('rejects a schema violation as schema-violation naming the path', async () => {
    const s = new MessageSerializer({ types: { 'order.placed': { schema: orderSchema } } });
    const error = await poison(s.decode('order.placed', JSON_TYPE, bytes('{"id":"o1","items":[{"price":"free"}]}')));
    assert.equal(error.reason, 'schema-violation');
    assert.match(error.message, /order\.placed/);
    assert.match(error.message, /items\.0\.price: /);
  });

  it('returns the schema output (transform and default applied)', async () => {
    const schema = z.object({ name: z.string().transform((v) => v.length), level: z.number().default(7) });
    const s = new MessageSerializer({ types: { t: { schema } } });
    assert.deepEqual(await s.decode('t', JSON_TYPE, bytes('{"name":"abc"}')), { name: 3, level: 7 });
  });

  it('awaits an asynchronous Standard Schema', async () => {
    const schema: StandardSchemaV1<unknown, string> = {
      '~standard': {
        version: 1,
        vendor: 'test',
        validate: (value) =>
          Promise.resolve(typeof value === 'string' ? { value: `checked:${value}` } : { issues: [{ message: 'not a string', path: [{ key: 'root' }] }] }),
      },
    };
    const s = new MessageSerializer({ types: { t: { schema } } });
    assert.equal(await s.decode('t', JSON_TYPE, bytes('"x"')), 'checked:x');
    const error = await poison(s.decode('t', JSON_TYPE, bytes('1')));
    assert.equal(error.reason, 'schema-violation');
    assert.match(error.message, /root: not a string/);
  });
});

describe('MessageSerializer encode', () => {
  it('refuses an unregistered type when types are registered', async () => {
    const s = new MessageSerializer({ types: { 'order.placed': { schema: orderSchema } } });
    await assert.rejects(s.encode('order.cancelled', JSON_TYPE, {}), (e: unknown) => e instanceof MessageValidationError && /order\.cancelled/.test(e.message));
  });

  it('refuses a schema violation naming the path', async () => {
    const s = new MessageSerializer({ types: { 'order.placed': { schema: orderSchema } } });
    await assert.rejects(
      s.encode('order.placed', JSON_TYPE, { id: 'o1', items: [{ price: 'free' }] }),
      (e: unknown) => e instanceof MessageValidationError && e.code === 'RMQ_MESSAGE_INVALID' && /items\.0\.price: /.test(e.message),
    );
  });

  it('refuses an unknown content type', async () => {
    await assert.rejects(new MessageSerializer().encode('t', 'application/xml', {}), (e: unknown) => e instanceof MessageValidationError && /application\/xml/.test(e.message));
  });

  it('resolves a content type with parameters', async () => {
    assert.deepEqual(await new MessageSerializer().encode('t', 'application/json; charset=utf-8', { a: 1 }), bytes('{"a":1}'));
  });

  it('refuses a payload the codec cannot encode', async () => {
    await assert.rejects(new MessageSerializer().encode('t', JSON_TYPE, { n: 1n }), MessageValidationError);
    await assert.rejects(new MessageSerializer().encode('t', 'text/plain', 42), MessageValidationError);
  });

  it('a payload accepted by encode is accepted by decode with the same transforming schema', async () => {
    const schema = z.object({ tags: z.string().transform((v) => v.split(',')) });
    const s = new MessageSerializer({ types: { tagged: { schema } } });
    const body = await s.encode('tagged', JSON_TYPE, { tags: 'a,b' });
    assert.deepEqual(await s.decode('tagged', JSON_TYPE, body), { tags: ['a', 'b'] });
  });
});
