// The whole chain under kill -9: a writer commits business rows with their outbox messages (some transactions roll
// back), relay processes publish them to RabbitMQ (or Kafka), consumer processes behind the PostgreSQL inbox write one
// effect row per message. Relays and consumers are killed with kill -9 at random moments, round after round, while the
// writer goes on; then a relay and a consumer drain the rest. Pass: every committed message has exactly one effect, no
// rolled-back message has any, the outbox is empty and the queue drained. The effects table has no unique key: only the
// inbox stands between a republished or redelivered message and a second row.
import assert from 'node:assert/strict';
import type { DataSource } from 'typeorm';
import { TransactionalOutbox } from '../../../src/outbox/index.js';
import { rabbitUrl } from '../../support/rabbitmq.js';
import { RelayChild, connectionOptions, outboxCount, type RelayProcessConfig } from '../outbox/support.js';
import {
  assertOneEffectEach,
  deliveryCounts,
  distinctEffects,
  effectOracle,
  faultScope,
  kafkaRig,
  kill,
  openSchema,
  quiet,
  rabbitRig,
  sleep,
  startConsumer,
  stopGracefully,
  type Rig,
} from './support.js';

const TOTAL = Number(process.env['CHAIN_TOTAL'] ?? 3000);
const ROUNDS = 3;
const GROUP = 'billing';
const CONSUMER = 'billing';
/** Both crash windows of the consumer held open a little, so kills land in them too. */
const CONSUMER_ENV = { SLOW_BEFORE_COMMIT_MS: '5', SLOW_AFTER_COMMIT_MS: '5', CONCURRENCY: '8', PREFETCH: '40' };
const RELAY = { batchSize: 50, leaseMs: 3000, publishTimeoutMs: 1500, pollIntervalMs: 50 };

/** Commits business rows with their outbox messages until `total` are committed; every tenth transaction rolls back. */
class Writer {
  readonly committed: string[] = [];
  readonly rolledBack: string[] = [];
  private readonly outbox = new TransactionalOutbox();

  constructor(
    private readonly dataSource: DataSource,
    private readonly topic: string,
  ) {}

  async run(total: number): Promise<void> {
    for (let i = 0; this.committed.length < total; i++) {
      let ids: string[] = [];
      try {
        await this.dataSource.transaction(async (manager) => {
          await manager.query('INSERT INTO orders (ref) VALUES ($1)', [`order-${String(i)}`]);
          const envelopes = await this.outbox.add(manager, { topic: this.topic, type: 'order.placed', key: `k${String(i % 20)}`, payload: { i } });
          ids = envelopes.map((e) => e.id);
          if (i % 10 === 7) throw new RolledBack();
        });
        this.committed.push(...ids);
      } catch (error) {
        if (!(error instanceof RolledBack)) throw error;
        this.rolledBack.push(...ids);
      }
      if (i % 20 === 0) await sleep(5); // about 2,000 commits per second at most: the rounds see traffic throughout
    }
  }
}

class RolledBack extends Error {}

