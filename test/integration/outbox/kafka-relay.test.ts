// Kafka as the outbox relay's publisher: a real KafkaTransport publisher, PostgreSQL, a real Kafka subscription.
import assert from 'node:assert/strict';
import type { DataSource } from 'typeorm';
import { OutboxRelay, TransactionalOutbox } from '../../../src/outbox/index.js';
import { sleep } from '../../support/wait.js';
import { KafkaFixture, uniqueTopic } from '../kafka/fixture.js';
import { keys, log, Recorder, SequentialWriter } from '../../faults/outbox/support.js';
import { databases } from './databases.js';
import { RelayLog, rowCount, until } from './relay-helpers.js';

const postgres = databases.find((d) => d.name === 'postgres');

describe('outbox relay with Kafka as its publisher on postgres (real database, real Kafka)', function () {
  this.timeout(90_000);
  const fixture = new KafkaFixture();
  let dataSource: DataSource | undefined;
  let relay: OutboxRelay | undefined;

  afterEach(async () => {
    await relay?.stop().catch(() => undefined);
    relay = undefined;
    await fixture.cleanUp(); // closes the transports (publisher and subscription) and deletes the topics
    if (dataSource && postgres) await postgres.drop(dataSource);
    dataSource = undefined;
  });

  it('publishes every committed row once through KafkaTransport; a Kafka subscription receives each key in commit order', async () => {
    if (!postgres) throw new Error('no postgres fixture');
    dataSource = await postgres.open();
    const KEYS = keys(6);
    const PARTITIONS = 3;
    const TRANSACTIONS = 10;
    const ROWS = KEYS.length * TRANSACTIONS;
    const transport = await fixture.connect({ topics: { defaults: { partitions: PARTITIONS } } });
    const topic = uniqueTopic('outbox-relay');
    const recorder = new Recorder();
    await transport.subscriber().subscribe(
      topic,
      (m) => {
        recorder.record(m);
      },
      { group: 'g' },
    );

    // Half the rows are committed before the relay starts, half while it runs (woken by NOTIFY).
    const writer = new SequentialWriter(dataSource, new TransactionalOutbox(), topic);
    for (let i = 0; i < TRANSACTIONS / 2; i++) await writer.commit(KEYS);
    relay = new OutboxRelay({ dataSource, publisher: await transport.publisher(), pollIntervalMs: 50 });
    const rounds = new RelayLog(relay);
    const t0 = Date.now();
    await relay.start();
    for (let i = 0; i < TRANSACTIONS / 2; i++) await writer.commit(KEYS);
    await until(() => recorder.distinct === ROWS, 60_000, () => `${String(recorder.distinct)} of ${String(ROWS)} consumed`);
    const consumedMs = Date.now() - t0;
    await until(async () => (await rowCount(dataSource as DataSource)) === 0, 10_000, () => 'outbox empty');
    await relay.stop();
    await sleep(1000); // a duplicate, if any, would still be on its way

    const perPartition = (await (await fixture.admin()).fetchTopicOffsets(topic)).sort((a, b) => a.partition - b.partition).map((p) => Number(p.high));
    const committed = new Set(writer.committed);
    const lost = writer.committed.filter((id) => !recorder.counts.has(id)).length;
    const unexpected = [...recorder.counts.keys()].filter((id) => !committed.has(id)).length;
    const order = recorder.orderProblems(writer.perKey);
    log(
      `postgres → Kafka (${String(PARTITIONS)} partitions): ${String(ROWS)} rows over ${String(KEYS.length)} keys in ${String(TRANSACTIONS)} transactions (half before the relay started); ` +
        `records per partition ${JSON.stringify(perPartition)}; relay published ${String(rounds.published)} in ${String(rounds.working.length)} rounds (failures ${String(rounds.failures.length)}, fenced ${String(rounds.fenced)}); ` +
        `all consumed ${String(consumedMs)} ms after the relay started; consumed ${String(recorder.distinct)} distinct / ${String(recorder.deliveries.length)} deliveries, ` +
        `duplicates ${String(recorder.duplicates().length)}, lost ${String(lost)}, unexpected ${String(unexpected)}; per-key order problems ${String(order.length)}; outbox left 0`,
    );
    assert.equal(lost, 0);
    assert.equal(unexpected, 0);
    assert.equal(recorder.deliveries.length, ROWS, 'every message received once');
    assert.deepEqual(order, [], 'each key received in commit order');
    assert.equal(rounds.published, ROWS);
    assert.equal(perPartition.reduce((a, b) => a + b, 0), ROWS, 'the topic holds each row once');
    assert.ok(perPartition.filter((n) => n > 0).length > 1, 'the keys spread over several partitions');
    assert.deepEqual(rounds.failures, []);
    assert.equal(rounds.fenced, 0);
  });
});
