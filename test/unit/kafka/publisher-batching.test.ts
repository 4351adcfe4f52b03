import assert from 'node:assert/strict';
import type { ProducerDriver } from '../../../src/adapters/kafka/driver.js';
import { KafkaPublisher } from '../../../src/adapters/kafka/kafka-publisher.js';
import type { TopicRegistry } from '../../../src/adapters/kafka/topic-registry.js';
import { ClosedError, ConnectionLostError, MessageSerializer, PublishNackedError, PublishTimeoutError } from '../../../src/core/index.js';

type SendBatch = ProducerDriver['sendBatch'];

/** A producer that records each request and answers after `delayMs` (pure batching logic; the broker tests are in test/integration). */
function recordingProducer(delayMs: number, fail?: Error, dropPartition?: number): { producer: ProducerDriver; requests: Parameters<SendBatch>[0][] } {
  const requests: Parameters<SendBatch>[0][] = [];
  const producer: ProducerDriver = {
    connect: () => Promise.resolve(),
    disconnect: () => Promise.resolve(),
    sendBatch: async (batch) => {
      requests.push(batch);
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      if (fail) throw fail;
      const acked = new Set(batch.topicMessages.flatMap((t) => t.messages.filter((m) => m.partition !== dropPartition).map((m) => `${t.topic}|${String(m.partition)}`)));
      return [...acked].map((tp) => ({ topicName: tp.split('|')[0] ?? '', partition: Number(tp.split('|')[1]), errorCode: 0 }));
    },
  };
  return { producer, requests };
}

/** The partition count already known: publishes take the synchronous path. */
const topics = { ensure: () => Promise.resolve(), partitions: () => Promise.resolve(3), knownPartitions: () => 3 } as unknown as TopicRegistry;
const config = { lingerMs: 2, maxBatchSize: 100, maxBatchBytes: 900_000, maxBuffered: 10_000, timeoutMs: 5000, producers: 1 };
const byKey = (_topic: string, count: number, key: string | null): number => (key === null ? 0 : key.length % count);

function publisherOn(producer: ProducerDriver, overrides: Partial<typeof config> = {}, pipelined = false): { publisher: KafkaPublisher; producersMade: () => number } {
  let made = 0;
  const publisher = new KafkaPublisher(
    () => {
      made += 1;
      return Promise.resolve(producer);
    },
    byKey,
    topics,
    new MessageSerializer(),
    { ...config, ...overrides },
    undefined,
    pipelined,
  );
  return { publisher, producersMade: () => made };
}

