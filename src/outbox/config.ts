import type { DataSource } from 'typeorm';
import { validateConfig, type ConfigSpec, type Publisher } from '../core/index.js';

export interface OutboxRelayConfig {
  readonly dataSource: DataSource;
  /** Any transport's publisher; a row is finished only after its publish resolved (the broker confirmed). */
  readonly publisher: Publisher;
  /** Rows claimed per round. Default 100. */
  readonly batchSize?: number;
  /** How long a claim is this relay's; after it another relay may take the rows over. Default 30 s. */
  readonly leaseMs?: number;
  /** A publish is not started with less lease left than this (so it can finish before the lease ends). Default 10 s. */
  readonly publishTimeoutMs?: number;
  /** Poll interval when idle (PostgreSQL also wakes on NOTIFY at commit). Default 500 ms. */
  readonly pollIntervalMs?: number;
  /** After this many failed publishes a row is marked failed (kept, visible, replayable). Default 20 (~14 min of backoff). */
  readonly maxAttempts?: number;
  readonly retryInitialDelayMs?: number;
  readonly retryMaxDelayMs?: number;
  /** Sent rows are deleted at once (0, default) or kept this long, then removed in small batches. */
  readonly keepSentMs?: number;
  /** PostgreSQL: LISTEN for commits instead of only polling. Default true. */
  readonly listen?: boolean;
}

export type ResolvedOutboxRelayConfig = Required<OutboxRelayConfig>;

const isDataSource = (v: unknown): boolean => typeof v === 'object' && v !== null && 'createQueryRunner' in v && 'options' in v;
const isPublisher = (v: unknown): boolean => typeof v === 'object' && v !== null && typeof (v as Publisher).publishRecord === 'function';

const spec: ConfigSpec<ResolvedOutboxRelayConfig> = {
  dataSource: { rule: { kind: 'custom', expected: 'a TypeORM DataSource', check: isDataSource } },
  publisher: { rule: { kind: 'custom', expected: 'a Publisher (with publishRecord)', check: isPublisher } },
  batchSize: { rule: { kind: 'integer', min: 1, max: 10_000 }, default: 100 },
  leaseMs: { rule: { kind: 'integer', min: 100 }, default: 30_000 },
  publishTimeoutMs: { rule: { kind: 'integer', min: 1 }, default: 10_000 },
  pollIntervalMs: { rule: { kind: 'integer', min: 1 }, default: 500 },
  maxAttempts: { rule: { kind: 'integer', min: 1 }, default: 20 },
  retryInitialDelayMs: { rule: { kind: 'integer', min: 0 }, default: 500 },
  retryMaxDelayMs: { rule: { kind: 'integer', min: 0 }, default: 60_000 },
  keepSentMs: { rule: { kind: 'integer', min: 0 }, default: 0 },
  listen: { rule: { kind: 'boolean' }, default: true },
};

export function resolveOutboxRelayConfig(config: unknown): ResolvedOutboxRelayConfig {
  return validateConfig('OutboxRelay', config, spec, (c) => {
    const latest = c.leaseMs - leaseMargin(c.leaseMs);
    return c.publishTimeoutMs <= latest
      ? []
      : [{ field: 'publishTimeoutMs', expected: `at most ${String(latest)} (leaseMs ${String(c.leaseMs)} less a quarter of it for the claim and the marks)`, received: String(c.publishTimeoutMs) }];
  });
}

/**
 * The part of a lease kept free of publishing: a claim that took longer than this leaves too little lease to
 * start a publish, and a margin of 1 ms would make every round give its rows back without publishing.
 */
function leaseMargin(leaseMs: number): number {
  return Math.ceil(leaseMs / 4);
}
