// Issue #7, batch mode under kill -9: a Kafka consumer in batch mode (`subscribeBatch` + `inbox.wrapBatch`, one
// PostgreSQL or MariaDB transaction per group of up to BATCH messages) is killed with kill -9 (see WINDOWS), restarted each round,
// then a final consumer drains the rest. Pass: every offset committed in the end, exactly one effect per id. The business
// table has no unique key, so only the inbox can keep a group that comes again from writing its rows a second time.
// Both crash windows are held open on every group: inside the group's transaction after the effects insert (killed there,
// the whole group — marks and effects — must roll back and be handled again), and after the commit before the offsets
// are committed (killed there, the next owner of the partition gets the group again: every message of it must be
// suppressed). Kept short (a few thousand messages, three rounds): each restart waits out the killed member's Kafka
// session (6 s) before the group rebalances.
import assert from 'node:assert/strict';
import {
  distinctEffects,
  deliveryCounts,
  effectOracle,
  faultScope,
  assertOneEffectEach,
  kafkaRig,
  killAt,
  openSchema,
  quiet,
  sleep,
  startConsumer,
  stopGracefully,
  waitFor,
  type KillWindow,
  type FaultDatabase,
} from './support.js';

const TOTAL = Number(process.env['INBOX_FAULT_TOTAL'] ?? 4000);
/**
 * maxBatchSize of each round's consumer, then of the final one: they differ, so a group that comes again after a kill is
 * cut differently and mixes suppressed duplicates with new messages in one transaction.
 */
const BATCHES = [20, 32, 25];
const FINAL_BATCH = 50;
const ROUNDS = BATCHES.length;
const GROUP = 'g';
const CONSUMER = 'billing-batch';
/** Six partitions, all handled at once, each one group at a time; both crash windows held open on every group. */
const slow = (batch: number): Record<string, string> => ({ BATCH: String(batch), CONCURRENCY: '6', SLOW_BEFORE_COMMIT_MS: '20', SLOW_AFTER_COMMIT_MS: '20' });
const FINAL = { BATCH: String(FINAL_BATCH), CONCURRENCY: '6' };

/** Where each round's kill lands: the first two rounds wait for their window (see `killAt`), the last is random. */
const WINDOWS: readonly KillWindow[] = ['in-transaction', 'after-commit', 'random'];

/** Most groups of one process between their start and their commit at the same time. */
function maxInFlight(groups: ReadonlyArray<{ beganAt: number; committedAt: number }>): number {
  const edges = groups.flatMap((g) => [[g.beganAt, 1] as const, [g.committedAt, -1] as const]).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let now = 0;
  let most = 0;
  for (const [, d] of edges) most = Math.max(most, (now += d));
  return most;
}

