// A consumer behind the PostgreSQL (or, with DB=mariadb, MariaDB) inbox in a process of its own, for kill -9 tests.
// Usage: inbox-consumer-process.ts <rabbitmq|kafka> <url|brokers> <topic> <group> <schema> <inbox consumer name>
// The handler inserts one row into `effects` (no unique key: the inbox alone must prevent a second row) with the inbox's
// transaction manager. Prints:
//   `ready`                     subscribed (Kafka: joined the group)
//   `start <id>`                the handler runs: the inbox mark for <id> is inserted in the open transaction
//   `done <id> <t>`             inbox.wrap(...) resolved at <t> (epoch ms): committed (or skipped as a duplicate); the
//                               ack/offset commit is still to come
//   `ret <id>`                  the handler returns: the transport acks / marks the offset done next
//   `dup <id> <ms> <t>`         the inbox found <id> already handled (`duplicate` event); <ms> since this delivery began
//                               at <t> (a delivery that raced another one waited on the inbox key for the winner's commit)
//   `closed`                    after SIGTERM: the transport closed gracefully (running handlers acked), then exit 0
//   `group <n> <fresh> <t> <b>` batch mode: a group of <n> messages, begun at <b>, committed at <t>, <fresh> of them new
//                               (the rest duplicates); its `done` lines follow
// Env: DB (postgres, or mariadb: <schema> is then the database), CONCURRENCY (8), PREFETCH (50), SLOW_BEFORE_COMMIT_MS (sleep inside the transaction after the insert),
// SLOW_AFTER_COMMIT_MS (sleep after the commit, before the handler returns and the transport acks), KAFKA_SESSION_MS,
// BATCH (Kafka only; 0 = per message): > 0 subscribes in batch mode — `subscribeBatch` + `inbox.wrapBatch`, groups of
// up to BATCH messages, one transaction per group (the marks, then one multi-row insert into `effects`), offsets committed
// after the group's handler returns. The `start`/`done`/`ret` lines are then printed per message of the group.
import { setTimeout as sleep } from 'node:timers/promises';
import { DataSource } from 'typeorm';
import { KafkaTransport } from '../../../src/adapters/kafka/index.js';
import { RabbitMqTransport } from '../../../src/adapters/rabbitmq/index.js';
import type { BatchHandler, Envelope, Handler, HandlerContext } from '../../../src/core/index.js';
import { InboxDeduplicator } from '../../../src/inbox/index.js';

const [kind, address, topic, group, schema, consumer] = process.argv.slice(2);
if ((kind !== 'rabbitmq' && kind !== 'kafka') || !address || !topic || !group || !schema || !consumer) {
  throw new Error('usage: inbox-consumer-process.ts <rabbitmq|kafka> <url|brokers> <topic> <group> <schema> <consumer>');
}
const env = (name: string, fallback: number): number => Number(process.env[name] ?? fallback);
const concurrency = env('CONCURRENCY', 8);
const prefetch = env('PREFETCH', 50);
const slowBefore = env('SLOW_BEFORE_COMMIT_MS', 0);
const slowAfter = env('SLOW_AFTER_COMMIT_MS', 0);
const batch = env('BATCH', 0);
if (batch > 0 && kind !== 'kafka') throw new Error('BATCH needs kafka: only the Kafka subscriber has subscribeBatch');

const out = (line: string): void => {
  process.stdout.write(`${line}\n`); // a pipe: synchronous on Linux, so every line written before a kill reaches the parent
};

const mariadb = process.env['DB'] === 'mariadb';
const dataSource = mariadb
  ? new DataSource({
      type: 'mariadb',
      host: process.env['MARIADB_HOST'] ?? '127.0.0.1',
      port: Number(process.env['MARIADB_PORT'] ?? 3306),
      username: 'root',
      password: '',
      database: schema,
      extra: { connectionLimit: concurrency + 2 },
      logging: false,
    })
  : new DataSource({
      type: 'postgres',
      host: process.env['PGHOST'] ?? '127.0.0.1',
      port: Number(process.env['PGPORT'] ?? 5432),
      username: process.env['PGUSER'] ?? 'postgres',
      database: process.env['PGDATABASE'] ?? 'test',
      schema,
      extra: { options: `-c search_path=${schema}`, max: concurrency + 2 },
      logging: false,
    });
await dataSource.initialize();
/** `$n` placeholders as the driver wants them (MariaDB: `?`, in the same order). */
const sql = (text: string): string => (mariadb ? text.replace(/\$\d+/g, '?') : text);

