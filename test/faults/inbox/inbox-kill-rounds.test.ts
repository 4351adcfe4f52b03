// faults.md row 7: a consumer behind the PostgreSQL (and the MariaDB) inbox killed with kill -9 at random points, several rounds, then a
// final consumer drains the rest. Pass: every message eventually acked, exactly one effect per id. The business table
// has no unique key, so only the inbox can keep a redelivered message from writing a second row.
// The consumer is slowed in both crash windows so the kills land there: inside the inbox transaction after the effect
// insert (killed before the commit: must roll back), and after the commit before the ack / offset commit (the
// redelivery must be suppressed by the inbox).
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
  rabbitRig,
  sleep,
  startConsumer,
  stopGracefully,
  waitFor,
  type FaultDatabase,
  type KillWindow,
  type Rig,
} from './support.js';

const TOTAL = Number(process.env['INBOX_FAULT_TOTAL'] ?? 10_000);
const ROUNDS = 5;
/** Where each round's kill lands: the first two rounds wait for their window (see `killAt`), the others are random. */
const WINDOWS: readonly KillWindow[] = ['in-transaction', 'after-commit'];
const GROUP = 'g';
const CONSUMER = 'billing';
/** Both crash windows held open a little on every message while rounds are killed. */
const SLOW = { SLOW_BEFORE_COMMIT_MS: '10', SLOW_AFTER_COMMIT_MS: '25', CONCURRENCY: '16', PREFETCH: '50' };
const FINAL = { CONCURRENCY: '8', PREFETCH: '50' };

function killRounds(makeRig: (label: string) => Promise<Rig>, name: string, database: FaultDatabase = 'postgres'): void {
  const where = database === 'postgres' ? name : `${name}, inbox on MariaDB`;
  describe(`fault: inbox consumer on ${where} killed with kill -9 in ${String(ROUNDS)} rounds (faults.md row 7)`, function () {
    this.timeout(150_000);
    const scope = faultScope([GROUP]);
    const { procs } = scope;

    it(`${String(TOTAL)} messages: all acked in the end, exactly one effect per id`, async () => {
      const t0 = Date.now();
      scope.db = await openSchema(database);
      const { dataSource, schema } = scope.db;
      const rig = await makeRig('kill');
      scope.rig = rig;
      await rig.prepare([GROUP]);
      const sent = await rig.publish(TOTAL);
      const publishMs = Date.now() - t0;
      const args = [rig.kind, rig.address, rig.topic, GROUP, schema, CONSUMER];
      const dbEnv = { DB: database };
      const doneAnywhere = (): number => new Set(procs.flatMap((p) => [...p.done])).size;

      const rounds: string[] = [];
      for (let round = 1; round <= ROUNDS && doneAnywhere() < TOTAL; round++) {
        const target = 500 + Math.floor(Math.random() * 2001);
        const proc = startConsumer(`round ${String(round)}`, args, { ...SLOW, ...dbEnv });
        procs.push(proc);
        await proc.ready;
        await waitFor(() => proc.doneLines >= target || doneAnywhere() >= TOTAL, 90_000, () => `round ${String(round)}: ${String(proc.doneLines)} of ${String(target)} done`);
        await killAt(proc, WINDOWS[round - 1] ?? 'random', 15);
        const open = [...proc.started].filter((id) => !proc.done.has(id)).length;
        const committing = [...proc.done].filter((id) => !proc.returned.has(id)).length;
        rounds.push(`r${String(round)}: target ${String(target)}, done ${String(proc.doneLines)}, dup ${String(proc.dups.length)}, at the kill ${String(open)} in a transaction + ${String(committing)} committed, not returned`);
      }
      const killed = [...procs];

      const final = startConsumer('final', args, { ...FINAL, ...dbEnv });
      procs.push(final);
      await final.ready;
      const deadline = Date.now() + 120_000;
      while ((await distinctEffects(dataSource)) < TOTAL && Date.now() < deadline) await sleep(300);
      await quiet([final], 1500, 60_000); // redelivered duplicates drained too
      await stopGracefully(final);
      const unacked = await rig.unacked(GROUP);

      // The oracle.
      const oracle = await effectOracle(dataSource, sent, CONSUMER);
      const { counts, missing, twice, unexpected, rows, marks } = oracle;

      // What happened: deliveries per process, which ids more than one process saw, and the two crash windows.
      const { delivered, suppressed, redelivered } = deliveryCounts(procs);
      let beforeCommit = 0;
      let beforeCommitRedone = 0;
      let afterCommit = 0;
      killed.forEach((p, i) => {
        const later = procs.slice(i + 1);
        const laterDups = new Set(later.flatMap((q) => q.dups.map((d) => d.id)));
        const laterDone = new Set(later.flatMap((q) => [...q.done]));
        for (const id of p.started) {
          if (p.done.has(id)) {
            if (laterDups.has(id)) afterCommit += 1;
          } else {
            beforeCommit += 1;
            if (laterDone.has(id)) beforeCommitRedone += 1;
          }
        }
      });
      console.log(
        `      ${where}: ${String(TOTAL)} published in ${String(publishMs)} ms; ${rounds.join('; ')}; final: done ${String(final.doneLines)}, dup ${String(final.dups.length)}\n` +
          `      delivered (done lines) ${String(delivered)}, redelivered (ids seen by >1 process) ${String(redelivered)}, suppressed duplicates (dup lines) ${String(suppressed)}, ` +
          `effects ${String(rows)} rows / ${String(counts.size)} ids, inbox marks ${String(marks)}; killed before commit ${String(beforeCommit)} (${String(beforeCommitRedone)} redone elsewhere), ` +
          `killed after commit before ack ${String(afterCommit)} (then suppressed); missing ${String(missing.length)}, twice ${String(twice.length)}, unexpected ${String(unexpected.length)}, ` +
          `unacked ${unacked ?? 'none'}; ${String(Date.now() - t0)} ms`,
      );
      assertOneEffectEach(oracle, TOTAL);
      assert.equal(unacked, undefined, 'every message acked in the end');
      assert.ok(beforeCommit > 0, 'some kills landed inside the inbox transaction');
      assert.ok(afterCommit > 0, 'some kills landed between the commit and the ack: their redeliveries hit the inbox');
    });
  });
}

killRounds(rabbitRig, 'RabbitMQ');
killRounds(kafkaRig, 'Kafka');
// MariaDB's inbox marks with INSERT IGNORE and its own locking: the same kill rounds, behind both brokers.
killRounds(rabbitRig, 'RabbitMQ', 'mariadb');
killRounds(kafkaRig, 'Kafka', 'mariadb');
