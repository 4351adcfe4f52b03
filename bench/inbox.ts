/**
 * Inbox deduplication on PostgreSQL, N (Kafka: BENCH_KAFKA_N) preloaded 1 KiB messages per case (envelope headers, unique ids):
 *   (a) RabbitMQ: SDK subscriber, empty handler, prefetch 100, concurrency 8 (consume + ack baseline);
 *   (b) RabbitMQ: the same with `inbox.wrap` — one transaction per message: the inbox mark + one business row;
 *       (b0: the mark only, the handler writes nothing: what the inbox itself costs);
 *   (c) Kafka, 6 partitions, concurrency 6: SDK `subscribe` with an empty handler against `subscribeBatch` with
 *       `inbox.wrapBatch` (one transaction per group, maxBatchSize 500) inserting one business row per message;
 *       (c3: the handler's rows in one statement; c0: the marks only, the handler writes nothing);
 *   (d) the database's own single-row transaction rate: 8 connections looping `BEGIN; INSERT; COMMIT` (raw pg),
 *       and the same through TypeORM's `dataSource.transaction`.
 * Rates run from the first handler call to the last handled message. Business rows: `bench_row (ref, 1 KiB bytea)`.
 *
 *   npx tsx bench/inbox.ts
 *   BENCH_ROUNDS=N runs the cases N times, interleaved, and judges the targets on the median of the rounds' ratios.
 *   BENCH_N=10000 BENCH_KAFKA_N=100000 BENCH_MAX_BATCH=500 BENCH_CASES=a,b,… BENCH_PARTITIONS=6 BENCH_KEYS=100 RMQ_URL=… KAFKA_BROKERS=… PGHOST=…
 */
import pg from 'pg';
import type { DataSource } from 'typeorm';
import { RabbitMqTransport, type RabbitSubscriber } from '../src/adapters/rabbitmq/index.js';
import { KafkaTransport, type KafkaSubscriber } from '../src/adapters/kafka/index.js';
import { InboxDeduplicator } from '../src/inbox/index.js';
import { AMQP_URL, intEnv } from './lib/env.js';
import { count, printTable, ratio } from './lib/format.js';
import { ROUNDS, inRounds, printMedianRatio, printRoundRates, roundTag } from './lib/rounds.js';
import { KAFKA_BROKERS, KafkaScratch, RAW_PRODUCER, envelopeMessage, kafkaVersionInfo, rawKafka, sendBatches } from './lib/kafka.js';
import { RAW_BODY, envelopeProperties } from './lib/payload.js';
import { PG, dropSchema, openSchema, postgresVersion } from './lib/pg.js';
import { brokerVersion, connectRaw, printHeader, publishWindow, runBench, type Scratch } from './lib/rabbit.js';
import { HandledCounter, concurrentLoops, now, perSecond, within } from './lib/timing.js';

const N = intEnv('BENCH_N', 10_000);
/** Kafka cases run longer: at 100k msgs/s an empty consume of 10,000 lasts 0.1 s, mostly its first fetch. */
const KAFKA_N = intEnv('BENCH_KAFKA_N', 100_000);
const WARMUP = intEnv('BENCH_WARMUP', 1_000);
const PARTITIONS = intEnv('BENCH_PARTITIONS', 6);
const KEYS = intEnv('BENCH_KEYS', 100);
const MAX_BATCH = intEnv('BENCH_MAX_BATCH', 500);
const DB_CONNECTIONS = intEnv('BENCH_DB_CONNECTIONS', 8);
/** Concurrent handlers of the RabbitMQ cases: as many as the database loops, so (b) and (d) run the same number of transactions at once. */
const RMQ_CONCURRENCY = intEnv('BENCH_RMQ_CONCURRENCY', DB_CONNECTIONS);
const CASE_TIMEOUT_MS = intEnv('BENCH_CASE_TIMEOUT_MS', 60_000);
/** Which cases run: a comma-separated subset of a,b,b0,c1,c0,c2,c3,d1,d2,d3 (default all). */
const CASES = new Set((process.env.BENCH_CASES ?? 'a,b,b0,c1,c0,c2,c3,d1,d2,d3').split(',').map((c) => c.trim()));
const wanted = (name: string): boolean => CASES.has(name);
const BATCH_TARGET = 0.8;
const PER_MESSAGE_TARGET = 2 / 3;
const GROUP = 'bench';

