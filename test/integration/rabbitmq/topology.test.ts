import assert from 'node:assert/strict';
import amqplib from 'amqplib';
import { ErrorCode, TopologyError } from '../../../src/core/index.js';
import { deleteEntities, uniqueName } from '../../support/rabbitmq-admin.js';
import { rabbitUrl } from '../../support/rabbitmq.js';
import { waitFor } from '../../support/wait.js';
import { TransportFixture } from './fixture.js';

describe('RabbitMQ topology (real broker)', function () {
  this.timeout(30_000);
  const fixture = new TransportFixture();
  afterEach(() => fixture.cleanUp());

  it('declares the configured exchanges, quorum queues and bindings on connect', async () => {
    const topic = uniqueName('declared');
    const queue = `${topic}.audit`;
    await fixture.connect({
      topology: { exchanges: { [topic]: { type: 'fanout' } }, queues: { [queue]: { deliveryLimit: 3 } }, bindings: [{ exchange: topic, queue }] },
    });
    const raw = await amqplib.connect(rabbitUrl());
    fixture.defer(() => raw.close());
    const channel = await raw.createChannel();
    channel.on('error', () => undefined);
    await channel.checkExchange(topic);
    const checked = await channel.checkQueue(queue);
    assert.equal(checked.queue, queue);
    // Redeclaring with other arguments is refused: proves it is a quorum queue with delivery limit 3.
    await assert.rejects(channel.assertQueue(queue, { durable: true, arguments: { 'x-queue-type': 'quorum', 'x-delivery-limit': 4 } }), /PRECONDITION_FAILED/);
  });

  it('a queue that exists with other arguments → TopologyError naming it; other subscriptions keep working', async () => {
    const [topic, other] = [uniqueName('mismatch'), uniqueName('healthy')];
    const queue = `${topic}.g`;
    const raw = await amqplib.connect(rabbitUrl());
    const channel = await raw.createChannel();
    await channel.assertQueue(queue, { durable: true, arguments: { 'x-queue-type': 'classic' } });
    fixture.defer(async () => {
      await raw.close();
      await deleteEntities({ queues: [queue], exchanges: [] });
    });

    const transport = await fixture.connect();
    const received: string[] = [];
    const subscriber = transport.subscriber();
    await subscriber.subscribe(other, (m) => void received.push(m.id), { group: 'g' });
    await assert.rejects(
      subscriber.subscribe(topic, () => undefined, { group: 'g' }),
      (e: unknown) => e instanceof TopologyError && e.code === ErrorCode.TOPOLOGY_MISMATCH && e.entity === `queue '${queue}'` && /PRECONDITION_FAILED - inequivalent arg/.test(e.message),
    );
    const sent = await (await transport.publisher()).publish(other, { type: 'x', payload: 1 });
    await waitFor(() => received.includes(sent.id), 5000, () => 'the healthy subscription still consumes');
  });

  it('many subscriptions to one new quorum queue at once: the connection survives (declarations run one at a time)', async () => {
    // RabbitMQ 3.x answers a concurrent declare of a quorum queue before its Raft group runs; a consume
    // then crashes the connection. Without the registry's serialization this fails in most rounds.
    const transport = await fixture.connect();
    const disconnects: unknown[] = [];
    transport.events.on('disconnect', (e) => disconnects.push(e));
    for (let round = 0; round < 20; round++) {
      const topic = uniqueName(`qq-burst-${String(round)}`);
      const received = new Set<string>();
      const subscriber = transport.subscriber();
      await Promise.all(Array.from({ length: 5 }, () => subscriber.subscribe(topic, (m) => void received.add(m.id), { group: 'g' })));
      const sent = await (await transport.publisher()).publish(topic, { type: 'x', payload: round });
      await waitFor(() => received.has(sent.id), 5000, () => `round ${String(round)}: consumed`);
      await subscriber.close();
    }
    assert.deepEqual(disconnects, []);
  });

  it('connect() rejects with TopologyError when the configured topology is refused', async () => {
    const exchange = uniqueName('ex');
    const raw = await amqplib.connect(rabbitUrl());
    const channel = await raw.createChannel();
    await channel.assertExchange(exchange, 'direct', { durable: true });
    fixture.defer(async () => {
      await deleteEntities({ queues: [], exchanges: [exchange] });
      await raw.close();
    });
    await assert.rejects(fixture.connect({ topology: { exchanges: { [exchange]: { type: 'topic' } } } }), (e: unknown) => e instanceof TopologyError && e.entity === `exchange '${exchange}'`);
  });

  it('single active consumer: only one of two subscriptions receives, the other takes over when it closes', async () => {
    const transport = await fixture.connect();
    const topic = uniqueName('sac');
    const got: Record<string, number> = { a: 0, b: 0 };
    const subscriber = transport.subscriber();
    const a = await subscriber.subscribe(topic, () => void (got['a'] = (got['a'] ?? 0) + 1), { group: 'g', singleActiveConsumer: true });
    await subscriber.subscribe(topic, () => void (got['b'] = (got['b'] ?? 0) + 1), { group: 'g', singleActiveConsumer: true });
    const publisher = await transport.publisher();
    for (let i = 0; i < 20; i++) await publisher.publish(topic, { type: 'x', payload: i });
    await waitFor(() => (got['a'] ?? 0) + (got['b'] ?? 0) === 20, 5000, () => JSON.stringify(got));
    assert.deepEqual(got, { a: 20, b: 0 });
    await a.close();
    for (let i = 0; i < 5; i++) await publisher.publish(topic, { type: 'x', payload: i });
    await waitFor(() => got['b'] === 5, 5000, () => JSON.stringify(got));
  });

  it('classic queues on request', async () => {
    const transport = await fixture.connect({ queues: { type: 'classic' } });
    const topic = uniqueName('classic');
    await (await transport.subscriber().subscribe(topic, () => undefined, { group: 'g' })).close();
    const raw = await amqplib.connect(rabbitUrl());
    fixture.defer(() => raw.close());
    const channel = await raw.createChannel();
    channel.on('error', () => undefined);
    const args = { 'x-queue-type': 'quorum', 'x-dead-letter-exchange': `${topic}.g.dlq` };
    await assert.rejects(channel.assertQueue(`${topic}.g`, { durable: true, arguments: args }), /inequivalent arg 'x-queue-type'/);
  });
});
