/**
 * Memory: peak RSS (sampled every 50 ms) while 100,000 1 KiB messages are published into a classic queue
 * as fast as the API allows: the SDK with every publish() started at once (promises collected), the SDK from
 * 1,000 concurrent await-loops, and raw amqplib with a sliding window of 1,000. Each variant runs in a fresh
 * child process (clean baseline); the queue is deleted after each.
 *
 *   npx tsx bench/rabbitmq-memory.ts
 *   BENCH_MEM_N=100000 BENCH_LOOPS=1000 BENCH_MEM_VARIANTS=raw-window,sdk-all,sdk-loops RMQ_URL=amqp://…
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { RabbitMqTransport } from '../src/adapters/rabbitmq/index.js';
import { AMQP_URL, intEnv, listEnv } from './lib/env.js';
import { count, fixed, mb, printTable, ratio } from './lib/format.js';
import { MemorySampler } from './lib/memory.js';
import { MESSAGE_TYPE, RAW_BODY, RAW_PUBLISH, SDK_PAYLOAD } from './lib/payload.js';
import { brokerVersion, connectRaw, declareRoute, printHeader, publishWindow, runBench, Scratch } from './lib/rabbit.js';
import { concurrentLoops, now, perSecond, sleep } from './lib/timing.js';

const N = intEnv('BENCH_MEM_N', 100_000);
const LOOPS = intEnv('BENCH_LOOPS', 1_000);
const WINDOW = intEnv('BENCH_WINDOW', 1_000);
const CHILD_TIMEOUT_MS = intEnv('BENCH_MEM_CHILD_TIMEOUT_MS', 240_000);
const VARIANT_IDS = ['raw-window', 'sdk-all', 'sdk-loops'] as const;
type Variant = (typeof VARIANT_IDS)[number];
const VARIANTS = listEnv('BENCH_MEM_VARIANTS', VARIANT_IDS, VARIANT_IDS);

const LABELS: Record<Variant, string> = {
  'raw-window': `raw amqplib, sliding window ${count(WINDOW)}`,
  'sdk-all': 'SDK, all publish() started at once',
  'sdk-loops': `SDK, ${count(LOOPS)} concurrent await-loops`,
};

interface ChildResult {
  readonly variant: Variant;
  readonly messages: number;
  readonly ok: number;
  readonly failures: Record<string, number>;
  readonly queued: number;
  readonly ms: number;
  readonly baselineRss: number;
  readonly peakRss: number;
  readonly peakHeapUsed: number;
  readonly peakExternal: number;
  readonly samples: number;
}

const RESULT_PREFIX = 'RESULT ';
const names = (prefix: string, variant: Variant): { exchange: string; queue: string } => ({ exchange: `${prefix}.${variant}`, queue: `${prefix}.${variant}.q` });

/** One variant, in this (child) process: publish N messages while sampling memory; delete the queue after. */
async function child(variant: Variant, prefix: string): Promise<void> {
  const { exchange, queue } = names(prefix, variant);
  const scratch = new Scratch('memory-child');
  scratch.track({ exchanges: [exchange], queues: [queue] });
  const failures: Record<string, number> = {};
  const fail = (error: unknown): void => {
    const name = error instanceof Error ? error.name : typeof error;
    failures[name] = (failures[name] ?? 0) + 1;
  };
  let ok = 0;
  const sampler = new MemorySampler();
  let ms: number;
  let baselineRss = 0;
  const settle = async (): Promise<void> => {
    globalThis.gc?.();
    await sleep(200);
    globalThis.gc?.();
    baselineRss = process.memoryUsage().rss;
  };
  try {
    if (variant === 'raw-window') {
      await declareRoute(await scratch.channel(), exchange, queue, 'classic');
      const model = await connectRaw(`${prefix}.raw`);
      const channel = await model.createConfirmChannel();
      await settle();
      sampler.start(50);
      const start = now();
      await publishWindow(channel, { exchange, routingKey: MESSAGE_TYPE }, RAW_BODY, () => RAW_PUBLISH, N, WINDOW);
      ms = now() - start;
      sampler.stop();
      ok = N;
      await model.close();
    } else {
      const transport = await RabbitMqTransport.connect({ url: AMQP_URL, connectionName: `${prefix}.sdk`, reconnect: { initialMaxRetries: 2 } });
      try {
        await transport.declare({ exchanges: { [exchange]: { type: 'topic' } }, queues: { [queue]: { type: 'classic' } }, bindings: [{ exchange, queue, pattern: '#' }] });
        const publisher = await transport.publisher();
        const message = { type: MESSAGE_TYPE, payload: SDK_PAYLOAD };
        await publisher.publish(exchange, message); // declares the exchange on this publisher: before the baseline
        await settle();
        sampler.start(50);
        const start = now();
        if (variant === 'sdk-all') {
          const promises: Promise<unknown>[] = [];
          for (let i = 0; i < N; i++) promises.push(publisher.publish(exchange, message));
          for (const result of await Promise.allSettled(promises)) {
            if (result.status === 'fulfilled') ok += 1;
            else fail(result.reason);
          }
        } else {
          await concurrentLoops(N, LOOPS, async () => {
            try {
              await publisher.publish(exchange, message);
              ok += 1;
            } catch (error) {
              fail(error);
            }
          });
        }
        ms = now() - start;
        sampler.stop();
        await publisher.close();
        ok += 1; // the first message, published before the baseline
      } finally {
        await transport.close();
      }
    }
    const queued = await scratch.messageCount(queue);
    const result: ChildResult = {
      variant,
      messages: N,
      ok,
      failures,
      queued,
      ms,
      baselineRss,
      peakRss: sampler.peakRss,
      peakHeapUsed: sampler.peakHeapUsed,
      peakExternal: sampler.peakExternal,
      samples: sampler.samples,
    };
    console.log(RESULT_PREFIX + JSON.stringify(result));
  } finally {
    await scratch.cleanUp();
  }
}

