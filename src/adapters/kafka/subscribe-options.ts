import { resolveSubscribeOptions, type ConfigSpec, type ResolvedSubscribeOptions, type SubscribeOptions } from '../../core/index.js';

export interface KafkaSubscribeOptions extends SubscribeOptions {
  /** The Kafka consumer group. Default `<topic>.<group>`; set it to join an existing group. */
  readonly groupId?: string;
  /**
   * `partition` (default): one message at a time per partition, in offset order.
   * `key`: within a partition, messages of different keys run concurrently (up to `concurrency`),
   * messages of one key in order; the committed offset still never passes an unfinished message.
   */
  readonly orderBy?: 'partition' | 'key';
}

interface KafkaOnlyOptions {
  readonly groupId: string | undefined;
  readonly orderBy: 'partition' | 'key';
}

export type ResolvedKafkaSubscribeOptions = ResolvedSubscribeOptions & KafkaOnlyOptions;

const extra: ConfigSpec<KafkaOnlyOptions> = {
  groupId: { rule: { kind: 'string' }, optional: true },
  orderBy: { rule: { kind: 'string', oneOf: ['partition', 'key'] }, default: 'partition' },
};

export function resolveKafkaSubscribeOptions(options: unknown): ResolvedKafkaSubscribeOptions {
  return resolveSubscribeOptions('KafkaSubscriber.subscribe', options, extra);
}
