import { validateConfig, type ConfigSpec, type SerializerConfig } from '../../core/index.js';
import { topologySpec, type TopologyConfig } from './topology-config.js';

export interface ReconnectConfig {
  /** First reconnect delay. Default 100 ms. */
  readonly initialDelayMs?: number;
  /** Longest delay between attempts. Default 30 s. */
  readonly maxDelayMs?: number;
  /** Delay multiplier per attempt. Default 2. */
  readonly factor?: number;
  /** Random spread, 0–1, so that many clients do not reconnect in step. Default 0.2. */
  readonly jitter?: number;
  /** Attempts before giving up once connected. Default: never give up (-1). */
  readonly maxRetries?: number;
  /** Attempts before the first connection fails `connect()`. Default 10. */
  readonly initialMaxRetries?: number;
}

export interface PublishConfig {
  /** A publish without a broker confirm in this time rejects with `PublishTimeoutError`. Default 10 s. */
  readonly confirmTimeoutMs?: number;
  /** Publishes awaiting their confirm at once (the window); more wait for room. Default 1,000. */
  readonly maxInFlight?: number;
  /** Unroutable messages are returned and the publish rejects with `UnroutableError`. Default true. */
  readonly mandatory?: boolean;
  /** Messages survive a broker restart (delivery mode 2). Default true. */
  readonly persistent?: boolean;
}

export interface QueueDefaults {
  /** `quorum` (replicated, delivery limit, default) or `classic`. */
  readonly type?: 'quorum' | 'classic';
  /**
   * A message failing this many deliveries is dead-lettered by the SDK with the last error; the quorum
   * queue's own `x-delivery-limit` is set to the same value as a backstop for consumers that crash. Default 20.
   */
  readonly deliveryLimit?: number;
  /** Quorum queue replicas (`x-quorum-initial-group-size`). Default: every node of the cluster. */
  readonly replicas?: number;
}

export interface RabbitMqConfig {
  /** Default `amqp://guest:guest@127.0.0.1:5672`. */
  readonly url?: string;
  /** Shown in the management UI. Default `reliable-mq`. */
  readonly connectionName?: string;
  /** AMQP heartbeat: a dead peer is detected within about twice this. Default 10 s. */
  readonly heartbeatSeconds?: number;
  readonly reconnect?: ReconnectConfig;
  readonly publish?: PublishConfig;
  readonly queues?: QueueDefaults;
  /** Entities declared on every (re)connect, besides those each subscription implies. */
  readonly topology?: TopologyConfig;
  readonly serializer?: SerializerConfig;
}

export interface ResolvedRabbitMqConfig {
  readonly url: string;
  readonly connectionName: string;
  readonly heartbeatSeconds: number;
  readonly reconnect: Required<ReconnectConfig>;
  readonly publish: Required<PublishConfig>;
  readonly queues: Required<Omit<QueueDefaults, 'replicas'>> & Pick<QueueDefaults, 'replicas'>;
  readonly topology: TopologyConfig;
  readonly serializer: SerializerConfig;
}

const reconnectSpec: ConfigSpec<Required<ReconnectConfig>> = {
  initialDelayMs: { rule: { kind: 'integer', min: 0 }, default: 100 },
  maxDelayMs: { rule: { kind: 'integer', min: 1 }, default: 30_000 },
  factor: { rule: { kind: 'number', min: 1 }, default: 2 },
  jitter: { rule: { kind: 'number', min: 0, max: 1 }, default: 0.2 },
  maxRetries: { rule: { kind: 'integer', min: -1 }, default: -1 },
  initialMaxRetries: { rule: { kind: 'integer', min: 0 }, default: 10 },
};

const publishSpec: ConfigSpec<Required<PublishConfig>> = {
  confirmTimeoutMs: { rule: { kind: 'integer', min: 1 }, default: 10_000 },
  maxInFlight: { rule: { kind: 'integer', min: 1, max: 100_000 }, default: 1_000 },
  mandatory: { rule: { kind: 'boolean' }, default: true },
  persistent: { rule: { kind: 'boolean' }, default: true },
};

const queueSpec: ConfigSpec<ResolvedRabbitMqConfig['queues']> = {
  type: { rule: { kind: 'string', oneOf: ['quorum', 'classic'] }, default: 'quorum' },
  deliveryLimit: { rule: { kind: 'integer', min: 1 }, default: 20 },
  replicas: { rule: { kind: 'integer', min: 1 }, optional: true },
};

const spec: ConfigSpec<ResolvedRabbitMqConfig> = {
  url: { rule: { kind: 'custom', expected: 'an amqp:// or amqps:// URL', check: (v) => typeof v === 'string' && /^amqps?:\/\//.test(v) }, default: 'amqp://guest:guest@127.0.0.1:5672' },
  connectionName: { rule: { kind: 'string' }, default: 'reliable-mq' },
  heartbeatSeconds: { rule: { kind: 'integer', min: 0, max: 600 }, default: 10 },
  reconnect: { rule: { kind: 'nested', spec: reconnectSpec } },
  publish: { rule: { kind: 'nested', spec: publishSpec } },
  queues: { rule: { kind: 'nested', spec: queueSpec } },
  topology: { rule: { kind: 'nested', spec: topologySpec } },
  serializer: { rule: { kind: 'object' }, default: {} },
};

export function resolveRabbitMqConfig(config: unknown): ResolvedRabbitMqConfig {
  return validateConfig('RabbitMqTransport', config, spec, (c) =>
    c.reconnect.maxDelayMs >= c.reconnect.initialDelayMs
      ? []
      : [{ field: 'reconnect.maxDelayMs', expected: `at least reconnect.initialDelayMs (${String(c.reconnect.initialDelayMs)})`, received: String(c.reconnect.maxDelayMs) }],
  );
}