const INSERT = 'INSERT INTO bench_row (ref, body) VALUES ($1, $2)';


interface Result {
  readonly label: string;
  readonly messages: number;
  readonly ms: number;
  /** Business rows written by the case (empty handlers: 0). */
  readonly rows: number;
  readonly marks: number;
  readonly left: string;
}

const rate = (r: Result): number => perSecond(r.messages, r.ms);

async function rowCount(dataSource: DataSource, sql: string, params: unknown[] = []): Promise<number> {
  const [row] = await dataSource.query<Array<{ n: string }>>(sql, params);
  return Number(row?.n ?? 0);
}

// -------------------------------------------------------------------------------------------------------------
// RabbitMQ

async function rabbitCase(dataSource: DataSource, subscriber: RabbitSubscriber, scratch: Scratch, mode: 'empty' | 'inbox' | 'inbox-marks', messages: number, tag: string): Promise<Result> {
  const topic = scratch.name(`${mode}.${tag}`);
  const queue = `${topic}.${GROUP}`;
  scratch.track({ exchanges: [topic, `${queue}.dlq`], queues: [queue, `${queue}.dlq`] });
  await (await subscriber.subscribe(topic, () => Promise.resolve(), { group: GROUP, prefetch: 1 })).close(); // declares the group's queue
  const raw = await connectRaw(`${scratch.prefix}.loader`);
  try {
    const loader = await raw.createConfirmChannel();
    await publishWindow(loader, { exchange: '', routingKey: queue }, RAW_BODY, () => envelopeProperties(), messages, 1_000);
  } finally {
    await raw.close().catch(() => undefined);
  }
  const loaded = await scratch.messageCount(queue);
  if (loaded !== messages) throw new Error(`${queue}: preloaded ${String(loaded)} of ${String(messages)}`);

  const counter = new HandledCounter(messages);
  const consumer = `rmq.${tag}`;
  const inbox = new InboxDeduplicator({ dataSource, consumer });
  const before = await rowCount(dataSource, 'SELECT count(*) AS n FROM bench_row');
  const wrapped =
    mode === 'inbox'
      ? inbox.wrap(async (message, context) => {
          await context.manager.query(INSERT, [message.id, RAW_BODY]);
        })
      : mode === 'inbox-marks'
        ? inbox.wrap(() => undefined)
        : () => Promise.resolve();
  const subscription = await subscriber.subscribe(
    topic,
    async (message, context) => {
      counter.enter();
      await wrapped(message, context);
      counter.hit();
    },
    { group: GROUP, prefetch: Math.max(100, RMQ_CONCURRENCY), concurrency: RMQ_CONCURRENCY },
  );
  try {
    await within(CASE_TIMEOUT_MS, `${queue} consume`, counter.finished);
  } finally {
    await subscription.close();
  }
  const left = await scratch.messageCount(queue);
  await scratch.remove({ queues: [queue, `${queue}.dlq`], exchanges: [topic, `${queue}.dlq`] });
  return {
    label:
      mode === 'empty'
        ? `(a) RabbitMQ: SDK subscribe, empty handler (prefetch ${String(Math.max(100, RMQ_CONCURRENCY))}, concurrency ${String(RMQ_CONCURRENCY)})`
        : mode === 'inbox'
          ? '(b) RabbitMQ: inbox.wrap, 1 transaction per message (mark + 1 row)'
          : '(b0) RabbitMQ: inbox.wrap, 1 transaction per message, the mark only (handler writes nothing)',
    messages,
    ms: counter.ms,
    rows: (await rowCount(dataSource, 'SELECT count(*) AS n FROM bench_row')) - before,
    marks: await rowCount(dataSource, 'SELECT count(*) AS n FROM rmq_inbox WHERE consumer = $1', [consumer]),
    left: `${count(left)} in queue`,
  };
}

