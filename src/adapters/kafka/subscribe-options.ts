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
  /** `subscribeBatch` only: messages handed to the batch handler at once, at most. Default 500. */
  readonly maxBatchSize?: number;
}

interface KafkaOnlyOptions {
  readonly groupId: string | undefined;
  readonly orderBy: 'partition' | 'key';
  readonly maxBatchSize: number;
}

export type ResolvedKafkaSubscribeOptions = ResolvedSubscribeOptions & KafkaOnlyOptions;

const extra: ConfigSpec<KafkaOnlyOptions> = {
  groupId: { rule: { kind: 'string' }, optional: true },
  orderBy: { rule: { kind: 'string', oneOf: ['partition', 'key'] }, default: 'partition' },
  maxBatchSize: { rule: { kind: 'integer', min: 1, max: 10_000 }, default: 500 },
};

export function resolveKafkaSubscribeOptions(options: unknown): ResolvedKafkaSubscribeOptions {
  return resolveSubscribeOptions('KafkaSubscriber.subscribe', options, extra);
}
