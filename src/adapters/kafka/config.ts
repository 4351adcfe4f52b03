import { isPlainObject, validateConfig, type ConfigSpec, type SerializerConfig } from '../../core/index.js';

export interface KafkaRetryConfig {
  /** Client-level retries of connection and metadata errors. Default 10 (kafkajs' 5 gives up during a broker restart). */
  readonly retries?: number;
  readonly initialRetryTimeMs?: number;
  readonly maxRetryTimeMs?: number;
}

export interface KafkaPublishConfig {
  /** How long a publish waits for more publishes to share its request. Default 2 ms. */
  readonly lingerMs?: number;
  /** Messages per produce request at most. Default 1,000. */
  readonly maxBatchSize?: number;
  /** Bytes per produce request at most (below the broker's `message.max.bytes`, 1 MiB by default). Default 900,000. */
  readonly maxBatchBytes?: number;
  /** Publishes buffered or in flight at once; more wait for room (bounded memory). Default 10,000. */
  readonly maxBuffered?: number;
  /** A publish not acknowledged in this time rejects with `PublishTimeoutError`. Default 30 s. */
  readonly timeoutMs?: number;
  /**
   * Idempotent producers (each with its own connections) a publisher spreads partitions over. kafkajs sends
   * one request per broker at a time per producer; lanes let the requests of different partitions overlap.
   * Default 4.
   */
  readonly producers?: number;
}

export interface TopicSpec {
  readonly partitions?: number;
  /** Default: min(3, brokers in the cluster). */
  readonly replicationFactor?: number;
  /** Default: 2 when replicated 3 or more times, else 1. */
  readonly minInsyncReplicas?: number;
  /** Further topic configs, e.g. `{ 'retention.ms': '604800000' }`. */
  readonly config?: Readonly<Record<string, string>>;
}

export interface KafkaTopicsConfig {
  /** Applied to every topic the SDK creates. Partitions default 6. */
  readonly defaults?: TopicSpec;
  /** Per-topic overrides. */
  readonly topics?: Readonly<Record<string, TopicSpec>>;
  /** Allow replication factor 1 on a cluster of several brokers (never silently). Default false. */
  readonly allowUnreplicated?: boolean;
}

export interface KafkaConsumerConfig {
  readonly sessionTimeoutMs?: number;
  readonly heartbeatIntervalMs?: number;
  readonly rebalanceTimeoutMs?: number;
  /** Completed offsets are committed at least this often while a batch runs, and at its end. Default 1 s. */
  readonly commitIntervalMs?: number;
  /** Read-ahead bound per partition (the in-memory buffer). Default 1 MiB. */
  readonly maxBytesPerPartition?: number;
  /** Read-ahead bound per fetch. Default 10 MiB. */
  readonly maxBytes?: number;
  /** A message failing this many attempts is dead-lettered with the last error. Default 20. */
  readonly deliveryLimit?: number;
  /** Pause before retrying a failed message, doubling up to `retryMaxDelayMs`. Default 100 ms. */
  readonly retryInitialDelayMs?: number;
  readonly retryMaxDelayMs?: number;
  /** A new group starts at the earliest retained offset (true) or at the end (false). Default true. */
  readonly fromBeginning?: boolean;
  /** Longest wait of one fetch for new data; an idle member notices a rebalance within about this. Default 1 s. */
  readonly maxWaitTimeMs?: number;
}

export interface KafkaConfig {
  /** Default `['127.0.0.1:9092']`. */
  readonly brokers?: readonly string[];
  readonly clientId?: string;
  readonly connectionTimeoutMs?: number;
  readonly requestTimeoutMs?: number;
  readonly retry?: KafkaRetryConfig;
  readonly publish?: KafkaPublishConfig;
  readonly topics?: KafkaTopicsConfig;
  readonly consumer?: KafkaConsumerConfig;
  readonly serializer?: SerializerConfig;
}

export interface ResolvedKafkaConfig {
  readonly brokers: readonly string[];
  readonly clientId: string;
  readonly connectionTimeoutMs: number;
  readonly requestTimeoutMs: number;
  readonly retry: Required<KafkaRetryConfig>;
  readonly publish: Required<KafkaPublishConfig>;
  readonly topics: { readonly defaults: TopicSpec; readonly topics: Readonly<Record<string, TopicSpec>>; readonly allowUnreplicated: boolean };
  readonly consumer: Required<KafkaConsumerConfig>;
  readonly serializer: SerializerConfig;
}