// -------------------------------------------------------------------------------------------------------------
// Kafka

async function preloadKafka(scratch: KafkaScratch, topic: string, messages: number): Promise<void> {
  await scratch.createTopic(topic, PARTITIONS);
  const producer = rawKafka(`${scratch.prefix}.loader`).producer(RAW_PRODUCER);
  const unregister = scratch.closeOnCleanUp(() => producer.disconnect());
  try {
    await producer.connect();
    await sendBatches(producer, topic, messages, 1_000, (i) => envelopeMessage(i, KEYS));
  } finally {
    await producer.disconnect();
    unregister();
  }
  const stored = await scratch.stored(topic);
  if (stored !== messages) throw new Error(`${topic}: preloaded ${String(stored)} of ${String(messages)}`);
}

async function kafkaCase(dataSource: DataSource, subscriber: KafkaSubscriber, scratch: KafkaScratch, topic: string, mode: 'empty' | 'batch' | 'batch-multirow' | 'batch-marks', messages: number, tag: string): Promise<Result> {
  const group = `${mode}.${tag}`;
  const consumer = `kafka.${tag}`;
  const counter = new HandledCounter(messages);
  const before = await rowCount(dataSource, 'SELECT count(*) AS n FROM bench_row');
  const inbox = new InboxDeduplicator({ dataSource, consumer });
  const subscription =
    mode === 'empty'
      ? await subscriber.subscribe(
          topic,
          () => {
            counter.enter();
            counter.hit();
            return Promise.resolve();
          },
          { group, concurrency: PARTITIONS },
        )
      : await (async () => {
          const handler = inbox.wrapBatch(async (batch, context) => {
            if (mode === 'batch-marks') return;
            if (mode === 'batch') {
              for (const message of batch) await context.manager.query(INSERT, [message.id, RAW_BODY]);
              return;
            }
            // The same rows in one statement: what is left is the inbox's own marking.
            const values = batch.map((_, i) => `($${String(2 * i + 1)}, $${String(2 * i + 2)})`).join(', ');
            await context.manager.query(`INSERT INTO bench_row (ref, body) VALUES ${values}`, batch.flatMap((m) => [m.id, RAW_BODY]));
          });
          return subscriber.subscribeBatch(
            topic,
            async (batch, context) => {
              counter.enter();
              await handler(batch, context);
              counter.hit(batch.length);
            },
            { group, concurrency: PARTITIONS, maxBatchSize: MAX_BATCH },
          );
        })();
  const unregister = scratch.closeOnCleanUp(() => subscription.close());
  try {
    await within(CASE_TIMEOUT_MS, `${topic} ${group}`, counter.finished);
  } finally {
    await subscription.close();
    unregister();
  }
  const groupId = `${topic}.${group}`;
  const ends = await scratch.endOffsets(topic);
  const committed = await scratch.committed(groupId, topic);
  const atEnd = [...ends].filter(([partition, end]) => committed.get(partition) === end).length;
  await scratch.remove({ groups: [groupId] });
  return {
    label:
      mode === 'empty'
        ? `(c1) Kafka: SDK subscribe, empty handler (concurrency ${String(PARTITIONS)})`
        : mode === 'batch'
          ? `(c2) Kafka: subscribeBatch + inbox.wrapBatch, 1 transaction per group ≤ 500, handler INSERTs 1 row per message`
          : mode === 'batch-multirow'
            ? `(c3) as (c2), the handler's rows in one multi-row INSERT per group`
            : `(c0) as (c2), the marks only (handler writes nothing)`,
    messages,
    ms: counter.ms,
    rows: (await rowCount(dataSource, 'SELECT count(*) AS n FROM bench_row')) - before,
    marks: await rowCount(dataSource, 'SELECT count(*) AS n FROM rmq_inbox WHERE consumer = $1', [consumer]),
    left: `committed ${String(atEnd)}/${String(ends.size)} partitions to end`,
  };
}

