import type { Redis } from 'ioredis';
import { validateConfig, type ConfigSpec, type Handler } from '../core/index.js';

export interface RedisInboxConfig {
  readonly redis: Redis;
  readonly consumer: string;
  /** How long a handled id is remembered. Keep it above the broker's redelivery window. Default 7 days. */
  readonly ttlMs?: number;
  /** Key prefix. Default `rmq:inbox:`. */
  readonly prefix?: string;
}

const spec: ConfigSpec<Required<RedisInboxConfig>> = {
  redis: { rule: { kind: 'custom', expected: 'an ioredis client', check: (v) => typeof v === 'object' && v !== null && typeof (v as { set?: unknown }).set === 'function' } },
  consumer: { rule: { kind: 'string' } },
  ttlMs: { rule: { kind: 'integer', min: 1 }, default: 7 * 24 * 3600 * 1000 },
  prefix: { rule: { kind: 'string' }, default: 'rmq:inbox:' },
};

/**
 * Deduplication with `SET NX` and a TTL, for handlers whose effects do not live in a database the inbox
 * can share a transaction with. What it does NOT guarantee: the mark and the effect are not atomic. The
 * mark is set before the handler and removed if the handler throws; if the process dies after the effect
 * but before the ack, the redelivery is (correctly) skipped — but if it dies after the mark and before the
 * effect, the redelivery is skipped too and the effect never happens. Prefer `InboxDeduplicator` where you can.
 */
export class RedisInbox {
  private readonly config: Required<RedisInboxConfig>;

  constructor(config: RedisInboxConfig) {
    this.config = validateConfig('RedisInbox', config, spec);
  }

  wrap<T = unknown>(handler: Handler<T>): Handler<T> {
    return async (message, context) => {
      const key = `${this.config.prefix}${this.config.consumer}:${message.id}`;
      const marked = await this.config.redis.set(key, '1', 'PX', this.config.ttlMs, 'NX');
      if (marked !== 'OK') return; // seen before: ack without effect
      try {
        await handler(message, context);
      } catch (error) {
        await this.config.redis.del(key);
        throw error;
      }
    };
  }
}
