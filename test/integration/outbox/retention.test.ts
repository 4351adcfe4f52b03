// What the relay leaves in rmq_outbox, on real databases with RabbitMQ as the real broker: sent rows kept for
// keepSentMs then removed (or deleted at once by default), and failed rows deleted by purge().
import assert from 'node:assert/strict';
import type { DataSource } from 'typeorm';
import type { Publisher, WireRecord } from '../../../src/core/index.js';
import { OutboxRelay, TransactionalOutbox } from '../../../src/outbox/index.js';
import { sleep } from '../../support/wait.js';
import { keys, log, SequentialWriter, type Seq } from '../../faults/outbox/support.js';
import { databases } from './databases.js';
import { RelayLog, RelayRig, rowCount, rowStates, until } from './relay-helpers.js';

const outbox = new TransactionalOutbox();

for (const db of databases) {
  describe(`outbox retention and purge on ${db.name} (real database, RabbitMQ)`, function () {
    this.timeout(30_000);
    let dataSource: DataSource;
    const rig = new RelayRig('outbox-retention-test');
    const relays = rig.relays;

    beforeEach(async () => {
      dataSource = await db.open();
      await rig.open();
    });
    afterEach(async () => {
      await rig.close();
      await db.drop(dataSource);
    });

    it('keepSentMs > 0: sent rows stay, marked sent and counted in stats, and are removed once the window has passed', async () => {
      const KEEP = 1500;
      const ROWS = 6;
      const { topic, recorder } = await rig.consume('outbox-keep-sent');
      const writer = new SequentialWriter(dataSource, outbox, topic);
      for (let i = 0; i < 2; i++) await writer.commit(keys(3));
      const relay = new OutboxRelay({ dataSource, publisher: await rig.rabbit.publisher(), keepSentMs: KEEP, pollIntervalMs: 50, listen: false });
      const rounds = new RelayLog(relay);
      relays.push(relay);
      const t0 = Date.now();
      await relay.start();
      await until(async () => (await relay.stats()).sent === ROWS, 10_000, async () => JSON.stringify(await relay.stats()));
      const allSentMs = Date.now() - t0;
      const kept = await rowStates(dataSource);
      assert.equal(kept.length, ROWS);
      assert.ok(
        kept.every((r) => r.status === 'sent' && r.sentAt !== null && r.claimToken === null && r.attempts === 0),
        `kept rows are marked sent: ${JSON.stringify(kept)}`,
      );
      assert.deepEqual(await relay.stats(), { pending: 0, inFlight: 0, failed: 0, sent: ROWS, oldestPendingAgeMs: 0 });
      await until(() => recorder.distinct === ROWS, 10_000, () => `${String(recorder.distinct)} of ${String(ROWS)} consumed`);

      // Still there shortly before the earliest one's window ends (its sent_at is after t0), while the relay keeps running.
      await sleep(Math.max(0, t0 + KEEP - 300 - Date.now()));
      const beforeWindowMs = Date.now() - t0;
      assert.equal(await rowCount(dataSource, "status = 'sent'"), ROWS, 'kept for the whole window');
      await until(async () => (await rowCount(dataSource)) === 0, KEEP + 5000, async () => `${String(await rowCount(dataSource))} sent rows left`);
      const removedMs = Date.now() - t0;
      await sleep(200);
      log(
        `${db.name}: keepSentMs ${String(KEEP)}; ${String(ROWS)} rows published and marked sent ${String(allSentMs)} ms after start (stats sent ${String(ROWS)}), ` +
          `all still there at ${String(beforeWindowMs)} ms, removed by ${String(removedMs)} ms; rounds ${String(rounds.working.length)}, failures ${String(rounds.failures.length)} ${JSON.stringify(rounds.failures.slice(0, 1))}; ` +
          `consumed ${String(recorder.distinct)} distinct / ${String(recorder.deliveries.length)} deliveries; per-key order problems ${String(recorder.orderProblems(writer.perKey).length)}`,
      );
      assert.ok(removedMs >= KEEP, `removed after the window: ${String(removedMs)} ms`);
      assert.deepEqual(rounds.failures, [], 'no relay round failed');
      assert.equal(rounds.published, ROWS);
      assert.equal(recorder.deliveries.length, ROWS);
      assert.deepEqual(recorder.orderProblems(writer.perKey), [], 'a kept sent row does not hold back its key');
      assert.deepEqual(await relay.stats(), { pending: 0, inFlight: 0, failed: 0, sent: 0, oldestPendingAgeMs: 0 });
    });

    it('keepSentMs 0 (the default): a row is deleted as soon as its publish is confirmed', async () => {
      const { topic, recorder } = await rig.consume('outbox-delete-sent');
      const writer = new SequentialWriter(dataSource, outbox, topic);
      for (let i = 0; i < 2; i++) await writer.commit(keys(3));
      const relay = new OutboxRelay({ dataSource, publisher: await rig.rabbit.publisher(), listen: false });
      assert.equal(relay.config.keepSentMs, 0);
      assert.equal(await relay.runOnce(), 3);
      const afterFirst = await rowStates(dataSource);
      assert.deepEqual(afterFirst.map((r) => r.messageId), writer.committed.slice(3), 'the three published rows are gone, the three others wait');
      assert.ok(afterFirst.every((r) => r.status === 'pending'));
      assert.equal((await relay.stats()).sent, 0);
      assert.equal(await relay.runOnce(), 3);
      const left = await rowCount(dataSource);
      await until(() => recorder.distinct === 6, 10_000, () => `${String(recorder.distinct)} of 6 consumed`);
      log(`${db.name}: keepSentMs 0; after round 1: ${String(afterFirst.length)} rows left (0 sent), after round 2: ${String(left)}; consumed ${String(recorder.distinct)}`);
      assert.equal(left, 0);
    });

    it('purge() deletes failed rows (all, or the given positions) and nothing else; the purged key moves on', async () => {
      // The integration test in outbox.test.ts calls purge() only once no failed row is left (it returns 0 there): it
      // never shows a row deleted. Here failed rows are counted in the table before and after.
      const { topic, recorder } = await rig.consume('outbox-purge');
      const refused = `${topic}-refused`;
      const inner = await rig.rabbit.publisher();
      let refusedCalls = 0;
      const publisher: Publisher = {
        publish: (t, m) => inner.publish(t, m),
        publishRecord: (t: string, r: WireRecord) => {
          if (t !== refused) return inner.publishRecord(t, r);
          refusedCalls += 1;
          return Promise.reject(new Error('broker refused'));
        },
        close: () => inner.close(),
      };
      const message = (t: string, k: string, n: number): { topic: string; type: string; key: string; payload: Seq } => ({ topic: t, type: 'outbox.purge', key: k, payload: { k, n } });
      const [bad1, bad2, other1, good1] = await dataSource.transaction((m) =>
        outbox.add(m, [message(refused, 'bad', 1), message(topic, 'bad', 2), message(refused, 'other', 1), message(topic, 'good', 1)]),
      );
      const relay = new OutboxRelay({ dataSource, publisher, maxAttempts: 1, listen: false });
      assert.equal(await relay.runOnce(), 1, 'good/1 published; bad/1 and other/1 failed at their first attempt');
      const positionOf = async (id: string | undefined): Promise<string> => {
        const row = (await rowStates(dataSource)).find((r) => r.messageId === id);
        assert.ok(row, `row ${String(id)} exists`);
        return row.position;
      };
      const failedBefore = await rowCount(dataSource, "status = 'failed'");
      assert.equal(failedBefore, 2);
      assert.deepEqual(await relay.stats().then((s) => [s.pending, s.failed]), [1, 2]);
      assert.equal(await relay.runOnce(), 0, 'bad/2 waits behind its failed head');

      assert.equal(await relay.purge([await positionOf(bad2?.id)]), 0, 'a pending row is not purged');
      assert.equal(await rowCount(dataSource), 3);

      const bad1Position = await positionOf(bad1?.id);
      assert.equal(await relay.purge([bad1Position]), 1);
      assert.equal(await rowCount(dataSource, `position = ${bad1Position}`), 0, 'bad/1 deleted from the table');
      assert.deepEqual((await rowStates(dataSource)).map((r) => [r.messageId, r.status]), [[bad2?.id, 'pending'], [other1?.id, 'failed']], 'only that row went');

      assert.equal(await relay.runOnce(), 1, 'bad/2 is now the head of its key and goes out');
      assert.equal(await relay.purge(), 1, 'purge() takes every failed row left');
      const left = await rowCount(dataSource);
      assert.deepEqual(await relay.failed(), []);
      assert.deepEqual(await relay.stats(), { pending: 0, inFlight: 0, failed: 0, sent: 0, oldestPendingAgeMs: 0 });
      await until(() => recorder.distinct === 2, 10_000, () => `${String(recorder.distinct)} of 2 consumed`);
      await sleep(200);
      log(
        `${db.name}: 4 rows, 2 failed (maxAttempts 1, ${String(refusedCalls)} refused publishes); purge(pending row) 0; purge([bad/1]) 1 → table 3→2 rows; ` +
          `bad/2 then published; purge() 1 → table ${String(left)} rows; consumed ${JSON.stringify(recorder.deliveries.map((d) => `${d.k}/${String(d.n)}`))}`,
      );
      assert.equal(left, 0);
      assert.deepEqual(recorder.deliveries.map((d) => d.id), [good1?.id, bad2?.id]);
      assert.equal(refusedCalls, 2);
    });
  });
}