// -------------------------------------------------------------------------------------------------------------
// The database alone

async function rawDbRate(schema: string, messages: number, tag: string): Promise<Result> {
  const pool = new pg.Pool({ host: PG.host, port: PG.port, user: PG.username, database: PG.database, max: DB_CONNECTIONS, options: `-c search_path=${schema}` });
  try {
    const clients = await Promise.all(Array.from({ length: DB_CONNECTIONS }, () => pool.connect()));
    for (const client of clients) client.release();
    const start = now();
    await concurrentLoops(messages, DB_CONNECTIONS, async (i) => {
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        await client.query(INSERT, [`db-${tag}-${String(i)}`, RAW_BODY]);
        await client.query('COMMIT');
      } finally {
        client.release();
      }
    });
    return { label: `(d1) PostgreSQL alone: raw pg, ${String(DB_CONNECTIONS)} connections, BEGIN; INSERT 1 row; COMMIT`, messages, ms: now() - start, rows: messages, marks: 0, left: '' };
  } finally {
    await pool.end();
  }
}

async function typeormDbRate(dataSource: DataSource, messages: number, tag: string): Promise<Result> {
  const start = now();
  await concurrentLoops(messages, DB_CONNECTIONS, async (i) => {
    await dataSource.transaction(async (manager) => {
      await manager.query(INSERT, [`typeorm-${tag}-${String(i)}`, RAW_BODY]);
    });
  });
  return { label: `(d2) PostgreSQL via TypeORM dataSource.transaction, ${String(DB_CONNECTIONS)} loops, 1 row`, messages, ms: now() - start, rows: messages, marks: 0, left: '' };
}

/** The per-message inbox's database work without a broker: the mark (as the inbox inserts it) + 1 row, via TypeORM. */
async function inboxShapedRate(dataSource: DataSource, messages: number, tag: string): Promise<Result> {
  const start = now();
  await concurrentLoops(messages, DB_CONNECTIONS, async (i) => {
    await dataSource.transaction(async (manager) => {
      await manager.query('INSERT INTO rmq_inbox (consumer, message_id) VALUES ($1, $2) ON CONFLICT DO NOTHING', [`shaped.${tag}`, `m-${String(i)}`]);
      await manager.query(INSERT, [`shaped-${tag}-${String(i)}`, RAW_BODY]);
    });
  });
  return { label: `(d3) as (d2) with the inbox mark too (2 INSERTs), no broker`, messages, ms: now() - start, rows: messages, marks: messages, left: '' };
}

// -------------------------------------------------------------------------------------------------------------

/** Every message marked once and (unless the handler writes nothing) one row each; nothing left behind. */
function handledOnce(r: Result): boolean {
  const marksOnly = r.label.startsWith('(b0)') || r.label.startsWith('(c0)');
  const withInbox = marksOnly || r.label.includes('inbox') || r.label.startsWith('(c3)');
  if (withInbox && (r.marks !== r.messages || r.rows !== (marksOnly ? 0 : r.messages))) return false;
  return !r.left.startsWith('1') && !/committed (\d+)\/(?!\1)/.test(r.left);
}

