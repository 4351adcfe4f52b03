import type { ConfirmChannel } from 'amqplib';
import { PublishTimeoutError } from '../../core/index.js';

/** A message sent on a confirm channel, waiting for the broker's answer. */
export interface PendingConfirm {
  readonly channel: ConfirmChannel;
  readonly exchange: string;
  readonly messageId: string | undefined;
  /** basic.return arrived: the ack that follows means "unroutable". */
  returned: boolean;
  /** The caller's promise is settled (by the answer, or by the timeout). */
  settled: boolean;
  /** The broker answered or the channel closed: the window slot is free. */
  answered: boolean;
  deadline: number;
  /** What the caller's promise resolves with. */
  readonly result: unknown;
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: Error) => void;
}

/**
 * The unanswered confirms of one publisher, in send order, with one sweeping timer for all of them
 * (a timer or an AbortSignal per publish costs more CPU than the publish itself).
 */
export class ConfirmTimer {
  private readonly pending = new Set<PendingConfirm>();
  private sweeper: NodeJS.Timeout | undefined;

  constructor(private readonly timeoutMs: number) {}

  static settle(entry: PendingConfirm, error: Error | undefined): void {
    if (entry.settled) return;
    entry.settled = true;
    if (error) entry.reject(error);
    else entry.resolve(entry.result);
  }

  add(entry: PendingConfirm): void {
    entry.deadline = Date.now() + this.timeoutMs;
    this.pending.add(entry);
    if (this.sweeper) return;
    this.sweeper = setInterval(() => {
      this.sweep();
    }, Math.max(10, Math.min(200, Math.floor(this.timeoutMs / 10))));
    this.sweeper.unref();
  }

  remove(entry: PendingConfirm): void {
    this.pending.delete(entry);
    if (this.pending.size === 0) this.stop();
  }

  find(predicate: (entry: PendingConfirm) => boolean): PendingConfirm | undefined {
    for (const entry of this.pending) if (predicate(entry)) return entry;
    return undefined;
  }

  on(channel: ConfirmChannel): PendingConfirm[] {
    return [...this.pending].filter((entry) => entry.channel === channel);
  }

  stop(): void {
    clearInterval(this.sweeper);
    this.sweeper = undefined;
  }

  /** Rejects the callers whose confirm is overdue; their entries stay (and hold their slot) until the broker answers. */
  private sweep(): void {
    const now = Date.now();
    for (const entry of this.pending) {
      if (entry.deadline > now) break; // entries are in send order, so in deadline order
      ConfirmTimer.settle(entry, new PublishTimeoutError(this.timeoutMs, { cause: new Error('sent, but not confirmed in time: the message may or may not be stored') }));
    }
  }
}
