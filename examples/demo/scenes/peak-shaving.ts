import { MemoryTransport, type Envelope } from '../../../src/index.js';
import { Checks } from '../checks.js';
import { count, ms, printScene, printTable } from '../table.js';
import { sleep, waitFor } from '../wait.js';

const TOPIC = 'stock.updated';
const GROUP = 'warehouse-db';
const BURST = 10_000;
const CONCURRENCY = 8;
const PREFETCH = 16;
const DB_WRITE_MS = 1;

/**
 * A burst arrives faster than the database can take it. The queue absorbs the burst; the consumer
 * drains it at its own pace, never holding more than `prefetch` messages nor running more than
 * `concurrency` handlers, so the database sees a steady, bounded load instead of the spike.
 */
export async function peakShaving(): Promise<Checks> {
  printScene(
    3,
    'Peak shaving',
    `a burst of ${count(BURST)} messages; one group drains it at concurrency ${String(CONCURRENCY)}, prefetch ${String(PREFETCH)}, ~${String(DB_WRITE_MS)} ms per DB write`,
  );
  const checks = new Checks();
  const transport = new MemoryTransport();
  const subscriber = transport.subscriber();
  const publisher = transport.publisher();

  const processed = new Map<string, number>(); // message id → times handled
  let running = 0;
  let maxRunning = 0;
  let peakReady = 0;
  let maxInFlight = 0;
  let lastHandledAt = 0;
  const sample = (): void => {
    const stats = transport.stats(TOPIC, GROUP);
    peakReady = Math.max(peakReady, stats.ready);
    maxInFlight = Math.max(maxInFlight, stats.inFlight);
  };
  const sampler = setInterval(sample, 1);

  try {
    await subscriber.subscribe(
      TOPIC,
      async (message: Envelope) => {
        running += 1;
        maxRunning = Math.max(maxRunning, running);
        sample();
        try {
          await sleep(DB_WRITE_MS); // the simulated database write
          processed.set(message.id, (processed.get(message.id) ?? 0) + 1);
          lastHandledAt = performance.now();
        } finally {
          running -= 1;
        }
      },
      { group: GROUP, concurrency: CONCURRENCY, prefetch: PREFETCH },
    );

    const t0 = performance.now();
    const sent = await Promise.all(
      Array.from({ length: BURST }, (_, i) => publisher.publish(TOPIC, { type: 'stock.updated', payload: { sku: `sku-${String(i)}`, delta: -1 } })),
    );
    const burstMs = performance.now() - t0;
    sample();

    await waitFor(() => processed.size === BURST && transport.stats(TOPIC, GROUP).inFlight === 0, 8_000);
    await sleep(20); // time for a duplicate delivery to show up, were there one
    const drainedMs = lastHandledAt - t0;
    const after = transport.stats(TOPIC, GROUP);

    const sentIds = new Set(sent.map((e) => e.id));
    const handledOnce = [...processed.values()].filter((times) => times === 1).length;
    const duplicates = [...processed.values()].reduce((sum, times) => sum + times - 1, 0);
    const unknown = [...processed.keys()].filter((id) => !sentIds.has(id)).length;
    const rate = (n: number, elapsedMs: number): string => `${count(Math.round((n / elapsedMs) * 1000))} msg/s`;

    printTable(
      [{ header: 'measure' }, { header: 'value', align: 'right' }, { header: 'note' }],
      [
        ['burst published', `${ms(burstMs)} ms`, rate(BURST, burstMs)],
        ['peak queue depth (ready)', count(peakReady), 'the queue, not the consumer, absorbs the burst'],
        ['max unacked held by consumer', count(maxInFlight), `bound: prefetch ${String(PREFETCH)}`],
        ['max handlers running at once', count(maxRunning), `bound: concurrency ${String(CONCURRENCY)}`],
        ['drained', `${ms(drainedMs)} ms`, rate(processed.size, drainedMs)],
        ['messages processed', count(processed.size), `${count(duplicates)} duplicates, ${count(unknown)} unknown ids`],
        ['left in queue', count(after.ready + after.inFlight), 'ready + unacked after draining'],
      ],
    );

    checks.check(peakReady > PREFETCH, `the queue held the burst (peak depth ${count(peakReady)} > prefetch ${String(PREFETCH)})`);
    checks.check(maxRunning === CONCURRENCY, `handlers running at once reached and never exceeded ${String(CONCURRENCY)} (observed ${String(maxRunning)})`);
    checks.check(maxInFlight <= PREFETCH, `unacked messages never exceeded prefetch ${String(PREFETCH)} (observed ${String(maxInFlight)})`);
    checks.check(
      processed.size === BURST && handledOnce === BURST && unknown === 0 && sent.every((e) => processed.has(e.id)),
      `all ${count(BURST)} messages processed, each id exactly once`,
    );
    checks.check(after.ready === 0 && after.inFlight === 0, 'the queue is empty: every message was acked');
  } finally {
    clearInterval(sampler);
    await publisher.close();
    await subscriber.close();
  }
  checks.print();
  return checks;
}
