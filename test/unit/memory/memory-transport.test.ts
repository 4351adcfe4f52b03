import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { MemoryTransport } from '../../../src/adapters/memory/index.js';
import type { MemorySubscription } from '../../../src/adapters/memory/index.js';
import { ConfigError, MessageValidationError } from '../../../src/core/index.js';
import type { Envelope, HandlerContext, OutgoingMessage } from '../../../src/core/index.js';
import { staysFalse, waitFor } from '../../support/wait.js';

const topicName = (label: string): string => `unit-${label}-${randomBytes(4).toString('hex')}`;

function configFields(config: unknown): { component: string; fields: string[] } {
  try {
    new MemoryTransport(config as ConstructorParameters<typeof MemoryTransport>[0]);
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected ConfigError, got ${String(error)}`);
    assert.equal(error.code, 'RMQ_CONFIG_INVALID');
    return { component: error.component, fields: error.issues.map((i) => i.field) };
  }
  assert.fail('constructor did not throw');
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

const msg = (n: number): OutgoingMessage => ({ type: 'test.message', payload: { n } });

describe('MemoryTransport configuration', () => {
  it('applies defaults', () => {
    const transport = new MemoryTransport();
    assert.equal(transport.deadLetterTopic('orders', 'billing'), 'orders.billing.dlq');
    assert.equal(transport.serializer.defaultContentType, 'application/json');
  });

  const invalid: [string, unknown, string][] = [
    ['deliveryLimit 0', { deliveryLimit: 0 }, 'deliveryLimit'],
    ['deliveryLimit 2.5', { deliveryLimit: 2.5 }, 'deliveryLimit'],
    ['deadLetterTopic not a function', { deadLetterTopic: 'dlq' }, 'deadLetterTopic'],
    ['duplicateDeliveries not a boolean', { duplicateDeliveries: 'yes' }, 'duplicateDeliveries'],
    ['retainPerTopic negative', { retainPerTopic: -1 }, 'retainPerTopic'],
    ['an unknown key', { deliveryLimt: 3 }, 'deliveryLimt'],
  ];
  for (const [label, config, field] of invalid) {
    it(`rejects ${label}, naming the field`, () => {
      assert.deepEqual(configFields(config), { component: 'MemoryTransport', fields: [field] });
    });
  }

  it('rejects an invalid serializer config with a MessageSerializer ConfigError', () => {
    assert.deepEqual(configFields({ serializer: { unknownTypes: 'maybe' } }), { component: 'MessageSerializer', fields: ['unknownTypes'] });
  });

  it('uses a custom dead-letter topic', () => {
    const transport = new MemoryTransport({ deadLetterTopic: (t, g) => `dlq.${t}.${g}` });
    assert.equal(transport.deadLetterTopic('orders', 'billing'), 'dlq.orders.billing');
  });
});

describe('MemoryTransport delivery', () => {
  const cleanup: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const step of cleanup.splice(0).reverse()) await step();
  });

  it('holds at most prefetch messages in a subscription', async () => {
    const transport = new MemoryTransport();
    const topic = topicName('prefetch');
    const gate = deferred();
    const started: Envelope[] = [];
    const sub = await transport.subscriber().subscribe(
      topic,
      async (e) => {
        started.push(e);
        await gate.promise;
      },
      { group: 'g', concurrency: 1, prefetch: 3 },
    );
    cleanup.push(() => sub.close());
    const publisher = transport.publisher();
    for (let i = 0; i < 10; i++) await publisher.publish(topic, msg(i));
    await waitFor(() => started.length === 1, 2000, () => `started ${String(started.length)}`);
    await staysFalse(() => started.length > 1, 50, () => 'a second handler started while the first is blocked');
    assert.deepEqual(transport.stats(topic, 'g'), { ready: 7, inFlight: 3, consumers: 1 });
    gate.resolve();
    await waitFor(() => started.length === 10, 2000, () => `processed ${String(started.length)}`);
    await waitFor(() => transport.stats(topic, 'g').inFlight === 0, 2000, () => JSON.stringify(transport.stats(topic, 'g')));
    assert.deepEqual(transport.stats(topic, 'g'), { ready: 0, inFlight: 0, consumers: 1 });
    assert.deepEqual(
      started.map((e) => (e.payload as { n: number }).n),
      [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    );
  });

  it('delivers every message twice with duplicateDeliveries', async () => {
    const transport = new MemoryTransport({ duplicateDeliveries: true });
    const topic = topicName('dup');
    const seen: Envelope[] = [];
    const sub = await transport.subscriber().subscribe(topic, (e) => {
      seen.push(e);
    }, { group: 'g' });
    cleanup.push(() => sub.close());
    const publisher = transport.publisher();
    const sent = [await publisher.publish(topic, msg(1)), await publisher.publish(topic, msg(2)), await publisher.publish(topic, msg(3))];
    await waitFor(() => seen.length >= 6, 2000, () => `received ${String(seen.length)}`);
    await staysFalse(() => seen.length > 6, 50, () => `received ${String(seen.length)}`);
    for (const envelope of sent) {
      assert.equal(seen.filter((e) => e.id === envelope.id).length, 2, `message ${envelope.id} not delivered twice`);
    }
  });

  it('gives a late group the retained messages by default', async () => {
    const transport = new MemoryTransport();
    const topic = topicName('retained');
    const old = await transport.publisher().publish(topic, msg(1));
    const seen: string[] = [];
    const sub = await transport.subscriber().subscribe(topic, (e) => {
      seen.push(e.id);
    }, { group: 'late' });
    cleanup.push(() => sub.close());
    await waitFor(() => seen.length === 1, 2000, () => 'retained message not delivered');
    assert.deepEqual(seen, [old.id]);
  });

  it('gives a late group nothing old with deliverRetainedToNewGroups: false', async () => {
    const transport = new MemoryTransport({ deliverRetainedToNewGroups: false });
    const topic = topicName('noretain');
    const publisher = transport.publisher();
    await publisher.publish(topic, msg(1));
    const seen: string[] = [];
    const sub = await transport.subscriber().subscribe(topic, (e) => {
      seen.push(e.id);
    }, { group: 'late' });
    cleanup.push(() => sub.close());
    await staysFalse(() => seen.length > 0, 50, () => 'an old message reached the late group');
    const fresh = await publisher.publish(topic, msg(2));
    await waitFor(() => seen.length === 1, 2000, () => 'new message not delivered');
    assert.deepEqual(seen, [fresh.id]);
  });

  it('abandons a stuck handler after closeTimeoutMs, aborts its signal and redelivers with attempt 2', async () => {
    const transport = new MemoryTransport();
    const topic = topicName('closetimeout');
    const contexts: HandlerContext[] = [];
    const first = await transport.subscriber().subscribe(
      topic,
      (_e, c) => {
        contexts.push(c);
        return new Promise<void>(() => undefined);
      },
      { group: 'g', closeTimeoutMs: 50 },
    );
    const sent = await transport.publisher().publish(topic, msg(1));
    await waitFor(() => contexts.length === 1, 2000, () => 'handler not started');
    assert.equal(contexts[0]!.signal.aborted, false);
    const startedAt = performance.now();
    await first.close();
    const elapsed = performance.now() - startedAt;
    assert.ok(elapsed >= 45 && elapsed < 1000, `close took ${elapsed.toFixed(1)} ms`);
    assert.equal(contexts[0]!.signal.aborted, true);
    assert.match((contexts[0]!.signal.reason as Error).message, /close timeout/);
    assert.deepEqual(transport.stats(topic, 'g'), { ready: 1, inFlight: 0, consumers: 0 });

    const redelivered: Envelope[] = [];
    const second = await transport.subscriber().subscribe(topic, (e) => {
      redelivered.push(e);
    }, { group: 'g' });
    cleanup.push(() => second.close());
    await waitFor(() => redelivered.length === 1, 2000, () => 'not redelivered');
    assert.equal(redelivered[0]!.id, sent.id);
    assert.equal(redelivered[0]!.attempt, 2);
  });

  it('crash() aborts the signal and the group redelivers the message', async () => {
    const transport = new MemoryTransport();
    const topic = topicName('crash');
    const contexts: HandlerContext[] = [];
    const sub: MemorySubscription = await transport.subscriber().subscribe(
      topic,
      (_e, c) => {
        contexts.push(c);
        return new Promise<void>(() => undefined);
      },
      { group: 'g' },
    );
    const sent = await transport.publisher().publish(topic, msg(1));
    await waitFor(() => contexts.length === 1, 2000, () => 'handler not started');
    sub.crash();
    assert.equal(contexts[0]!.signal.aborted, true);
    assert.match((contexts[0]!.signal.reason as Error).message, /crashed/);
    assert.deepEqual(transport.stats(topic, 'g'), { ready: 1, inFlight: 0, consumers: 0 });
    const redelivered: Envelope[] = [];
    const next = await transport.subscriber().subscribe(topic, (e) => {
      redelivered.push(e);
    }, { group: 'g' });
    cleanup.push(() => next.close());
    await waitFor(() => redelivered.length === 1, 2000, () => 'not redelivered');
    assert.equal(redelivered[0]!.id, sent.id);
    assert.equal(redelivered[0]!.attempt, 2);
  });
});

describe('MemoryTransport argument validation', () => {
  it('subscribe with invalid options rejects with ConfigError naming the field', async () => {
    const subscriber = new MemoryTransport().subscriber();
    await assert.rejects(
      subscriber.subscribe(topicName('opts'), () => undefined, { group: 'g', concurrency: 0 }),
      (e: unknown) => e instanceof ConfigError && e.component === 'MemorySubscriber.subscribe' && e.issues.map((i) => i.field).join() === 'concurrency',
    );
    await assert.rejects(
      subscriber.subscribe(topicName('opts'), () => undefined, { group: 'g', prefech: 5 } as never),
      (e: unknown) => e instanceof ConfigError && e.issues.map((i) => i.field).join() === 'prefech',
    );
  });

  it('subscribe with invalid options creates no group', async () => {
    const transport = new MemoryTransport();
    const topic = topicName('opts-nogroup');
    await transport.publisher().publish(topic, msg(1));
    await assert.rejects(transport.subscriber().subscribe(topic, () => undefined, { group: 'g', concurrency: 0 }), ConfigError);
    assert.deepEqual(transport.stats(topic, 'g'), { ready: 0, inFlight: 0, consumers: 0 });
    transport.broker.group(topic, 'g');
    assert.equal(transport.stats(topic, 'g').ready, 1, 'a created group would hold the retained message');
  });

  it("publish to '' rejects with MessageValidationError", async () => {
    await assert.rejects(new MemoryTransport().publisher().publish('', msg(1)), (e: unknown) => e instanceof MessageValidationError && /Topic/.test(e.message));
  });

  it('an invalid message (missing type) rejects with MessageValidationError and nothing is appended', async () => {
    const transport = new MemoryTransport();
    const topic = topicName('invalid');
    transport.broker.group(topic, 'g');
    const publisher = transport.publisher();
    await assert.rejects(publisher.publish(topic, { payload: 1 } as unknown as OutgoingMessage), (e: unknown) => e instanceof MessageValidationError && /type/.test(e.message));
    assert.equal(transport.stats(topic, 'g').ready, 0);
    await publisher.publish(topic, msg(1));
    assert.equal(transport.stats(topic, 'g').ready, 1, 'a valid publish is counted, so the zero above is meaningful');
  });
});
