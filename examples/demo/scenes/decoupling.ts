import { MemoryTransport } from '../../../src/index.js';
import { Checks } from '../checks.js';
import { ms, printScene, printTable } from '../table.js';
import { sleep, waitFor } from '../wait.js';

interface Receipt {
  readonly group: string;
  readonly id: string;
  readonly attempt: number;
  readonly latencyMs: number;
}

/**
 * One `order.placed` event, three services. Each service subscribes with its own consumer group, so
 * each gets its own copy; the publisher names a topic, not its consumers, and knows none of them.
 */
export async function decoupling(): Promise<Checks> {
  printScene(1, 'Decoupling', 'one order.placed event; billing, shipping and email each subscribe with their own group');
  const checks = new Checks();
  const transport = new MemoryTransport();
  const groups = ['billing', 'shipping', 'email'];
  const receipts: Receipt[] = [];
  let publishCalledAt = 0;

  // Three services, three subscribers: none of them knows the others exist.
  const subscribers = groups.map((group) => ({ group, subscriber: transport.subscriber() }));
  const publisher = transport.publisher();
  try {
    for (const { group, subscriber } of subscribers) {
      await subscriber.subscribe(
        'orders',
        (message) => {
          receipts.push({ group, id: message.id, attempt: message.attempt, latencyMs: performance.now() - publishCalledAt });
        },
        { group },
      );
    }

    publishCalledAt = performance.now();
    const sent = await publisher.publish('orders', { type: 'order.placed', key: 'order-1001', payload: { orderId: 1001, total: 99.9 } });
    const publishMs = performance.now() - publishCalledAt;

    await waitFor(() => receipts.length >= groups.length, 2_000);
    await sleep(50); // time for a duplicate to show up, were there one

    console.log(`  published ${sent.type} ${sent.id}; publish resolved after ${ms(publishMs)} ms`);
    console.log('');
    printTable(
      [{ header: 'group' }, { header: 'received id' }, { header: 'attempt', align: 'right' }, { header: 'latency ms', align: 'right' }],
      groups.map((group) => {
        const got = receipts.filter((r) => r.group === group);
        const first = got[0];
        return first ? [group, first.id, String(first.attempt), ms(first.latencyMs)] : [group, '(nothing)', '-', '-'];
      }),
    );

    checks.check(
      groups.every((group) => receipts.filter((r) => r.group === group).length === 1),
      'each of the three groups received the event exactly once',
    );
    checks.check(receipts.length === groups.length && receipts.every((r) => r.id === sent.id), 'every copy carries the id the publisher was given');
    checks.check(receipts.every((r) => r.attempt === 1), 'every copy is a first delivery (attempt 1)');
  } finally {
    await publisher.close();
    await Promise.all(subscribers.map(({ subscriber }) => subscriber.close()));
  }
  checks.print();
  return checks;
}
