// Leases of the outbox relay on real databases, with RabbitMQ as the real broker:
//  - a relay stalled past its lease is fenced: its late writes change nothing, the new owner's state stands;
//  - a relay does not start a publish with less lease left than publishTimeoutMs (it gives the rows back);
//  - a publish that never settles is abandoned after publishTimeoutMs, counted as a failed attempt, and retried.
import assert from 'node:assert/strict';
import type { DataSource } from 'typeorm';
import type { Publisher, WireRecord } from '../../../src/core/index.js';
import { OutboxRelay, TransactionalOutbox } from '../../../src/outbox/index.js';
import { rabbitUrl } from '../../support/rabbitmq.js';
import { sleep } from '../../support/wait.js';
import { connectionOptions, keys, log, RelayChild, SequentialWriter } from '../../faults/outbox/support.js';
import { databases, type Database } from './databases.js';
import { GatedPublisher, RelayLog, RelayRig, rowCount, rowStates, until, type RowState } from './relay-helpers.js';

const outbox = new TransactionalOutbox();

/** Holds an exclusive lock on rmq_outbox for `holdMs` while `work` runs: every relay statement on the table waits. */
async function withOutboxLocked<T>(db: Database['name'], dataSource: DataSource, holdMs: number, work: () => Promise<T>): Promise<T> {
  const runner = dataSource.createQueryRunner();
  await runner.connect();
  try {
    if (db === 'postgres') {
      await runner.startTransaction();
      await runner.query('LOCK TABLE rmq_outbox IN ACCESS EXCLUSIVE MODE');
    } else {
      await runner.query('LOCK TABLES rmq_outbox WRITE');
    }
    const running = work();
    running.catch(() => undefined); // awaited below; no unhandled rejection meanwhile
    await sleep(holdMs);
    if (db === 'postgres') await runner.commitTransaction();
    else await runner.query('UNLOCK TABLES');
    return await running;
  } finally {
    await runner.release();
  }
}

