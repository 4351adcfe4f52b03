/** What a sweeper tells its owner. */
export interface SweepReport {
  expired(count: number): void;
  failure(error: Error): void;
}

/**
 * Runs `remove` (one short DELETE of at most `limit` rows) every `intervalMs`, again at once while a statement
 * deletes `limit` rows, so a backlog drains without one long statement. Each wait is between half and all of
 * `intervalMs`, so consumer processes sharing an inbox do not sweep in step. The timer does not keep the process
 * alive. A failed sweep is reported and the next one comes at the next interval.
 */
export class ExpirySweeper {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private closed = false;

  constructor(
    private readonly remove: () => Promise<number>,
    private readonly intervalMs: number,
    private readonly limit: number,
    private readonly report: SweepReport,
  ) {
    this.schedule();
  }

  /** Stops sweeping; resolves once a sweep in progress has finished its statement. */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    await this.running;
  }

  private schedule(): void {
    if (this.closed) return;
    this.timer = setTimeout(() => {
      this.running = this.sweep().finally(() => {
        this.running = undefined;
        this.schedule();
      });
    }, this.intervalMs * (0.5 + Math.random() / 2));
    this.timer.unref();
  }

  private async sweep(): Promise<void> {
    let total = 0;
    try {
      for (;;) {
        const removed = await this.remove();
        total += removed;
        if (removed < this.limit || this.closed) break;
      }
    } catch (error) {
      this.report.failure(error instanceof Error ? error : new Error(String(error)));
    }
    if (total > 0) this.report.expired(total);
  }
}