const TOPIC_KEYS = ['partitions', 'replicationFactor', 'minInsyncReplicas', 'config'];
const positiveInt = (v: unknown): boolean => v === undefined || (Number.isInteger(v) && (v as number) >= 1);
function isTopicSpec(v: unknown): boolean {
  return (
    isPlainObject(v) &&
    Object.keys(v).every((k) => TOPIC_KEYS.includes(k)) &&
    positiveInt(v['partitions']) &&
    positiveInt(v['replicationFactor']) &&
    positiveInt(v['minInsyncReplicas']) &&
    (v['config'] === undefined || (isPlainObject(v['config']) && Object.values(v['config']).every((c) => typeof c === 'string')))
  );
}
const topicSpecRule = { kind: 'custom', expected: `a topic spec { ${TOPIC_KEYS.join(', ')} }`, check: isTopicSpec } as const;

const spec: ConfigSpec<ResolvedKafkaConfig> = {
  brokers: { rule: { kind: 'array', items: { kind: 'custom', expected: "'host:port'", check: (v) => typeof v === 'string' && /^[^\s:]+:\d+$/.test(v) } }, default: ['127.0.0.1:9092'] },
  clientId: { rule: { kind: 'string' }, default: 'reliable-mq' },
  connectionTimeoutMs: { rule: { kind: 'integer', min: 1 }, default: 3000 },
  requestTimeoutMs: { rule: { kind: 'integer', min: 1 }, default: 30_000 },
  retry: {
    rule: {
      kind: 'nested',
      spec: {
        retries: { rule: { kind: 'integer', min: 0 }, default: 10 },
        initialRetryTimeMs: { rule: { kind: 'integer', min: 1 }, default: 300 },
        maxRetryTimeMs: { rule: { kind: 'integer', min: 1 }, default: 30_000 },
      } satisfies ConfigSpec<Required<KafkaRetryConfig>>,
    },
  },
  publish: {
    rule: {
      kind: 'nested',
      spec: {
        lingerMs: { rule: { kind: 'integer', min: 0, max: 1000 }, default: 2 },
        maxBatchSize: { rule: { kind: 'integer', min: 1, max: 100_000 }, default: 1000 },
        maxBatchBytes: { rule: { kind: 'integer', min: 1024 }, default: 900_000 },
        maxBuffered: { rule: { kind: 'integer', min: 1 }, default: 10_000 },
        producers: { rule: { kind: 'integer', min: 1, max: 64 }, default: 4 },
        timeoutMs: { rule: { kind: 'integer', min: 1 }, default: 30_000 },
      } satisfies ConfigSpec<Required<KafkaPublishConfig>>,
    },
  },
  topics: {
    rule: {
      kind: 'nested',
      spec: {
        defaults: { rule: topicSpecRule, default: {} },
        topics: { rule: { kind: 'custom', expected: 'an object of topic specs', check: (v) => isPlainObject(v) && Object.values(v).every(isTopicSpec) }, default: {} },
        allowUnreplicated: { rule: { kind: 'boolean' }, default: false },
      },
    },
  },
  consumer: {
    rule: {
      kind: 'nested',
      spec: {
        sessionTimeoutMs: { rule: { kind: 'integer', min: 1000 }, default: 30_000 },
        heartbeatIntervalMs: { rule: { kind: 'integer', min: 100 }, default: 3000 },
        rebalanceTimeoutMs: { rule: { kind: 'integer', min: 1000 }, default: 60_000 },
        commitIntervalMs: { rule: { kind: 'integer', min: 0 }, default: 1000 },
        maxBytesPerPartition: { rule: { kind: 'integer', min: 1024 }, default: 1_048_576 },
        maxBytes: { rule: { kind: 'integer', min: 1024 }, default: 10_485_760 },
        deliveryLimit: { rule: { kind: 'integer', min: 1 }, default: 20 },
        retryInitialDelayMs: { rule: { kind: 'integer', min: 0 }, default: 100 },
        retryMaxDelayMs: { rule: { kind: 'integer', min: 0 }, default: 2000 },
        fromBeginning: { rule: { kind: 'boolean' }, default: true },
        maxWaitTimeMs: { rule: { kind: 'integer', min: 10 }, default: 1000 },
      } satisfies ConfigSpec<Required<KafkaConsumerConfig>>,
    },
  },
  serializer: { rule: { kind: 'object' }, default: {} },
};

export function resolveKafkaConfig(config: unknown): ResolvedKafkaConfig {
  return validateConfig('KafkaTransport', config, spec, (c) => [
    ...(c.consumer.heartbeatIntervalMs < c.consumer.sessionTimeoutMs
      ? []
      : [{ field: 'consumer.heartbeatIntervalMs', expected: `below consumer.sessionTimeoutMs (${String(c.consumer.sessionTimeoutMs)})`, received: String(c.consumer.heartbeatIntervalMs) }]),
    ...(c.brokers.length > 0 ? [] : [{ field: 'brokers', expected: 'at least one broker', received: 'an empty array' }]),
  ]);
}
