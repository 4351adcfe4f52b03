import { performance } from 'node:perf_hooks';
import { brokerCpuMs } from './broker-cpu.js';

export const now = (): number => performance.now();

export const perSecond = (messages: number, ms: number): number => (ms > 0 ? (messages * 1000) / ms : Number.NaN);

export const sleep = (ms: number): Promise<void> =>
  new Promise((resolve) => {
    setTimeout(resolve, ms);
  });

/** Rejects after `ms` unless `task` settles first; the timer never keeps the process alive. */
export async function within<T>(ms: number, what: string, task: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(new Error(`${what}: not done within ${String(ms)} ms`));
    }, ms);
    timer.unref();
  });
  try {
    return await Promise.race([task, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Wall time, this process's CPU time (user + system) and the local broker's, of one measured section. */
export interface Measured {
  readonly ms: number;
  readonly cpuMs: number;
  readonly brokerCpuMs: number | undefined;
}

export async function measure(task: () => Promise<void>): Promise<Measured> {
  const broker = brokerCpuMs();
  const cpu = process.cpuUsage();
  const start = now();
  await task();
  const ms = now() - start;
  const used = process.cpuUsage(cpu);
  const brokerAfter = brokerCpuMs();
  return { ms, cpuMs: (used.user + used.system) / 1000, brokerCpuMs: broker === undefined || brokerAfter === undefined ? undefined : brokerAfter - broker };
}

/** Runs `loops` async loops that together call `step` `total` times (indices 0..total-1). */
export async function concurrentLoops(total: number, loops: number, step: (index: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  const loop = async (): Promise<void> => {
    while (next < total) {
      const index = next++;
      await step(index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(loops, total) }, loop));
}

/**
 * Counts handled messages of a case: `first` when the first one started (`enter`) or was handled, `last` when
 * the total was reached, `finished` resolves then.
 */
export class HandledCounter {
  handled = 0;
  first = 0;
  last = 0;
  private done!: () => void;
  readonly finished = new Promise<void>((resolve) => {
    this.done = resolve;
  });

  constructor(private readonly total: number) {}

  enter(): void {
    if (this.first === 0) this.first = now();
  }

  hit(n = 1): void {
    this.enter();
    this.handled += n;
    if (this.handled >= this.total && this.last === 0) {
      this.last = now();
      this.done();
    }
  }

  get ms(): number {
    return this.last - this.first;
  }
}
