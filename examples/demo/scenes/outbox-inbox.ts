import { DataSource } from 'typeorm';
import { MemoryTransport } from '../../../src/index.js';
import { InboxDeduplicator, inboxMigrations } from '../../../src/inbox/index.js';
import { OutboxRelay, TransactionalOutbox, outboxMigrations } from '../../../src/outbox/index.js';
import { Checks } from '../checks.js';
import { printScene, printTable } from '../table.js';
import { waitFor } from '../wait.js';

/**
 * The consistency problem: a service commits its database and publishes, and one of the two fails.
 * The outbox commits the message with the business row; the inbox makes a redelivered message a no-op.
 * Runs on SQLite in memory (sql.js) and the memory transport, set to deliver every message twice.
 */
export async function outboxAndInbox(): Promise<Checks> {
  printScene(5, 'Outbox and inbox', 'business rows and messages commit together; a message delivered twice has one effect');
  const checks = new Checks();
  const dataSource = new DataSource({ type: 'sqljs', migrations: [...outboxMigrations, ...inboxMigrations] });
  await dataSource.initialize();
  await dataSource.runMigrations();
  await dataSource.query('CREATE TABLE orders (id INTEGER PRIMARY KEY, total REAL)');
  await dataSource.query('CREATE TABLE invoices (order_id INTEGER, message_id TEXT)');
  const transport = new MemoryTransport({ duplicateDeliveries: true });
  const outbox = new TransactionalOutbox();
  const inbox = new InboxDeduplicator({ dataSource, consumer: 'billing' });
  const relay = new OutboxRelay({ dataSource, publisher: transport.publisher(), pollIntervalMs: 20 });
  const subscriber = transport.subscriber();
  let duplicates = 0;
  inbox.events.on('duplicate', () => (duplicates += 1));

  try {
    await subscriber.subscribe(
      'orders',
      inbox.wrap<{ orderId: number }>(async (message, { manager }) => {
        await manager.query('INSERT INTO invoices (order_id, message_id) VALUES (?, ?)', [message.payload.orderId, message.id]);
      }),
      { group: 'billing' },
    );
    for (const orderId of [1, 2, 3]) {
      await dataSource.transaction(async (manager) => {
        await manager.query('INSERT INTO orders (id, total) VALUES (?, ?)', [orderId, 10 * orderId]);
        await outbox.add(manager, { topic: 'orders', type: 'order.placed', key: `order-${String(orderId)}`, payload: { orderId } });
      });
    }
    await dataSource
      .transaction(async (manager) => {
        await manager.query('INSERT INTO orders (id, total) VALUES (?, ?)', [4, 40]);
        await outbox.add(manager, { topic: 'orders', type: 'order.placed', payload: { orderId: 4 } });
        throw new Error('payment declined'); // rolls back the order and its message together
      })
      .catch(() => undefined);
    await relay.start();
    await waitFor(() => duplicates >= 3, 5_000);
    await relay.stop();

    const count = async (sql: string): Promise<number> => Number((await dataSource.query<Array<{ n: unknown }>>(sql))[0]?.n ?? -1);
    const orders = await count('SELECT COUNT(*) AS n FROM orders');
    const invoices = await count('SELECT COUNT(*) AS n FROM invoices');
    const distinct = await count('SELECT COUNT(DISTINCT order_id) AS n FROM invoices');
    const stats = await relay.stats();
    printTable(
      [{ header: 'what' }, { header: 'count', align: 'right' }],
      [
        ['orders committed (1 rolled back)', String(orders)],
        ['messages delivered (each twice)', String(invoices + duplicates)],
        ['duplicates suppressed by the inbox', String(duplicates)],
        ['invoices written', String(invoices)],
        ['outbox rows left', String(stats.pending + stats.inFlight + stats.failed)],
      ],
    );
    checks.check(orders === 3, 'the rolled-back order left no row');
    checks.check(invoices === 3 && distinct === 3, 'one invoice per committed order, none for the rolled-back one');
    checks.check(duplicates === 3, 'every second delivery was recognised and skipped');
    checks.check(stats.pending === 0 && stats.inFlight === 0, 'the outbox drained');
  } finally {
    await relay.stop();
    await subscriber.close();
    await dataSource.destroy();
  }
  checks.print();
  return checks;
}