for (const db of databases) {
  describe(`outbox relay leases on ${db.name} (real database, RabbitMQ)`, function () {
    this.timeout(60_000);
    let dataSource: DataSource;
    const rig = new RelayRig('outbox-leases-test');
    const relays = rig.relays;
    const children: RelayChild[] = [];

    beforeEach(async () => {
      dataSource = await db.open();
      await rig.open();
    });
    afterEach(async () => {
      for (const child of children.splice(0)) await child.kill9(); // SIGKILL ends a stopped (SIGSTOP) process too
      await rig.close();
      await db.drop(dataSource);
    });

    async function realPublisher(): Promise<Publisher> {
      return rig.rabbit.publisher();
    }

    // A separate process is needed: a publish cannot outlive the lease by itself (withTimeout + the lease check), so
    // only a relay whose whole process stops running — a GC pause, a frozen VM, SIGSTOP — overstays it.
    if (db.name !== 'sqljs') {
      it('a relay stalled past its lease inside a publish is fenced: its late finish changes nothing; every row published, each key in order', async () => {
        const KEYS = keys(3);
        const ROWS = 9;
        const LEASE_A = 1500;
        const { topic, recorder } = await rig.consume('outbox-fence');
        const writer = new SequentialWriter(dataSource, outbox, topic);
        for (let i = 0; i < ROWS / KEYS.length; i++) await writer.commit(KEYS);

        // Relay A (child process, RabbitMQ): its first confirm resolves, then it is frozen (SIGSTOP) with the other two
        // publishes of its round confirmed by the broker but not resolved: inside its publishes, rows claimed, unmarked.
        const roundsA: number[][] = [];
        let frozenAt = 0;
        const a = RelayChild.start(
          'A',
          { db: connectionOptions(dataSource), rabbitUrl: rabbitUrl(), holdAfterConfirms: 1, relay: { leaseMs: LEASE_A, publishTimeoutMs: 1000, pollIntervalMs: 50, keepSentMs: 60_000 } },
          (words, child) => {
            if (words[0] === 'holding' && child.pid !== undefined) {
              process.kill(child.pid, 'SIGSTOP');
              frozenAt = Date.now();
            }
            if (words[0] === 'round') roundsA.push(words.slice(1).map(Number));
          },
        );
        children.push(a);
        await a.ready;
        await until(() => frozenAt > 0, 15_000, () => `relay A never held a publish: ${a.stderrTail}`);
        const heldByA = (await rowStates(dataSource)).filter((r) => r.claimToken !== null);
        assert.equal(heldByA.length, KEYS.length, 'A claimed the head of each key');
        const tokenA = heldByA[0]?.claimToken;
        assert.ok(heldByA.every((r) => r.claimToken === tokenA));
        const heldIds = new Set(heldByA.map((r) => r.messageId));

        // Relay B (in process, keeps sent rows): takes the rows over once A's lease lapsed; its publishes wait at a gate,
        // so B holds the claim while A wakes up.
        const gated = new GatedPublisher(await realPublisher());
        const b = new OutboxRelay({ dataSource, publisher: gated, leaseMs: 8000, publishTimeoutMs: 5000, pollIntervalMs: 50, keepSentMs: 60_000, listen: false });
        const logB = new RelayLog(b);
        relays.push(b);
        await b.start();
        const isTakenOver = (rows: RowState[]): boolean =>
          heldByA.every((h) => {
            const now = rows.find((r) => r.position === h.position);
            return now?.claimToken !== null && now?.claimToken !== undefined && now.claimToken !== tokenA;
          });
        await until(async () => isTakenOver(await rowStates(dataSource)) && gated.waiting === KEYS.length, 10_000, async () => JSON.stringify(await rowStates(dataSource)));
        const takenOverAfterMs = Date.now() - frozenAt;
        const beforeWake = await rowStates(dataSource);
        const tokenB = beforeWake.find((r) => r.position === heldByA[0]?.position)?.claimToken;

        // A wakes up: its two held publishes time out (failed, fenced), its confirmed one is finished (fenced).
        if (a.pid !== undefined) process.kill(a.pid, 'SIGCONT');
        await until(() => roundsA.length >= 1, 10_000, () => `relay A reported no round after waking; failures ${JSON.stringify(a.failures)} ${a.stderrTail}`);
        const afterWake = await rowStates(dataSource);
        assert.deepEqual(roundsA[0], [3, 1, 2, 1], 'A: claimed 3, published 1, failed 2, fenced 1');
        assert.equal(a.fenced, 1, 'A reported its published row as fenced');
        assert.deepEqual(afterWake, beforeWake, "A's late fail and finish changed no row: still B's claim, no attempt counted, nothing marked or deleted");
        assert.ok(heldByA.every((h) => afterWake.find((r) => r.position === h.position)?.claimToken === tokenB));
        assert.equal(await a.stop(), 0, `relay A did not stop cleanly: ${a.stderrTail}`);

        gated.open();
        await until(async () => (await b.stats()).sent === ROWS && recorder.distinct === ROWS, 15_000, async () => `${JSON.stringify(await b.stats())}, consumed ${String(recorder.distinct)}`);
        await b.stop();
        await sleep(300); // late duplicates, if any
        const final = await rowStates(dataSource);
        const duplicates = recorder.duplicates();
        const order = recorder.orderProblems(writer.perKey);
        const lost = writer.committed.filter((id) => !recorder.counts.has(id)).length;
        log(
          `${db.name}: ${String(ROWS)} rows over ${String(KEYS.length)} keys; relay A (lease ${String(LEASE_A)} ms) frozen inside its publishes holding ${String(heldByA.length)} rows; ` +
            `B took them over ${String(takenOverAfterMs)} ms after the freeze; A woke: round ${JSON.stringify(roundsA[0])} (claimed/published/failed/fenced), fenced ${String(a.fenced)}, rows changed by A 0; ` +
            `B published ${String(logB.published)} (fenced ${String(logB.fenced)}, failures ${String(logB.failures.length)}); consumed ${String(recorder.distinct)} distinct / ${String(recorder.deliveries.length)} deliveries, ` +
            `duplicates ${String(duplicates.length)} (all among A's held rows: ${String(duplicates.every((id) => heldIds.has(id)))}), lost ${String(lost)}; per-key order problems ${String(order.length)}`,
        );
        assert.equal(lost, 0);
        assert.deepEqual(order, [], 'each key first delivered in commit order');
        assert.deepEqual(new Set(duplicates), heldIds, "exactly A's held rows came twice (A's publishes reached the broker, B republished them)");
        assert.equal(logB.fenced, 0);
        assert.deepEqual(logB.failures, []);
        assert.equal(final.length, ROWS);
        assert.ok(
          final.every((r) => r.status === 'sent' && r.attempts === 0 && r.lastError === null && r.claimToken === null && r.sentAt !== null),
          `every row marked sent once by its owner, no attempt counted: ${JSON.stringify(final)}`,
        );
      });

      it('does not start a publish with less lease left than publishTimeoutMs: a claim that took too long gives its rows back unpublished', async () => {
        // Publishes of a round start together right after the claim, each bounded by publishTimeoutMs, so the lease can
        // only run short before the first publish when the claim itself is slow: here it waits on a table lock.
        const KEYS = keys(3);
        const LEASE = 1000;
        const TIMEOUT = 600;
        const { topic, recorder } = await rig.consume('outbox-lease-left');
        const writer = new SequentialWriter(dataSource, outbox, topic);
        for (let i = 0; i < 3; i++) await writer.commit(KEYS);
        const inner = await realPublisher();
        let started = 0;
        const publisher: Publisher = {
          publish: (t, m) => inner.publish(t, m),
          publishRecord: (t: string, r: WireRecord) => {
            started += 1;
            return inner.publishRecord(t, r);
          },
          close: () => inner.close(),
        };
        const relay = new OutboxRelay({ dataSource, publisher, leaseMs: LEASE, publishTimeoutMs: TIMEOUT, listen: false });
        const rounds = new RelayLog(relay);

        // Claim delayed 100 ms: 900 ms of lease left > 600 ms: the round publishes.
        let t = Date.now();
        assert.equal(await withOutboxLocked(db.name, dataSource, 100, () => relay.runOnce()), 3);
        const quickMs = Date.now() - t;
        assert.equal(started, 3);

        // Claim delayed 700 ms: about 300 ms of lease left < 600 ms: no publish starts, the claimed rows are given back.
        t = Date.now();
        assert.equal(await withOutboxLocked(db.name, dataSource, 700, () => relay.runOnce()), 0);
        const slowMs = Date.now() - t;
        assert.deepEqual(rounds.rounds[1], { claimed: 3, published: 0, failed: 0, fenced: 0 });
        assert.equal(started, 3, 'no publish was started for the late rows');
        const released = await rowStates(dataSource);
        assert.equal(released.length, 6);
        assert.ok(
          released.every((r) => r.status === 'pending' && r.claimToken === null && r.attempts === 0 && r.lastError === null),
          `late rows released: unclaimed, no attempt counted: ${JSON.stringify(released)}`,
        );

        // Released, not left to lapse: a new claim takes them at once, within what would have been the old lease.
        t = Date.now();
        assert.equal(await relay.runOnce(), 3);
        const reclaimMs = Date.now() - t;
        assert.equal(await relay.runOnce(), 3);
        assert.equal(await rowCount(dataSource), 0);
        await until(() => recorder.distinct === 9, 10_000, () => `${String(recorder.distinct)} of 9 consumed`);
        await sleep(200);
        const order = recorder.orderProblems(writer.perKey);
        log(
          `${db.name}: lease ${String(LEASE)} ms, publishTimeout ${String(TIMEOUT)} ms; claim delayed 100 ms → round ${String(quickMs)} ms published 3; ` +
            `claim delayed 700 ms → round ${String(slowMs)} ms claimed 3, started 0 publishes, released 3 (attempts 0); next claim ${String(reclaimMs)} ms published 3; ` +
            `publishes started ${String(started)} for 9 rows; consumed ${String(recorder.distinct)} distinct / ${String(recorder.deliveries.length)} deliveries; per-key order problems ${String(order.length)}`,
        );
        assert.equal(started, 9, 'each row published exactly once');
        assert.equal(recorder.deliveries.length, 9);
        assert.deepEqual(order, []);
      });
    }

    it('a publish that never settles is abandoned after publishTimeoutMs, counted as a failed attempt, retried and published once the publisher works', async () => {
      const TIMEOUT = 300;
      const LEASE = 2000;
      const { topic, recorder } = await rig.consume('outbox-publish-timeout');
      const writer = new SequentialWriter(dataSource, outbox, topic);
      for (let i = 0; i < 2; i++) await writer.commit(['stuck', 'k1']);
      const inner = await realPublisher();
      let hanging = true;
      let abandoned = 0;
      const publisher: Publisher = {
        publish: (t, m) => inner.publish(t, m),
        publishRecord: (t: string, r: WireRecord) => {
          if (hanging && r.key === 'stuck') {
            abandoned += 1;
            return new Promise<void>(() => undefined); // never settles, never reaches the broker
          }
          return inner.publishRecord(t, r);
        },
        close: () => inner.close(),
      };
      const relay = new OutboxRelay({ dataSource, publisher, leaseMs: LEASE, publishTimeoutMs: TIMEOUT, retryInitialDelayMs: 50, retryMaxDelayMs: 50, maxAttempts: 10, listen: false });
      const rounds = new RelayLog(relay);
      const stuckFirst = writer.committed[0];

      const roundMs: number[] = [];
      for (let attempt = 1; attempt <= 3; attempt++) {
        const t = Date.now();
        await relay.runOnce();
        roundMs.push(Date.now() - t);
        const stuck = (await rowStates(dataSource)).find((r) => r.messageId === stuckFirst);
        assert.equal(stuck?.attempts, attempt, `attempt ${String(attempt)} counted`);
        assert.equal(stuck.status, 'pending');
        assert.equal(stuck.claimToken, null);
        assert.match(stuck.lastError ?? '', new RegExp(`No broker confirmation within ${String(TIMEOUT)} ms`));
        await sleep(80); // past the 50 ms retry delay (±20 %)
      }
      assert.ok(roundMs.every((ms) => ms >= TIMEOUT - 5 && ms < LEASE), `each round waited for the timeout and ended within the lease: ${JSON.stringify(roundMs)}`);
      assert.deepEqual(
        rounds.working.map((r) => [r.claimed, r.published, r.failed]),
        [[2, 1, 1], [2, 1, 1], [1, 0, 1]],
        'k1 went on while the stuck key waited behind its abandoned head',
      );
      const during = await relay.stats();
      assert.equal(during.pending, 2, "the stuck key's two rows wait");
      assert.equal(during.failed, 0);

      hanging = false;
      const recoveredAt = Date.now();
      for (let i = 0; i < 20 && (await rowCount(dataSource)) > 0; i++) {
        await relay.runOnce();
        await sleep(60);
      }
      const recoveryMs = Date.now() - recoveredAt;
      assert.equal(await rowCount(dataSource), 0, 'nothing left behind');
      await until(() => recorder.distinct === 4, 10_000, () => `${String(recorder.distinct)} of 4 consumed`);
      await sleep(200);
      const order = recorder.orderProblems(writer.perKey);
      log(
        `${db.name}: publishTimeout ${String(TIMEOUT)} ms, lease ${String(LEASE)} ms; ${String(abandoned)} publishes never settled and were abandoned after rounds of ${JSON.stringify(roundMs)} ms, ` +
          `each a failed attempt (attempts 1..3, last error "No broker confirmation within ${String(TIMEOUT)} ms"); publisher back → drained in ${String(recoveryMs)} ms; ` +
          `consumed ${String(recorder.distinct)} distinct / ${String(recorder.deliveries.length)} deliveries, lost ${String(4 - recorder.distinct)}; per-key order problems ${String(order.length)}; failures ${String(rounds.failures.length)}`,
      );
      assert.equal(abandoned, 3);
      assert.equal(recorder.deliveries.length, 4, 'each message delivered once (the abandoned publishes never reached the broker)');
      assert.deepEqual(order, []);
      assert.deepEqual(rounds.failures, []);
    });
  });
}
