import { MessageValidationError } from './errors.js';

/** The operations a component has started and not yet finished, so that `close()` can wait for them. */
export class InFlight {
  private readonly tasks = new Set<Promise<unknown>>();

  get size(): number {
    return this.tasks.size;
  }

  track<R>(task: Promise<R>): Promise<R> {
    this.tasks.add(task);
    const forget = (): void => {
      this.tasks.delete(task);
    };
    task.then(forget, forget);
    return task;
  }

  /** Resolves once every task tracked so far has settled, whatever its outcome. */
  async settled(): Promise<void> {
    await Promise.allSettled([...this.tasks]);
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
