import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import type { DataSource } from 'typeorm';
import { MemoryTransport } from '../../../src/adapters/memory/index.js';
import { ErrorCode, ReliableMqError, WireHeader, createEnvelope, type Envelope, type HandlerContext } from '../../../src/core/index.js';
import { InboxDeduplicator, RedisInbox } from '../../../src/inbox/index.js';
import { OutboxRelay, TransactionalOutbox } from '../../../src/outbox/index.js';
import { waitFor } from '../../support/wait.js';
import { databases } from '../outbox/databases.js';

const context: HandlerContext = { topic: 't', group: 'g', signal: new AbortController().signal };

for (const db of databases) {
  describe(`idempotent inbox on ${db.name} (real database)`, function () {
    this.timeout(30_000);
    let dataSource: DataSource;

    beforeEach(async () => {
      dataSource = await db.open();
      await dataSource.query(`CREATE TABLE effects (message_id varchar(255) NOT NULL, amount integer NOT NULL)`);
    });
    afterEach(async () => {
      await db.drop(dataSource);
    });

    async function effects(): Promise<Map<string, number>> {
      const rows = await dataSource.query<Array<{ message_id: string; n: number | string }>>('SELECT message_id, COUNT(*) AS n FROM effects GROUP BY message_id');
      return new Map(rows.map((r) => [r.message_id, Number(r.n)]));
    }

    /** Every mark in the table two hours old, in one statement. */
    async function backdateMarks(): Promise<void> {
      const sql: Record<string, string> = {
        postgres: "UPDATE rmq_inbox SET received_at = now() - interval '2 hours'",
        mariadb: 'UPDATE rmq_inbox SET received_at = CURRENT_TIMESTAMP(3) - INTERVAL 2 HOUR',
        sqljs: "UPDATE rmq_inbox SET received_at = strftime('%Y-%m-%d %H:%M:%f', 'now', '-2 hours')",
      };
      await dataSource.query(sql[db.name] as string);
    }

    function insertEffect(): string {
      return db.name === 'postgres' ? 'INSERT INTO effects (message_id, amount) VALUES ($1, $2)' : 'INSERT INTO effects (message_id, amount) VALUES (?, ?)';
    }

    it('every message delivered twice (memory duplicate injection) has exactly one effect', async () => {
      const inbox = new InboxDeduplicator({ dataSource, consumer: 'billing' });
      let duplicates = 0;
      inbox.events.on('duplicate', () => (duplicates += 1));
      const transport = new MemoryTransport({ duplicateDeliveries: true });
      await transport.subscriber().subscribe(
        'payments',
        inbox.wrap<{ amount: number }>(async (m, { manager }) => {
          await manager.query(insertEffect(), [m.id, m.payload.amount]);
        }),
        { group: 'billing' },
      );
      const publisher = transport.publisher();
      const sent = await Promise.all(Array.from({ length: 50 }, (_, i) => publisher.publish('payments', { type: 'paid', payload: { amount: i } })));
      await waitFor(() => duplicates === 50, 10_000, () => `${String(duplicates)} duplicates suppressed`);
      const counts = await effects();
      assert.equal(counts.size, 50);
      for (const e of sent) assert.equal(counts.get(e.id), 1, `one effect for ${e.id}`);
    });

    it('a handler that throws leaves no mark and no effect: the redelivery has the one effect', async () => {
      const inbox = new InboxDeduplicator({ dataSource, consumer: 'billing' });
      const handler = inbox.wrap(async (m: Envelope, { manager }) => {
        await manager.query(insertEffect(), [m.id, 1]);
        if (m.attempt === 1) throw new Error('crash after the write, before commit');
      });
      const message = { ...createEnvelope({ type: 'paid', payload: {} }, 'application/json'), attempt: 1 };
      await assert.rejects(Promise.resolve(handler(message, context)), /crash after the write/);
      assert.equal((await effects()).size, 0);
      await handler({ ...message, attempt: 2 }, context);
      await handler({ ...message, attempt: 3 }, context);
      assert.equal((await effects()).get(message.id), 1);
    });

    it('two deliveries of the same message at the same time: one effect', async () => {
      const inbox = new InboxDeduplicator({ dataSource, consumer: 'billing' });
      const handler = inbox.wrap(async (m: Envelope, { manager }) => {
        await manager.query(insertEffect(), [m.id, 1]);
        await new Promise((r) => setTimeout(r, 50)); // hold the transaction open while the other ones arrive
      });
      for (let i = 0; i < 10; i++) {
        const message = { ...createEnvelope({ type: 'paid', payload: {} }, 'application/json'), attempt: 1 };
        const outcomes = await Promise.allSettled([handler(message, context), handler(message, context), handler(message, context)]);
        // PostgreSQL and MariaDB run the three transactions at once and the key decides; sql.js has one
        // connection and refuses a second transaction meanwhile — a refused delivery is redelivered:
        if (db.name !== 'sqljs') assert.ok(outcomes.every((o) => o.status === 'fulfilled'), 'all three deliveries acked');
        await handler({ ...message, attempt: 2 }, context);
        assert.equal((await effects()).get(message.id), 1);
      }
    });

    it('consume → database → publish in one transaction with the outbox', async () => {
      const inbox = new InboxDeduplicator({ dataSource, consumer: 'shipping' });
      const outbox = new TransactionalOutbox();
      const handler = inbox.wrap(async (m: Envelope, { manager }) => {
        await manager.query(insertEffect(), [m.id, 1]);
        await outbox.add(manager, { topic: 'shipments', type: 'shipment.requested', payload: { order: m.id }, causationId: m.id });
        if (m.attempt === 1) throw new Error('fails after both writes');
      });
      const message = { ...createEnvelope({ type: 'order.paid', payload: {} }, 'application/json'), attempt: 1 };
      await assert.rejects(Promise.resolve(handler(message, context)));
      const relay = new OutboxRelay({ dataSource, publisher: new MemoryTransport().publisher() });
      assert.equal((await relay.stats()).pending, 0, 'the rolled-back attempt published nothing');
      await handler({ ...message, attempt: 2 }, context);
      await handler({ ...message, attempt: 3 }, context);
      assert.equal((await effects()).get(message.id), 1);
      assert.equal((await relay.stats()).pending, 1, 'exactly one outgoing message');
    });

    it('ids from foreign producers (quotes, backslashes, a consumer name with a quote) are marked as they are, per message and in batch', async () => {
      const inbox = new InboxDeduplicator({ dataSource, consumer: "it's \\ billing" });
      const ids = ["o'brien", 'back\\slash', "both\\'; DROP TABLE effects; --", 'plain'];
      const handler = inbox.wrap(async (m: Envelope, { manager }) => {
        await manager.query(insertEffect(), [m.id, 1]);
      });
      const batch = inbox.wrapBatch(async (ms: ReadonlyArray<Envelope>, { manager }) => {
        for (const m of ms) await manager.query(insertEffect(), [m.id, 2]);
      });
      const envelope = (id: string): Envelope => ({ ...createEnvelope({ type: 'paid', payload: {} }, 'application/json'), id, attempt: 1 });
      // New in the batch beside the ids seen before: what an array's text form must quote (PostgreSQL hands the new ids back as one).
      const batchOnly = ['batch-only', "batch'only", '{brace,comma}', 'quote"d', 'NULL', 'new\\slash', ' spaced '];
      for (const id of ids) await handler(envelope(id), context);
      for (const id of ids) await handler(envelope(id), context);
      await batch([...ids, ...batchOnly].map(envelope), context);
      const counts = await effects();
      assert.deepEqual([...counts.entries()].sort(), [...ids, ...batchOnly].map((id) => [id, 1]).sort());
      const amounts = await dataSource.query<Array<{ message_id: string; amount: number | string }>>('SELECT message_id, amount FROM effects');
      assert.deepEqual(amounts.filter((r) => Number(r.amount) === 2).map((r) => r.message_id).sort(), [...batchOnly].sort(), 'the batch handler got exactly the new ids');
      const marks = await dataSource.query<Array<{ consumer: string; message_id: string }>>('SELECT consumer, message_id FROM rmq_inbox');
      assert.deepEqual(new Set(marks.map((m) => m.consumer)), new Set(["it's \\ billing"]));
      assert.deepEqual(marks.map((m) => m.message_id).sort(), [...ids, ...batchOnly].sort());
    });

    it('batch mode: groups racing on shared ids, redelivered groups between new ones, and a handler whose own write violates a key', async () => {
      const inbox = new InboxDeduplicator({ dataSource, consumer: 'billing' });
      const handled: string[] = [];
      const batch = inbox.wrapBatch(async (ms: ReadonlyArray<Envelope>, { manager }) => {
        for (const m of ms) await manager.query(insertEffect(), [m.id, 1]);
        await new Promise((r) => setTimeout(r, 30)); // hold the transaction open while the racing group arrives
        handled.push(...ms.map((m) => m.id));
      });
      const envelopes = Array.from({ length: 30 }, () => ({ ...createEnvelope({ type: 'paid', payload: {} }, 'application/json'), attempt: 1 }));
      const outcomes = await Promise.allSettled([batch(envelopes.slice(0, 10), context), batch(envelopes.slice(5, 15), context)]);
      // sql.js has one connection and refuses the second transaction meanwhile: that group is redelivered.
      if (db.name === 'sqljs') await batch(envelopes.slice(5, 15), context);
      else assert.ok(outcomes.every((o) => o.status === 'fulfilled'), 'both racing groups acked');
      await batch(envelopes.slice(0, 15), context); // all seen
      await batch(envelopes.slice(15, 20), context); // all new, after a group of duplicates
      await batch(envelopes.slice(10, 25), context); // half seen
      await batch(envelopes.slice(25, 30), context);
      assert.deepEqual([...handled].sort(), envelopes.map((e) => e.id).sort(), 'every id handled once, by one group');
      const counts = await effects();
      assert.equal(counts.size, 30);
      for (const e of envelopes) assert.equal(counts.get(e.id), 1, `one effect for ${e.id}`);

      await dataSource.query('CREATE TABLE unique_refs (ref varchar(64) PRIMARY KEY)');
      await dataSource.query(db.name === 'postgres' ? 'INSERT INTO unique_refs (ref) VALUES ($1)' : 'INSERT INTO unique_refs (ref) VALUES (?)', ['taken']);
      let ownCalls = 0;
      const violating = inbox.wrapBatch(async (_ms: ReadonlyArray<Envelope>, { manager }) => {
        ownCalls += 1;
        await manager.query(db.name === 'postgres' ? 'INSERT INTO unique_refs (ref) VALUES ($1)' : 'INSERT INTO unique_refs (ref) VALUES (?)', ['taken']);
      });
      const fresh = Array.from({ length: 3 }, () => ({ ...createEnvelope({ type: 'paid', payload: {} }, 'application/json'), attempt: 1 }));
      await assert.rejects(Promise.resolve(violating(fresh, context)));
      assert.equal(ownCalls, 1, "the handler's own key violation is its error: the group is not run again");
      const marked = await dataSource.query<Array<{ message_id: string }>>('SELECT message_id FROM rmq_inbox');
      assert.equal(marked.filter((m) => fresh.some((e) => e.id === m.message_id)).length, 0, 'its marks rolled back with it');
    });

    it('a handler may open a nested transaction (a savepoint) on the inbox manager', async () => {
      const inbox = new InboxDeduplicator({ dataSource, consumer: 'billing' });
      const handler = inbox.wrap(async (m: Envelope, { manager }) => {
        await manager.query(insertEffect(), [m.id, 1]);
        await assert.rejects(
          manager.transaction(async (inner) => {
            await inner.query(insertEffect(), [m.id, 99]);
            throw new Error('inner work fails');
          }),
          /inner work fails/,
        );
        await manager.transaction(async (inner) => {
          await inner.query(insertEffect(), [m.id, 2]);
        });
      });
      const message = { ...createEnvelope({ type: 'paid', payload: {} }, 'application/json'), attempt: 1 };
      await handler(message, context);
      await handler({ ...message, attempt: 2 }, context);
      const amounts = await dataSource.query<Array<{ amount: number | string }>>('SELECT amount FROM effects ORDER BY amount');
      assert.deepEqual(amounts.map((r) => Number(r.amount)), [1, 2], 'the failed savepoint rolled back alone; the redelivery did nothing');
    });

    it('removes marks past the retention window', async () => {
      const inbox = new InboxDeduplicator({ dataSource, consumer: 'billing' });
      const handler = inbox.wrap(() => undefined);
      await handler({ ...createEnvelope({ type: 'x', payload: 1 }, 'application/json'), attempt: 1 }, context);
      assert.equal(await inbox.removeExpired(60_000), 0);
      await new Promise((r) => setTimeout(r, 30));
      assert.equal(await inbox.removeExpired(1), 1);
    });

    it('retention: a timer removes this consumer’s marks past the window, in statements of `limit`; failures are events; close() stops it', async () => {
      const marksOf = async (consumer: string): Promise<string[]> =>
        (await dataSource.query<Array<{ message_id: string }>>(`SELECT message_id FROM rmq_inbox WHERE consumer = ${db.name === 'postgres' ? '$1' : '?'}`, [consumer])).map((r) => r.message_id).sort();
      const envelope = (): Envelope => ({ ...createEnvelope({ type: 'paid', payload: {} }, 'application/json'), attempt: 1 });
      const retention = { keepMs: 3_600_000, intervalMs: 1000, limit: 2 };
      const inbox = new InboxDeduplicator({ dataSource, consumer: 'billing', retention });
      const expired: number[] = [];
      inbox.events.on('expired', (count) => expired.push(count));
      const old = Array.from({ length: 5 }, envelope);
      try {
        for (const e of old) await inbox.wrap(() => undefined)(e, context);
        await new InboxDeduplicator({ dataSource, consumer: 'shipping' }).wrap(() => undefined)(old[0] as Envelope, context);
        await backdateMarks(); // one statement: a sweep sees all five old or none
        const recent = [envelope(), envelope()];
        for (const e of recent) await inbox.wrap(() => undefined)(e, context);
        await waitFor(() => expired.length > 0, 5000, () => 'no sweep removed anything');
        assert.deepEqual(expired, [5], 'one sweep, statements of 2, 2 and 1');
        assert.deepEqual(await marksOf('billing'), recent.map((e) => e.id).sort(), 'marks inside the window stay');
        assert.deepEqual(await marksOf('shipping'), [old[0]?.id], "another consumer's marks are its own to expire");
      } finally {
        await inbox.close();
      }
      await backdateMarks();
      await new Promise((r) => setTimeout(r, 1200));
      assert.equal((await marksOf('billing')).length, 2, 'no sweep after close()');

      const failures: Error[] = [];
      const failing = new InboxDeduplicator({ dataSource, consumer: 'billing', retention });
      failing.events.on('failure', (error) => failures.push(error));
      await dataSource.query('ALTER TABLE rmq_inbox RENAME TO rmq_inbox_away');
      try {
        await waitFor(() => failures.length > 0, 5000, () => 'no failure reported');
      } finally {
        await failing.close();
        await dataSource.query('ALTER TABLE rmq_inbox_away RENAME TO rmq_inbox');
      }
      assert.ok(failures[0] instanceof ReliableMqError && failures[0].code === ErrorCode.SCHEMA_MISSING, `the sweep's failure names the missing table: ${String(failures[0])}`);
    });

    it('retention: two processes sweeping one consumer’s marks at once remove each mark once', async () => {
      const [a, b] = [new InboxDeduplicator({ dataSource, consumer: 'billing' }), new InboxDeduplicator({ dataSource, consumer: 'billing' })];
      const marks = Array.from({ length: 60 }, () => ({ ...createEnvelope({ type: 'paid', payload: {} }, 'application/json'), attempt: 1 }));
      await a.wrapBatch(() => undefined)(marks, context);
      await backdateMarks();
      await a.wrap(() => undefined)({ ...createEnvelope({ type: 'paid', payload: {} }, 'application/json'), attempt: 1 }, context);
      const sweep = async (inbox: InboxDeduplicator): Promise<number> => {
        let total = 0;
        for (let removed = 7; removed === 7; total += removed) removed = await inbox.removeExpired(3_600_000, 7);
        return total;
      };
      const [byA, byB] = await Promise.all([sweep(a), sweep(b)]);
      const rest = await a.removeExpired(3_600_000, 100); // a sweep may stop early when the other took rows from under it
      assert.equal(byA + byB + rest, 60, `each expired mark removed once (a ${String(byA)}, b ${String(byB)}, then ${String(rest)})`);
      const left = await dataSource.query<Array<{ n: number | string }>>('SELECT COUNT(*) AS n FROM rmq_inbox');
      assert.equal(Number(left[0]?.n), 1, 'the mark inside the window stays');
    });
  });
}