function batchKillRounds(database: FaultDatabase): void {
  describe(`fault: inbox batch mode (Kafka subscribeBatch + wrapBatch, ${database === 'postgres' ? 'PostgreSQL' : 'MariaDB'}) killed with kill -9 in ${String(ROUNDS)} rounds`, function () {
    this.timeout(120_000);
    const scope = faultScope([GROUP]);
    const { procs } = scope;

    it(`${String(TOTAL)} messages in groups of up to ${BATCHES.join('/')}/${String(FINAL_BATCH)}: every offset committed in the end, exactly one effect per id`, async () => {
      const t0 = Date.now();
      scope.db = await openSchema(database);
      const { dataSource, schema } = scope.db;
      const rig = await kafkaRig('batch-kill', 6);
      scope.rig = rig;
      await rig.prepare([GROUP]);
      const sent = await rig.publish(TOTAL);
      const publishMs = Date.now() - t0;
      const args = [rig.kind, rig.address, rig.topic, GROUP, schema, CONSUMER];
      const doneAnywhere = (): number => new Set(procs.flatMap((p) => [...p.done])).size;

      const rounds: string[] = [];
      for (let round = 1; round <= ROUNDS && doneAnywhere() < TOTAL; round++) {
        const target = 400 + Math.floor(Math.random() * 601);
        const batch = BATCHES[round - 1] ?? FINAL_BATCH;
        const proc = startConsumer(`batch round ${String(round)}`, args, { ...slow(batch), DB: database });
        procs.push(proc);
        await proc.ready;
        await waitFor(() => proc.doneLines >= target || doneAnywhere() >= TOTAL, 60_000, () => `round ${String(round)}: ${String(proc.doneLines)} of ${String(target)} done`);
        await killAt(proc, WINDOWS[round - 1] ?? 'random', 40);
        const open = [...proc.started].filter((id) => !proc.done.has(id)).length;
        const committing = [...proc.done].filter((id) => !proc.returned.has(id)).length;
        rounds.push(
          `r${String(round)} (batch ${String(batch)}): target ${String(target)}, done ${String(proc.doneLines)} in ${String(proc.groups.length)} groups (up to ${String(maxInFlight(proc.groups))} at once), dup ${String(proc.dups.length)}, ` +
            `at the kill ${String(open)} in a group transaction + ${String(committing)} committed, offsets not`,
        );
      }
      const killed = [...procs];

      const final = startConsumer('batch final', args, { ...FINAL, DB: database });
      procs.push(final);
      await final.ready;
      const deadline = Date.now() + 60_000;
      while ((await distinctEffects(dataSource)) < TOTAL && Date.now() < deadline) await sleep(200);
      await quiet([final], 1000, 30_000); // groups that came again drained too
      await stopGracefully(final);
      const unacked = await rig.unacked(GROUP);

      // The oracle.
      const oracle = await effectOracle(dataSource, sent, CONSUMER);
      const { counts, missing, twice, unexpected, rows, marks } = oracle;

      // What happened: deliveries per process, ids more than one process saw, the two crash windows, the groups.
      const { delivered, suppressed, redelivered } = deliveryCounts(procs);
      const groups = procs.flatMap((p) => p.groups);
      const groupedMessages = groups.reduce((a, g) => a + g.size, 0);
      const freshInGroups = groups.reduce((a, g) => a + g.fresh, 0);
      const mixed = groups.filter((g) => g.fresh > 0 && g.fresh < g.size).length;
      const allDup = groups.filter((g) => g.fresh === 0).length;
      let beforeCommit = 0;
      let committingUnseen = 0;
      let committingSuppressed = 0;
      let afterCommit = 0;
      killed.forEach((p, i) => {
        const later = procs.slice(i + 1);
        const laterDups = new Set(later.flatMap((q) => q.dups.map((d) => d.id)));
        const laterStarted = new Set(later.flatMap((q) => [...q.started]));
        for (const id of p.started) {
          if (p.done.has(id)) {
            if (laterDups.has(id)) afterCommit += 1;
          } else if (laterStarted.has(id)) {
            beforeCommit += 1; // its handler ran again later: the kill had rolled the group back
          } else {
            // Never handled again: the kill came while the group's COMMIT was on its way, the commit went through and only
            // the `done` lines were lost. Later deliveries of it were suppressed.
            committingUnseen += 1;
            if (laterDups.has(id)) committingSuppressed += 1;
          }
        }
      });
      console.log(
        `      Kafka batch mode, inbox on ${database}: ${String(TOTAL)} published in ${String(publishMs)} ms; ${rounds.join('; ')}; final (batch ${String(FINAL_BATCH)}): done ${String(final.doneLines)} in ${String(final.groups.length)} groups, dup ${String(final.dups.length)}\n` +
          `      delivered (done lines) ${String(delivered)}, redelivered (ids seen by >1 process) ${String(redelivered)}, suppressed duplicates (dup lines) ${String(suppressed)}, ` +
          `effects ${String(rows)} rows / ${String(counts.size)} ids, inbox marks ${String(marks)}; groups committed ${String(groups.length)} (mean size ${(groupedMessages / Math.max(1, groups.length)).toFixed(1)}, ` +
          `${String(mixed)} part duplicate, ${String(allDup)} all duplicate); killed inside the group transaction ${String(beforeCommit)} (rolled back, handled anew later), ` +
          `killed during the commit ${String(committingUnseen)} (committed, ${String(committingSuppressed)} then suppressed), killed after the commit before the offset commit ${String(afterCommit)} (then suppressed); missing ${String(missing.length)}, twice ${String(twice.length)}, ` +
          `unexpected ${String(unexpected.length)}, uncommitted ${unacked ?? 'none'}; ${String(Date.now() - t0)} ms`,
      );
      assertOneEffectEach(oracle, TOTAL);
      assert.equal(unacked, undefined, 'every offset committed in the end');
      // Every message was handled as new exactly once: in a group whose commit a process reported, or in one that committed
      // as the process was killed (its `group` line lost). Every other delivery was a suppressed duplicate.
      assert.equal(freshInGroups + committingUnseen, TOTAL, 'messages handled as new across all committed groups: exactly one per id');
      assert.equal(committingSuppressed, committingUnseen, 'a group committed as the kill came: its messages suppressed when they came again');
      assert.equal(delivered - freshInGroups, suppressed, 'every other delivery was a suppressed duplicate');
      assert.ok(groups.some((g) => g.size > 1), 'really batched');
      for (const [i, p] of procs.entries()) {
        const limit = BATCHES[i] ?? FINAL_BATCH;
        assert.ok(p.groups.every((g) => g.size <= limit), `${p.label}: groups of at most ${String(limit)}`);
      }
      assert.ok(mixed > 0, 'some group mixed suppressed duplicates and new messages in one transaction');
      assert.ok(beforeCommit > 0, 'some kills landed inside a group transaction: rolled back, handled anew later');
      assert.ok(afterCommit > 0, 'some kills landed between the group commit and the offset commit: the group came again and hit the inbox');
    });
  });
}

batchKillRounds('postgres');
// MariaDB marks a group's ids one INSERT IGNORE each, under InnoDB's locks.
batchKillRounds('mariadb');
