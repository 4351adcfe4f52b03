import assert from 'node:assert/strict';
import type { DataSource, EntityManager } from 'typeorm';
import { RabbitMqTransport } from '../../../src/adapters/rabbitmq/index.js';
import { OutboxRelay, TransactionalOutbox } from '../../../src/outbox/index.js';
import { uniqueName } from '../../support/rabbitmq-admin.js';
import { rabbitUrl } from '../../support/rabbitmq.js';
import { sleep, waitFor } from '../../support/wait.js';
import { closeConsumer, database, log, outboxCount, type Seq } from './support.js';

const HOLD_OPEN_MS = 800; // a rolled-back transaction stays open this long while the relay polls
const RUN_AFTER_MS = 3000; // the relay keeps running this long after the last commit

for (const name of ['postgres', 'mariadb', 'sqljs'] as const) {
  describe(`fault: business transaction with outbox messages rolled back on ${name}`, function () {
    this.timeout(60_000);
    const db = database(name);
    let dataSource: DataSource | undefined;
    let consumer: RabbitMqTransport | undefined;
    let relayTransport: RabbitMqTransport | undefined;
    let relay: OutboxRelay | undefined;

    after(async () => {
      await relay?.stop().catch(() => undefined);
      await relayTransport?.close().catch(() => undefined);
      await closeConsumer(consumer, rabbitUrl());
      if (dataSource) await db.drop(dataSource);
    });

    it("its messages are never published, while a committed neighbour's are", async () => {
      const ds = await db.open();
      dataSource = ds;
      const p = (i: number): string => (name === 'postgres' ? `$${String(i)}` : '?');
      await ds.query('CREATE TABLE rmq_it_orders (id varchar(64) PRIMARY KEY, note varchar(64) NOT NULL)');
      const topic = uniqueName('outbox-rollback');
      consumer = await RabbitMqTransport.connect({ url: rabbitUrl(), connectionName: 'outbox-fault-consumer' });
      const arrived: string[] = [];
      await consumer.subscriber().subscribe(topic, (m) => void arrived.push(m.id), { group: 'g', prefetch: 50 });
      relayTransport = await RabbitMqTransport.connect({ url: rabbitUrl(), connectionName: 'outbox-relay' });
      const running = new OutboxRelay({ dataSource: ds, publisher: await relayTransport.publisher(), pollIntervalMs: 50, leaseMs: 5000, publishTimeoutMs: 1000 });
      relay = running;
      let rounds = 0;
      running.events.on('round', () => (rounds += 1));
      await running.start();

      const outbox = new TransactionalOutbox();
      const rolledBack: string[] = [];
      const committed: string[] = [];
      const order = async (m: EntityManager, id: string, note: string): Promise<void> => {
        await m.query(`INSERT INTO rmq_it_orders (id, note) VALUES (${p(1)}, ${p(2)})`, [id, note]);
      };
      const messages = (tag: string) =>
        [
          { topic, type: 'order.placed', key: 'k1', payload: { k: 'k1', n: 0, tag } },
          { topic, type: 'order.placed', key: 'k2', payload: { k: 'k2', n: 0, tag } },
          { topic, type: 'order.placed', payload: { k: '-', n: 0, tag } },
        ] satisfies Array<{ topic: string; type: string; key?: string; payload: Seq & { tag: string } }>;

      // A1: business row + messages, held open while the relay polls, then the business rule fails: rollback.
      const a1 = ds
        .transaction(async (m) => {
          await order(m, 'a1', 'rolled back');
          rolledBack.push(...(await outbox.add(m, messages('a1'))).map((e) => e.id));
          await sleep(HOLD_OPEN_MS);
          throw new Error('business rule failed');
        })
        .then(
          () => 'committed',
          (e: unknown) => String(e),
        );
      // B1: a committed neighbour on the same keys. On PostgreSQL and MariaDB it runs while A1 is open (and waits for
      // A1's lock on the keys); sql.js has a single connection, so it follows A1.
      if (name === 'sqljs') await a1;
      else await sleep(100);
      const b1 = ds.transaction(async (m) => {
        await order(m, 'b1', 'committed');
        committed.push(...(await outbox.add(m, messages('b1'))).map((e) => e.id));
      });
      assert.match(await a1, /business rule failed/);
      await b1;
      // A2: messages first, then the business write fails in the database (duplicate key): rollback.
      const a2 = await ds
        .transaction(async (m) => {
          rolledBack.push(...(await outbox.add(m, messages('a2'))).map((e) => e.id));
          await order(m, 'b1', 'duplicate');
        })
        .then(
          () => 'committed',
          (e: unknown) => String(e),
        );
      assert.notEqual(a2, 'committed', 'the duplicate business row fails its transaction');
      await ds.transaction(async (m) => {
        await order(m, 'b2', 'committed');
        committed.push(...(await outbox.add(m, messages('b2'))).map((e) => e.id));
      });

      await waitFor(() => committed.every((id) => arrived.includes(id)), 20_000, () => `${String(committed.filter((id) => arrived.includes(id)).length)} of ${String(committed.length)} committed messages arrived`);
      await sleep(RUN_AFTER_MS);
      const stats = await running.stats();
      await running.stop();

      const leaked = rolledBack.filter((id) => arrived.includes(id));
      const orders = (await ds.query<Array<{ id: string }>>('SELECT id FROM rmq_it_orders ORDER BY id')).map((r) => r.id);
      const seqs = await ds.query<Array<{ k: string; n: string | number }>>("SELECT msg_key AS k, last_seq AS n FROM rmq_outbox_key WHERE msg_key IN ('k1', 'k2') ORDER BY msg_key");
      const left = await outboxCount(ds);
      log(
        `${name}: rolled back ${String(rolledBack.length)} messages (A1: rule failed after ${String(HOLD_OPEN_MS)} ms open; A2: duplicate business key), committed ${String(committed.length)}; ` +
          `relay ran ${String(rounds)} rounds; arrived ${String(arrived.length)}: committed ${String(committed.filter((id) => arrived.includes(id)).length)}, rolled back ${String(leaked.length)}; ` +
          `business rows ${JSON.stringify(orders)}; key sequences ${JSON.stringify(seqs.map((s) => `${s.k}=${String(s.n)}`))}; outbox left ${String(left)}; stats ${JSON.stringify(stats)}`,
      );
      assert.deepEqual(leaked, [], 'no message of a rolled-back transaction is published');
      assert.equal(arrived.length, committed.length, 'exactly the committed messages arrived');
      assert.deepEqual(orders, ['b1', 'b2'], 'no business row of a rolled-back transaction');
      assert.deepEqual(seqs.map((s) => Number(s.n)), [2, 2], 'the rolled-back transactions took no key sequence number');
      assert.equal(left, 0);
    });
  });
}