function report(results: readonly Result[]): void {
  printTable(
    [
      { header: 'case' },
      { header: 'msgs', align: 'right' },
      { header: 'ms', align: 'right' },
      { header: 'msgs/s', align: 'right' },
      { header: 'rows', align: 'right' },
      { header: 'inbox marks', align: 'right' },
      { header: 'after' },
    ],
    results.map((r) => [r.label, count(r.messages), count(r.ms), count(rate(r)), count(r.rows), count(r.marks), r.left]),
  );
  console.log('');
  const find = (prefix: string): Result | undefined => results.find((r) => r.label.startsWith(prefix));
  const [a, b, b0, c1, c0, c2, c3, d1, d2, d3] = ['(a)', '(b)', '(b0)', '(c1)', '(c0)', '(c2)', '(c3)', '(d1)', '(d2)', '(d3)'].map(find);
  const verdict = (value: number, target: number): string => `${ratio(value)}; target ≥ ${ratio(target)}: ${value >= target ? 'met' : 'NOT met'}`;
  // The targets are read on what the inbox itself costs: its mark in a transaction of its own (b0), its marks in a
  // group's transaction (c0). A handler's own writes cost what they cost with or without the inbox: (b) is set
  // beside the same transactions without a broker (d3), (c2)/(c3) beside (c1) for the record.
  if (b0 && d1) console.log(`  per-message inbox, the mark only (b0) / database single-row transactions (d1): ${verdict(rate(b0) / rate(d1), PER_MESSAGE_TARGET)}`);
  if (c0 && c1) console.log(`  Kafka batch inbox, the marks only (c0) / empty consume (c1): ${verdict(rate(c0) / rate(c1), BATCH_TARGET)}`);
  if (a && b) console.log(`  RabbitMQ per-message inbox with a business row (b) / empty consume (a): ${ratio(rate(b) / rate(a))}`);
  if (b && d1) console.log(`  per-message inbox with a business row (b) / database single-row transactions (d1): ${ratio(rate(b) / rate(d1))}`);
  if (b && d2) console.log(`  per-message inbox with a business row (b) / TypeORM single-row transactions (d2): ${ratio(rate(b) / rate(d2))}`);
  if (b && d3) console.log(`  per-message inbox with a business row (b) / the same transactions without a broker (d3): ${ratio(rate(b) / rate(d3))}`);
  if (c1 && c2) console.log(`  Kafka batch inbox, handler inserting row by row (c2) / empty consume (c1): ${ratio(rate(c2) / rate(c1))}`);
  if (c1 && c3) console.log(`  Kafka batch inbox, multi-row handler (c3) / empty consume (c1): ${ratio(rate(c3) / rate(c1))}`);
}