describe('idempotent inbox without its table', function () {
  this.timeout(20_000);
  it('says which migration to run: per message, in batch mode and on removeExpired; the handler never runs', async () => {
    const { DataSource } = await import('typeorm');
    const dataSource = new DataSource({ type: 'sqljs' });
    await dataSource.initialize();
    try {
      const isSchemaError = (e: unknown): boolean => ReliableMqError.is(e) && e.code === ErrorCode.SCHEMA_MISSING && /inboxMigrations/.test(e.message) && /migration:run/.test(e.message);
      const inbox = new InboxDeduplicator({ dataSource, consumer: 'c' });
      let ran = 0;
      const message = createEnvelope({ type: 'x', payload: 1 }, 'application/json');
      await assert.rejects(Promise.resolve(inbox.wrap(() => { ran++; })(message, context)), isSchemaError);
      await assert.rejects(Promise.resolve(inbox.wrapBatch(() => { ran++; })([message], context)), isSchemaError);
      await assert.rejects(inbox.removeExpired(1000), isSchemaError);
      assert.equal(ran, 0);
    } finally {
      await dataSource.destroy();
    }
  });

  it('behind a transport: each delivery fails, the message is redelivered up to the delivery limit and dead-lettered naming the migration', async () => {
    const { DataSource } = await import('typeorm');
    const dataSource = new DataSource({ type: 'sqljs' });
    await dataSource.initialize();
    const transport = new MemoryTransport({ deliveryLimit: 3 });
    const subscriber = transport.subscriber();
    try {
      const inbox = new InboxDeduplicator({ dataSource, consumer: 'c' });
      const dead: Envelope[] = [];
      await subscriber.subscribe(transport.deadLetterTopic('payments', 'billing'), (m) => void dead.push(m), { group: 'dlq-reader' });
      let ran = 0;
      let deliveries = 0;
      await subscriber.subscribe(
        'payments',
        async (m, ctx) => {
          deliveries += 1;
          await inbox.wrap(() => void (ran += 1))(m, ctx);
        },
        { group: 'billing' },
      );
      const sent = await transport.publisher().publish('payments', { type: 'paid', payload: {} });
      await waitFor(() => dead.length === 1, 10_000, () => `${String(dead.length)} dead letters`);
      assert.equal(deliveries, 3, 'delivered up to the limit');
      assert.equal(ran, 0, 'the handler never ran');
      assert.equal(dead[0]?.id, sent.id);
      assert.equal(dead[0]?.headers[WireHeader.DEAD_LETTER_REASON], 'delivery-limit');
      assert.match(dead[0]?.headers[WireHeader.DEAD_LETTER_ERROR] ?? '', /inboxMigrations/);
    } finally {
      await subscriber.close();
      await dataSource.destroy();
    }
  });
});

describe('RedisInbox (real Redis)', () => {
  it('skips a seen id, and forgets the mark when the handler throws', async () => {
    const redis = new Redis({ host: '127.0.0.1', port: Number(process.env['REDIS_PORT'] ?? 6379), lazyConnect: true, maxRetriesPerRequest: 1 });
    await redis.connect();
    try {
      const consumer = `it-${String(Date.now())}`;
      const inbox = new RedisInbox({ redis, consumer, ttlMs: 60_000 });
      let effects = 0;
      let fail = true;
      const handler = inbox.wrap(() => {
        effects += 1;
        if (fail) throw new Error('boom');
      });
      const message = { ...createEnvelope({ type: 'x', payload: 1 }, 'application/json'), attempt: 1 };
      await assert.rejects(Promise.resolve(handler(message, context)), /boom/);
      fail = false;
      await handler(message, context);
      await handler(message, context);
      assert.equal(effects, 2, 'the failed attempt and the one successful effect; the third delivery skipped');
      await redis.del(`rmq:inbox:${consumer}:${message.id}`);
    } finally {
      redis.disconnect();
    }
  });
});
