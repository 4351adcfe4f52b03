import assert from 'node:assert/strict';
import type { DataSource } from 'typeorm';
import type { RabbitMqTransport } from '../../../src/adapters/rabbitmq/index.js';
import { TransactionalOutbox } from '../../../src/outbox/index.js';
import { uniqueName } from '../../support/rabbitmq-admin.js';
import { rabbitUrl } from '../../support/rabbitmq.js';
import { sleep, waitFor } from '../../support/wait.js';
import { closeConsumer, connectionOptions, database, keys, log, outboxCount, RelayChild, SequentialWriter, startConsumer, type Recorder, type RelayProcessConfig } from './support.js';

const ROWS = 2000;
const KEYS = keys(20);
const KILL_AFTER = 610; // confirms before the kill -9: mid-batch (a round claims one row per key, 20)
const LEASE_MS = 4000;

for (const name of ['postgres', 'mariadb'] as const) {
  describe(`fault: outbox relay process killed (kill -9) mid-batch on ${name}`, function () {
    this.timeout(180_000);
    const db = database(name);
    let dataSource: DataSource | undefined;
    let transport: RabbitMqTransport | undefined;
    const relays: RelayChild[] = [];

    after(async () => {
      for (const relay of relays) await relay.kill9();
      await closeConsumer(transport, rabbitUrl());
      if (dataSource) await db.drop(dataSource);
    });

    it('a new relay publishes every committed row (at least once, each key in order); only rows in flight at the kill come twice', async () => {
      dataSource = await db.open();
      const topic = uniqueName('outbox-kill');
      const consumer = await startConsumer(rabbitUrl(), topic);
      transport = consumer.transport;
      const recorder: Recorder = consumer.recorder;

      const writer = new SequentialWriter(dataSource, new TransactionalOutbox(), topic);
      for (let i = 0; i < ROWS / KEYS.length; i++) await writer.commit(KEYS);
      assert.equal(await outboxCount(dataSource), ROWS);

      const config: RelayProcessConfig = {
        db: connectionOptions(dataSource),
        rabbitUrl: rabbitUrl(),
        confirmTimeoutMs: 1500,
        relay: { batchSize: 100, leaseMs: LEASE_MS, publishTimeoutMs: 1500, pollIntervalMs: 100 },
      };
      // Relay A: from its KILL_AFTER-th confirm on, its publishes still reach the broker but never resolve for it, so it
      // holds a batch claimed and unmarked (some of it confirmed): the kill -9 lands between publish and mark-sent.
      const confirmedByA = new Set<string>();
      let outstandingAtKill = -1;
      const a = RelayChild.start('A', { ...config, reportConfirms: true, holdAfterConfirms: KILL_AFTER }, (words, child) => {
        if (words[0] === 'confirmed') confirmedByA.add(words[1] ?? '');
        if (words[0] === 'holding') {
          outstandingAtKill = Number(words[2]);
          void child.kill9();
        }
      });
      relays.push(a);
      await a.ready;
      const t0 = Date.now();
      await a.exit;
      const killedAfterMs = Date.now() - t0;
      assert.ok(outstandingAtKill >= 0, `relay A died before the kill: ${a.stderrTail}`);

      // What the dead relay held: claimed, not finished. Only these may be published twice.
      const held = await dataSource.query<Array<{ id: string }>>('SELECT message_id AS id FROM rmq_outbox WHERE claim_token IS NOT NULL');
      const inFlight = new Set(held.map((r) => r.id));
      const leftAtKill = await outboxCount(dataSource);
      const confirmedNotMarked = [...confirmedByA].filter((id) => inFlight.has(id)).length;

      const t1 = Date.now();
      const b = RelayChild.start('B', config);
      relays.push(b);
      await b.ready;
      await waitFor(() => recorder.distinct >= ROWS, 120_000, () => `${String(recorder.distinct)} of ${String(ROWS)} consumed`);
      let left = await outboxCount(dataSource);
      for (const deadline = Date.now() + 30_000; left > 0 && Date.now() < deadline; left = await outboxCount(dataSource)) await sleep(200);
      const recoveredMs = Date.now() - t1;
      assert.equal(await b.stop(), 0, `relay B did not stop cleanly: ${b.stderrTail}`);
      await sleep(1000); // late duplicates, if any, still on their way

      const committed = new Set(writer.committed);
      const lost = writer.committed.filter((id) => !recorder.counts.has(id)).length;
      const unexpected = [...recorder.counts.keys()].filter((id) => !committed.has(id)).length;
      const duplicates = recorder.duplicates();
      const outsideWindow = duplicates.filter((id) => !inFlight.has(id));
      const order = recorder.orderProblems(writer.perKey);
      log(
        `${name}: ${String(ROWS)} rows over ${String(KEYS.length)} keys; relay A confirmed ${String(confirmedByA.size)} and was killed ${String(killedAfterMs)} ms after ready ` +
          `with ${String(outstandingAtKill)} publishes of its batch still awaiting a confirm, ${String(inFlight.size)} rows claimed (${String(confirmedNotMarked)} confirmed, not marked), ${String(leftAtKill)} rows left; ` +
          `relay B published ${String(b.published)} in ${String(b.rounds)} rounds (${String(b.failures.length)} failures, ${String(b.fenced)} fenced), all consumed and outbox empty ${String(recoveredMs)} ms after B started; ` +
          `consumed ${String(recorder.distinct)} distinct / ${String(recorder.deliveries.length)} deliveries: duplicates ${String(duplicates.length)} (${String(outsideWindow.length)} outside the in-flight set), lost ${String(lost)}, unexpected ${String(unexpected)}; per-key order problems ${String(order.length)}`,
      );
      assert.equal(lost, 0, 'every committed row was published');
      assert.equal(unexpected, 0);
      assert.equal(left, 0, 'the outbox ends empty');
      assert.deepEqual(outsideWindow, [], 'only rows in flight at the kill are published twice');
      assert.deepEqual(order, [], 'each key first delivered in commit order');
      assert.ok(b.published >= leftAtKill, 'relay B published what was left, in-flight rows included');
    });
  });
}
