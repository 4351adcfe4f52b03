// The inbox's batch mode (`KafkaSubscriber.subscribeBatch` + `InboxDeduplicator.wrapBatch`) against a real Kafka broker,
// on each database the inbox supports — they record a group's marks differently: PostgreSQL and sql.js in one multi-row
// `INSERT … ON CONFLICT DO NOTHING RETURNING`, MariaDB with one `INSERT IGNORE` per message; sql.js, with its single
// connection, runs the groups' transactions one after another. Duplicates are forced two ways:
//   1. the same envelope stored twice, back to back (`publishRecord` of the same id, as an outbox relay that republishes
//      after a crash): both copies usually fall into one group, whose one transaction must keep the second from acting;
//   2. ids already handled (mark and effect committed before the subscription starts, as by an earlier run): skipped.
// The `effects` table has no unique key: only the inbox can keep a duplicate from writing a second row.
import assert from 'node:assert/strict';
import type { DataSource } from 'typeorm';
import { FatalError, MessageSerializer, createEnvelope, toWireRecord, type BatchHandler, type Envelope, type WireRecord } from '../../../src/core/index.js';
import { INBOX_TABLE, InboxDeduplicator } from '../../../src/inbox/index.js';
import { sleep, waitFor } from '../../support/wait.js';
import { KafkaFixture, uniqueTopic } from '../kafka/fixture.js';
import { databases } from '../outbox/databases.js';

const SINGLE = 240; // published once (`publish`)
const TWICE = 40; // published twice back to back (`publishRecord` of the same envelope)
const PREMARKED = 20; // of the SINGLE ones: already handled before the subscription starts
const MAX_BATCH = 50;