const inbox = new InboxDeduplicator({ dataSource, consumer });
const began = new Map<string, number>();
inbox.events.on('duplicate', (message) => {
  const at = began.get(message.id) ?? Date.now();
  out(`dup ${message.id} ${String(Date.now() - at)} ${String(at)}`);
});
const inner = inbox.wrap(async (message, { manager }) => {
  out(`start ${message.id}`);
  await manager.query(sql('INSERT INTO effects (message_id, pid) VALUES ($1, $2)'), [message.id, process.pid]);
  if (slowBefore > 0) await sleep(slowBefore); // killed here: the transaction (mark + effect) must roll back
});
// The outer handler the transport sees: the inbox's transaction has committed when `inner` resolves; killed during the
// sleep after it, the message is not acked yet and comes back: the inbox must suppress it.
const handler: Handler = async (message: Envelope, context: HandlerContext) => {
  began.set(message.id, Date.now());
  try {
    await inner(message, context);
  } finally {
    began.delete(message.id);
  }
  out(`done ${message.id} ${String(Date.now())}`);
  if (slowAfter > 0) await sleep(slowAfter);
  out(`ret ${message.id}`);
};

// Batch mode: the same two crash windows, per group. Killed in the sleep inside the transaction, the whole group (marks and
// effects) rolls back; killed in the sleep after the commit, the group's offsets are not committed and the next owner of
// the partition gets the group again: the inbox must suppress every message of it.
const handledFresh = new Set<string>();
const innerBatch = inbox.wrapBatch(async (messages, { manager }) => {
  for (const m of messages) {
    handledFresh.add(m.id);
    out(`start ${m.id}`);
  }
  const values = messages.map((_, i) => `($${String(2 * i + 1)}, $${String(2 * i + 2)})`).join(', ');
  await manager.query(sql(`INSERT INTO effects (message_id, pid) VALUES ${values}`), messages.flatMap((m) => [m.id, process.pid]));
  if (slowBefore > 0) await sleep(slowBefore);
});
const batchHandler: BatchHandler = async (messages, context) => {
  const at = Date.now();
  for (const m of messages) began.set(m.id, at);
  let fresh = 0;
  try {
    await innerBatch(messages, context);
  } finally {
    for (const m of messages) {
      began.delete(m.id);
      if (handledFresh.delete(m.id)) fresh += 1;
    }
  }
  const t = String(Date.now());
  // One write, so a kill cannot fall between a `group` line and its `done` lines (it would count the group's messages
  // both as committed here and as "killed during the commit"). The pipe takes a write of up to PIPE_BUF (4 KiB) whole
  // or not at all: the groups of these tests (at most 50 × 57 bytes) stay under it.
  out([`group ${String(messages.length)} ${String(fresh)} ${t} ${String(at)}`, ...messages.map((m) => `done ${m.id} ${t}`)].join('\n'));
  if (slowAfter > 0) await sleep(slowAfter);
  for (const m of messages) out(`ret ${m.id}`);
};

let close: () => Promise<void>;
if (kind === 'rabbitmq') {
  const transport = await RabbitMqTransport.connect({ url: address });
  transport.events.on('failure', (error) => process.stderr.write(`consumer ${String(process.pid)}: ${error.message}\n`));
  await transport.subscriber().subscribe(topic, handler, { group, prefetch, concurrency });
  close = () => transport.close();
} else {
  const session = env('KAFKA_SESSION_MS', 6000);
  const transport = await KafkaTransport.connect({
    brokers: address.split(','),
    consumer: { sessionTimeoutMs: session, heartbeatIntervalMs: 500, maxWaitTimeMs: 200, retryInitialDelayMs: 20, retryMaxDelayMs: 200 },
  });
  transport.events.on('failure', (error) => process.stderr.write(`consumer ${String(process.pid)}: ${error.message}\n`));
  if (batch > 0) {
    // `concurrency`: partitions handled at once, one group at a time each.
    await transport.subscriber().subscribeBatch(topic, batchHandler, { group, concurrency, maxBatchSize: batch });
  } else {
    // orderBy 'key' and keyless records: up to `concurrency` handlers per partition, the offset still committed in order.
    await transport.subscriber().subscribe(topic, handler, { group, prefetch, concurrency, orderBy: 'key' });
  }
  close = () => transport.close();
}

process.once('SIGTERM', () => {
  void (async () => {
    await close();
    await dataSource.destroy();
    out('closed');
    process.exit(0);
  })();
});
out('ready');
