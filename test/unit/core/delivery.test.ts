import assert from 'node:assert/strict';
import {
  FatalError,
  MessageSerializer,
  MessageValidationError,
  PoisonMessageError,
  RetryableError,
  createDeliveryPipeline,
  createEnvelope,
  deadLetterRecord,
  toWireRecord,
} from '../../../src/core/index.js';
import type { Envelope, Handler, HandlerContext, Middleware, WireFallback, WireRecord } from '../../../src/core/index.js';

const serializer = new MessageSerializer();
const context: HandlerContext = { topic: 'orders', group: 'billing', signal: new AbortController().signal };
const fallback: WireFallback = { id: 'fb', attempt: 2, defaultContentType: 'application/json' };

async function recordOf(payload: unknown, extra: { key?: string; headers?: Record<string, string> } = {}): Promise<{ record: WireRecord; envelope: Envelope }> {
  const envelope = createEnvelope({ type: 'order.placed', payload, ...extra }, 'application/json');
  return { record: toWireRecord(envelope, await serializer.encode(envelope.type, envelope.contentType, payload)), envelope };
}

function pipelineWith(handler: Handler, middleware: Middleware[] = [], s = serializer) {
  return createDeliveryPipeline({ serializer: s, handler, middleware });
}

describe('createDeliveryPipeline', () => {
  it('acks with the decoded envelope after the handler resolves', async () => {
    const { record, envelope } = await recordOf({ n: 1 }, { key: 'k', headers: { tenant: 'acme' } });
    const seen: [Envelope, HandlerContext][] = [];
    const outcome = await pipelineWith((e, c) => {
      seen.push([e, c]);
    })(record, fallback, context);
    assert.equal(outcome.action, 'ack');
    assert.equal(seen.length, 1);
    const [handlerEnvelope, handlerContext] = seen[0]!;
    assert.deepEqual(handlerEnvelope, { ...envelope, attempt: 2 });
    assert.equal(handlerContext, context);
  });

  it('waits for an async handler before acking', async () => {
    const { record } = await recordOf(1);
    let done = false;
    const outcome = await pipelineWith(async () => {
      await new Promise((r) => setTimeout(r, 10));
      done = true;
    })(record, fallback, context);
    assert.equal(outcome.action, 'ack');
    assert.equal(done, true);
  });

  for (const [label, thrown] of [
    ['a plain Error', new Error('db down')],
    ['a RetryableError', new RetryableError('later')],
    ['a non-error value', 'oops'],
  ] as const) {
    it(`requeues when the handler throws ${label}`, async () => {
      const { record } = await recordOf(1);
      const outcome = await pipelineWith(() => {
        // eslint-disable-next-line @typescript-eslint/only-throw-error -- handlers may throw anything
        throw thrown;
      })(record, fallback, context);
      assert.deepEqual(outcome, { action: 'requeue', error: thrown });
    });
  }

  it("dead-letters a MessageValidationError from the handler (an invalid follow-up message) as 'handler-fatal'", async () => {
    const { record } = await recordOf({ n: 1 });
    const error = new MessageValidationError('Message type must be a non-empty string');
    const outcome = await pipelineWith(() => {
      throw error;
    })(record, fallback, context);
    assert.deepEqual(outcome, { action: 'dead-letter', reason: 'handler-fatal', error });
  });

  it('requeues when the codec itself breaks (not a poison message), so the message is not lost', async () => {
    const { record } = await recordOf({ n: 1 });
    const broken = new MessageSerializer({
      codecs: [{ contentType: 'application/json', encode: () => new Uint8Array(), decode: () => { throw new TypeError('codec bug'); } }],
    });
    let calls = 0;
    const outcome = await pipelineWith(() => {
      calls += 1;
    }, [], broken)(record, fallback, context);
    assert.ok(outcome.action === 'requeue' && outcome.error instanceof TypeError, 'requeued with the codec error');
    assert.equal(calls, 0);
  });

  it("dead-letters a FatalError as 'handler-fatal'", async () => {
    const { record } = await recordOf(1);
    const error = new FatalError('invalid order');
    const outcome = await pipelineWith(() => Promise.reject(error))(record, fallback, context);
    assert.deepEqual(outcome, { action: 'dead-letter', reason: 'handler-fatal', error });
  });

  it('dead-letters a PoisonMessageError thrown by the handler with its reason', async () => {
    const { record } = await recordOf(1);
    const error = new PoisonMessageError('schema-violation', 'handler says no');
    const outcome = await pipelineWith(() => {
      throw error;
    })(record, fallback, context);
    assert.deepEqual(outcome, { action: 'dead-letter', reason: 'schema-violation', error });
  });

  it('dead-letters a poison body without calling the handler', async () => {
    const { record } = await recordOf(1);
    let calls = 0;
    const outcome = await pipelineWith(() => {
      calls += 1;
    })({ ...record, body: new TextEncoder().encode('{broken') }, fallback, context);
    assert.equal(outcome.action, 'dead-letter');
    assert.equal(outcome.reason, 'malformed-payload');
    assert.ok(outcome.error instanceof PoisonMessageError);
    assert.equal(calls, 0);
  });

  it('dead-letters a malformed envelope and an unknown type without calling the handler', async () => {
    const { record } = await recordOf(1);
    let calls = 0;
    const handler = (): void => {
      calls += 1;
    };
    const badDate = await pipelineWith(handler)({ ...record, headers: { ...record.headers, 'rmq-created-at': 'soon' } }, fallback, context);
    assert.equal(badDate.action === 'dead-letter' && badDate.reason, 'malformed-envelope');
    const strict = new MessageSerializer({ types: { other: {} } });
    const unknown = await pipelineWith(handler, [], strict)(record, fallback, context);
    assert.equal(unknown.action === 'dead-letter' && unknown.reason, 'unknown-type');
    assert.equal(calls, 0);
  });

  it('requeues when a schema validator crashes (a bug, not a poison message)', async () => {
    const { record } = await recordOf(1);
    const crash = new Error('validator crashed');
    const s = new MessageSerializer({
      types: {
        'order.placed': {
          schema: {
            '~standard': {
              version: 1,
              vendor: 't',
              validate: () => {
                throw crash;
              },
            },
          },
        },
      },
    });
    const outcome = await pipelineWith(() => undefined, [], s)(record, fallback, context);
    assert.deepEqual(outcome, { action: 'requeue', error: crash });
  });

  it('runs middleware outermost first around the handler', async () => {
    const { record } = await recordOf(1);
    const trace: string[] = [];
    const tag =
      (name: string): Middleware =>
      (next) =>
      async (e, c) => {
        trace.push(`${name}:in`);
        await next(e, c);
        trace.push(`${name}:out`);
      };
    const outcome = await pipelineWith(() => {
      trace.push('handler');
    }, [tag('a'), tag('b')])(record, fallback, context);
    assert.equal(outcome.action, 'ack');
    assert.deepEqual(trace, ['a:in', 'b:in', 'handler', 'b:out', 'a:out']);
  });

  it('classifies an error thrown by middleware like a handler error', async () => {
    const { record } = await recordOf(1);
    let calls = 0;
    const refuse: Middleware = () => () => {
      throw new FatalError('blocked');
    };
    const outcome = await pipelineWith(() => {
      calls += 1;
    }, [refuse])(record, fallback, context);
    assert.equal(outcome.action === 'dead-letter' && outcome.reason, 'handler-fatal');
    assert.equal(calls, 0);
  });
});

