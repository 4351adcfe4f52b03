import assert from 'node:assert/strict';
import type { DataSource } from 'typeorm';
import { FatalError, type Envelope } from '../../../src/core/index.js';
import { InboxDeduplicator } from '../../../src/inbox/index.js';
import { waitFor } from '../../support/wait.js';
import { KafkaFixture, uniqueTopic } from '../kafka/fixture.js';
import { databases } from '../outbox/databases.js';

const postgres = databases.find((d) => d.name === 'postgres')!;

describe('inbox batch mode on Kafka and PostgreSQL (real broker and database)', function () {
  this.timeout(60_000);
  const fixture = new KafkaFixture();
  let dataSource: DataSource;

  beforeEach(async () => {
    dataSource = await postgres.open();
    await dataSource.query('CREATE TABLE effects (message_id varchar(255) NOT NULL, n integer NOT NULL)');
  });
  afterEach(async () => {
    await fixture.cleanUp();
    await postgres.drop(dataSource);
  });

  async function effects(): Promise<Map<string, number>> {
    const rows = await dataSource.query<Array<{ message_id: string; c: string }>>('SELECT message_id, COUNT(*) AS c FROM effects GROUP BY message_id');
    return new Map(rows.map((r) => [r.message_id, Number(r.c)]));
  }

  it('one transaction per group: every message one effect, groups really batched, offsets committed after', async () => {
    const transport = await fixture.connect({ topics: { defaults: { partitions: 3 } } });
    const topic = uniqueTopic('inbox-batch');
    const publisher = await transport.publisher();
    const sent = await Promise.all(Array.from({ length: 600 }, (_, i) => publisher.publish(topic, { type: 'x', key: `k${String(i % 30)}`, payload: { n: i } })));
    const inbox = new InboxDeduplicator({ dataSource, consumer: 'batch' });
    const groupSizes: number[] = [];
    const subscription = await transport.subscriber().subscribeBatch(
      topic,
      inbox.wrapBatch<{ n: number }>(async (messages, { manager }) => {
        groupSizes.push(messages.length);
        for (const m of messages) await manager.query('INSERT INTO effects (message_id, n) VALUES ($1, $2)', [m.id, m.payload.n]);
      }),
      { group: 'g', concurrency: 3, maxBatchSize: 100 },
    );
    let counts = await effects();
    const until = Date.now() + 20_000;
    while (counts.size < 600 && Date.now() < until) {
      await new Promise((r) => setTimeout(r, 100)); // the last group's transaction commits after its handler returned
      counts = await effects();
    }
    assert.equal(counts.size, 600);
    for (const e of sent) assert.equal(counts.get(e.id), 1);
    assert.ok(Math.max(...groupSizes) > 1, `groups of ${groupSizes.join(',')}`);
    assert.ok(groupSizes.every((n) => n <= 100));
    let committed = 0n;
    const deadline = Date.now() + 10_000;
    while (committed !== 600n && Date.now() < deadline) {
      committed = [...(await fixture.committed(subscription.groupId, topic)).values()].reduce((a, b) => a + b, 0n);
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(committed, 600n, 'every offset committed once its group committed');
  });

  it('a message that always fails sinks neither its group nor the transaction of the others: it alone is dead-lettered', async () => {
    const transport = await fixture.connect({ topics: { defaults: { partitions: 1 } }, consumer: { deliveryLimit: 3, retryInitialDelayMs: 10, retryMaxDelayMs: 20 } });
    const topic = uniqueTopic('inbox-batch-bad');
    const publisher = await transport.publisher();
    const sent = await Promise.all(Array.from({ length: 20 }, (_, i) => publisher.publish(topic, { type: 'x', payload: { n: i } })));
    const dead: Envelope[] = [];
    await transport.subscriber().subscribe(transport.deadLetterTopic(topic, 'g'), (m) => void dead.push(m), { group: 'dlq' });
    const inbox = new InboxDeduplicator({ dataSource, consumer: 'batch' });
    await transport.subscriber().subscribeBatch(
      topic,
      inbox.wrapBatch<{ n: number }>(async (messages, { manager }) => {
        for (const m of messages) {
          await manager.query('INSERT INTO effects (message_id, n) VALUES ($1, $2)', [m.id, m.payload.n]);
          if (m.payload.n === 7) throw new FatalError('order 7 cannot be invoiced');
        }
      }),
      { group: 'g', maxBatchSize: 50 },
    );
    await waitFor(() => dead.length === 1, 20_000, () => 'the bad message was dead-lettered');
    const deadline = Date.now() + 10_000;
    let counts = await effects();
    while (counts.size < 19 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      counts = await effects();
    }
    assert.equal(dead[0]?.id, sent[7]?.id);
    assert.equal(dead[0]?.headers['rmq-dead-letter-reason'], 'handler-fatal');
    assert.equal(counts.size, 19, 'the other 19 each have their effect');
    assert.equal(counts.get(sent[7]!.id), undefined, 'the failed message left no effect');
    for (const [id, n] of counts) assert.equal(n, 1, `one effect for ${id}`);
  });
});
