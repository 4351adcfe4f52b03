import { setMaxListeners } from 'node:events';
import { MessageValidationError } from './errors.js';

/** The operations a component has started and not yet finished, so that `close()` can wait for them. */
export class InFlight {
  private count = 0;
  private idle: Array<() => void> = [];
  private readonly done = (): void => {
    this.count -= 1;
    if (this.count > 0) return;
    const waiters = this.idle;
    this.idle = [];
    for (const wake of waiters) wake();
  };

  get size(): number {
    return this.count;
  }

  track<R>(task: Promise<R>): Promise<R> {
    this.count += 1;
    task.then(this.done, this.done);
    return task;
  }

  /** Resolves once no tracked task is left unsettled, whatever the outcomes (callers stop tracking new ones first). */
  settled(): Promise<void> {
    if (this.count === 0) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }
}

/** True when `promise` settles within `ms`; false when the time ran out first. */
export async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => {
      resolve(false);
    }, ms);
  });
  try {
    return await Promise.race([promise.then(() => true, () => true), timedOut]);
  } finally {
    clearTimeout(timer);
  }
}

export function requireTopic(topic: unknown): asserts topic is string {
  if (typeof topic !== 'string' || topic.length === 0) throw new MessageValidationError('Topic must be a non-empty string');
}

export function requireHandler(handler: unknown): void {
  if (typeof handler !== 'function') throw new MessageValidationError('Handler must be a function');
}

/**
 * The abort controller of a subscription, whose signal every running handler may listen to (`context.signal`,
 * passed on to fetch, timers, …): more than Node's default of ten listeners is expected, not a leak.
 */
export function handlerAbortController(): AbortController {
  const controller = new AbortController();
  setMaxListeners(0, controller.signal);
  return controller;
}
