import assert from 'node:assert/strict';
import { PoisonMessageError, UNTYPED, WireHeader, fromWireRecord, toWireRecord } from '../../../src/core/index.js';
import type { Envelope, WireFallback } from '../../../src/core/index.js';

const body = Uint8Array.of(1, 2, 3);
const fallback: WireFallback = { id: 'fallback-id', attempt: 3, defaultContentType: 'application/json', timestamp: new Date('2020-05-06T07:08:09.000Z') };

function malformedEnvelope(headers: Record<string, string>): PoisonMessageError {
  try {
    fromWireRecord({ headers, body }, fallback);
  } catch (error) {
    assert.ok(error instanceof PoisonMessageError, `expected PoisonMessageError, got ${String(error)}`);
    assert.equal(error.reason, 'malformed-envelope');
    return error;
  }
  assert.fail('fromWireRecord did not throw');
}

describe('toWireRecord / fromWireRecord', () => {
  it('round trips every envelope field', () => {
    const envelope: Envelope = {
      id: '0190a5d0-0000-7000-8000-000000000001',
      type: 'order.placed',
      key: 'customer-7',
      headers: { tenant: 'acme', 'x-trace': 't1' },
      payload: { ignored: true },
      contentType: 'application/json; charset=utf-8',
      createdAt: new Date('2024-02-03T04:05:06.789Z'),
      correlationId: 'corr-1',
      causationId: 'cause-1',
      attempt: 0,
    };
    const record = toWireRecord(envelope, body);
    assert.equal(record.body, body);
    assert.equal(record.key, 'customer-7');
    assert.deepEqual(record.headers, {
      tenant: 'acme',
      'x-trace': 't1',
      'rmq-id': envelope.id,
      'rmq-type': 'order.placed',
      'rmq-content-type': 'application/json; charset=utf-8',
      'rmq-created-at': '2024-02-03T04:05:06.789Z',
      'rmq-correlation-id': 'corr-1',
      'rmq-causation-id': 'cause-1',
    });
    assert.deepEqual(fromWireRecord(record, fallback), {
      id: envelope.id,
      type: 'order.placed',
      key: 'customer-7',
      headers: { tenant: 'acme', 'x-trace': 't1' },
      contentType: 'application/json; charset=utf-8',
      createdAt: envelope.createdAt,
      correlationId: 'corr-1',
      causationId: 'cause-1',
      attempt: 3,
    });
  });

  it('omits absent optional fields on both sides', () => {
    const envelope: Envelope = { id: 'i', type: 't', headers: {}, payload: null, contentType: 'text/plain', createdAt: new Date(0), attempt: 0 };
    const record = toWireRecord(envelope, body);
    assert.equal('key' in record, false);
    assert.deepEqual(Object.keys(record.headers).sort(), ['rmq-content-type', 'rmq-created-at', 'rmq-id', 'rmq-type']);
    const meta = fromWireRecord(record, fallback);
    for (const absent of ['key', 'correlationId', 'causationId']) assert.equal(absent in meta, false, `${absent} should be absent`);
  });

  it('reads a foreign record (no headers) with the fallback id, untyped, default content type and timestamp', () => {
    const meta = fromWireRecord({ key: 'k', headers: {}, body }, fallback);
    assert.deepEqual(meta, {
      id: 'fallback-id',
      type: UNTYPED,
      key: 'k',
      headers: {},
      contentType: 'application/json',
      createdAt: fallback.timestamp,
      attempt: 3,
    });
    assert.equal(UNTYPED, 'untyped');
  });

  it("uses a foreign record's content-type header and keeps it among headers", () => {
    const meta = fromWireRecord({ headers: { 'content-type': 'text/plain' }, body }, fallback);
    assert.equal(meta.contentType, 'text/plain');
    assert.deepEqual(meta.headers, { 'content-type': 'text/plain' });
  });

  it('uses the current time when there is neither header nor fallback timestamp', () => {
    const before = Date.now();
    const meta = fromWireRecord({ headers: {}, body }, { id: 'x', attempt: 1, defaultContentType: 'text/plain' });
    assert.ok(meta.createdAt.getTime() >= before && meta.createdAt.getTime() <= Date.now());
  });

  it('rejects an invalid rmq-created-at as malformed-envelope', () => {
    assert.match(malformedEnvelope({ [WireHeader.CREATED_AT]: 'yesterday' }).message, /rmq-created-at.*yesterday/);
  });

  it('rejects an empty rmq-id as malformed-envelope', () => {
    assert.match(malformedEnvelope({ [WireHeader.ID]: '' }).message, /rmq-id/);
  });

  it('rejects an empty rmq-type as malformed-envelope', () => {
    assert.match(malformedEnvelope({ [WireHeader.TYPE]: '' }).message, /rmq-type/);
  });

  it('keeps user and dead-letter headers, strips envelope headers', () => {
    const headers = {
      tenant: 'acme',
      [WireHeader.ID]: 'id-1',
      [WireHeader.TYPE]: 't',
      [WireHeader.CONTENT_TYPE]: 'text/plain',
      [WireHeader.CREATED_AT]: '2024-01-01T00:00:00.000Z',
      [WireHeader.CORRELATION_ID]: 'c',
      [WireHeader.CAUSATION_ID]: 'x',
      [WireHeader.DEAD_LETTER_REASON]: 'handler-fatal',
      [WireHeader.DEAD_LETTER_ERROR]: 'FatalError: no',
      [WireHeader.DEAD_LETTER_TOPIC]: 'orders',
      [WireHeader.DEAD_LETTER_GROUP]: 'billing',
      [WireHeader.DEAD_LETTER_ATTEMPTS]: '1',
      [WireHeader.DEAD_LETTER_AT]: '2024-01-01T00:00:01.000Z',
    };
    const meta = fromWireRecord({ headers, body }, fallback);
    assert.deepEqual(meta.headers, {
      tenant: 'acme',
      'rmq-dead-letter-reason': 'handler-fatal',
      'rmq-dead-letter-error': 'FatalError: no',
      'rmq-dead-letter-original-topic': 'orders',
      'rmq-dead-letter-original-group': 'billing',
      'rmq-dead-letter-attempts': '1',
      'rmq-dead-lettered-at': '2024-01-01T00:00:01.000Z',
    });
    assert.equal(meta.id, 'id-1');
    assert.equal(meta.correlationId, 'c');
    assert.equal(meta.causationId, 'x');
  });
});