describe('KafkaPublisher batching', () => {
  it('spreads partitions over producer lanes: one partition always through one producer, lanes in flight at once', async () => {
    const partitions = 6;
    // The count not yet known: publishes wait for it (the path of a topic's first publishes).
    const sixPartitions = { ensure: () => Promise.resolve(), partitions: () => Promise.resolve(partitions), knownPartitions: () => undefined } as unknown as TopicRegistry;
    const lanes: Array<{ partitions: Set<number>; open: number; maxOpen: number }> = [];
    let inFlight = 0;
    let maxInFlight = 0;
    const newLane = (): ProducerDriver => {
      const lane = { partitions: new Set<number>(), open: 0, maxOpen: 0 };
      lanes.push(lane);
      return {
        connect: () => Promise.resolve(),
        disconnect: () => Promise.resolve(),
        sendBatch: async (batch) => {
          const sent = batch.topicMessages.flatMap((t) => t.messages.map((m) => m.partition ?? -1));
          for (const p of sent) lane.partitions.add(p);
          lane.open += 1;
          inFlight += 1;
          lane.maxOpen = Math.max(lane.maxOpen, lane.open);
          maxInFlight = Math.max(maxInFlight, inFlight);
          await new Promise((resolve) => setTimeout(resolve, 5));
          lane.open -= 1;
          inFlight -= 1;
          return [...new Set(sent)].map((partition) => ({ topicName: batch.topicMessages[0]!.topic, partition, errorCode: 0 }));
        },
      };
    };
    const publisher = new KafkaPublisher(() => Promise.resolve(newLane()), (_t, count, key) => Number(key) % count, sixPartitions, new MessageSerializer(), { ...config, producers: 3 });
    await Promise.all(Array.from({ length: 600 }, (_, i) => publisher.publish('t', { type: 't', key: String(i), payload: i })));
    await publisher.close();
    assert.equal(lanes.length, 3, 'one producer per lane');
    const owners = Array.from({ length: partitions }, (_, p) => lanes.filter((lane) => lane.partitions.has(p)).length);
    assert.deepEqual(owners, [1, 1, 1, 1, 1, 1], 'each partition went through exactly one producer');
    assert.deepEqual(lanes.map((lane) => lane.partitions.size), [2, 2, 2], 'the partitions take the lanes in turn');
    assert.ok(maxInFlight >= 3, `requests of different lanes overlap (at most ${String(maxInFlight)} at once)`);
    assert.ok(lanes.every((lane) => lane.maxOpen <= 2), 'a producer has a request per partition of its own at most');
  });

  it('close() disconnects the producer it was given connected, also when nothing was published', async () => {
    let disconnected = 0;
    const connected: ProducerDriver = { ...recordingProducer(1).producer, disconnect: () => Promise.resolve(void (disconnected += 1)) };
    const publisher = new KafkaPublisher(() => Promise.reject(new Error('no other producer expected')), byKey, topics, new MessageSerializer(), { ...config, producers: 2 }, connected);
    await publisher.close();
    assert.equal(disconnected, 1);
  });

  it('gathers 1,000 concurrent publishes into few batches of at most maxBatchSize, one request per partition, acks -1', async () => {
    const { producer, requests } = recordingProducer(5);
    const { publisher } = publisherOn(producer);
    // Keys k0..k9 and k10..k99 have two lengths: two partitions, on each of two topics.
    const sent = await Promise.all(Array.from({ length: 1000 }, (_, i) => publisher.publish(i % 2 ? 'a' : 'b', { type: 't', key: `k${String(i % 20)}`, payload: { i } })));
    assert.equal(sent.length, 1000);
    const counts = requests.map((r) => r.topicMessages.reduce((n, t) => n + t.messages.length, 0));
    assert.equal(counts.reduce((a, b) => a + b, 0), 1000);
    assert.ok(requests.length <= 4 * 15, `${String(requests.length)} requests for 1,000 publishes`);
    assert.ok(counts.every((n) => n <= 100));
    assert.ok(requests.every((r) => r.acks === -1));
    const partitionsPerRequest = requests.map((r) => new Set(r.topicMessages.flatMap((t) => t.messages.map((m) => `${t.topic}:${String(m.partition)}`))).size);
    assert.ok(partitionsPerRequest.every((n) => n === 1), 'each request carries one partition');
    const first = requests.find((r) => r.topicMessages[0]!.topic === 'b')!.topicMessages[0]!.messages[0]!;
    assert.equal(first.key, 'k0');
    assert.equal(first.headers['rmq-type'], 't');
  });

  it('rejects every publish of a failed request with the typed error, and close() awaits pending ones', async () => {
    const { producer } = recordingProducer(5, Object.assign(new Error('nope'), { name: 'KafkaJSProtocolError', type: 'NOT_ENOUGH_REPLICAS' }));
    const { publisher } = publisherOn(producer);
    const results = Array.from({ length: 10 }, (_, i) => publisher.publish('a', { type: 't', payload: i }).then(() => 'ok', (e: unknown) => e));
    await publisher.close();
    const settled = await Promise.all(results);
    assert.ok(settled.every((e) => e instanceof PublishNackedError && e.retriable));
    await assert.rejects(publisher.publish('a', { type: 't', payload: 1 }), ClosedError);
  });

  it('rejects, as indeterminate, the messages of a partition the broker did not acknowledge, and replaces the producer', async () => {
    const { producer } = recordingProducer(1, undefined, 1);
    const { publisher, producersMade } = publisherOn(producer);
    const outcomes = await Promise.all(['a', 'bb', 'ccc'].map((key) => publisher.publish('t', { type: 't', key, payload: key }).then(() => 'ok', (e: unknown) => e)));
    const [first, second, third] = outcomes;
    assert.ok(first instanceof ConnectionLostError && /not acknowledge partition 1 /.test(first.message), 'key "a" went to partition 1, which was not acked');
    assert.deepEqual([second, third], ['ok', 'ok']);
    await publisher.publish('t', { type: 't', key: 'bb', payload: 'again' });
    assert.equal(producersMade(), 2, 'a new producer after the uncertain outcome');
  });

  it('caps a request by bytes too, and sends a message larger than the cap alone', async () => {
    const { producer, requests } = recordingProducer(2);
    const { publisher } = publisherOn(producer, { maxBatchBytes: 10_000 });
    const small = Array.from({ length: 30 }, (_, i) => publisher.publish('t', { type: 't', payload: 'x'.repeat(1000 + i) }));
    const big = publisher.publish('t', { type: 't', payload: 'y'.repeat(20_000) });
    await Promise.all([...small, big]);
    const sizes = requests.map((r) => r.topicMessages.flatMap((t) => t.messages).reduce((n, m) => n + m.value.length, 0));
    const counts = requests.map((r) => r.topicMessages.flatMap((t) => t.messages).length);
    assert.ok(sizes.every((bytes, i) => bytes <= 10_000 || counts[i] === 1), `request sizes ${sizes.join(',')}`);
    assert.ok(requests.some((r) => r.topicMessages.flatMap((t) => t.messages).some((m) => m.value.length > 20_000)), 'the big one was sent');
    assert.equal(counts.reduce((a, b) => a + b, 0), 31);
  });

  it('bounds what it buffers: publishes beyond maxBuffered wait for room', async () => {
    const { producer, requests } = recordingProducer(20);
    const { publisher } = publisherOn(producer, { maxBuffered: 50 });
    const all = Array.from({ length: 200 }, (_, i) => publisher.publish('a', { type: 't', payload: i }));
    await new Promise((resolve) => setTimeout(resolve, 10));
    const inFirst = requests.reduce((n, r) => n + r.topicMessages[0]!.messages.length, 0);
    assert.ok(inFirst <= 50, `${String(inFirst)} messages sent before the first ack`);
    await Promise.all(all);
  });

  it('pipelined (a client that orders in-flight requests itself): hands each tick over at once through one producer, without waiting for acks', async () => {
    const held: Array<() => void> = [];
    const handed: number[][] = [];
    const producer: ProducerDriver = {
      connect: () => Promise.resolve(),
      disconnect: () => Promise.resolve(),
      sendBatch: (batch) => {
        const messages = batch.topicMessages.flatMap((t) => t.messages);
        handed.push(messages.map((m) => JSON.parse(m.value.toString()) as number));
        return new Promise((resolve) => {
          held.push(() => {
            resolve([{ topicName: 't', partition: messages[0]?.partition ?? 0, errorCode: 0 }]);
          });
        });
      },
    };
    const { publisher, producersMade } = publisherOn(producer, { producers: 4 }, true);
    const first = Array.from({ length: 150 }, (_, i) => publisher.publish('t', { type: 't', payload: i }));
    await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setImmediate(resolve));
    const second = Array.from({ length: 10 }, (_, i) => publisher.publish('t', { type: 't', payload: 150 + i }));
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(handed.length, 3, 'two batches of the first tick (maxBatchSize 100) and the second tick, none acknowledged yet');
    assert.deepEqual(handed.flat(), Array.from({ length: 160 }, (_, i) => i), 'handed over in publish order');
    assert.equal(producersMade(), 1, 'one producer, whatever `producers` says');
    for (const release of held) release();
    await Promise.all([...first, ...second]);
    await publisher.close();
  });

  it('a publish timing out while its producer still connects is rejected at its deadline (no unhandled rejection), the message unsent', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown): void => {
      unhandled.push(reason);
    };
    process.on('unhandledRejection', onUnhandled);
    try {
      let sent = 0;
      let connected: (producer: ProducerDriver) => void = () => undefined;
      const producer: ProducerDriver = {
        connect: () => Promise.resolve(),
        disconnect: () => Promise.resolve(),
        sendBatch: (batch) => {
          sent += 1;
          return Promise.resolve([{ topicName: 't', partition: batch.topicMessages[0]?.messages[0]?.partition ?? 0, errorCode: 0 }]);
        },
      };
      const connecting = new Promise<ProducerDriver>((resolve) => {
        connected = resolve;
      });
      const publisher = new KafkaPublisher(() => connecting, () => 0, topics, new MessageSerializer(), { ...config, timeoutMs: 50 });
      const started = Date.now();
      await assert.rejects(publisher.publish('t', { type: 't', payload: 1 }), (e: unknown) => e instanceof PublishTimeoutError);
      assert.ok(Date.now() - started < 1000, 'rejected at the deadline, not when the producer connects');
      connected(producer);
      await new Promise((resolve) => setTimeout(resolve, 20));
      assert.equal(sent, 0, 'the timed-out message is not sent afterwards');
      assert.deepEqual(unhandled, []);
      await publisher.close();
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });

  it('pipelined: keeps its producer through timeouts and lost connections (the client recovers), replaces it when its sequence state broke', async () => {
    // As the Confluent driver reports them: librdkafka's code, and its name as `type`.
    const failures: Error[] = [
      Object.assign(new Error('Local: Message timed out'), { code: -192, type: 'ERR__MSG_TIMED_OUT' }),
      Object.assign(new Error('Local: Broker transport failure'), { code: -195, type: 'ERR__TRANSPORT' }),
      Object.assign(new Error('Local: Fatal error'), { code: -150, type: 'ERR__FATAL' }),
    ];
    const producer: ProducerDriver = {
      connect: () => Promise.resolve(),
      disconnect: () => Promise.resolve(),
      sendBatch: () => Promise.reject(failures.shift() ?? new Error('unexpected')),
    };
    const { publisher, producersMade } = publisherOn(producer, {}, true);
    await assert.rejects(publisher.publish('t', { type: 't', payload: 1 }), (e: unknown) => e instanceof PublishTimeoutError);
    await assert.rejects(publisher.publish('t', { type: 't', payload: 2 }), (e: unknown) => e instanceof ConnectionLostError);
    assert.equal(producersMade(), 1, 'the same producer after a timeout and a transport failure');
    await assert.rejects(publisher.publish('t', { type: 't', payload: 3 }), (e: unknown) => e instanceof ConnectionLostError && /sequence state broke/.test(e.message));
    await assert.rejects(publisher.publish('t', { type: 't', payload: 4 }));
    assert.equal(producersMade(), 2, 'a new producer after the fatal error');
    await publisher.close();
  });
});
