import assert from 'node:assert/strict';
import { mergeTopology, queueArguments } from '../../../src/adapters/rabbitmq/topology.js';

describe('RabbitMQ topology merge and queue arguments', () => {
  const defaults = { type: 'quorum' as const, deliveryLimit: 20 };

  it('lays configured fields over the implied entity of the same name, keeping the implied dead-letter exchange', () => {
    const merged = mergeTopology(
      { queues: { 'orders.billing': { deadLetterExchange: 'orders.billing.dlq' } }, exchanges: { orders: { type: 'topic' } } },
      { queues: { 'orders.billing': { deliveryLimit: 5 }, unrelated: { type: 'classic' } }, exchanges: { orders: { durable: true } } },
    );
    assert.deepEqual(merged.queues, { 'orders.billing': { deadLetterExchange: 'orders.billing.dlq', deliveryLimit: 5 } });
    assert.deepEqual(merged.exchanges, { orders: { type: 'topic', durable: true } });
  });

  it('builds quorum arguments with the delivery limit, classic ones without', () => {
    assert.deepEqual(queueArguments({ deadLetterExchange: 'd', singleActiveConsumer: true }, defaults), {
      'x-queue-type': 'quorum',
      'x-delivery-limit': 20,
      'x-dead-letter-exchange': 'd',
      'x-single-active-consumer': true,
    });
    assert.deepEqual(queueArguments({ type: 'classic', maxLength: 10, messageTtlMs: 500 }, defaults), { 'x-queue-type': 'classic', 'x-max-length': 10, 'x-message-ttl': 500 });
    assert.deepEqual(queueArguments({}, { ...defaults, replicas: 3 })['x-quorum-initial-group-size'], 3);
  });
});