function runChild(variant: Variant, prefix: string): Promise<ChildResult> {
  const script = fileURLToPath(import.meta.url);
  const proc = spawn(process.execPath, [...process.execArgv, '--expose-gc', script, '--child', variant, prefix], { stdio: ['ignore', 'pipe', 'inherit'] });
  let output = '';
  proc.stdout.setEncoding('utf8');
  proc.stdout.on('data', (chunk: string) => {
    output += chunk;
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`${variant}: child over its budget of ${String(CHILD_TIMEOUT_MS)} ms, killed`));
    }, CHILD_TIMEOUT_MS);
    proc.on('error', reject);
    proc.on('close', (code) => {
      clearTimeout(timer);
      const line = output.split('\n').find((l) => l.startsWith(RESULT_PREFIX));
      if (code !== 0 || !line) {
        reject(new Error(`${variant}: child exited with ${String(code)}\n${output}`));
        return;
      }
      resolve(JSON.parse(line.slice(RESULT_PREFIX.length)) as ChildResult);
    });
  });
}

function report(results: readonly ChildResult[]): void {
  const raw = results.find((r) => r.variant === 'raw-window');
  const rate = (r: ChildResult): number => perSecond(r.ok, r.ms);
  const growth = (r: ChildResult): number => r.peakRss - r.baselineRss;
  printTable(
    [
      { header: 'variant' },
      { header: 'msgs', align: 'right' },
      { header: 'confirmed', align: 'right' },
      { header: 'failed' },
      { header: 's', align: 'right' },
      { header: 'msgs/s', align: 'right' },
      { header: 'baseline RSS', align: 'right' },
      { header: 'peak RSS', align: 'right' },
      { header: 'peak − baseline', align: 'right' },
      { header: 'peak heap used', align: 'right' },
      { header: 'Δ RSS vs raw', align: 'right' },
      { header: 'rate vs raw', align: 'right' },
    ],
    results.map((r) => [
      LABELS[r.variant],
      count(r.messages),
      count(r.ok),
      Object.entries(r.failures).map(([name, n]) => `${count(n)} ${name}`).join(', ') || '0',
      fixed(r.ms / 1000),
      count(rate(r)),
      mb(r.baselineRss),
      mb(r.peakRss),
      mb(growth(r)),
      mb(r.peakHeapUsed),
      raw && r !== raw ? ratio(growth(r) / growth(raw)) : '',
      raw && r !== raw ? ratio(rate(r) / rate(raw)) : '',
    ]),
  );
  console.log('');
  for (const r of results) {
    const expected = Math.floor(r.ms / 50) + 2;
    console.log(
      `  ${LABELS[r.variant]}: ${count(r.queued)} in the queue after the run (${count(r.ok)} confirmed); ` +
        `${count(r.samples)} memory samples of ${count(expected)} due (fewer: the event loop was blocked); ${fixed(growth(r) / r.messages / 1000, 2)} KB of RSS growth per message`,
    );
  }
}

const childAt = process.argv.indexOf('--child');
if (childAt >= 0) {
  const variant = process.argv[childAt + 1] as Variant;
  const prefix = process.argv[childAt + 2];
  if (!VARIANT_IDS.includes(variant) || !prefix) throw new Error('usage: --child <variant> <prefix>');
  await child(variant, prefix);
  process.exit(0);
} else {
  await runBench('memory', VARIANTS.length * CHILD_TIMEOUT_MS + 60_000, async (scratch) => {
    printHeader('RabbitMQ memory: peak RSS while publishing, SDK vs raw amqplib', {
      broker: await brokerVersion(),
      messages: count(N),
      body: `${String(RAW_BODY.length)} bytes, persistent, into a classic queue (deleted after each variant)`,
      sampling: 'process.memoryUsage().rss every 50 ms, in a fresh child process per variant (--expose-gc, GC before the baseline)',
    });
    const results: ChildResult[] = [];
    for (const variant of VARIANTS) {
      const { exchange, queue } = names(scratch.prefix, variant);
      scratch.track({ exchanges: [exchange], queues: [queue] });
      results.push(await runChild(variant, scratch.prefix));
      console.log(`  ${variant}: done`);
    }
    console.log('');
    report(results);
  });
}
