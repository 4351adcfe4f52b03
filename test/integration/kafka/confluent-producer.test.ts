import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { Kafka, logLevel } from 'kafkajs';
import { confluentProducerDriver, type ConfluentKafka } from '../../../src/adapters/kafka/index.js';
import { MessageValidationError } from '../../../src/core/index.js';
import { KafkaFixture, kafkaBrokers, uniqueTopic } from './fixture.js';

/** Provisioned by `scripts/clients/confluent-kafka.sh ensure` (npm test runs it). */
const confluent = createRequire(import.meta.url)('@confluentinc/kafka-javascript') as ConfluentKafka;

/** Every record of `topic` as [partition, key, seq], read with a raw kafkajs consumer. */
async function readAll(topic: string, expected: number): Promise<Array<{ partition: number; key: string; seq: number; id: string }>> {
  const consumer = new Kafka({ clientId: 'it-read', brokers: kafkaBrokers(), logLevel: logLevel.NOTHING }).consumer({ groupId: `${topic}.read`, maxWaitTimeInMs: 100 });
  const records: Array<{ partition: number; key: string; seq: number; id: string }> = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    let done: () => void = () => undefined;
    const all = new Promise<void>((resolve) => {
      done = resolve;
    });
    await consumer.run({
      eachMessage: ({ partition, message }) => {
        const { seq } = JSON.parse(message.value?.toString() ?? '{}') as { seq: number };
        records.push({ partition, key: message.key?.toString() ?? '', seq, id: message.headers?.['rmq-id']?.toString() ?? '' });
        if (records.length >= expected) done();
        return Promise.resolve();
      },
    });
    await Promise.race([all, new Promise((_, reject) => {
        setTimeout(() => {
          reject(new Error(`read ${String(records.length)} of ${String(expected)}`));
        }, 30_000).unref();
      })]);
  } finally {
    await consumer.disconnect();
  }
  return records;
}

describe("Kafka publisher on Confluent's producer (real broker)", function () {
  this.timeout(60_000);
  const fixture = new KafkaFixture();
  afterEach(() => fixture.cleanUp());

  it('5,000 publishes started at once, handed over without waiting for earlier requests: each stored once, in publish order per key', async () => {
    const transport = await fixture.connect({ topics: { defaults: { partitions: 3 } } }, confluentProducerDriver(confluent));
    const topic = uniqueTopic('ck-order');
    await transport.ensureTopic(topic);
    const publisher = await transport.publisher();
    const total = 5000;
    const envelopes = await Promise.all(Array.from({ length: total }, (_, seq) => publisher.publish(topic, { type: 'ck.order', key: `k${String(seq % 20)}`, payload: { seq } })));
    const records = await readAll(topic, total);
    assert.equal(records.length, total);
    assert.deepEqual(new Set(records.map((r) => r.id)), new Set(envelopes.map((e) => e.id)), 'every publish stored once, under its id');
    const lastSeq = new Map<string, number>();
    const partitionOfKey = new Map<string, number>();
    for (const r of records) {
      assert.ok((lastSeq.get(r.key) ?? -1) < r.seq, `key ${r.key}: seq ${String(r.seq)} after ${String(lastSeq.get(r.key))}`);
      lastSeq.set(r.key, r.seq);
      assert.equal(partitionOfKey.get(r.key) ?? r.partition, r.partition, `key ${r.key} stays on one partition`);
      partitionOfKey.set(r.key, r.partition);
    }
  });

  it("a message over the topic's max.message.bytes is refused with MessageValidationError; the publisher goes on", async () => {
    const transport = await fixture.connect({ topics: { defaults: { partitions: 1, config: { 'max.message.bytes': '65536' } } } }, confluentProducerDriver(confluent));
    const topic = uniqueTopic('ck-large');
    await transport.ensureTopic(topic);
    const publisher = await transport.publisher();
    await assert.rejects(publisher.publish(topic, { type: 'ck.large', payload: 'x'.repeat(200_000) }), (e: unknown) => e instanceof MessageValidationError && /TOO_LARGE/.test(e.message));
    const after = await publisher.publish(topic, { type: 'ck.large', payload: { seq: 1 } });
    const [record] = await readAll(topic, 1);
    assert.equal(record?.id, after.id);
  });
});
