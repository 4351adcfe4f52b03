import { resolveSubscribeOptions, type ConfigSpec, type ResolvedSubscribeOptions, type SubscribeOptions } from '../../core/index.js';

export interface RabbitSubscribeOptions extends SubscribeOptions {
  /** The group's queue. Default `<topic>.<group>`. */
  readonly queue?: string;
  /** Only one consumer of the queue receives at a time; another takes over when it goes: strict queue order. Default false. */
  readonly singleActiveConsumer?: boolean;
  /** Messages with the same key never run concurrently in this subscription. Default true. */
  readonly orderByKey?: boolean;
}

interface RabbitOnlyOptions {
  readonly queue: string | undefined;
  readonly singleActiveConsumer: boolean;
  readonly orderByKey: boolean;
}

export type ResolvedRabbitSubscribeOptions = ResolvedSubscribeOptions & RabbitOnlyOptions;

const extra: ConfigSpec<RabbitOnlyOptions> = {
  queue: { rule: { kind: 'string' }, optional: true },
  singleActiveConsumer: { rule: { kind: 'boolean' }, default: false },
  orderByKey: { rule: { kind: 'boolean' }, default: true },
};

export function resolveRabbitSubscribeOptions(options: unknown): ResolvedRabbitSubscribeOptions {
  return resolveSubscribeOptions('RabbitSubscriber.subscribe', options, extra);
}
