interface Waiter {
  readonly resolve: (granted: boolean) => void;
  readonly signal: AbortSignal | undefined;
}

/** Bounds how many operations are in flight; waiters are served first come, first served. */
export class Semaphore {
  private available: number;
  private waiters: Array<Waiter | undefined> = [];
  private head = 0; // index of the oldest waiter: shifting a long array would cost O(n) per release
  private queued = 0;
  /**
   * Waiters by the signal that may abort them, with one 'abort' listener per signal, removed once none of
   * its waiters is left: adding and removing an EventTarget listener walks all the others, so a listener per
   * waiter costs O(n²) when thousands of waiters share a deadline signal.
   */
  private readonly bySignal = new Map<AbortSignal, { readonly waiters: Set<Waiter>; readonly onAbort: () => void }>();

  constructor(readonly capacity: number) {
    this.available = capacity;
  }

  get inUse(): number {
    return this.capacity - this.available;
  }

  /** Takes a slot if one is free now. */
  tryAcquire(): boolean {
    if (this.available > 0 && this.queued === 0) {
      this.available -= 1;
      return true;
    }
    return false;
  }

  /** Resolves true once a slot is taken; false if `signal` aborted first (no slot taken). */
  acquire(signal?: AbortSignal): Promise<boolean> {
    if (this.tryAcquire()) return Promise.resolve(true);
    if (signal?.aborted) return Promise.resolve(false);
    return new Promise((resolve) => {
      const waiter: Waiter = { resolve, signal };
      this.waiters.push(waiter);
      this.queued += 1;
      if (signal) this.watch(signal, waiter);
    });
  }

  release(): void {
    while (this.head < this.waiters.length) {
      const next = this.waiters[this.head];
      this.waiters[this.head] = undefined;
      this.head += 1;
      if (next && this.unwatch(next)) {
        this.queued -= 1;
        this.compact();
        next.resolve(true);
        return;
      }
    }
    this.compact();
    this.available = Math.min(this.capacity, this.available + 1);
  }

  private watch(signal: AbortSignal, waiter: Waiter): void {
    let group = this.bySignal.get(signal);
    if (!group) {
      const onAbort = (): void => {
        this.expire(signal);
      };
      group = { waiters: new Set(), onAbort };
      this.bySignal.set(signal, group);
      signal.addEventListener('abort', onAbort, { once: true });
    }
    group.waiters.add(waiter);
  }

  /** False when the waiter's signal already aborted it (it is no longer waiting). */
  private unwatch(waiter: Waiter): boolean {
    if (!waiter.signal) return true;
    const group = this.bySignal.get(waiter.signal);
    if (!group?.waiters.delete(waiter)) return false;
    if (group.waiters.size === 0) {
      this.bySignal.delete(waiter.signal);
      waiter.signal.removeEventListener('abort', group.onAbort);
    }
    return true;
  }

  private expire(signal: AbortSignal): void {
    const group = this.bySignal.get(signal);
    this.bySignal.delete(signal);
    if (!group) return;
    for (const waiter of group.waiters) {
      this.queued -= 1;
      waiter.resolve(false);
    }
  }

  private compact(): void {
    if (this.head === this.waiters.length) {
      this.waiters = [];
      this.head = 0;
    }
  }
}

/**
 * Deadlines `timeoutMs` from now, rounded up to the next 100 ms: every wait that starts within the same
 * 100 ms shares one AbortSignal (one timer), rather than arming a timer each.
 */
export class SharedDeadline {
  private bucket: { readonly id: number; readonly signal: AbortSignal } | undefined;

  constructor(private readonly timeoutMs: number) {}

  signal(): AbortSignal {
    const id = Math.ceil((Date.now() + this.timeoutMs) / 100);
    if (this.bucket?.id !== id) this.bucket = { id, signal: AbortSignal.timeout(Math.max(1, id * 100 - Date.now())) };
    return this.bucket.signal;
  }
}