for (const db of databases) {
  describe(`inbox batch mode on Kafka and ${db.name} (real broker and database)`, function () {
    this.timeout(60_000);
    const fixture = new KafkaFixture();
    let dataSource: DataSource;
    let groupIds: string[] = [];
    const p = (n: number): string => (db.name === 'postgres' ? `$${String(n)}` : '?');
    const insertEffect = `INSERT INTO effects (message_id, n) VALUES (${p(1)}, ${p(2)})`;

    beforeEach(async () => {
      groupIds = [];
      dataSource = await db.open();
      await dataSource.query('CREATE TABLE effects (message_id varchar(255) NOT NULL, n integer NOT NULL)');
    });
    afterEach(async () => {
      await fixture.cleanUp(); // closes the transports (and so their consumers), deletes the topics
      if (groupIds.length > 0) {
        const admin = await fixture.admin();
        await admin.deleteGroups(groupIds).catch(() => undefined);
        await fixture.cleanUp(); // disconnects the admin client again
      }
      await db.drop(dataSource);
    });

    async function effects(): Promise<Map<string, number>> {
      const rows = await dataSource.query<Array<{ message_id: string; c: string | number }>>('SELECT message_id, COUNT(*) AS c FROM effects GROUP BY message_id');
      return new Map(rows.map((r) => [r.message_id, Number(r.c)]));
    }

    async function marks(consumer: string): Promise<number> {
      const [row] = await dataSource.query<Array<{ c: string | number }>>(`SELECT COUNT(*) AS c FROM ${INBOX_TABLE} WHERE consumer = ${p(1)}`, [consumer]);
      return Number(row?.c);
    }

    it(`one transaction per group: every message one effect, duplicates in a group suppressed, groups really batched, offsets committed after (${String(SINGLE)} + ${String(TWICE)} × 2 records, ${String(PREMARKED)} pre-marked)`, async () => {
      const t0 = Date.now();
      const transport = await fixture.connect({ topics: { defaults: { partitions: 3 } } });
      const topic = uniqueTopic(`inbox-batch-${db.name}`);
      const group = 'g';
      groupIds.push(`${topic}.${group}`);
      const consumer = 'batch';
      const publisher = await transport.publisher();
      const serializer = new MessageSerializer();

      // Published once, the ordinary way.
      const single = await Promise.all(Array.from({ length: SINGLE }, (_, i) => publisher.publish(topic, { type: 'x', key: `k${String(i % 30)}`, payload: { n: i } })));
      // Published twice: the same record back to back, in one call order, so the copies sit next to each other in their
      // partition (publishRecord queues in call order) and mostly share a group.
      const twice = Array.from({ length: TWICE }, (_, i) => createEnvelope({ type: 'x', key: `t${String(i % 10)}`, payload: { n: SINGLE + i } }, serializer.defaultContentType));
      const records: WireRecord[] = [];
      for (const e of twice) {
        const record = toWireRecord(e, await serializer.encode(e.type, e.contentType, e.payload));
        records.push(record, record);
      }
      await Promise.all(records.map((r) => publisher.publishRecord(topic, r)));
      const total = SINGLE + 2 * TWICE;

      // Already handled by an earlier run: the mark and its effect, committed together.
      const premarked = single.filter((_, i) => i % Math.floor(SINGLE / PREMARKED) === 3).slice(0, PREMARKED);
      assert.equal(premarked.length, PREMARKED);
      await dataSource.transaction(async (manager) => {
        for (const e of premarked) {
          await manager.query(`INSERT INTO ${INBOX_TABLE} (consumer, message_id) VALUES (${p(1)}, ${p(2)})`, [consumer, e.id]);
          await manager.query(insertEffect, [e.id, e.payload.n]);
        }
      });

      const inbox = new InboxDeduplicator({ dataSource, consumer });
      const suppressed: string[] = [];
      inbox.events.on('duplicate', (m) => void suppressed.push(m.id));
      const groups: string[][] = []; // what the transport handed over, duplicates included
      let handed = 0; // what the inbox let through to the handler
      const inboxed = inbox.wrapBatch<{ n: number }>(async (messages, { manager }) => {
        handed += messages.length;
        for (const m of messages) await manager.query(insertEffect, [m.id, m.payload.n]);
      });
      const observed: BatchHandler<{ n: number }> = async (messages, context) => {
        groups.push(messages.map((m) => m.id));
        await inboxed(messages, context);
      };
      const subscription = await transport.subscriber().subscribeBatch(topic, observed, { group, concurrency: 3, maxBatchSize: MAX_BATCH });
      assert.equal(subscription.groupId, groupIds[0]);

      // Offsets are committed only after their group's transaction: once every partition is committed to its end,
      // every effect and mark is in the database.
      const admin = await fixture.admin();
      const ends = new Map((await admin.fetchTopicOffsets(topic)).map((o) => [o.partition, BigInt(o.high)]));
      assert.equal([...ends.values()].reduce((a, b) => a + b, 0n), BigInt(total), 'every record is in the topic');
      let committed = new Map<number, bigint>();
      const atEnd = (): boolean => [...ends].every(([partition, end]) => committed.get(partition) === end);
      const deadline = Date.now() + 20_000;
      while (!atEnd() && Date.now() < deadline) {
        await sleep(100);
        committed = await fixture.committed(subscription.groupId, topic);
      }
      const committedSum = [...committed.values()].reduce((a, b) => a + (b > 0n ? b : 0n), 0n);
      assert.ok(atEnd(), `committed ${[...committed].map(([q, o]) => `${String(q)}:${String(o)}`).join(' ')} of ends ${[...ends].map(([q, o]) => `${String(q)}:${String(o)}`).join(' ')}`);
      await subscription.close();

      const counts = await effects();
      const rows = [...counts.values()].reduce((a, b) => a + b, 0);
      const sizes = groups.map((g) => g.length);
      const inGroupPairs = groups.reduce((a, g) => a + g.length - new Set(g).size, 0);
      const delivered = sizes.reduce((a, b) => a + b, 0);
      const markCount = await marks(consumer);
      console.log(
        `      ${db.name} × Kafka batch: ${String(total)} records (${String(SINGLE)} once + ${String(TWICE)} × 2), ${String(PREMARKED)} pre-marked; ` +
          `${String(groups.length)} groups (sizes ${String(Math.min(...sizes))}..${String(Math.max(...sizes))}, delivered ${String(delivered)}), ` +
          `copies sharing a group ${String(inGroupPairs)}/${String(TWICE)}, suppressed ${String(suppressed.length)}, handed to the handler ${String(handed)}, ` +
          `effects ${String(rows)} rows / ${String(counts.size)} ids, marks ${String(markCount)}, committed ${String(committedSum)}/${String(total)}; ${String(Date.now() - t0)} ms`,
      );

      for (const e of [...single, ...twice]) assert.equal(counts.get(e.id), 1, `one effect for ${e.id}`);
      assert.equal(counts.size, SINGLE + TWICE);
      assert.equal(rows, SINGLE + TWICE, 'no effect beyond the one per id');
      assert.equal(markCount, SINGLE + TWICE, 'one mark per id');
      const suppressedIds = new Set(suppressed);
      for (const e of [...premarked, ...twice]) assert.ok(suppressedIds.has(e.id), `a delivery of ${e.id} was suppressed`);
      assert.ok(suppressed.length >= PREMARKED + TWICE, `${String(suppressed.length)} suppressed`);
      assert.ok(inGroupPairs > 0, 'some copies arrived in the same group as their twin: the group transaction itself suppressed them');
      assert.ok(Math.max(...sizes) > 1, `groups of ${sizes.join(',')}`);
      assert.ok(sizes.every((n) => n <= MAX_BATCH), `groups of ${sizes.join(',')}`);
      assert.ok(delivered >= total, 'every record was delivered');
    });

    if (db.name !== 'postgres') return;

    it('a message that always fails sinks neither its group nor the transaction of the others: it alone is dead-lettered', async () => {
      const transport = await fixture.connect({ topics: { defaults: { partitions: 1 } }, consumer: { deliveryLimit: 3, retryInitialDelayMs: 10, retryMaxDelayMs: 20 } });
      const topic = uniqueTopic('inbox-batch-bad');
      groupIds.push(`${topic}.g`, `${transport.deadLetterTopic(topic, 'g')}.dlq`);
      const publisher = await transport.publisher();
      const sent = await Promise.all(Array.from({ length: 20 }, (_, i) => publisher.publish(topic, { type: 'x', payload: { n: i } })));
      const dead: Envelope[] = [];
      await transport.subscriber().subscribe(transport.deadLetterTopic(topic, 'g'), (m) => void dead.push(m), { group: 'dlq' });
      const inbox = new InboxDeduplicator({ dataSource, consumer: 'batch' });
      await transport.subscriber().subscribeBatch(
        topic,
        inbox.wrapBatch<{ n: number }>(async (messages, { manager }) => {
          for (const m of messages) {
            await manager.query(insertEffect, [m.id, m.payload.n]);
            if (m.payload.n === 7) throw new FatalError('order 7 cannot be invoiced');
          }
        }),
        { group: 'g', maxBatchSize: 50 },
      );
      await waitFor(() => dead.length === 1, 20_000, () => 'the bad message was dead-lettered');
      const deadline = Date.now() + 10_000;
      let counts = await effects();
      while (counts.size < 19 && Date.now() < deadline) {
        await sleep(100);
        counts = await effects();
      }
      assert.equal(dead[0]?.id, sent[7]?.id);
      assert.equal(dead[0]?.headers['rmq-dead-letter-reason'], 'handler-fatal');
      assert.equal(counts.size, 19, 'the other 19 each have their effect');
      assert.equal(counts.get(sent[7]!.id), undefined, 'the failed message left no effect');
      for (const [id, n] of counts) assert.equal(n, 1, `one effect for ${id}`);
    });
  });
}
