import assert from 'node:assert/strict';
import type { DataSource } from 'typeorm';
import { MemoryTransport } from '../../../src/adapters/memory/index.js';
import { ErrorCode, OutboxTransactionError, ReliableMqError, type Envelope, type Publisher, type WireRecord } from '../../../src/core/index.js';
import { OutboxRelay, TransactionalOutbox } from '../../../src/outbox/index.js';
import { waitFor } from '../../support/wait.js';
import { databases } from './databases.js';

for (const db of databases) {
  describe(`transactional outbox on ${db.name} (real database)`, function () {
    this.timeout(30_000);
    let dataSource: DataSource;
    const outbox = new TransactionalOutbox();

    beforeEach(async () => {
      dataSource = await db.open();
    });
    afterEach(async () => {
      await db.drop(dataSource);
    });

    function consumer(transport: MemoryTransport, topic: string): Envelope[] {
      const got: Envelope[] = [];
      void transport.subscriber().subscribe(topic, (m) => void got.push(m), { group: 'g', prefetch: 100 });
      return got;
    }

    it('commit → every message published once the relay runs; rollback → nothing', async () => {
      const transport = new MemoryTransport();
      const got = consumer(transport, 'orders');
      const sent = await dataSource.transaction((manager) =>
        outbox.add(manager, [
          { topic: 'orders', type: 'order.placed', key: 'o-1', payload: { n: 1 } },
          { topic: 'orders', type: 'order.placed', payload: { n: 2 } },
        ]),
      );
      await dataSource
        .transaction(async (manager) => {
          await outbox.add(manager, { topic: 'orders', type: 'order.placed', payload: { n: 3 } });
          throw new Error('business rule failed');
        })
        .catch(() => undefined);
      const relay = new OutboxRelay({ dataSource, publisher: transport.publisher() });
      assert.equal(await relay.runOnce(), 2);
      assert.equal(await relay.runOnce(), 0);
      await waitFor(() => got.length === 2, 5000, () => `${String(got.length)} consumed`);
      assert.deepEqual(new Set(got.map((m) => m.id)), new Set(sent.map((e) => e.id)));
      assert.deepEqual(got.find((m) => m.key === 'o-1')?.payload, { n: 1 });
      assert.deepEqual(await relay.stats(), { pending: 0, inFlight: 0, failed: 0, sent: 0, oldestPendingAgeMs: 0 });
    });

    it('refuses to write outside a transaction', async () => {
      await assert.rejects(outbox.add(dataSource.manager, { topic: 't', type: 'x', payload: 1 }), (e: unknown) => e instanceof OutboxTransactionError && e.code === ErrorCode.OUTBOX_NOT_IN_TRANSACTION);
    });

    it('a failing publish is retried with backoff, then marked failed, listed, requeued and purged; other keys go on', async () => {
      const transport = new MemoryTransport();
      const inner = transport.publisher();
      let failTopic = 'broken';
      const publisher: Publisher = {
        publish: (topic, message) => inner.publish(topic, message),
        publishRecord: (topic: string, record: WireRecord) => (topic === failTopic ? Promise.reject(new Error('broker refused')) : inner.publishRecord(topic, record)),
        close: () => inner.close(),
      };
      const got = consumer(transport, 'fine');
      await dataSource.transaction((m) =>
        outbox.add(m, [
          { topic: 'broken', type: 'x', key: 'k', payload: 1 },
          { topic: 'fine', type: 'x', key: 'k', payload: 2 }, // same key: held back behind the failing one
          { topic: 'fine', type: 'x', key: 'other', payload: 3 },
        ]),
      );
      const relay = new OutboxRelay({ dataSource, publisher, maxAttempts: 2, retryInitialDelayMs: 1, retryMaxDelayMs: 1 });
      for (let i = 0; i < 4; i++) {
        await relay.runOnce();
        await new Promise((r) => setTimeout(r, 20));
      }
      await waitFor(() => got.length === 1, 5000, () => 'the other key was published');
      assert.deepEqual(got.map((m) => m.payload), [3]);
      const stats = await relay.stats();
      assert.equal(stats.failed, 1);
      assert.equal(stats.pending, 1, 'the later message of the failing key waits');
      const [failed] = await relay.failed();
      assert.equal(failed?.topic, 'broken');
      assert.equal(failed?.attempts, 2);
      assert.match(failed?.lastError ?? '', /broker refused/);
      failTopic = 'none';
      consumer(transport, 'broken');
      assert.equal(await relay.requeue(), 1);
      await relay.runOnce();
      await relay.runOnce();
      await waitFor(() => got.length === 2, 5000, () => 'the held-back message followed once its predecessor went out');
      assert.deepEqual(got.map((m) => m.payload), [3, 2]);
      assert.equal(await relay.purge(), 0);
    });

    it('publishes each key in commit order, one at a time, with several relays', async () => {
      const transport = new MemoryTransport();
      const got = consumer(transport, 'seq');
      for (let batch = 0; batch < 10; batch++) {
        await dataSource.transaction((m) => outbox.add(m, Array.from({ length: 10 }, (_, i) => ({ topic: 'seq', type: 'x', key: `k${String(i % 3)}`, payload: { n: batch * 10 + i } }))));
      }
      const relays = [1, 2, 3].map(() => new OutboxRelay({ dataSource, publisher: transport.publisher(), batchSize: 5, pollIntervalMs: 10 }));
      await Promise.all(relays.map((r) => r.start()));
      await waitFor(() => got.length === 100, 20_000, () => `${String(got.length)} of 100`);
      await Promise.all(relays.map((r) => r.stop()));
      for (const key of ['k0', 'k1', 'k2']) {
        const order = got.filter((m) => m.key === key).map((m) => (m.payload as { n: number }).n);
        assert.deepEqual(order, [...order].sort((a, b) => a - b), `order of ${key}`);
      }
    });
  });
}

describe('transactional outbox without its tables', function () {
  this.timeout(20_000);
  it('says which migration to run, on add() and on the relay', async () => {
    const { DataSource } = await import('typeorm');
    const dataSource = new DataSource({ type: 'sqljs' });
    await dataSource.initialize();
    try {
      const isSchemaError = (e: unknown): boolean => ReliableMqError.is(e) && e.code === ErrorCode.SCHEMA_MISSING && /outboxMigrations/.test(e.message) && /migration:run/.test(e.message);
      await assert.rejects(dataSource.transaction((m) => new TransactionalOutbox().add(m, { topic: 't', type: 'x', payload: 1 })), isSchemaError);
      const relay = new OutboxRelay({ dataSource, publisher: new MemoryTransport().publisher() });
      await assert.rejects(relay.runOnce(), isSchemaError);
      await assert.rejects(relay.stats(), isSchemaError);
    } finally {
      await dataSource.destroy();
    }
  });
});
