/** Bounds how many operations are in flight; waiters are served first come, first served. */
export class Semaphore {
  private available: number;
  private waiters: Array<(() => void) | undefined> = [];
  private head = 0; // index of the oldest waiter: shifting a long array would cost O(n) per release
  private queued = 0;

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
      const index = this.waiters.length;
      const onAbort = (): void => {
        this.waiters[index] = undefined;
        this.queued -= 1;
        resolve(false);
      };
      this.queued += 1;
      this.waiters.push(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve(true);
      });
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  release(): void {
    while (this.head < this.waiters.length) {
      const next = this.waiters[this.head];
      this.waiters[this.head] = undefined;
      this.head += 1;
      if (next) {
        this.queued -= 1;
        this.compact();
        next();
        return;
      }
    }
    this.compact();
    this.available = Math.min(this.capacity, this.available + 1);
  }

  private compact(): void {
    if (this.head === this.waiters.length) {
      this.waiters = [];
      this.head = 0;
    }
  }
}