function chain(makeRig: (label: string) => Promise<Rig>, name: Rig['name']): void {
  describe(`fault: outbox → relay → ${name} → inbox, relays and consumers killed with kill -9 while a writer commits`, function () {
    this.timeout(240_000);
    const relays: RelayChild[] = [];
    const scope = faultScope([GROUP], async () => {
      for (const relay of relays) await relay.kill9();
    });
    const consumers = scope.procs;

    it(`${String(TOTAL)} committed messages: exactly one effect each, none for rolled-back ones`, async () => {
      const t0 = Date.now();
      scope.db = await openSchema();
      const { dataSource, schema } = scope.db;
      await dataSource.query('CREATE TABLE orders (id serial PRIMARY KEY, ref varchar(64) NOT NULL)');
      const current = await makeRig('chain');
      scope.rig = current;
      await current.prepare([GROUP]);
      const relayConfig: RelayProcessConfig = {
        db: connectionOptions(dataSource),
        rabbitUrl: rabbitUrl(),
        ...(current.kind === 'kafka' ? { kafkaBrokers: current.address.split(',') } : {}),
        confirmTimeoutMs: 1500,
        relay: RELAY,
        reportConfirms: true,
      };
      let confirms = 0; // broker confirms across all relays: more than committed means a killed relay's confirmed rows went out again
      const countConfirms = (words: string[]): void => {
        if (words[0] === 'confirmed') confirms += 1;
      };
      const consumerArgs = [current.kind, current.address, current.topic, GROUP, schema, CONSUMER];

      const writer = new Writer(dataSource, current.topic);
      const writing = writer.run(TOTAL);
      const rounds: string[] = [];
      for (let round = 1; round <= ROUNDS; round++) {
        const relay = RelayChild.start(`relay ${String(round)}`, relayConfig, countConfirms);
        const consumer = startConsumer(`consumer ${String(round)}`, consumerArgs, CONSUMER_ENV);
        relays.push(relay);
        consumers.push(consumer);
        await Promise.all([relay.ready, consumer.ready]);
        // Each killed at a moment of its own, the relay first or the consumer first.
        const relayAt = 300 + Math.random() * 900;
        const consumerAt = 300 + Math.random() * 900;
        await Promise.all([sleep(relayAt).then(() => relay.kill9()), sleep(consumerAt).then(() => kill(consumer))]);
        rounds.push(`r${String(round)}: relay published ${String(relay.published)} (killed at ${relayAt.toFixed(0)} ms), consumer done ${String(consumer.doneLines)}, dup ${String(consumer.dups.length)} (killed at ${consumerAt.toFixed(0)} ms)`);
      }
      await writing;

      const relay = RelayChild.start('relay final', relayConfig, countConfirms);
      const consumer = startConsumer('consumer final', consumerArgs, CONSUMER_ENV);
      relays.push(relay);
      consumers.push(consumer);
      await Promise.all([relay.ready, consumer.ready]);
      const deadline = Date.now() + 90_000;
      while (((await distinctEffects(dataSource)) < writer.committed.length || (await outboxCount(dataSource)) > 0) && Date.now() < deadline) await sleep(300);
      await quiet([consumer], 1500, 30_000); // republished copies drained too
      assert.equal(await relay.stop(), 0, 'the final relay stops cleanly');
      await stopGracefully(consumer);
      const unacked = await current.unacked(GROUP);

      const oracle = await effectOracle(dataSource, writer.committed, CONSUMER);
      const [orders] = await dataSource.query<Array<{ n: string }>>('SELECT COUNT(*) AS n FROM orders');
      const rolledBackWithEffect = writer.rolledBack.filter((id) => oracle.counts.has(id));
      const { delivered, suppressed, redelivered } = deliveryCounts(consumers);
      console.log(
        `      committed ${String(writer.committed.length)}, rolled back ${String(writer.rolledBack.length)}; ${rounds.join('; ')}\n` +
          `      broker confirms ${String(confirms)} (${String(confirms - writer.committed.length)} more than committed: confirmed, not yet deleted at a relay's kill, published again), outbox left ${String(await outboxCount(dataSource))}; ` +
          `consumers: delivered (done lines) ${String(delivered)}, redelivered (ids seen by >1 process) ${String(redelivered)}, suppressed duplicates ${String(suppressed)}; ` +
          `effects ${String(oracle.rows)} rows / ${String(oracle.counts.size)} ids, inbox marks ${String(oracle.marks)}, orders ${String(orders?.n)}; ` +
          `missing ${String(oracle.missing.length)}, twice ${String(oracle.twice.length)}, rolled back with an effect ${String(rolledBackWithEffect.length)}, unacked ${unacked ?? 'none'}; ${String(Date.now() - t0)} ms`,
      );
      assertOneEffectEach(oracle, writer.committed.length);
      assert.deepEqual(rolledBackWithEffect, [], 'no rolled-back message had an effect');
      assert.equal(Number(orders?.n), writer.committed.length, 'one business row per committed message');
      assert.equal(await outboxCount(dataSource), 0, 'the outbox drained');
      assert.equal(unacked, undefined, 'the queue drained');
    });
  });
}

chain(rabbitRig, 'RabbitMQ');
// Kafka: a killed consumer's partitions move once its session (6 s) lapses; the group's committed offsets decide what comes again.
chain(kafkaRig, 'Kafka');
