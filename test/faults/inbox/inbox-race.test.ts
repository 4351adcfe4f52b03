// Two consumer processes handed the same message at the same time: every message is published once to a topic with two
// groups (RabbitMQ: two queues; Kafka: two consumer groups), one process per group, both behind the same inbox consumer
// name. Each handler holds its transaction open a little after the insert, so the two deliveries of an id overlap: the
// inbox key must let one commit its effect and make the other skip. Pass: exactly one effect per id, every delivery in
// both groups acked. The business table has no unique key. Kafka runs it per message and in batch mode.
import assert from 'node:assert/strict';
import {
  distinctEffects,
  effectOracle,
  faultScope,
  assertOneEffectEach,
  kafkaRig,
  openSchema,
  quiet,
  rabbitRig,
  sleep,
  startConsumer,
  stopGracefully,
  type FaultDatabase,
  type Rig,
} from './support.js';

const TOTAL = Number(process.env['INBOX_RACE_TOTAL'] ?? 1000);
const GROUPS = ['a', 'b'];
const CONSUMER = 'billing';
const ENV = { SLOW_BEFORE_COMMIT_MS: '15', CONCURRENCY: '8', PREFETCH: '20' };

function race(makeRig: (label: string) => Promise<Rig>, name: string, extraEnv: Record<string, string> = {}, database: FaultDatabase = 'postgres'): void {
  const where = database === 'postgres' ? name : `${name}, inbox on MariaDB`;
  describe(`fault: two ${where} consumer processes race on the same message behind one inbox`, function () {
    this.timeout(120_000);
    const scope = faultScope(GROUPS);
    const { procs } = scope;

    it(`${String(TOTAL)} messages, each delivered to both: exactly one effect per id`, async () => {
      const t0 = Date.now();
      scope.db = await openSchema(database);
      const { dataSource, schema } = scope.db;
      const current = await makeRig('race');
      scope.rig = current;
      await current.prepare(GROUPS);
      const args = (group: string): string[] => [current.kind, current.address, current.topic, group, schema, CONSUMER];
      for (const group of GROUPS) procs.push(startConsumer(group, args(group), { ...ENV, ...extraEnv, DB: database }));
      await Promise.all(procs.map((p) => p.ready));
      const sent = await current.publish(TOTAL); // both already consuming: the two copies of an id arrive together

      const deadline = Date.now() + 90_000;
      const handled = (): number => procs.reduce((a, p) => a + p.started.size + p.dups.length, 0);
      while (((await distinctEffects(dataSource)) < TOTAL || handled() < 2 * TOTAL) && Date.now() < deadline) await sleep(300);
      await quiet(procs, 1500, 30_000);
      for (const p of procs) await stopGracefully(p);
      const unacked = (await Promise.all(GROUPS.map((g) => current.unacked(g)))).filter((u) => u !== undefined);

      const oracle = await effectOracle(dataSource, sent);

      const { counts, missing, twice, unexpected, rows } = oracle;
      // A race: the losing delivery began before the winner's transaction had committed, so it waited on the inbox key.
      const committedAt = new Map<string, number>();
      for (const p of procs) for (const id of p.started) committedAt.set(id, p.doneAt.get(id) ?? Number.NaN);
      const dups = procs.flatMap((p) => p.dups);
      const raced = dups.filter((d) => d.beganAt < (committedAt.get(d.id) ?? 0));
      const waited = raced.map((d) => d.waitedMs).sort((x, y) => x - y);
      const wins = procs.map((p) => `${p.label} ${String(p.started.size)}`).join(', ');
      console.log(
        `      ${where}: ${String(TOTAL)} messages × ${String(GROUPS.length)} groups; handler runs ${wins}; suppressed duplicates ${String(dups.length)}, ` +
          `of which raced (began before the winner committed) ${String(raced.length)}, waited median ${String(waited[Math.floor(waited.length / 2)] ?? 0)} ms; ` +
          `effects ${String(rows)} rows / ${String(counts.size)} ids; missing ${String(missing.length)}, twice ${String(twice.length)}, unexpected ${String(unexpected.length)}, ` +
          `unacked ${unacked.length === 0 ? 'none' : unacked.join('; ')}; ${String(Date.now() - t0)} ms`,
      );
      assertOneEffectEach(oracle, TOTAL);
      assert.equal(procs.reduce((a, p) => a + p.started.size, 0), TOTAL, 'one handler run per id across both processes (nothing rolled back)');
      assert.equal(dups.length, TOTAL, 'the other delivery of every id was suppressed');
      assert.deepEqual(unacked, [], 'every delivery in both groups acked');
      assert.ok(raced.length > 0, 'some deliveries of one id overlapped');
    });
  });
}

race(rabbitRig, 'RabbitMQ');
race(kafkaRig, 'Kafka');
// Batch mode: the two processes' groups of one partition overlap, so a group's marks meet ids the other group holds.
race(kafkaRig, 'Kafka batch-mode', { BATCH: '20' });
// MariaDB decides with INSERT IGNORE and InnoDB's locks on the key.
race(rabbitRig, 'RabbitMQ', {}, 'mariadb');
race(kafkaRig, 'Kafka batch-mode', { BATCH: '20' }, 'mariadb');
