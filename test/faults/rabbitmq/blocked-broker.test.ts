import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { RabbitMqTransport } from '../../../src/adapters/rabbitmq/index.js';
import { ErrorCode, PublishTimeoutError } from '../../../src/core/index.js';
import { uniqueName } from '../../support/rabbitmq-admin.js';
import { RabbitNode } from '../../support/rabbitmq-node.js';
import { waitFor } from '../../support/wait.js';

const run = promisify(execFile);

describe('fault: RabbitMQ blocks publishers (memory alarm)', function () {
  this.timeout(120_000);
  let node: RabbitNode | undefined;
  let transport: RabbitMqTransport | undefined;

  after(async () => {
    await transport?.close().catch(() => undefined);
    await node?.stop();
  });

  async function watermark(value: string): Promise<void> {
    await run('rabbitmqctl', ['-n', (node as RabbitNode).name, '-q', 'set_vm_memory_high_watermark', value], { timeout: 30_000 });
  }

  it('a publish with no confirm in time rejects with PublishTimeoutError; publishing resumes when the alarm clears', async () => {
    node = await RabbitNode.start(3);
    transport = await RabbitMqTransport.connect({ url: node.url, publish: { confirmTimeoutMs: 1500 } });
    const events: string[] = [];
    transport.events.on('blocked', () => events.push('blocked'));
    transport.events.on('unblocked', () => events.push('unblocked'));
    const topic = uniqueName('blocked');
    const consumed = new Set<string>();
    await transport.subscriber().subscribe(topic, (m) => void consumed.add(m.id), { group: 'g' });
    const publisher = await transport.publisher();
    await publisher.publish(topic, { type: 'x', payload: 'before' });

    await watermark('0.000001'); // the broker blocks a connection once it publishes
    const t0 = Date.now();
    const outcomes = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => publisher.publish(topic, { type: 'x', payload: { i } })));
    const elapsed = Date.now() - t0;
    assert.ok(events.includes('blocked'), 'the blocked notification was observable');
    assert.ok(outcomes.every((o) => o.status === 'rejected' && o.reason instanceof PublishTimeoutError && o.reason.code === ErrorCode.PUBLISH_TIMEOUT && o.reason.retriable));
    assert.ok(elapsed >= 1400 && elapsed < 5000, `rejected after the confirm timeout (${String(elapsed)} ms)`);

    await watermark('0.4');
    await waitFor(() => events.includes('unblocked'), 10_000, () => 'the alarm cleared');
    const after = await publisher.publish(topic, { type: 'x', payload: 'after' });
    await waitFor(() => consumed.has(after.id), 10_000, () => 'consumed after the alarm');
    console.log(`      20 publishes while blocked: all PublishTimeoutError after ${String(elapsed)} ms; ${String(consumed.size - 2)} of them were stored once the alarm cleared (indeterminate, as documented)`);
  });
});
