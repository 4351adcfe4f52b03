import { validateConfig, type ConfigSpec } from './config.js';
import type { Middleware, SubscribeOptions } from './ports.js';

export type ResolvedSubscribeOptions = Required<SubscribeOptions>;

export const subscribeOptionsSpec: ConfigSpec<ResolvedSubscribeOptions> = {
  group: { rule: { kind: 'string' } },
  concurrency: { rule: { kind: 'integer', min: 1, max: 10_000 }, default: 1 },
  prefetch: { rule: { kind: 'integer', min: 1, max: 65_535 }, default: 10 },
  middleware: { rule: { kind: 'array', items: { kind: 'function' } }, default: [] as readonly Middleware[] },
  closeTimeoutMs: { rule: { kind: 'integer', min: 0 }, default: 30_000 },
};

/** Validates subscribe options; prefetch is raised to `concurrency` when only concurrency is given. */
export function resolveSubscribeOptions(component: string, options: unknown): ResolvedSubscribeOptions {
  const given = (typeof options === 'object' && options !== null ? options : {}) as SubscribeOptions;
  const withPrefetch =
    given.prefetch === undefined && Number.isInteger(given.concurrency) && (given.concurrency as number) > 10
      ? { ...given, prefetch: given.concurrency }
      : options;
  return validateConfig(component, withPrefetch, subscribeOptionsSpec, (o) =>
    o.prefetch >= o.concurrency
      ? []
      : [{ field: 'prefetch', expected: `at least concurrency (${String(o.concurrency)})`, received: String(o.prefetch) }],
  );
}
