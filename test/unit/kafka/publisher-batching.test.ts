import assert from 'node:assert/strict';
import type { ProducerDriver } from '../../../src/adapters/kafka/driver.js';
import { KafkaPublisher } from '../../../src/adapters/kafka/kafka-publisher.js';
import type { TopicRegistry } from '../../../src/adapters/kafka/topic-registry.js';
import { ClosedError, MessageSerializer, PublishNackedError } from '../../../src/core/index.js';

type SendBatch = ProducerDriver['sendBatch'];

/** A producer that records each request and answers after `delayMs` (pure batching logic; the broker tests are in test/integration). */
function recordingProducer(delayMs: number, fail?: Error): { producer: ProducerDriver; requests: Parameters<SendBatch>[0][] } {
  const requests: Parameters<SendBatch>[0][] = [];
  const producer: ProducerDriver = {
    connect: () => Promise.resolve(),
    disconnect: () => Promise.resolve(),
    sendBatch: async (batch) => {
      requests.push(batch);
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      if (fail) throw fail;
      return [];
    },
  };
  return { producer, requests };
}

const topics = { ensure: () => Promise.resolve() } as unknown as TopicRegistry;
const config = { lingerMs: 2, maxBatchSize: 100, maxBuffered: 10_000, timeoutMs: 5000 };

describe('KafkaPublisher batching', () => {
  it('gathers 1,000 concurrent publishes into few requests of at most maxBatchSize, acks -1', async () => {
    const { producer, requests } = recordingProducer(5);
    const publisher = new KafkaPublisher(producer, topics, new MessageSerializer(), config);
    const sent = await Promise.all(Array.from({ length: 1000 }, (_, i) => publisher.publish(i % 2 ? 'a' : 'b', { type: 't', key: `k${String(i % 7)}`, payload: { i } })));
    assert.equal(sent.length, 1000);
    const counts = requests.map((r) => r.topicMessages.reduce((n, t) => n + t.messages.length, 0));
    assert.equal(counts.reduce((a, b) => a + b, 0), 1000);
    assert.ok(requests.length <= 15, `${String(requests.length)} requests for 1,000 publishes`);
    assert.ok(counts.every((n) => n <= 100));
    assert.ok(requests.every((r) => r.acks === -1));
    const first = requests[0]!.topicMessages.find((t) => t.topic === 'b')!.messages[0]!;
    assert.equal(first.key, 'k0');
    assert.equal(first.headers['rmq-type'], 't');
  });

  it('rejects every publish of a failed request with the typed error, and close() awaits pending ones', async () => {
    const { producer } = recordingProducer(5, Object.assign(new Error('nope'), { name: 'KafkaJSProtocolError', type: 'NOT_ENOUGH_REPLICAS' }));
    const publisher = new KafkaPublisher(producer, topics, new MessageSerializer(), config);
    const results = Array.from({ length: 10 }, (_, i) => publisher.publish('a', { type: 't', payload: i }).then(() => 'ok', (e: unknown) => e));
    await publisher.close();
    const settled = await Promise.all(results);
    assert.ok(settled.every((e) => e instanceof PublishNackedError && e.retriable));
    await assert.rejects(publisher.publish('a', { type: 't', payload: 1 }), ClosedError);
  });

  it('bounds what it buffers: publishes beyond maxBuffered wait for room', async () => {
    const { producer, requests } = recordingProducer(20);
    const publisher = new KafkaPublisher(producer, topics, new MessageSerializer(), { ...config, maxBuffered: 50 });
    const all = Array.from({ length: 200 }, (_, i) => publisher.publish('a', { type: 't', payload: i }));
    await new Promise((resolve) => setTimeout(resolve, 10));
    const inFirst = requests.reduce((n, r) => n + r.topicMessages[0]!.messages.length, 0);
    assert.ok(inFirst <= 50, `${String(inFirst)} messages sent before the first ack`);
    await Promise.all(all);
  });
});
