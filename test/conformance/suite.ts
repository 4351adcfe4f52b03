import assert from 'node:assert/strict';
import { z } from 'zod';
import {
  ClosedError,
  ErrorCode,
  FatalError,
  UnroutableError,
  RetryableError,
  WireHeader,
  causedBy,
  createEnvelope,
  toWireRecord,
  type Codec,
  type Envelope,
  type Middleware,
} from '../../src/core/index.js';
import { sleep, staysFalse, waitFor } from '../support/wait.js';
import { Recorder, Scope, publishKeyed, uniqueName, utf8, type HarnessFactory, type TransportFeatures, type TransportHarness } from './harness.js';

/** Reads application/json bodies as raw bytes: lets a dead-letter reader see a poison body untouched. */
const rawJsonCodec: Codec = { contentType: 'application/json', encode: (p) => p as Uint8Array, decode: (body) => body };

function rawHeaders(id: string, type: string): Record<string, string> {
  return { [WireHeader.ID]: id, [WireHeader.TYPE]: type, [WireHeader.CONTENT_TYPE]: 'application/json' };
}

/**
 * The conformance suite every transport passes (after Watermill's universal pub/sub tests). An adapter
 * supplies its features and a harness factory; every test uses fresh topics and groups.
 */
export function runTransportConformance(name: string, features: TransportFeatures, createHarness: HarnessFactory): void {
  describe(`conformance: ${name}`, function () {
    this.timeout(features.timeoutMs * 4);
    let harness: TransportHarness;
    let scope: Scope;
    const T = features.timeoutMs;

    before(async () => {
      harness = await createHarness();
    });
    after(async () => {
      await harness.close();
    });
    beforeEach(() => {
      scope = new Scope(harness);
    });
    afterEach(async () => {
      await scope.close();
    });

    it('round trip: a published message arrives once with its envelope intact', async () => {
      const topic = uniqueName('roundtrip');
      const recorder = new Recorder();
      await (await scope.subscriber()).subscribe(topic, recorder.handler(), { group: 'g' });
      const sent = await (await scope.publisher()).publish(topic, {
        type: 'order.placed',
        key: 'order-17',
        payload: { orderId: 17, total: 42.5, items: ['a', 'b'] },
        headers: { tenant: 'acme' },
        correlationId: 'corr-1',
        causationId: 'cause-1',
      });
      await recorder.waitForUnique(1, T);
      await staysFalse(() => recorder.received.length > 1, 200, () => 'the message arrived twice');
      const got = recorder.received[0]?.envelope as Envelope;
      assert.equal(got.id, sent.id);
      assert.match(got.id, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      assert.equal(got.type, 'order.placed');
      assert.equal(got.key, 'order-17');
      assert.deepEqual(got.payload, { orderId: 17, total: 42.5, items: ['a', 'b'] });
      assert.equal(got.headers['tenant'], 'acme');
      assert.equal(got.correlationId, 'corr-1');
      assert.equal(got.causationId, 'cause-1');
      assert.equal(got.contentType, 'application/json');
      assert.equal(got.createdAt.getTime(), sent.createdAt.getTime());
      assert.equal(got.attempt, 1);
    });

    it('many messages: each arrives exactly once and order is kept per key (one consumer)', async () => {
      const topic = uniqueName('order');
      const recorder = new Recorder();
      await (await scope.subscriber()).subscribe(topic, recorder.handler(), { group: 'g', prefetch: 50 });
      const sent = await publishKeyed(await scope.publisher(), topic, 500, 5);
      await recorder.waitForUnique(500, T * 2);
      await staysFalse(() => recorder.received.length > 500, 200, () => `${String(recorder.received.length)} deliveries for 500 messages`);
      assert.deepEqual(new Set(recorder.ids), new Set(sent.map((e) => e.id)));
      assertOrderPerKey(recorder.received.map((r) => r.envelope));
    });

    it(features.orderPerKeyWithConcurrency ? 'order per key holds with concurrency and several members' : 'order per key holds with concurrency in one member (the transport promises no more)', async () => {
      const topic = uniqueName('order-conc');
      const recorder = new Recorder();
      const subscriber = await scope.subscriber();
      await (await subscriber.subscribe(topic, () => undefined, { group: 'g' })).close();
      await publishKeyed(await scope.publisher(), topic, 300, 6); // a backlog: many messages of each key ready at once
      const slowly = async (): Promise<void> => sleep(Math.random() * 3);
      await subscriber.subscribe(topic, recorder.handler('a', slowly), { group: 'g', concurrency: 4, prefetch: 20 });
      if (features.orderPerKeyWithConcurrency) await subscriber.subscribe(topic, recorder.handler('b', slowly), { group: 'g', concurrency: 4, prefetch: 20 });
      await recorder.waitForUnique(300, T * 2);
      assertOrderPerKey(recorder.received.map((r) => r.envelope));
    });

    it('consumer groups: every group gets every message, each to one member of the group', async () => {
      const topic = uniqueName('groups');
      const billing = new Recorder();
      const audit = new Recorder();
      const subscriber = await scope.subscriber();
      await subscriber.subscribe(topic, billing.handler('b1', () => sleep(1)), { group: 'billing' });
      await subscriber.subscribe(topic, billing.handler('b2', () => sleep(1)), { group: 'billing' });
      await subscriber.subscribe(topic, audit.handler('a1'), { group: 'audit' });
      const publisher = await scope.publisher();
      const sent = await Promise.all(Array.from({ length: 100 }, (_, i) => publisher.publish(topic, { type: 'test.fanout', payload: { i } })));
      await billing.waitForUnique(100, T);
      await audit.waitForUnique(100, T);
      await sleep(200);
      const all = sent.map((e) => e.id).sort();
      assert.deepEqual([...billing.ids].sort(), all, 'billing: each message exactly once across its two members');
      assert.deepEqual([...audit.ids].sort(), all, 'audit: each message exactly once');
      if (features.balancesGroupMembers) {
        assert.ok(billing.by('b1').length > 0 && billing.by('b2').length > 0, 'both members of billing took a share');
      }
    });

    it('nack: a message whose handler throws RetryableError is redelivered with attempt 2', async () => {
      const topic = uniqueName('nack');
      const recorder = new Recorder();
      const attempts: Record<number, number[]> = {};
      await (await scope.subscriber()).subscribe(
        topic,
        recorder.handler('x', (e) => {
          const i = (e.payload as { i: number }).i;
          (attempts[i] ??= []).push(e.attempt);
          if (i === 2 && e.attempt === 1) throw new RetryableError('database busy');
        }),
        { group: 'g' },
      );
      const publisher = await scope.publisher();
      for (let i = 0; i < 5; i++) await publisher.publish(topic, { type: 'test.nack', payload: { i } });
      await recorder.waitForUnique(5, T);
      await sleep(100);
      assert.deepEqual(attempts[2], [1, 2]);
      for (const i of [0, 1, 3, 4]) assert.deepEqual(attempts[i], [1], `message ${String(i)} delivered once`);
    });

    it('handler throws: the message is redelivered and nothing is lost', async () => {
      const topic = uniqueName('throws');
      const recorder = new Recorder();
      let failures = 0;
      await (await scope.subscriber()).subscribe(
        topic,
        recorder.handler('x', (e, seen) => {
          if ((e.payload as { i: number }).i % 3 === 0 && seen === 0 && e.attempt === 1) {
            failures += 1;
            throw new Error('transient failure');
          }
        }),
        { group: 'g', concurrency: 4 },
      );
      const publisher = await scope.publisher();
      const sent = await Promise.all(Array.from({ length: 60 }, (_, i) => publisher.publish(topic, { type: 'test.throws', payload: { i } })));
      await recorder.waitForUnique(60, T);
      assert.equal(failures, 20);
      assert.deepEqual(recorder.uniqueIds(), new Set(sent.map((e) => e.id)));
    });

    it('consumer closed mid-stream: finished work is acked, the rest goes to the next consumer', async () => {
      const topic = uniqueName('close-mid');
      const first = new Recorder();
      const second = new Recorder();
      const subscription = await (await scope.subscriber()).subscribe(topic, first.handler('first', () => sleep(10)), { group: 'g', prefetch: 10 });
      const publisher = await scope.publisher();
      const sent = await Promise.all(Array.from({ length: 60 }, (_, i) => publisher.publish(topic, { type: 'test.close', payload: { i } })));
      await waitFor(() => first.received.length >= 5, T, () => 'first consumer started');
      await subscription.close();
      const doneByFirst = first.received.length;
      assert.ok(doneByFirst < 60, 'the first consumer was stopped mid-stream');
      await (await scope.subscriber()).subscribe(topic, second.handler('second'), { group: 'g' });
      await waitFor(() => first.uniqueIds().size + second.uniqueIds().size >= 60, T, () => 'all messages processed by one of the two');
      await sleep(200);
      const all = [...first.ids, ...second.ids].sort();
      assert.deepEqual(all, sent.map((e) => e.id).sort(), 'every message processed exactly once across the two consumers');
      assert.equal(first.received.length, doneByFirst, 'the closed consumer processed nothing after close resolved');
    });

    it('consumer crashed mid-stream: its unacked messages are redelivered to another consumer', async () => {
      const topic = uniqueName('crash');
      const first = new Recorder();
      const second = new Recorder();
      const subscription = await (await scope.subscriber()).subscribe(topic, first.handler('first', () => sleep(20)), { group: 'g', prefetch: 10, concurrency: 2 });
      const publisher = await scope.publisher();
      const sent = await Promise.all(Array.from({ length: 40 }, (_, i) => publisher.publish(topic, { type: 'test.crash', payload: { i } })));
      await waitFor(() => first.received.length >= 3, T, () => 'first consumer started');
      await harness.crash(subscription);
      await (await scope.subscriber()).subscribe(topic, second.handler('second'), { group: 'g' });
      await second.waitForUnique(1, T);
      const processed = () => new Set([...first.ids, ...second.ids]);
      await waitFor(() => processed().size >= 40, T, () => `${String(processed().size)} of 40 processed`);
      assert.deepEqual(processed(), new Set(sent.map((e) => e.id)), 'none lost');
      if (features.attemptSurvivesConsumerLoss) {
        assert.ok(second.received.some((r) => r.envelope.attempt >= 2), 'messages held by the crashed consumer came back as redeliveries');
      }
    });

    it('close waits at most closeTimeoutMs for a stuck handler, aborts it, and the message is redelivered', async () => {
      const topic = uniqueName('close-timeout');
      let started = 0;
      let abortedSeen = false;
      const stuck = async (_e: Envelope, context: { signal: AbortSignal }): Promise<void> => {
        started += 1;
        await new Promise<void>((_, reject) => {
          context.signal.addEventListener('abort', () => {
            abortedSeen = true;
            reject(new Error('aborted'));
          });
        });
      };
      const subscription = await (await scope.subscriber()).subscribe(topic, stuck, { group: 'g', closeTimeoutMs: 300 });
      const sent = await (await scope.publisher()).publish(topic, { type: 'test.stuck', payload: {} });
      await waitFor(() => started === 1, T, () => 'the handler started');
      const t0 = Date.now();
      await subscription.close();
      const elapsed = Date.now() - t0;
      assert.ok(elapsed >= 250 && elapsed < 3000, `close took ${String(elapsed)} ms for a 300 ms close timeout`);
      assert.ok(abortedSeen, 'the stuck handler saw its signal abort');
      const recorder = new Recorder();
      await (await scope.subscriber()).subscribe(topic, recorder.handler(), { group: 'g' });
      await recorder.waitForUnique(1, T);
      assert.equal(recorder.received[0]?.envelope.id, sent.id);
      if (features.attemptSurvivesConsumerLoss) assert.ok(recorder.received[0].envelope.attempt >= 2, 'redelivered as a further attempt');
    });

    it('publisher close awaits every publish in flight', async () => {
      const topic = uniqueName('pub-close');
      const recorder = new Recorder();
      await (await scope.subscriber()).subscribe(topic, recorder.handler(), { group: 'g', prefetch: 100 });
      const publisher = await harness.publisher();
      let resolved = 0;
      const publishes = Array.from({ length: 100 }, (_, i) =>
        publisher.publish(topic, { type: 'test.pub-close', payload: { i } }).then(() => {
          resolved += 1;
        }),
      );
      await publisher.close();
      assert.equal(resolved, 100, 'close() resolved only after every publish had been confirmed');
      await Promise.all(publishes);
      await recorder.waitForUnique(100, T);
    });

    it('use after close fails with ClosedError; closing twice is fine', async () => {
      const topic = uniqueName('after-close');
      const publisher = await harness.publisher();
      await publisher.close();
      await publisher.close();
      await assert.rejects(publisher.publish(topic, { type: 'x', payload: 1 }), (e: unknown) => e instanceof ClosedError && e.code === ErrorCode.CLOSED);
      const subscriber = await harness.subscriber();
      const subscription = await subscriber.subscribe(topic, () => undefined, { group: 'g' });
      await subscription.close();
      await subscription.close();
      await subscriber.close();
      await subscriber.close();
      await assert.rejects(subscriber.subscribe(topic, () => undefined, { group: 'g' }), (e: unknown) => e instanceof ClosedError && e.code === ErrorCode.CLOSED);
    });

    it('messages published while no consumer runs are kept for the group', async () => {
      const topic = uniqueName('durable');
      const declare = await (await scope.subscriber()).subscribe(topic, () => undefined, { group: 'g' });
      await declare.close();
      const publisher = await scope.publisher();
      const sent = await Promise.all(Array.from({ length: 20 }, (_, i) => publisher.publish(topic, { type: 'test.durable', payload: { i } })));
      const recorder = new Recorder();
      await (await scope.subscriber()).subscribe(topic, recorder.handler(), { group: 'g' });
      await recorder.waitForUnique(20, T);
      assert.deepEqual(recorder.uniqueIds(), new Set(sent.map((e) => e.id)));
    });

    if (!features.newGroupReceivesOldMessages) {
      it('a publish that no group can receive yet is refused as unroutable, never silently dropped', async () => {
        const topic = uniqueName('nobody');
        const publisher = await scope.publisher();
        await assert.rejects(publisher.publish(topic, { type: 'test.nobody', payload: {} }), (e: unknown) => e instanceof UnroutableError && e.code === ErrorCode.UNROUTABLE);
        const recorder = new Recorder();
        await (await scope.subscriber()).subscribe(topic, recorder.handler(), { group: 'late' });
        const after = await publisher.publish(topic, { type: 'test.nobody', payload: { n: 2 } });
        await recorder.waitForUnique(1, T);
        await staysFalse(() => recorder.received.length > 1, 200, () => 'the refused message arrived after all');
        assert.deepEqual(recorder.ids, [after.id]);
      });
    }

    if (features.newGroupReceivesOldMessages) {
      it('a group created after publishing receives the earlier messages', async () => {
        const topic = uniqueName('old');
        const publisher = await scope.publisher();
        const sent = await Promise.all(Array.from({ length: 10 }, (_, i) => publisher.publish(topic, { type: 'test.old', payload: { i } })));
        const recorder = new Recorder();
        await (await scope.subscriber()).subscribe(topic, recorder.handler(), { group: 'late' });
        await recorder.waitForUnique(10, T);
        assert.deepEqual(recorder.uniqueIds(), new Set(sent.map((e) => e.id)));
      });
    }

    it('headers, producer-assigned ids, correlation and causation round trip', async () => {
      const topic = uniqueName('headers');
      const recorder = new Recorder();
      await (await scope.subscriber()).subscribe(topic, recorder.handler(), { group: 'g' });
      const publisher = await scope.publisher();
      const parent = await publisher.publish(topic, { type: 'test.parent', payload: {}, id: 'producer-id-0001' });
      const headers = { 'x-trace': '00-abc-01', 'unicode-ünï': 'välue ✓', empty: '', long: 'h'.repeat(2000) };
      const child = await publisher.publish(topic, { type: 'test.child', payload: { ok: true }, headers, ...causedBy(parent) });
      await recorder.waitForUnique(2, T);
      const [gotParent, gotChild] = ['producer-id-0001', child.id].map((id) => recorder.received.find((r) => r.envelope.id === id)?.envelope);
      assert.ok(gotParent && gotChild);
      assert.equal(gotChild.correlationId, 'producer-id-0001');
      assert.equal(gotChild.causationId, 'producer-id-0001');
      for (const [k, v] of Object.entries(headers)) assert.equal(gotChild.headers[k], v, `header ${k}`);
    });

    it('publishRecord sends an encoded record as it is, with the same confirmation', async () => {
      const topic = uniqueName('record');
      const recorder = new Recorder();
      await (await scope.subscriber()).subscribe(topic, recorder.handler(), { group: 'g' });
      const envelope = createEnvelope({ type: 'order.placed', key: 'k-9', payload: { n: 9 }, headers: { tenant: 'acme' } }, 'application/json');
      await (await scope.publisher()).publishRecord(topic, toWireRecord(envelope, utf8.encode('{"n":9}')));
      await recorder.waitForUnique(1, T);
      const got = recorder.received[0]?.envelope as Envelope;
      assert.equal(got.id, envelope.id);
      assert.equal(got.key, 'k-9');
      assert.equal(got.headers['tenant'], 'acme');
      assert.deepEqual(got.payload, { n: 9 });
      assert.equal(got.createdAt.getTime(), envelope.createdAt.getTime());
    });

    it('a 1 MiB payload arrives intact', async () => {
      const topic = uniqueName('big');
      const recorder = new Recorder();
      await (await scope.subscriber()).subscribe(topic, recorder.handler(), { group: 'g' });
      const blob = 'abcdefghijklmnopqrstuvwxyz012345'.repeat(32 * 1024);
      await (await scope.publisher()).publish(topic, { type: 'test.big', payload: { blob } });
      await recorder.waitForUnique(1, T);
      assert.equal((recorder.received[0]?.envelope.payload as { blob: string }).blob, blob);
    });

    it('a poison payload is dead-lettered with its reason while the consumer keeps going', async () => {
      const topic = uniqueName('poison');
      const dlq = new Recorder();
      await (await scope.subscriber({ codecs: [rawJsonCodec] })).subscribe(harness.deadLetterTopic(topic, 'g'), dlq.handler(), { group: 'dlq-reader' });
      const recorder = new Recorder();
      await (await scope.subscriber()).subscribe(topic, recorder.handler(), { group: 'g' });
      const poison = utf8.encode('{"orderId": 17, "total": ');
      await harness.publishRaw(topic, { headers: rawHeaders('poison-1', 'order.placed'), body: poison });
      const good = await (await scope.publisher()).publish(topic, { type: 'order.placed', payload: { orderId: 18 } });
      await recorder.waitForUnique(1, T);
      await dlq.waitForUnique(1, T);
      assert.deepEqual(recorder.ids, [good.id], 'the handler saw only the good message');
      const dead = dlq.received[0]?.envelope as Envelope;
      assert.equal(dead.id, 'poison-1', 'the dead letter keeps the original id');
      assert.equal(dead.headers[WireHeader.DEAD_LETTER_REASON], 'malformed-payload');
      assert.match(dead.headers[WireHeader.DEAD_LETTER_ERROR] ?? '', /PoisonMessageError: malformed-payload: invalid JSON/);
      assert.equal(dead.headers[WireHeader.DEAD_LETTER_TOPIC], topic);
      assert.equal(dead.headers[WireHeader.DEAD_LETTER_GROUP], 'g');
      assert.deepEqual(Buffer.from(dead.payload as Uint8Array), Buffer.from(poison), 'the body is kept byte for byte');
    });

    it('unknown types and schema violations are dead-lettered; valid messages flow', async () => {
      const topic = uniqueName('schema');
      const types = { 'order.placed': { schema: z.object({ orderId: z.number().int() }) } };
      const dlq = new Recorder();
      await (await scope.subscriber({ codecs: [rawJsonCodec] })).subscribe(harness.deadLetterTopic(topic, 'g'), dlq.handler(), { group: 'dlq-reader' });
      const recorder = new Recorder();
      await (await scope.subscriber({ types })).subscribe(topic, recorder.handler(), { group: 'g' });
      await harness.publishRaw(topic, { headers: rawHeaders('unknown-1', 'order.cancelled'), body: utf8.encode('{"orderId": 1}') });
      await harness.publishRaw(topic, { headers: rawHeaders('invalid-1', 'order.placed'), body: utf8.encode('{"orderId": "seventeen"}') });
      const good = await (await scope.publisher({ types })).publish(topic, { type: 'order.placed', payload: { orderId: 3 } });
      await recorder.waitForUnique(1, T);
      await dlq.waitForUnique(2, T);
      assert.deepEqual(recorder.ids, [good.id]);
      const reasons = Object.fromEntries(dlq.received.map((r) => [r.envelope.id, r.envelope.headers[WireHeader.DEAD_LETTER_REASON]]));
      assert.deepEqual(reasons, { 'unknown-1': 'unknown-type', 'invalid-1': 'schema-violation' });
      assert.match(dlq.received.find((r) => r.envelope.id === 'invalid-1')?.envelope.headers[WireHeader.DEAD_LETTER_ERROR] ?? '', /orderId/);
    });

    it('a message from a producer without the SDK is consumed with a fallback id', async () => {
      const topic = uniqueName('foreign');
      const recorder = new Recorder();
      const dlq = new Recorder();
      await (await scope.subscriber({ codecs: [rawJsonCodec] })).subscribe(harness.deadLetterTopic(topic, 'g'), dlq.handler(), { group: 'dlq-reader' });
      await (await scope.subscriber()).subscribe(topic, recorder.handler(), { group: 'g' });
      await harness.publishRaw(topic, { headers: {}, body: utf8.encode('{"legacy": true}') });
      await harness.publishRaw(topic, { headers: {}, body: utf8.encode('not json at all') });
      await recorder.waitForUnique(1, T);
      await dlq.waitForUnique(1, T);
      const got = recorder.received[0]?.envelope as Envelope;
      assert.deepEqual(got.payload, { legacy: true });
      assert.equal(got.type, 'untyped');
      assert.ok(got.id.length > 0, 'a fallback id was assigned');
      assert.equal(dlq.received[0]?.envelope.headers[WireHeader.DEAD_LETTER_REASON], 'malformed-payload');
    });

    it('FatalError dead-letters at once, without redelivery', async () => {
      const topic = uniqueName('fatal');
      const dlq = new Recorder();
      await (await scope.subscriber()).subscribe(harness.deadLetterTopic(topic, 'g'), dlq.handler(), { group: 'dlq-reader' });
      let calls = 0;
      const recorder = new Recorder();
      await (await scope.subscriber()).subscribe(
        topic,
        recorder.handler('x', (e) => {
          if (e.type === 'test.fatal') {
            calls += 1;
            throw new FatalError('order 17 does not exist');
          }
        }),
        { group: 'g' },
      );
      const publisher = await scope.publisher();
      const fatal = await publisher.publish(topic, { type: 'test.fatal', payload: { orderId: 17 } });
      await publisher.publish(topic, { type: 'test.ok', payload: {} });
      await dlq.waitForUnique(1, T);
      await recorder.waitForUnique(1, T);
      await sleep(100);
      assert.equal(calls, 1);
      const dead = dlq.received[0]?.envelope as Envelope;
      assert.equal(dead.id, fatal.id);
      assert.deepEqual(dead.payload, { orderId: 17 });
      assert.equal(dead.headers[WireHeader.DEAD_LETTER_REASON], 'handler-fatal');
      assert.match(dead.headers[WireHeader.DEAD_LETTER_ERROR] ?? '', /FatalError: order 17 does not exist/);
    });

    it('a message that always fails is dead-lettered at the delivery limit', async () => {
      const limit = features.deliveryLimit;
      const topic = uniqueName('limit');
      const dlq = new Recorder();
      await (await scope.subscriber()).subscribe(harness.deadLetterTopic(topic, 'g'), dlq.handler(), { group: 'dlq-reader' });
      let calls = 0;
      await (await scope.subscriber()).subscribe(
        topic,
        () => {
          calls += 1;
          throw new Error('always broken');
        },
        { group: 'g' },
      );
      const sent = await (await scope.publisher()).publish(topic, { type: 'test.limit', payload: {} });
      await dlq.waitForUnique(1, T);
      await sleep(100);
      assert.equal(calls, limit);
      const dead = dlq.received[0]?.envelope as Envelope;
      assert.equal(dead.id, sent.id);
      assert.equal(dead.headers[WireHeader.DEAD_LETTER_REASON], 'delivery-limit');
      assert.match(dead.headers[WireHeader.DEAD_LETTER_ERROR] ?? '', /always broken/);
    });

    it('concurrency bounds the handlers running at once', async () => {
      const topic = uniqueName('prefetch');
      const recorder = new Recorder();
      const subscribe = async (): Promise<void> => {
        await (await scope.subscriber()).subscribe(topic, recorder.handler('x', () => sleep(15)), { group: 'g', concurrency: 3, prefetch: 5 });
      };
      const publisher = await scope.publisher();
      const publishAll = (): Promise<unknown> => Promise.all(Array.from({ length: 30 }, (_, i) => publisher.publish(topic, { type: 'test.prefetch', payload: { i } })));
      // Where a new group reads what came before it (Kafka), the backlog stands in every partition before the
      // first fetch; otherwise the group's queue must exist first (RabbitMQ) and collects the backlog.
      if (features.newGroupReceivesOldMessages) {
        await publishAll();
        await subscribe();
      } else {
        await subscribe();
        await publishAll();
      }
      await recorder.waitForUnique(30, T);
      assert.equal(recorder.maxActive, 3);
    });

    it('topics are isolated from each other, also for groups of the same name', async () => {
      const [a, b] = [uniqueName('topic-a'), uniqueName('topic-b')];
      const [onA, onB] = [new Recorder(), new Recorder()];
      const subscriber = await scope.subscriber();
      await subscriber.subscribe(a, onA.handler(), { group: 'g' });
      await subscriber.subscribe(b, onB.handler(), { group: 'g' });
      const publisher = await scope.publisher();
      const sentB = await publisher.publish(b, { type: 'test.b', payload: {} });
      const sentA = await publisher.publish(a, { type: 'test.a', payload: {} });
      await onA.waitForUnique(1, T);
      await onB.waitForUnique(1, T);
      await staysFalse(() => onA.received.length > 1 || onB.received.length > 1, 200, () => 'a message crossed topics');
      assert.deepEqual(onA.ids, [sentA.id]);
      assert.deepEqual(onB.ids, [sentB.id]);
    });

    it('subscriptions to many topics at once each get their own messages', async () => {
      const topics = Array.from({ length: 5 }, (_, i) => uniqueName(`multi-${String(i)}`));
      const subscriber = await scope.subscriber();
      const recorders = topics.map(() => new Recorder());
      await Promise.all(topics.map((t, i) => subscriber.subscribe(t, (recorders[i] as Recorder).handler(), { group: 'g' })));
      const publisher = await scope.publisher();
      await Promise.all(topics.flatMap((t) => Array.from({ length: 20 }, (_, i) => publisher.publish(t, { type: 'test.multi', payload: { t, i } }))));
      await Promise.all(recorders.map((r) => r.waitForUnique(20, T)));
      recorders.forEach((r, i) => {
        assert.ok(r.received.every((x) => (x.envelope.payload as { t: string }).t === topics[i]));
      });
    });

    it('closing many subscriptions concurrently loses nothing', async () => {
      const topic = uniqueName('conc-close');
      const recorder = new Recorder();
      const subscriber = await scope.subscriber();
      const subscriptions = await Promise.all(Array.from({ length: 5 }, (_, i) => subscriber.subscribe(topic, recorder.handler(`m${String(i)}`, () => sleep(5)), { group: 'g' })));
      const publisher = await scope.publisher();
      const sent = await Promise.all(Array.from({ length: 100 }, (_, i) => publisher.publish(topic, { type: 'test.conc-close', payload: { i } })));
      await waitFor(() => recorder.received.length >= 10, T, () => 'consumption started');
      await Promise.all(subscriptions.map((s) => s.close()));
      await (await scope.subscriber()).subscribe(topic, recorder.handler('after'), { group: 'g' });
      await recorder.waitForUnique(100, T);
      assert.deepEqual(recorder.uniqueIds(), new Set(sent.map((e) => e.id)));
    });

    it('the handler context carries topic, group and an abort signal', async () => {
      const topic = uniqueName('ctx');
      const recorder = new Recorder();
      await (await scope.subscriber()).subscribe(topic, recorder.handler(), { group: 'ctx-group' });
      await (await scope.publisher()).publish(topic, { type: 'test.ctx', payload: {} });
      await recorder.waitForUnique(1, T);
      const context = recorder.received[0]!.context;
      assert.equal(context.topic, topic);
      assert.equal(context.group, 'ctx-group');
      assert.ok(context.signal instanceof AbortSignal);
      assert.equal(context.signal.aborted, false);
    });

    it('middleware wraps the handler, first outermost, and may settle a message itself', async () => {
      const topic = uniqueName('middleware');
      const calls: string[] = [];
      const trace =
        (label: string): Middleware =>
        (next) =>
        async (message, context) => {
          calls.push(`${label}>`);
          await next(message, context);
          calls.push(`<${label}`);
        };
      const skipTests: Middleware = (next) => (message, context) => (message.type === 'test.skip' ? undefined : next(message, context));
      const recorder = new Recorder();
      await (await scope.subscriber()).subscribe(topic, recorder.handler('x', () => {
        calls.push('handler');
      }), {
        group: 'g',
        middleware: [trace('outer'), trace('inner'), skipTests],
      });
      const publisher = await scope.publisher();
      await publisher.publish(topic, { type: 'test.skip', payload: {} });
      const kept = await publisher.publish(topic, { type: 'test.kept', payload: {} });
      await recorder.waitForUnique(1, T);
      await sleep(100);
      assert.deepEqual(recorder.ids, [kept.id], 'the skipped message was acked without reaching the handler, and not redelivered');
      assert.deepEqual(calls.slice(-5), ['outer>', 'inner>', 'handler', '<inner', '<outer']);
    });
  });
}

function assertOrderPerKey(received: Envelope[]): void {
  const last = new Map<string, number>();
  for (const envelope of received) {
    const i = (envelope.payload as { i: number }).i;
    const key = envelope.key as string;
    const previous = last.get(key) ?? -1;
    assert.ok(i > previous, `key ${key}: message ${String(i)} arrived after ${String(previous)}`);
    last.set(key, i);
  }
}
