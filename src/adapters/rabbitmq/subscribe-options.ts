import { subscribeOptionsSpec, validateConfig, type ConfigSpec, type ResolvedSubscribeOptions, type SubscribeOptions } from '../../core/index.js';

export interface RabbitSubscribeOptions extends SubscribeOptions {
  /** The group's queue. Default `<topic>.<group>`. */
  readonly queue?: string;
  /** Only one consumer of the queue receives at a time; another takes over when it goes: strict queue order. Default false. */
  readonly singleActiveConsumer?: boolean;
  /** Messages with the same key never run concurrently in this subscription. Default true. */
  readonly orderByKey?: boolean;
}

export type ResolvedRabbitSubscribeOptions = ResolvedSubscribeOptions & {
  readonly queue: string | undefined;
  readonly singleActiveConsumer: boolean;
  readonly orderByKey: boolean;
};

const spec: ConfigSpec<ResolvedRabbitSubscribeOptions> = {
  ...subscribeOptionsSpec,
  queue: { rule: { kind: 'string' }, optional: true },
  singleActiveConsumer: { rule: { kind: 'boolean' }, default: false },
  orderByKey: { rule: { kind: 'boolean' }, default: true },
};

export function resolveRabbitSubscribeOptions(options: unknown): ResolvedRabbitSubscribeOptions {
  const given = (typeof options === 'object' && options !== null ? options : {}) as RabbitSubscribeOptions;
  const withPrefetch = given.prefetch === undefined && Number.isInteger(given.concurrency) && (given.concurrency as number) > 10 ? { ...given, prefetch: given.concurrency } : options;
  return validateConfig('RabbitSubscriber.subscribe', withPrefetch, spec, (o) =>
    o.prefetch >= o.concurrency ? [] : [{ field: 'prefetch', expected: `at least concurrency (${String(o.concurrency)})`, received: String(o.prefetch) }],
  );
}
