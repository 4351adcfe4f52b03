import { validateConfig, type ConfigSpec, type SerializerConfig } from '../../core/index.js';

export interface MemoryTransportConfig {
  /** A message delivered this many times without success is dead-lettered. Default 20 (RabbitMQ quorum default). */
  readonly deliveryLimit?: number;
  /** Where a group's dead letters go. Default `${topic}.${group}.dlq`. */
  readonly deadLetterTopic?: (topic: string, group: string) => string;
  /** A group created after messages were published receives the retained ones (Kafka's `earliest`). Default true. */
  readonly deliverRetainedToNewGroups?: boolean;
  /** Messages each topic retains for groups created later. Default 100,000. */
  readonly retainPerTopic?: number;
  /** Fault injection: every message is delivered twice to each group, to test idempotent handlers. Default false. */
  readonly duplicateDeliveries?: boolean;
  /** Codecs and message types shared by the transport's publishers and subscribers. */
  readonly serializer?: SerializerConfig;
}

export type ResolvedMemoryConfig = Required<MemoryTransportConfig>;

export const defaultDeadLetterTopic = (topic: string, group: string): string => `${topic}.${group}.dlq`;

const spec: ConfigSpec<ResolvedMemoryConfig> = {
  deliveryLimit: { rule: { kind: 'integer', min: 1 }, default: 20 },
  deadLetterTopic: { rule: { kind: 'function' }, default: defaultDeadLetterTopic },
  deliverRetainedToNewGroups: { rule: { kind: 'boolean' }, default: true },
  retainPerTopic: { rule: { kind: 'integer', min: 0 }, default: 100_000 },
  duplicateDeliveries: { rule: { kind: 'boolean' }, default: false },
  serializer: { rule: { kind: 'object' }, default: {} },
};

export function resolveMemoryConfig(config: unknown): ResolvedMemoryConfig {
  return validateConfig('MemoryTransport', config, spec);
}
