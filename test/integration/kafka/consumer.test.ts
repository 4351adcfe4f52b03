import assert from 'node:assert/strict';
import { Kafka, logLevel } from 'kafkajs';
import type { Envelope } from '../../../src/core/index.js';
import { sleep, waitFor } from '../../support/wait.js';
import { KafkaFixture, kafkaBrokers, uniqueTopic } from './fixture.js';

describe('Kafka consumer (real broker)', function () {
  this.timeout(60_000);
  const fixture = new KafkaFixture();
  afterEach(() => fixture.cleanUp());

  it('never commits past a message still in flight, even when later ones finished (orderBy key)', async () => {
    const transport = await fixture.connect({ topics: { defaults: { partitions: 1 } } });
    const topic = uniqueTopic('watermark');
    let release: () => void = () => undefined;
    const blocked = new Promise<void>((resolve) => {
      release = resolve;
    });
    const publisher = await transport.publisher();
    // A backlog: the eight records reach the consumer in one batch, whose keys then run concurrently.
    await Promise.all(Array.from({ length: 8 }, (_, i) => publisher.publish(topic, { type: 'x', key: `k${String(i)}`, payload: { i } })));
    const done: number[] = [];
    const subscription = await transport.subscriber().subscribe(
      topic,
      async (m: Envelope<{ i: number }>) => {
        if (m.payload.i === 2) await blocked;
        done.push(m.payload.i);
      },
      { group: 'g', orderBy: 'key', concurrency: 4, prefetch: 8 },
    );
    await waitFor(() => done.length === 7, 10_000, () => `${String(done.length)} of 7 unblocked messages done`);
    await sleep(1500); // past the commit interval: commits happen while offset 2 is in flight
    const whileBlocked = (await fixture.committed(subscription.groupId, topic)).get(0) ?? -1n;
    assert.ok(whileBlocked <= 2n, `committed ${String(whileBlocked)} while offset 2 was in flight`);
    release();
    await waitFor(() => done.length === 8, 10_000, () => 'the blocked message finished');
    let committed = -1n;
    const deadline = Date.now() + 10_000;
    while (committed !== 8n && Date.now() < deadline) {
      committed = (await fixture.committed(subscription.groupId, topic)).get(0) ?? -1n;
      await sleep(100);
    }
    assert.equal(committed, 8n, 'everything committed once offset 2 was done');
  });

  it('orderBy key: keys of one partition run concurrently, one key never twice at once and in order', async () => {
    const transport = await fixture.connect({ topics: { defaults: { partitions: 1 } } });
    const topic = uniqueTopic('keys');
    const running = new Set<string>();
    let overlap = 0;
    let maxRunning = 0;
    const seen = new Map<string, number[]>();
    const publisher = await transport.publisher();
    await Promise.all(Array.from({ length: 6 }, async (_, k) => {
      for (let i = 0; i < 30; i++) await publisher.publish(topic, { type: 'x', key: `k${String(k)}`, payload: { i } });
    }));
    await transport.subscriber().subscribe(
      topic,
      async (m: Envelope<{ i: number }>) => {
        const key = m.key as string;
        if (running.has(key)) overlap += 1;
        running.add(key);
        maxRunning = Math.max(maxRunning, running.size);
        await sleep(2);
        seen.set(key, [...(seen.get(key) ?? []), m.payload.i]);
        running.delete(key);
      },
      { group: 'g', orderBy: 'key', concurrency: 6 },
    );
    await waitFor(() => [...seen.values()].reduce((n, l) => n + l.length, 0) === 180, 20_000, () => 'all consumed');
    assert.equal(overlap, 0);
    assert.ok(maxRunning > 1, 'different keys ran concurrently within one partition');
    for (const [key, order] of seen) assert.deepEqual(order, [...order].sort((a, b) => a - b), `order of ${key}`);
  });

  it('consumes records from producers without the SDK: id from topic/partition/offset; undecodable ones dead-lettered', async () => {
    const transport = await fixture.connect({ topics: { defaults: { partitions: 1 } } });
    const topic = uniqueTopic('foreign');
    const got: Envelope[] = [];
    const dead: Envelope[] = [];
    await transport.subscriber({ serializer: { codecs: [{ contentType: 'application/json', encode: (p) => p as Uint8Array, decode: (b) => b }] } })
      .subscribe(transport.deadLetterTopic(topic, 'g'), (m) => void dead.push(m), { group: 'dlq' });
    await transport.subscriber().subscribe(topic, (m) => void got.push(m), { group: 'g' });
    const raw = new Kafka({ clientId: 'it-raw', brokers: kafkaBrokers(), logLevel: logLevel.NOTHING }).producer();
    await raw.connect();
    await raw.send({ topic, messages: [{ value: '{"legacy":true}', headers: { source: Buffer.from('legacy-app') } }, { value: 'not json' }, { value: '{"n":2}' }] });
    await raw.disconnect();
    await waitFor(() => got.length === 2 && dead.length === 1, 15_000, () => `${String(got.length)} consumed, ${String(dead.length)} dead`);
    assert.deepEqual(got.map((m) => m.id), [`kafka:${topic}:0:0`, `kafka:${topic}:0:2`]);
    assert.equal(got[0]?.headers['source'], 'legacy-app');
    assert.equal(got[0]?.type, 'untyped');
    assert.equal(dead[0]?.id, `kafka:${topic}:0:1`, 'the dead letter keeps the id the record was consumed under');
    assert.equal(dead[0]?.headers['rmq-dead-letter-reason'], 'malformed-payload');
  });

  it('keeps its partitions through a handler longer than the session timeout (heartbeats go on)', async () => {
    const transport = await fixture.connect({ topics: { defaults: { partitions: 1 } }, consumer: { sessionTimeoutMs: 6000, heartbeatIntervalMs: 500 } });
    const topic = uniqueTopic('long');
    const calls: number[] = [];
    await transport.subscriber().subscribe(topic, async (m: Envelope<{ i: number }>) => {
      calls.push(m.payload.i);
      if (m.payload.i === 0) await sleep(8000);
    }, { group: 'g' });
    const publisher = await transport.publisher();
    await publisher.publish(topic, { type: 'x', payload: { i: 0 } });
    await publisher.publish(topic, { type: 'x', payload: { i: 1 } });
    await waitFor(() => calls.length === 2, 20_000, () => `calls ${calls.join(',')}`);
    await sleep(500);
    assert.deepEqual(calls, [0, 1], 'no redelivery: the member never lost its partition');
  });
});
