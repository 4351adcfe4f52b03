import assert from 'node:assert/strict';
import { RabbitMqTransport } from '../../../src/adapters/rabbitmq/index.js';
import { ReliableMqError } from '../../../src/core/index.js';
import { uniqueName } from '../../support/rabbitmq-admin.js';
import { RabbitNode } from '../../support/rabbitmq-node.js';
import { sleep, waitFor } from '../../support/wait.js';

const TOTAL = 10_000;
const LANES = 20;

describe('fault: RabbitMQ broker killed (kill -9) and restarted during 10,000 confirmed publishes', function () {
  this.timeout(180_000);
  let node: RabbitNode | undefined;
  let transport: RabbitMqTransport | undefined;

  after(async () => {
    await transport?.close().catch(() => undefined);
    await node?.stop();
  });

  it('every resolved publish is consumed; every other one rejected with a typed retriable error; the consumer resumes by itself', async () => {
    node = await RabbitNode.start(3);
    transport = await RabbitMqTransport.connect({ url: node.url, reconnect: { initialDelayMs: 100, maxDelayMs: 1000 }, publish: { confirmTimeoutMs: 5000 } });
    const events: string[] = [];
    transport.events.on('disconnect', () => events.push('disconnect'));
    transport.events.on('connect', () => events.push('connect'));
    const topic = uniqueName('restart');
    const consumed = new Map<string, number>();
    await transport.subscriber().subscribe(
      topic,
      (m) => {
        consumed.set(m.id, (consumed.get(m.id) ?? 0) + 1);
      },
      { group: 'g', prefetch: 200, concurrency: 8 },
    );
    // RabbitMQ 3.10's Ra writes a new quorum queue's membership to disk only every 500 ms: a node killed sooner
    // forgets the queue. Let it settle, so the test measures the SDK, not that broker bug.
    await sleep(1000);
    const publisher = await transport.publisher();
    const resolved: string[] = [];
    const rejected = new Map<string, number>();
    let next = 0;
    const lanes = Array.from({ length: LANES }, async () => {
      while (next < TOTAL) {
        const i = next++;
        try {
          resolved.push((await publisher.publish(topic, { type: 'fault.restart', payload: { i } })).id);
        } catch (error) {
          assert.ok(ReliableMqError.is(error) && error.retriable, `publish ${String(i)} rejected with an untyped or final error: ${String(error)}`);
          rejected.set(error.code, (rejected.get(error.code) ?? 0) + 1);
          await sleep(50);
        }
      }
    });

    await waitFor(() => resolved.length >= TOTAL / 3, 60_000, () => `${String(resolved.length)} resolved before the kill`);
    const t0 = Date.now();
    await node.kill9();
    await node.restart();
    const restartedMs = Date.now() - t0;
    await Promise.all(lanes);
    const reconnectedAfterMs = Date.now() - t0;
    await waitFor(() => resolved.every((id) => consumed.has(id)), 60_000, () => `${String(resolved.filter((id) => !consumed.has(id)).length)} resolved publishes not consumed yet`);

    const rejectedTotal = [...rejected.values()].reduce((a, b) => a + b, 0);
    const duplicates = [...consumed.values()].filter((n) => n > 1).length;
    const lost = resolved.filter((id) => !consumed.has(id)).length;
    const resolvedSet = new Set(resolved);
    const indeterminate = [...consumed.keys()].filter((id) => !resolvedSet.has(id)).length;
    console.log(
      `      published ${String(TOTAL)}: resolved ${String(resolved.length)}, rejected ${String(rejectedTotal)} ${JSON.stringify(Object.fromEntries(rejected))}; ` +
        `consumed ${String(consumed.size)} distinct (${String(duplicates)} delivered more than once, ${String(indeterminate)} of the rejected were stored after all), lost ${String(lost)}; ` +
        `kill→node up ${String(restartedMs)} ms, all publishes settled after ${String(reconnectedAfterMs)} ms; events ${events.join(',')}`,
    );
    assert.equal(resolved.length + rejectedTotal, TOTAL, 'every publish settled');
    assert.equal(lost, 0);
    assert.ok(events.includes('disconnect') && events.lastIndexOf('connect') > events.indexOf('disconnect'), 'reconnected by itself');
    assert.ok(resolved.length > TOTAL / 3, 'publishing went on after the restart');
  });
});