describe('deadLetterRecord', () => {
  it('keeps body, headers and key and adds the dead-letter headers', async () => {
    const { record } = await recordOf({ n: 1 }, { key: 'k1', headers: { tenant: 'acme' } });
    const at = new Date('2024-03-04T05:06:07.089Z');
    const dead = deadLetterRecord(record, { id: 'unused', reason: 'handler-fatal', error: new FatalError('bad'), topic: 'orders', group: 'billing', attempts: 3, at });
    assert.equal(dead.body, record.body);
    assert.equal(dead.key, 'k1');
    assert.deepEqual(dead.headers, {
      ...record.headers,
      'rmq-dead-letter-reason': 'handler-fatal',
      'rmq-dead-letter-error': 'FatalError: bad',
      'rmq-dead-letter-original-topic': 'orders',
      'rmq-dead-letter-original-group': 'billing',
      'rmq-dead-letter-attempts': '3',
      'rmq-dead-lettered-at': '2024-03-04T05:06:07.089Z',
    });
  });

  it('keeps the id the record was consumed under when it carried none (a foreign producer)', () => {
    const dead = deadLetterRecord({ headers: {}, body: Uint8Array.of(1) }, { id: 'kafka:t:0:7', reason: 'malformed-payload', error: 'x', topic: 't', group: 'g', attempts: 1 });
    assert.equal(dead.headers['rmq-id'], 'kafka:t:0:7');
  });

  it('has no key when the record had none, stamps the current time, and bounds the error text', () => {
    const record: WireRecord = { headers: { a: 'b' }, body: Uint8Array.of(9) };
    const before = Date.now();
    const dead = deadLetterRecord(record, { id: 'fb-1', reason: 'delivery-limit', error: 'x'.repeat(5000), topic: 't', group: 'g', attempts: 20 });
    assert.equal('key' in dead, false);
    const at = Date.parse(dead.headers['rmq-dead-lettered-at'] ?? '');
    assert.ok(at >= before && at <= Date.now());
    assert.equal(dead.headers['rmq-dead-letter-error']?.length, 1000);
    assert.match(dead.headers['rmq-dead-letter-error'] ?? '', /^non-error thrown: x+$/);
    assert.equal(dead.headers['rmq-dead-letter-attempts'], '20');
    assert.deepEqual(record.headers, { a: 'b' }, 'the original record is not modified');
  });
});
