// A consumer behind the PostgreSQL inbox in a process of its own, for kill -9 tests.
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
// Env: CONCURRENCY (8), PREFETCH (50), SLOW_BEFORE_COMMIT_MS (sleep inside the transaction after the insert),
// SLOW_AFTER_COMMIT_MS (sleep after the commit, before the handler returns and the transport acks), KAFKA_SESSION_MS.
import { setTimeout as sleep } from 'node:timers/promises';
import { DataSource } from 'typeorm';
import { KafkaTransport } from '../../../src/adapters/kafka/index.js';
import { RabbitMqTransport } from '../../../src/adapters/rabbitmq/index.js';
import type { Envelope, Handler, HandlerContext } from '../../../src/core/index.js';
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

const out = (line: string): void => {
  process.stdout.write(`${line}\n`); // a pipe: synchronous on Linux, so every line written before a kill reaches the parent
};

const dataSource = new DataSource({
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

const inbox = new InboxDeduplicator({ dataSource, consumer });
const began = new Map<string, number>();
inbox.events.on('duplicate', (message) => {
  const at = began.get(message.id) ?? Date.now();
  out(`dup ${message.id} ${String(Date.now() - at)} ${String(at)}`);
});
const inner = inbox.wrap(async (message, { manager }) => {
  out(`start ${message.id}`);
  await manager.query('INSERT INTO effects (message_id, pid) VALUES ($1, $2)', [message.id, process.pid]);
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
  // orderBy 'key' and keyless records: up to `concurrency` handlers per partition, the offset still committed in order.
  await transport.subscriber().subscribe(topic, handler, { group, prefetch, concurrency, orderBy: 'key' });
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
