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

/**
 * Validates subscribe options, plus a transport's own fields (`extra`). Prefetch is raised to
 * `concurrency` when only a concurrency above the default prefetch is given.
 */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type
export function resolveSubscribeOptions<E extends object = {}>(component: string, options: unknown, extra?: ConfigSpec<E>): ResolvedSubscribeOptions & E {
  const given = (typeof options === 'object' && options !== null ? options : {}) as SubscribeOptions;
  const withPrefetch =
    given.prefetch === undefined && Number.isInteger(given.concurrency) && (given.concurrency as number) > 10
      ? { ...given, prefetch: given.concurrency }
      : options;
  const spec = { ...subscribeOptionsSpec, ...extra } as ConfigSpec<ResolvedSubscribeOptions & E>;
  return validateConfig(component, withPrefetch, spec, (o) =>
    o.prefetch >= o.concurrency
      ? []
      : [{ field: 'prefetch', expected: `at least concurrency (${String(o.concurrency)})`, received: String(o.prefetch) }],
  );
}