await runBench('inbox', 10 * 60_000 * ROUNDS, async (scratch) => {
  const kafkaScratch = new KafkaScratch('inbox');
  const dataSource = await openSchema(Math.max(16, DB_CONNECTIONS + 4));
  const schema = (dataSource.options as { schema: string }).schema;
  let rabbit: RabbitMqTransport | undefined;
  let kafka: KafkaTransport | undefined;
  try {
    rabbit = await RabbitMqTransport.connect({ url: AMQP_URL, connectionName: `${scratch.prefix}.sdk`, queues: { type: 'classic' }, reconnect: { initialMaxRetries: 2 } });
    kafka = await KafkaTransport.connect({ brokers: [...KAFKA_BROKERS], clientId: `${kafkaScratch.prefix}.sdk`, topics: { defaults: { partitions: PARTITIONS, replicationFactor: 1 } } });
    printHeader('Inbox: consume with per-message and batched deduplication on PostgreSQL', {
      rabbitmq: await brokerVersion(),
      kafka: await kafkaVersionInfo(kafkaScratch),
      database: await postgresVersion(dataSource),
      'messages per case': `${count(N)} (RabbitMQ, database alone), ${count(KAFKA_N)} (Kafka)`,
      body: `${String(RAW_BODY.length)} bytes with the SDK's envelope, preloaded with the raw clients; business row: ref + 1 KiB bytea`,
    });
    const subscriber = rabbit.subscriber();
    const kafkaSubscriber = kafka.subscriber();
    // Warm-up, not reported.
    await rabbitCase(dataSource, subscriber, scratch, 'inbox', WARMUP, 'warmup');
    const warmTopic = kafkaScratch.name('warmup');
    await preloadKafka(kafkaScratch, warmTopic, WARMUP);
    await kafkaCase(dataSource, kafkaSubscriber, kafkaScratch, warmTopic, 'batch', WARMUP, 'warmup');
    await kafkaScratch.remove({ topics: [warmTopic] });
    await typeormDbRate(dataSource, WARMUP, 'warmup');

    const topic = kafkaScratch.name('main');
    const kafkaWanted = ['c1', 'c0', 'c2', 'c3'].some(wanted);
    if (kafkaWanted) await preloadKafka(kafkaScratch, topic, KAFKA_N);
    // Every round runs each wanted case once, in this order, with entities, groups and inbox consumers of its own.
    const rounds = await inRounds(async (index) => {
      const tag = (name: string): string => roundTag(name, index);
      const results: Result[] = [];
      if (wanted('a')) results.push(await rabbitCase(dataSource, subscriber, scratch, 'empty', N, tag('run')));
      if (wanted('b')) results.push(await rabbitCase(dataSource, subscriber, scratch, 'inbox', N, tag('run')));
      if (wanted('b0')) results.push(await rabbitCase(dataSource, subscriber, scratch, 'inbox-marks', N, tag('run0')));
      if (wanted('c1')) results.push(await kafkaCase(dataSource, kafkaSubscriber, kafkaScratch, topic, 'empty', KAFKA_N, tag('run')));
      if (wanted('c0')) results.push(await kafkaCase(dataSource, kafkaSubscriber, kafkaScratch, topic, 'batch-marks', KAFKA_N, tag('run0')));
      if (wanted('c2')) results.push(await kafkaCase(dataSource, kafkaSubscriber, kafkaScratch, topic, 'batch', KAFKA_N, tag('run')));
      if (wanted('c3')) results.push(await kafkaCase(dataSource, kafkaSubscriber, kafkaScratch, topic, 'batch-multirow', KAFKA_N, tag('run2')));
      if (wanted('d1')) results.push(await rawDbRate(schema, N, tag('run')));
      if (wanted('d2')) results.push(await typeormDbRate(dataSource, N, tag('run')));
      if (wanted('d3')) results.push(await inboxShapedRate(dataSource, N, tag('run')));
      return results;
    }, report);
    const results = rounds.flat();
    const pick = (prefix: string) => (round: readonly Result[]): Result | undefined => round.find((r) => r.label.startsWith(prefix));
    const cases = ['(a)', '(b)', '(b0)', '(c1)', '(c0)', '(c2)', '(c3)', '(d1)', '(d2)', '(d3)'].map((prefix) => ({ label: prefix, pick: pick(prefix) }));
    printRoundRates(rounds, cases.filter(({ pick: p }) => rounds.some((round) => p(round))), rate);
    if (ROUNDS > 1) {
      console.log('');
      printMedianRatio(rounds, pick('(b0)'), pick('(d1)'), rate, { label: 'per-message inbox, the mark only (b0)', of: 'database single-row transactions (d1)', target: PER_MESSAGE_TARGET });
      printMedianRatio(rounds, pick('(c0)'), pick('(c1)'), rate, { label: 'Kafka batch inbox, the marks only (c0)', of: 'empty consume (c1)', target: BATCH_TARGET });
    }
    const wrong = results.filter((r) => !handledOnce(r));
    if (wrong.length > 0) throw new Error(`${String(wrong.length)} case(s) did not handle every message exactly once`);
  } finally {
    await rabbit?.close();
    await kafka?.close();
    await within(60_000, 'Kafka clean-up', kafkaScratch.cleanUp()).catch((error: unknown) => {
      console.error(`Kafka clean-up failed, topics or groups under ${kafkaScratch.prefix} may remain:`, error);
    });
    await dropSchema(dataSource);
  }
});
