import assert from 'node:assert/strict';
import type { DataSource } from 'typeorm';
import type { RabbitMqTransport } from '../../../src/adapters/rabbitmq/index.js';
import { TransactionalOutbox } from '../../../src/outbox/index.js';
import { uniqueName } from '../../support/rabbitmq-admin.js';
import { rabbitUrl } from '../../support/rabbitmq.js';
import { sleep, waitFor } from '../../support/wait.js';
import { closeConsumer, connectionOptions, database, keys, log, outboxCount, pick, RelayChild, startConsumer, type Seq } from './support.js';

const ROWS = 10_000;
const KEYS = keys(100);
const WRITERS = 6;
const RELAYS = 3;

for (const name of ['postgres', 'mariadb'] as const) {
  describe(`fault: three outbox relay processes at once on ${name}, concurrent writers interleaving on the same keys`, function () {
    this.timeout(600_000);
    const db = database(name);
    let dataSource: DataSource | undefined;
    let transport: RabbitMqTransport | undefined;
    const relays: RelayChild[] = [];

    after(async () => {
      for (const relay of relays) await relay.kill9();
      await closeConsumer(transport, rabbitUrl());
      if (dataSource) await db.drop(dataSource);
    });

    it(`${String(ROWS)} rows over ${String(KEYS.length)} keys: every row published, each key in commit order`, async () => {
      const ds = await db.open();
      dataSource = ds;
      const pg = name === 'postgres';
      const p = (i: number): string => (pg ? `$${String(i)}` : '?');
      // The business table: one counter per key, taken inside each writer transaction. Its row lock orders the
      // transactions of a key, so the counter's value is that key's commit order.
      await ds.query('CREATE TABLE rmq_it_counter (k varchar(64) PRIMARY KEY, n integer NOT NULL)');
      await ds.query(`INSERT INTO rmq_it_counter (k, n) VALUES ${KEYS.map((k) => `('${k}', 0)`).join(', ')}`);

      const topic = uniqueName('outbox-three');
      const consumer = await startConsumer(rabbitUrl(), topic, 500);
      transport = consumer.transport;
      const recorder = consumer.recorder;

      // The relays start once half the rows are committed: they face a backlog (their throughput is measured on it)
      // while the writers go on committing on the same keys (order under concurrency).
      let relaysStarted: Promise<number> | undefined;
      const startRelays = async (): Promise<number> => {
        for (let i = 0; i < RELAYS; i++) {
          relays.push(
            RelayChild.start(`R${String(i + 1)}`, {
              db: connectionOptions(ds),
              rabbitUrl: rabbitUrl(),
              confirmTimeoutMs: 3000,
              relay: { batchSize: 100, leaseMs: 10_000, publishTimeoutMs: 3000, pollIntervalMs: 100 },
            }),
          );
        }
        await Promise.all(relays.map((r) => r.ready));
        return Date.now();
      };
      const outbox = new TransactionalOutbox();
      const committed: string[] = [];
      const perKey = new Map<string, number>();
      let remaining = ROWS;
      let retries = 0;
      const retryCauses = new Map<string, number>();
      let transactions = 0;
      const t0 = Date.now();
      const writer = async (): Promise<void> => {
        while (remaining > 0) {
          const size = Math.min(remaining, 1 + Math.floor(Math.random() * 5));
          remaining -= size;
          const counts = new Map<string, number>();
          for (let i = 0; i < size; i++) {
            const k = pick(KEYS);
            counts.set(k, (counts.get(k) ?? 0) + 1);
          }
          const picked = [...counts].sort(([a], [b]) => (a < b ? -1 : 1)); // one lock order for every writer
          for (let attempt = 1; ; attempt++) {
            try {
              const result = await ds.transaction(async (m) => {
                const messages: Array<{ topic: string; type: string; key: string; payload: Seq }> = [];
                const last = new Map<string, number>();
                for (const [k, c] of picked) {
                  const [row] = await m.query<Array<{ n: number | string }>>(`SELECT n FROM rmq_it_counter WHERE k = ${p(1)} FOR UPDATE`, [k]);
                  const n = Number(row?.n) + c;
                  await m.query(`UPDATE rmq_it_counter SET n = ${p(1)} WHERE k = ${p(2)}`, [n, k]);
                  for (let i = c - 1; i >= 0; i--) messages.push({ topic, type: 'outbox.fault', key: k, payload: { k, n: n - i } });
                  last.set(k, n);
                  if (Math.random() < 0.5) await sleep(Math.random() * 3); // other writers' transactions interleave
                }
                return { envelopes: await outbox.add(m, messages), last };
              });
              transactions += 1;
              for (const e of result.envelopes) committed.push(e.id);
              if (committed.length >= ROWS / 2) relaysStarted ??= startRelays();
              for (const [k, n] of result.last) perKey.set(k, Math.max(perKey.get(k) ?? 0, n));
              break;
            } catch (error) {
              retries += 1;
              const cause = (error instanceof Error ? error.message : String(error)).slice(0, 50);
              retryCauses.set(cause, (retryCauses.get(cause) ?? 0) + 1);
              if (attempt >= 20) throw error;
              await sleep(Math.random() * 20);
            }
          }
        }
      };
      await Promise.all(Array.from({ length: WRITERS }, writer));
      const writtenMs = Date.now() - t0;
      const relaysReadyAt = await (relaysStarted ?? startRelays());

      await waitFor(
        () => recorder.distinct >= ROWS || relays.some((r) => !r.alive),
        300_000,
        () => `${String(recorder.distinct)} of ${String(ROWS)} consumed`,
      );
      const consumedMs = Date.now() - t0;
      let left = await outboxCount(ds);
      for (const deadline = Date.now() + 30_000; left > 0 && Date.now() < deadline; left = await outboxCount(ds)) await sleep(200);
      const dead = relays.filter((r) => !r.alive).map((r) => `${r.label}: ${r.stderrTail}`);
      const codes = await Promise.all(relays.map((r) => r.stop()));
      await sleep(1000);

      const ids = new Set(committed);
      const lost = committed.filter((id) => !recorder.counts.has(id)).length;
      const unexpected = [...recorder.counts.keys()].filter((id) => !ids.has(id)).length;
      const order = recorder.orderProblems(perKey);
      const failures = [...new Set(relays.flatMap((r) => r.failures.map((f) => `${r.label}: ${f.slice(0, 160)}`)))];
      const counterTotal = [...perKey.values()].reduce((a, b) => a + b, 0);
      log(
        `${name}: ${String(committed.length)} rows over ${String(KEYS.length)} keys in ${String(transactions)} transactions by ${String(WRITERS)} writers in ${String(writtenMs)} ms (${String(retries)} retried${retries > 0 ? ` ${JSON.stringify(Object.fromEntries(retryCauses))}` : ''}); ` +
          `${String(RELAYS)} relays published ${relays.map((r) => `${r.label}=${String(r.published)}`).join(' ')} (rounds ${relays.map((r) => r.rounds).join('/')}, fenced ${relays.map((r) => r.fenced).join('/')}, failures ${relays.map((r) => r.failures.length).join('/')}); ` +
          `relays ready ${String(relaysReadyAt - t0)} ms after the first write; all consumed ${String(consumedMs)} ms after the first write (${String(consumedMs - writtenMs)} ms after the last commit): ` +
          `relay throughput ${String(Math.round((ROWS * 1000) / (consumedMs - (relaysReadyAt - t0))))} rows/s from ready to all consumed, end to end ${String(Math.round((ROWS * 1000) / consumedMs))} rows/s; ` +
          `consumed ${String(recorder.distinct)} distinct / ${String(recorder.deliveries.length)} deliveries (duplicates ${String(recorder.duplicates().length)}), lost ${String(lost)}, unexpected ${String(unexpected)}; ` +
          `per-key order problems ${String(order.length)}${order.length > 0 ? ` e.g. ${order.slice(0, 3).join(' | ')}` : ''}; outbox left ${String(left)}` +
          (failures.length > 0 ? `; relay failures: ${failures.join(' | ')}` : ''),
      );
      assert.deepEqual(dead, [], 'no relay process died');
      assert.equal(counterTotal, ROWS, 'the counters add up to the rows committed');
      assert.equal(lost, 0, 'every committed row was published');
      assert.equal(unexpected, 0);
      assert.equal(left, 0, 'the outbox drained');
      assert.deepEqual(order, [], "each key's messages first arrive in commit order");
      assert.deepEqual(codes, relays.map(() => 0), 'every relay stopped cleanly');
    });
  });
}
