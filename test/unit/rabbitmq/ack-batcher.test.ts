import assert from 'node:assert/strict';
import type { Channel, ConsumeMessage } from 'amqplib';
import { AckBatcher } from '../../../src/adapters/rabbitmq/ack-batcher.js';

/** A channel that records the acks and nacks sent on it (the ack logic only; the broker tests are in test/integration). */
function recordingChannel(): { channel: Channel; sent: string[] } {
  const sent: string[] = [];
  const channel = {
    ack: (message: ConsumeMessage, allUpTo = false) => sent.push(`${allUpTo ? 'ack≤' : 'ack'} ${String(message.fields.deliveryTag)}`),
    nack: (message: ConsumeMessage, _allUpTo: boolean, requeue: boolean) => sent.push(`nack ${String(message.fields.deliveryTag)}${requeue ? ' requeue' : ''}`),
  } as unknown as Channel;
  return { channel, sent };
}

const delivery = (tag: number): ConsumeMessage => ({ fields: { deliveryTag: tag } }) as unknown as ConsumeMessage;
const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** A batcher over a recording channel that has received deliveries 1..count. */
function batcherWith(count: number): { acks: AckBatcher; d: ConsumeMessage[]; sent: string[] } {
  const { channel, sent } = recordingChannel();
  const acks = new AckBatcher(channel);
  const d = Array.from({ length: count }, (_, i) => delivery(i + 1));
  for (const m of d) acks.received(m);
  return { acks, d, sent };
}

describe('AckBatcher', () => {
  it('acks a contiguous run finished in one tick with one multiple ack, later ones one by one', async () => {
    const { acks, d, sent } = batcherWith(5);
    acks.ack(d[1]!);
    acks.ack(d[0]!);
    acks.ack(d[2]!);
    assert.deepEqual(sent, [], 'nothing before the tick ends');
    await tick();
    assert.deepEqual(sent, ['ack≤ 3']);
    acks.ack(d[4]!); // 4 still in its handler: 5 alone
    await tick();
    acks.ack(d[3]!);
    await tick();
    assert.deepEqual(sent, ['ack≤ 3', 'ack 5', 'ack 4']);
  });

  it('never covers a delivery that was received but not handled, nor one still running', async () => {
    const { acks, d, sent } = batcherWith(4);
    acks.ack(d[0]!);
    acks.ack(d[2]!);
    acks.ack(d[3]!);
    await tick();
    assert.deepEqual(sent, ['ack 1', 'ack 3', 'ack 4']);
  });

  it('a nacked delivery leaves the run, so the next multiple ack can pass it', async () => {
    const { acks, d, sent } = batcherWith(3);
    acks.nack(d[1]!, true);
    acks.ack(d[0]!);
    acks.ack(d[2]!);
    await tick();
    assert.deepEqual(sent, ['nack 2 requeue', 'ack≤ 3']);
  });

  it('flush() sends what is due at once; after close() nothing more is sent', async () => {
    const { acks, d, sent } = batcherWith(3);
    acks.ack(d[0]!);
    acks.ack(d[1]!);
    acks.flush();
    assert.deepEqual(sent, ['ack≤ 2']);
    acks.ack(d[2]!);
    acks.close();
    acks.nack(d[2]!, true);
    await tick();
    assert.deepEqual(sent, ['ack≤ 2']);
  });
});
