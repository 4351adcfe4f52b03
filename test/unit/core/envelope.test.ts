import assert from 'node:assert/strict';
import { MessageValidationError, causedBy, createEnvelope, uuidv7Timestamp } from '../../../src/core/index.js';
import type { OutgoingMessage } from '../../../src/core/index.js';

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

function invalid(message: unknown): MessageValidationError {
  try {
    createEnvelope(message as OutgoingMessage, 'application/json');
  } catch (error) {
    assert.ok(error instanceof MessageValidationError, `expected MessageValidationError, got ${String(error)}`);
    assert.equal(error.code, 'RMQ_MESSAGE_INVALID');
    return error;
  }
  assert.fail('createEnvelope did not throw');
}

describe('createEnvelope', () => {
  it('fills in id, content type, attempt and createdAt', () => {
    const before = Date.now();
    const envelope = createEnvelope({ type: 'order.placed', payload: { n: 1 } }, 'application/json');
    const after = Date.now();
    assert.match(envelope.id, UUID_V7);
    assert.ok(uuidv7Timestamp(envelope.id) >= before && uuidv7Timestamp(envelope.id) <= after + 1);
    assert.equal(envelope.type, 'order.placed');
    assert.deepEqual(envelope.payload, { n: 1 });
    assert.equal(envelope.contentType, 'application/json');
    assert.equal(envelope.attempt, 0);
    assert.ok(envelope.createdAt instanceof Date);
    assert.ok(envelope.createdAt.getTime() >= before && envelope.createdAt.getTime() <= after);
    assert.deepEqual(envelope.headers, {});
    for (const absent of ['key', 'correlationId', 'causationId']) assert.equal(absent in envelope, false, `${absent} should be absent`);
  });

  it('keeps every given field', () => {
    const createdAt = new Date('2024-01-02T03:04:05.678Z');
    const headers = { tenant: 'acme' };
    const envelope = createEnvelope(
      { type: 't', payload: 'p', id: 'my-id', key: 'k1', headers, correlationId: 'c1', causationId: 'x1', contentType: 'text/plain', createdAt },
      'application/json',
    );
    assert.deepEqual(envelope, {
      id: 'my-id',
      type: 't',
      key: 'k1',
      headers: { tenant: 'acme' },
      payload: 'p',
      contentType: 'text/plain',
      createdAt,
      correlationId: 'c1',
      causationId: 'x1',
      attempt: 0,
    });
    assert.notEqual(envelope.headers, headers, 'headers are copied');
  });

  it('gives each envelope a new id', () => {
    const a = createEnvelope({ type: 't', payload: 1 }, 'application/json');
    const b = createEnvelope({ type: 't', payload: 1 }, 'application/json');
    assert.notEqual(a.id, b.id);
  });

  it('rejects a missing type', () => {
    assert.match(invalid({ payload: 1 }).message, /type/);
  });

  it('rejects an empty type and a type over 255 characters', () => {
    assert.match(invalid({ type: '', payload: 1 }).message, /type/);
    assert.match(invalid({ type: 'x'.repeat(256), payload: 1 }).message, /type.*255/);
  });

  it('rejects an empty id', () => {
    assert.match(invalid({ type: 't', payload: 1, id: '' }).message, /Message id/);
  });

  for (const field of ['key', 'correlationId', 'causationId', 'contentType']) {
    it(`rejects a non-string ${field}`, () => {
      assert.match(invalid({ type: 't', payload: 1, [field]: 5 }).message, new RegExp(`Message ${field}`));
    });
  }

  it('rejects a non-object message', () => {
    assert.match(invalid(null).message, /must be an object/);
    assert.match(invalid('t').message, /must be an object/);
  });

  it('rejects a header using the reserved rmq- prefix, in any case', () => {
    assert.match(invalid({ type: 't', payload: 1, headers: { 'rmq-id': 'x' } }).message, /'rmq-id'.*reserved/);
    assert.match(invalid({ type: 't', payload: 1, headers: { 'RMQ-Trace': 'x' } }).message, /'RMQ-Trace'.*reserved/);
  });

  it('rejects a non-string header value, naming the header', () => {
    assert.match(invalid({ type: 't', payload: 1, headers: { retries: 3 } }).message, /'retries' must be a string, received number/);
  });

  it('rejects an invalid createdAt', () => {
    assert.match(invalid({ type: 't', payload: 1, createdAt: new Date('nope') }).message, /createdAt/);
    assert.match(invalid({ type: 't', payload: 1, createdAt: '2024-01-01' }).message, /createdAt/);
  });
});

describe('causedBy', () => {
  const parent = createEnvelope({ type: 'parent', payload: null }, 'application/json');

  it('starts a conversation at a parent without correlation id', () => {
    assert.deepEqual(causedBy(parent), { correlationId: parent.id, causationId: parent.id });
  });

  it("keeps the parent's correlation id", () => {
    const child = createEnvelope({ type: 'child', payload: null, ...causedBy(parent) }, 'application/json');
    const grandchild = createEnvelope({ type: 'grandchild', payload: null, ...causedBy(child) }, 'application/json');
    assert.deepEqual(causedBy(child), { correlationId: parent.id, causationId: child.id });
    assert.equal(grandchild.correlationId, parent.id);
    assert.equal(grandchild.causationId, child.id);
  });
});
