import { MemoryTransport } from '../../../src/index.js';
import { Checks } from '../checks.js';
import { ms, printScene, printTable } from '../table.js';
import { sleep, waitFor } from '../wait.js';

const RENDER_MS = 300;
const INVOICES = 3;

/**
 * The publisher's `await publish()` waits for the transport to hold the message, not for the consumer
 * to process it: three invoices are handed over in milliseconds, rendered one by one over a second.
 */
export async function asynchrony(): Promise<Checks> {
  printScene(2, 'Asynchrony', `the publisher hands over ${String(INVOICES)} invoices; a slow consumer renders each in ${String(RENDER_MS)} ms, one at a time`);
  const checks = new Checks();
  const transport = new MemoryTransport();
  const subscriber = transport.subscriber();
  const publisher = transport.publisher();
  const t0 = performance.now();
  const since = (): number => performance.now() - t0;
  const returned = new Map<number, number>();
  const started = new Map<number, number>();
  const finished = new Map<number, number>();

  try {
    await subscriber.subscribe<{ invoice: number }>(
      'invoices',
      async (message) => {
        started.set(message.payload.invoice, since());
        await sleep(RENDER_MS); // rendering a PDF, say
        finished.set(message.payload.invoice, since());
      },
      { group: 'invoicing', concurrency: 1 },
    );

    for (let invoice = 1; invoice <= INVOICES; invoice++) {
      await publisher.publish('invoices', { type: 'invoice.requested', payload: { invoice } });
      returned.set(invoice, since());
    }

    await waitFor(() => finished.size === INVOICES, RENDER_MS * INVOICES + 2_000);

    const at = (times: Map<number, number>, invoice: number): string => {
      const value = times.get(invoice);
      return value === undefined ? '-' : ms(value);
    };
    const invoices = Array.from({ length: INVOICES }, (_, i) => i + 1);
    printTable(
      [
        { header: 'invoice' },
        { header: 'publish returned at ms', align: 'right' },
        { header: 'handler started at ms', align: 'right' },
        { header: 'handled at ms', align: 'right' },
      ],
      invoices.map((invoice) => [`#${String(invoice)}`, at(returned, invoice), at(started, invoice), at(finished, invoice)]),
    );

    const lastReturned = Math.max(...returned.values());
    const firstHandled = Math.min(...finished.values());
    console.log('');
    console.log(`  the publisher was done after ${ms(lastReturned)} ms; the consumer after ${ms(Math.max(...finished.values()))} ms`);

    checks.check(finished.size === INVOICES, `all ${String(INVOICES)} invoices were handled`);
    checks.check(
      returned.size === INVOICES && lastReturned < firstHandled,
      `every publish returned (last at ${ms(lastReturned)} ms) before the first handler finished (${ms(firstHandled)} ms)`,
    );
  } finally {
    await publisher.close();
    await subscriber.close();
  }
  checks.print();
  return checks;
}
