import assert from 'node:assert/strict';
import { KEY_HEADER } from '../../../src/adapters/rabbitmq/index.js';
import { deliveryAttempt, fromAmqp, recordToAmqp, toAmqp, type AmqpDelivery } from '../../../src/adapters/rabbitmq/amqp-wire.js';
import { WireHeader, createEnvelope, fromWireRecord, toWireRecord, uuidv7, uuidv7Timestamp } from '../../../src/core/index.js';

function delivered(message: ReturnType<typeof toAmqp>, extra: Partial<AmqpDelivery['fields']> = {}): AmqpDelivery {
  return { content: message.content, fields: { exchange: message.exchange, routingKey: message.routingKey, redelivered: false, ...extra }, properties: message.options };
}

describe('AMQP wire mapping', () => {
  const envelope = createEnvelope(
    { type: 'order.placed', key: 'order-7', payload: null, headers: { tenant: 'acme' }, correlationId: 'c-1', causationId: 'p-1', createdAt: new Date('2026-01-02T03:04:05.678Z') },
    'application/json',
  );
  const body = new TextEncoder().encode('{"n":1}');

  it('maps the envelope to AMQP properties and headers', () => {
    const m = toAmqp('orders', envelope, body, true, true);
    assert.equal(m.exchange, 'orders');
    assert.equal(m.routingKey, 'order.placed');
    assert.equal(m.options.messageId, envelope.id);
    assert.equal(m.options.type, 'order.placed');
    assert.equal(m.options.contentType, 'application/json');
    assert.equal(m.options.correlationId, 'c-1');
    assert.equal(m.options.timestamp, Math.floor(envelope.createdAt.getTime() / 1000));
    assert.equal(m.options.persistent, true);
    assert.equal(m.options.mandatory, true);
    assert.deepEqual(m.options.headers, { tenant: 'acme', [WireHeader.CREATED_AT]: '2026-01-02T03:04:05.678Z', [WireHeader.CAUSATION_ID]: 'p-1', [KEY_HEADER]: 'order-7' });
  });

  it('round-trips every envelope field through a delivery', () => {
    const record = fromAmqp(delivered(toAmqp('orders', envelope, body, true, true)));
    const back = fromWireRecord(record, { id: 'unused', attempt: 1, defaultContentType: 'application/json' });
    const { payload: _payload, ...expected } = envelope;
    assert.deepEqual(back, { ...expected, attempt: 1 });
    assert.deepEqual(Buffer.from(record.body), Buffer.from(body));
  });

  it('an SDK envelope with nothing for a header table sends none: its UUIDv7 id carries the created-at milliseconds', async () => {
    await idClockCaughtUp();
    const plain = createEnvelope({ type: 'order.placed', payload: null }, 'application/json');
    const m = toAmqp('orders', plain, body, true, true);
    assert.equal(m.options.headers, undefined);
    const back = fromWireRecord(fromAmqp(delivered(m)), { id: 'unused', attempt: 1, defaultContentType: 'application/json' });
    assert.equal(back.createdAt.getTime(), plain.createdAt.getTime());
    const relayed = recordToAmqp('orders', toWireRecord(plain, body), true, true); // an outbox row
    assert.equal(relayed.options.headers, undefined);
    assert.equal(relayed.options.timestamp, Math.floor(plain.createdAt.getTime() / 1000));
  });

  it('a foreign UUIDv7 message-id of another second than the timestamp does not set the created-at', () => {
    const record = fromAmqp({
      content: Buffer.from('x'),
      fields: { exchange: 'e', routingKey: 'r', redelivered: false },
      properties: { messageId: '01890a5d-ac96-774b-bcce-b302099a8057', timestamp: 1_700_000_000 },
    });
    assert.equal(record.headers[WireHeader.CREATED_AT], new Date(1_700_000_000_000).toISOString());
  });

  it('round-trips a dead-letter record: reason headers kept, envelope headers back in properties', () => {
    const record = fromAmqp(delivered(toAmqp('orders', envelope, body, true, true)));
    const dead = { ...record, headers: { ...record.headers, [WireHeader.DEAD_LETTER_REASON]: 'handler-fatal' } };
    const m = recordToAmqp('orders.g.dlq', dead, true, false);
    assert.equal(m.options.messageId, envelope.id);
    assert.equal(m.routingKey, 'order.placed');
    const again = fromAmqp(delivered(m));
    assert.deepEqual(again, dead);
  });

  it('turns foreign header values into text and maps a broker delivery-limit dead letter', () => {
    const record = fromAmqp({
      content: Buffer.from('x'),
      fields: { exchange: 'e', routingKey: 'r', redelivered: true },
      properties: { headers: { n: 3, b: true, buf: Buffer.from('hi'), list: [1, 'a'], 'x-first-death-reason': 'delivery_limit', 'x-delivery-count': 4 } },
    });
    assert.equal(record.headers['n'], '3');
    assert.equal(record.headers['b'], 'true');
    assert.equal(record.headers['buf'], 'hi');
    assert.equal(record.headers['list'], '[1,"a"]');
    assert.equal(record.headers[WireHeader.DEAD_LETTER_REASON], 'delivery-limit');
    assert.equal(record.headers['x-delivery-count'], undefined);
  });

  it('derives the attempt from x-delivery-count, else from the redelivered flag', () => {
    const base = { content: Buffer.alloc(0), properties: {} };
    assert.equal(deliveryAttempt({ ...base, fields: { exchange: '', routingKey: '', redelivered: false } }), 1);
    assert.equal(deliveryAttempt({ ...base, fields: { exchange: '', routingKey: '', redelivered: true } }), 2);
    assert.equal(deliveryAttempt({ content: Buffer.alloc(0), fields: { exchange: '', routingKey: '', redelivered: true }, properties: { headers: { 'x-delivery-count': 4 } } }), 5);
  });
});

/**
 * Ids generated faster than the 12-bit counter allows (other tests make thousands in a loop) borrow later
 * milliseconds; an envelope made then has an id ahead of its created-at and rightly gets the header.
 */
async function idClockCaughtUp(): Promise<void> {
  while (uuidv7Timestamp(uuidv7()) > Date.now()) await new Promise((resolve) => setTimeout(resolve, 1));
}
