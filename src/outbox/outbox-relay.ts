import { EventEmitter } from 'node:events';
import { PublishTimeoutError, describeError, type WireRecord } from '../core/index.js';
import { resolveOutboxRelayConfig, type OutboxRelayConfig, type ResolvedOutboxRelayConfig } from './config.js';
import type { OutboxRow } from './dialect.js';
import { PostgresWakeUp } from './postgres-wake-up.js';
import { OutboxStore, type Claim, type FailedRow, type OutboxStats } from './outbox-store.js';

/** Observable relay events; none is named `error`, so an unobserved one never crashes the process. */
export interface OutboxRelayEvents {
  /** A round published `published` rows and gave `failed` back for retry. */
  round: [result: { claimed: number; published: number; failed: number; fenced: number }];
  /** Rows this relay published but no longer owned when it marked them (its lease lapsed): another relay publishes them again. */
  fenced: [count: number];
  /** A round failed (database or broker unreachable); the relay backs off and tries again. */
  failure: [error: Error];
}

/**
 * Publishes committed outbox rows through any `Publisher` with confirms, then deletes (or marks) them.
 * Safe with many instances: claims are leases, taken with FOR UPDATE SKIP LOCKED, and every write after
 * the claim is fenced by the claim's token — a relay whose lease lapsed cannot mark rows it lost. A key's
 * rows go out one at a time in commit order; a failing row holds back only its own key.
 */
export class OutboxRelay {
  readonly events = new EventEmitter<OutboxRelayEvents>();
  readonly config: ResolvedOutboxRelayConfig;
  private readonly store: OutboxStore;
  private wakeUp: PostgresWakeUp | undefined;
  private running = false;
  private loop: Promise<void> | undefined;
  private sleeper: { timer: NodeJS.Timeout; wake: () => void } | undefined;
  /** A commit was announced while a round ran: the next sleep must not wait for the poll interval. */
  private woken = false;
  private lastCleanup = 0;

  constructor(config: OutboxRelayConfig) {
    this.config = resolveOutboxRelayConfig(config);
    this.store = new OutboxStore(this.config.dataSource);
  }

  /** Starts relaying in the background (and, on PostgreSQL, listening for commits). */
  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    if (this.store.dialect === 'postgres' && this.config.listen) {
      this.wakeUp = new PostgresWakeUp(this.config.dataSource, () => {
        this.wake();
      });
      await this.wakeUp.start().catch((error: unknown) => this.events.emit('failure', error as Error));
    }
    this.loop = this.run();
  }

  /** Finishes the round in progress (its publishes confirmed and rows marked), then stops. */
  async stop(): Promise<void> {
    this.running = false;
    this.wake();
    await this.loop;
    await this.wakeUp?.stop();
  }

  /** One round: claim, publish, mark. Returns how many rows it published. For tests and tools; `start()` loops it. */
  async runOnce(): Promise<number> {
    const claim = await this.store.claim(this.config.batchSize, this.config.leaseMs);
    const result = await this.relay(claim);
    if (this.config.keepSentMs > 0 && Date.now() - this.lastCleanup > 1000) {
      this.lastCleanup = Date.now();
      await this.store.removeSent(this.config.keepSentMs, 1000);
    }
    this.events.emit('round', result);
    return result.published;
  }

  stats(): Promise<OutboxStats> {
    return this.store.stats();
  }

  failed(limit = 100): Promise<FailedRow[]> {
    return this.store.failed(limit);
  }

  /** Failed rows (all, or the given positions) are tried again from attempt 0. */
  requeue(positions?: readonly string[]): Promise<number> {
    return this.store.requeue(positions);
  }

  purge(positions?: readonly string[]): Promise<number> {
    return this.store.purge(positions);
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (this.running) {
      try {
        const published = await this.runOnce();
        failures = 0;
        // Only heads of keys are claimed, so a round can be small while work remains: poll again at once
        // while rounds publish anything; sleep (or wait for a commit) only when a round found nothing.
        if (published === 0) await this.sleep(this.config.pollIntervalMs);
      } catch (error) {
        this.events.emit('failure', error instanceof Error ? error : new Error(String(error)));
        failures += 1;
        await this.sleep(this.backoff(failures));
      }
    }
  }

  private async relay(claim: Claim): Promise<{ claimed: number; published: number; failed: number; fenced: number }> {
    const usable = claim.rows.filter(() => claim.expiresAt - Date.now() > this.config.publishTimeoutMs);
    const late = claim.rows.filter((row) => !usable.includes(row));
    await this.store.release(claim.token, late.map((r) => r.position));
    const outcomes = await Promise.all(usable.map((row) => this.publish(row)));
    const published = usable.filter((_, i) => outcomes[i] === undefined).map((r) => r.position);
    let failed = 0;
    for (const [i, error] of outcomes.entries()) {
      if (error === undefined) continue;
      const row = usable[i] as OutboxRow;
      failed += 1;
      await this.store.fail(claim.token, row.position, describeError(error), this.config.maxAttempts, this.backoff(row.attempts + 1));
    }
    const owned = await this.store.finish(claim.token, published, this.config.keepSentMs > 0);
    const fenced = published.length - owned;
    if (fenced > 0) this.events.emit('fenced', fenced);
    return { claimed: claim.rows.length, published: published.length, failed, fenced };
  }

  /** Resolves with the error, or undefined once the broker confirmed. */
  private async publish(row: OutboxRow): Promise<unknown> {
    try {
      const headers = JSON.parse(row.headers) as Record<string, string>;
      const record: WireRecord = row.key === null ? { headers, body: row.body } : { key: row.key, headers, body: row.body };
      // Bounded, so no publish outlives the lease; an expired one may still land (then it is published again).
      await withTimeout(this.config.publisher.publishRecord(row.topic, record), this.config.publishTimeoutMs);
      return undefined;
    } catch (error) {
      return error ?? new Error('publish failed');
    }
  }

  private backoff(attempt: number): number {
    const { retryInitialDelayMs, retryMaxDelayMs } = this.config;
    const delay = Math.min(retryMaxDelayMs, retryInitialDelayMs * 2 ** Math.max(0, attempt - 1));
    return Math.round(delay * (0.8 + Math.random() * 0.4));
  }

  private wake(): void {
    const sleeper = this.sleeper;
    if (!sleeper) {
      this.woken = true;
      return;
    }
    clearTimeout(sleeper.timer);
    this.sleeper = undefined;
    sleeper.wake();
  }

  private sleep(ms: number): Promise<void> {
    if (!this.running || this.woken) {
      this.woken = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      this.sleeper = { timer: setTimeout(() => {
        this.sleeper = undefined;
        resolve();
      }, ms), wake: resolve };
    });
  }
}

function withTimeout(task: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(new PublishTimeoutError(ms, { cause: new Error('the outbox relay stopped waiting to stay within its lease') }));
    }, ms);
  });
  return Promise.race([task, timeout]).finally(() => {
    clearTimeout(timer);
  });
}
