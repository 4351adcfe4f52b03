import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { DataSource } from 'typeorm';
import type { RabbitMqTransport } from '../../../src/adapters/rabbitmq/index.js';
import { TransactionalOutbox } from '../../../src/outbox/index.js';
import { uniqueName } from '../../support/rabbitmq-admin.js';
import { rabbitUrl } from '../../support/rabbitmq.js';
import { sleep, waitFor } from '../../support/wait.js';
import { closeConsumer, connectionOptions, database, keys, log, outboxCount, pick, RelayChild, SequentialWriter, startConsumer } from './support.js';

const RATE = 100; // committed rows per second
const WRITE_MS = 20_000;
const DROPS = 5;
const KEYS = keys(20);
const POLL_MS = 2000;

describe('fault: the outbox relay loses its PostgreSQL connections (pg_terminate_backend) while it runs', function () {
  this.timeout(180_000);
  const db = database('postgres');
  let dataSource: DataSource | undefined;
  let transport: RabbitMqTransport | undefined;
  let relay: RelayChild | undefined;
  let writing: Promise<void> | undefined;
  let stopWriting = false;

  after(async () => {
    stopWriting = true;
    await writing?.catch(() => undefined);
    await relay?.kill9();
    await closeConsumer(transport, rabbitUrl());
    if (dataSource) await db.drop(dataSource);
  });

  it('reconnects by itself, keeps draining, loses nothing, and listens for commits again', async () => {
    const ds = await db.open();
    dataSource = ds;
    const app = `rmq-relay-${randomBytes(4).toString('hex')}`;
    const topic = uniqueName('outbox-db-drop');
    const consumer = await startConsumer(rabbitUrl(), topic);
    transport = consumer.transport;
    const recorder = consumer.recorder;

    const started = RelayChild.start('relay', {
      db: connectionOptions(ds, { applicationName: app }),
      rabbitUrl: rabbitUrl(),
      confirmTimeoutMs: 2000,
      relay: { batchSize: 100, leaseMs: 5000, publishTimeoutMs: 2000, pollIntervalMs: POLL_MS, retryInitialDelayMs: 200, retryMaxDelayMs: 2000 },
    });
    relay = started;
    await started.ready;
    const relayConnections = (): Promise<Array<{ pid: number; query: string }>> =>
      ds.query<Array<{ pid: number; query: string }>>('SELECT pid, query FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1', [app]);
    const listening = async (): Promise<boolean> => (await relayConnections()).some((c) => /^\s*LISTEN/i.test(c.query));
    assert.ok(await listening(), 'the relay listens for commits on a connection named after it');

    const writer = new SequentialWriter(ds, new TransactionalOutbox(), topic);
    const writeErrors: string[] = [];
    writing = (async () => {
      const start = Date.now();
      for (let i = 0; Date.now() - start < WRITE_MS && !stopWriting; i++) {
        try {
          await writer.commit([pick(KEYS)]);
        } catch (error) {
          writeErrors.push(String(error));
        }
        const due = start + ((i + 1) * 1000) / RATE;
        if (due > Date.now()) await sleep(due - Date.now());
      }
    })();

    const terminated: number[] = [];
    for (let drop = 0; drop < DROPS; drop++) {
      await sleep(WRITE_MS / (DROPS + 1));
      const rows = await ds.query<Array<{ ok: boolean }>>(
        'SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND application_name = $1',
        [app],
      );
      terminated.push(rows.filter((r) => r.ok).length);
      await sleep(500);
      assert.ok(started.alive, `the relay process died after connection drop ${String(drop + 1)}: ${started.stderrTail}`);
    }
    await writing;
    const total = writer.committed.length;
    const t0 = Date.now();
    await waitFor(() => recorder.distinct >= total || !started.alive, 90_000, () => `${String(recorder.distinct)} of ${String(total)} consumed`);
    assert.ok(started.alive, `the relay process died: ${started.stderrTail}`);
    let left = await outboxCount(ds);
    for (const deadline = Date.now() + 30_000; left > 0 && Date.now() < deadline; left = await outboxCount(ds)) await sleep(200);
    const drainedMs = Date.now() - t0;

    // The LISTEN connection came back: a single commit wakes the relay at once, well before its next poll.
    let relistened = false;
    for (const deadline = Date.now() + 10_000; !relistened && Date.now() < deadline; relistened = await listening()) await sleep(200);
    await sleep(POLL_MS + 500); // let the relay fall asleep
    const latencies: number[] = [];
    for (let i = 0; i < 3; i++) {
      const before = recorder.distinct;
      const t = Date.now();
      await writer.commit([pick(KEYS)]);
      await waitFor(() => recorder.distinct > before, 10_000, () => 'probe consumed');
      latencies.push(Date.now() - t);
      await sleep(300);
    }
    const code = await started.stop();
    await sleep(500);

    const committed = new Set(writer.committed);
    const lost = writer.committed.filter((id) => !recorder.counts.has(id)).length;
    const unexpected = [...recorder.counts.keys()].filter((id) => !committed.has(id)).length;
    const order = recorder.orderProblems(writer.perKey);
    const failureKinds = [...new Set(started.failures.map((f) => f.slice(0, 60)))];
    log(
      `${String(writer.committed.length)} rows committed at ${String(RATE)}/s (${String(writeErrors.length)} writer errors); relay connections terminated ${JSON.stringify(terminated)}; ` +
        `relay: ${String(started.published)} published in ${String(started.rounds)} rounds, ${String(started.failures.length)} failure events ${JSON.stringify(failureKinds)}, ${String(started.fenced)} fenced; ` +
        `all consumed and outbox empty ${String(drainedMs)} ms after writers stopped; LISTEN back: ${String(relistened)}, commit→consume latency after the drops ${JSON.stringify(latencies)} ms (poll ${String(POLL_MS)} ms); ` +
        `consumed ${String(recorder.distinct)} distinct / ${String(recorder.deliveries.length)} deliveries (duplicates ${String(recorder.duplicates().length)}), lost ${String(lost)}, unexpected ${String(unexpected)}; per-key order problems ${String(order.length)}; exit ${String(code)}`,
    );
    assert.deepEqual(writeErrors, [], 'the writers use connections of their own');
    assert.ok(terminated.every((n) => n > 0), 'every drop hit relay connections');
    assert.equal(lost, 0);
    assert.equal(unexpected, 0);
    assert.equal(left, 0, 'the outbox drained');
    assert.deepEqual(order, [], 'each key first delivered in commit order');
    assert.ok(relistened, 'the relay LISTENs again after its connection was terminated');
    assert.ok(Math.min(...latencies) < POLL_MS / 2, `a commit wakes the relay again (latencies ${JSON.stringify(latencies)} ms, poll ${String(POLL_MS)} ms)`);
    assert.equal(code, 0, `the relay stops cleanly: ${started.stderrTail}`);
  });
});
