import assert from 'node:assert/strict';
import amqplib from 'amqplib';
import type { Envelope } from '../../../src/core/index.js';
import { uniqueName } from '../../support/rabbitmq-admin.js';
import { rabbitUrl } from '../../support/rabbitmq.js';
import { sleep, waitFor } from '../../support/wait.js';
import { TransportFixture } from './fixture.js';

describe('RabbitMQ subscriber (real broker)', function () {
  this.timeout(30_000);
  const fixture = new TransportFixture();
  afterEach(() => fixture.cleanUp());

  it('never runs two messages of one key at once, and keeps each key in order, at concurrency 8', async () => {
    const transport = await fixture.connect();
    const topic = uniqueName('keys');
    const running = new Set<string>();
    let overlap = 0;
    let maxRunning = 0;
    const seen = new Map<string, number[]>();
    await (
      await transport.subscriber().subscribe(topic, () => undefined, { group: 'g' })
    ).close(); // declare the queue, then build a backlog
    const publisher = await transport.publisher();
    await Promise.all(
      Array.from({ length: 8 }, async (_, k) => {
        for (let i = 0; i < 40; i++) await publisher.publish(topic, { type: 'x', key: `k${String(k)}`, payload: { i } });
      }),
    );
    await transport.subscriber().subscribe(
      topic,
      async (m: Envelope<{ i: number }>) => {
        const key = m.key as string;
        if (running.has(key)) overlap += 1;
        running.add(key);
        maxRunning = Math.max(maxRunning, running.size);
        await sleep(Math.random() * 3);
        seen.set(key, [...(seen.get(key) ?? []), m.payload.i]);
        running.delete(key);
      },
      { group: 'g', concurrency: 8, prefetch: 64 },
    );
    await waitFor(() => [...seen.values()].reduce((n, l) => n + l.length, 0) === 320, 10_000, () => 'all consumed');
    assert.equal(overlap, 0, 'no key ran twice at once');
    assert.ok(maxRunning > 1, 'different keys did run concurrently');
    for (const [key, order] of seen) assert.deepEqual(order, [...order].sort((a, b) => a - b), `order of ${key}`);
  });

  it('counts attempts from the quorum queue delivery count', async () => {
    const transport = await fixture.connect();
    const topic = uniqueName('attempts');
    const attempts: number[] = [];
    await transport.subscriber().subscribe(
      topic,
      (m) => {
        attempts.push(m.attempt);
        if (m.attempt < 3) throw new Error('not yet');
      },
      { group: 'g' },
    );
    await (await transport.publisher()).publish(topic, { type: 'x', payload: {} });
    await waitFor(() => attempts.length === 3, 5000, () => `attempts ${attempts.join(',')}`);
    await sleep(100);
    assert.deepEqual(attempts, [1, 2, 3]);
  });

  it('consumes messages from producers without the SDK: message-id as id, else a digest stable across redeliveries', async () => {
    const transport = await fixture.connect();
    const topic = uniqueName('foreign');
    const seen: Envelope[] = [];
    await transport.subscriber().subscribe(
      topic,
      (m) => {
        seen.push(m);
        if (m.attempt === 1) throw new Error('redeliver once');
      },
      { group: 'g' },
    );
    const raw = await amqplib.connect(rabbitUrl());
    fixture.defer(() => raw.close());
    const channel = await raw.createConfirmChannel();
    channel.publish(topic, 'legacy.event', Buffer.from('{"a":1}'), { messageId: 'legacy-42', contentType: 'application/json', headers: { retries: 3, flag: true } });
    channel.publish(topic, 'legacy.event', Buffer.from('{"b":2}'), { timestamp: 1_700_000_000 });
    await channel.waitForConfirms();
    await waitFor(() => seen.length === 4, 5000, () => `${String(seen.length)} deliveries`);
    const withId = seen.filter((m) => m.id === 'legacy-42');
    assert.equal(withId.length, 2);
    assert.deepEqual(withId[0]?.payload, { a: 1 });
    assert.equal(withId[0]?.headers['retries'], '3');
    assert.equal(withId[0]?.headers['flag'], 'true');
    const digested = seen.filter((m) => m.id !== 'legacy-42');
    assert.equal(digested.length, 2);
    assert.match(digested[0]?.id ?? '', /^amqp-sha256:[0-9a-f]{32}$/);
    assert.equal(digested[0]?.id, digested[1]?.id, 'the same id on redelivery');
    assert.equal(digested[0]?.createdAt.getTime(), 1_700_000_000_000);
    assert.equal(digested[0]?.type, 'untyped');
  });

  it('graceful close: a handler in progress finishes and is acked, not redelivered', async () => {
    const transport = await fixture.connect();
    const topic = uniqueName('graceful');
    const handled: string[] = [];
    let started = 0;
    const subscription = await transport.subscriber().subscribe(
      topic,
      async (m) => {
        started += 1;
        await sleep(300);
        handled.push(m.id);
      },
      { group: 'g', prefetch: 5 },
    );
    const publisher = await transport.publisher();
    const sent = await Promise.all(Array.from({ length: 5 }, (_, i) => publisher.publish(topic, { type: 'x', payload: i })));
    await waitFor(() => started === 1, 5000, () => 'first handler started');
    await subscription.close();
    assert.equal(handled.length, 1, 'the running handler finished before close resolved');
    const after: Envelope[] = [];
    await transport.subscriber().subscribe(topic, (m) => void after.push(m), { group: 'g' });
    await waitFor(() => after.length === 4, 5000, () => `${String(after.length)} of 4 left over`);
    await sleep(200);
    assert.deepEqual(new Set([...handled, ...after.map((m) => m.id)]), new Set(sent.map((e) => e.id)));
    assert.ok(!after.some((m) => m.id === handled[0]), 'the acked message was not redelivered');
  });
});
