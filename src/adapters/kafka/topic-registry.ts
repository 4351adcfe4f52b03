import { ConfigError, TopologyError } from '../../core/index.js';
import type { ResolvedKafkaConfig, TopicSpec } from './config.js';
import type { AdminDriver } from './driver.js';

/** Creates the topics publishers and subscriptions need, once each, with the configured partitions and replication. */
export class TopicRegistry {
  private readonly ensured = new Map<string, Promise<void>>();
  readonly created = new Set<string>();

  constructor(
    private readonly admin: AdminDriver,
    private readonly config: ResolvedKafkaConfig['topics'],
    private readonly clusterSize: number,
  ) {}

  private readonly partitionCounts = new Map<string, Promise<number>>();
  private readonly knownCounts = new Map<string, number>();

  /** The partition count of `topic` if it is already known, without waiting: publishers use it synchronously. */
  knownPartitions(topic: string): number | undefined {
    return this.knownCounts.get(topic);
  }

  /** How many partitions `topic` has (asked of the cluster once, after `ensure`). */
  partitions(topic: string): Promise<number> {
    let count = this.partitionCounts.get(topic);
    if (!count) {
      count = this.ensure(topic)
        .then(() => this.admin.fetchTopicMetadata({ topics: [topic] }))
        .then(({ topics }) => topics.find((t) => t.name === topic)?.partitions.length ?? 0)
        .then((n) => {
          if (n < 1) throw new TopologyError(`topic '${topic}'`, 'Kafka reports no partitions for it');
          this.knownCounts.set(topic, n);
          return n;
        });
      this.partitionCounts.set(topic, count);
      count.catch(() => this.partitionCounts.delete(topic));
    }
    return count;
  }

  ensure(topic: string): Promise<void> {
    let ready = this.ensured.get(topic);
    if (!ready) {
      ready = this.create(topic);
      this.ensured.set(topic, ready);
      ready.catch(() => this.ensured.delete(topic));
    }
    return ready;
  }

  /** The spec a topic is created with: defaults fitted to the cluster, then the configured values. */
  specFor(topic: string): Required<Omit<TopicSpec, 'config'>> & { config: Readonly<Record<string, string>> } {
    const given = { ...this.config.defaults, ...this.config.topics[topic] };
    const replicationFactor = given.replicationFactor ?? Math.min(3, this.clusterSize);
    if (replicationFactor > this.clusterSize) {
      throw new ConfigError('KafkaTransport', [{ field: `topics (${topic}).replicationFactor`, expected: `at most the ${String(this.clusterSize)} brokers of the cluster`, received: String(replicationFactor) }]);
    }
    if (replicationFactor === 1 && this.clusterSize > 1 && !this.config.allowUnreplicated) {
      throw new ConfigError('KafkaTransport', [{ field: `topics (${topic}).replicationFactor`, expected: `more than 1 on a cluster of ${String(this.clusterSize)} brokers (or topics.allowUnreplicated: true)`, received: '1' }]);
    }
    return {
      partitions: given.partitions ?? 6,
      replicationFactor,
      minInsyncReplicas: given.minInsyncReplicas ?? (replicationFactor >= 3 ? 2 : 1),
      config: { ...this.config.defaults.config, ...this.config.topics[topic]?.config },
    };
  }

  private async create(topic: string): Promise<void> {
    const spec = this.specFor(topic);
    const configEntries = Object.entries({ ...spec.config, 'min.insync.replicas': String(spec.minInsyncReplicas) }).map(([name, value]) => ({ name, value }));
    try {
      const created = await this.admin.createTopics({
        waitForLeaders: true,
        topics: [{ topic, numPartitions: spec.partitions, replicationFactor: spec.replicationFactor, configEntries }],
      });
      if (created) this.created.add(topic);
    } catch (error) {
      if (!isNotYetKnown(error)) throw new TopologyError(`topic '${topic}'`, (error as Error).message, { cause: error });
      // KRaft may answer the metadata request that follows a creation before the topic is known (kafkajs gives
      // up on that error at once): created, but not yet visible. Wait for its leaders ourselves.
      await this.awaitLeaders(topic, spec.partitions, error);
      this.created.add(topic);
    }
  }

  private async awaitLeaders(topic: string, partitions: number, cause: unknown): Promise<void> {
    const deadline = Date.now() + LEADER_WAIT_MS;
    for (let delay = 50; Date.now() < deadline; delay = Math.min(delay * 2, 1000)) {
      await new Promise((resolve) => setTimeout(resolve, delay));
      try {
        const { topics } = await this.admin.fetchTopicMetadata({ topics: [topic] });
        const found = topics.find((t) => t.name === topic)?.partitions ?? [];
        if (found.length >= partitions && found.every((p) => p.leader !== undefined && p.leader >= 0)) return;
      } catch (error) {
        if (!isNotYetKnown(error)) throw new TopologyError(`topic '${topic}'`, (error as Error).message, { cause: error });
      }
    }
    throw new TopologyError(`topic '${topic}'`, `no leader for every partition within ${String(LEADER_WAIT_MS)} ms of its creation`, { cause });
  }
}

const LEADER_WAIT_MS = 15_000;

function isNotYetKnown(error: unknown): boolean {
  const type = (error as { type?: unknown } | null)?.type;
  return type === 'UNKNOWN_TOPIC_OR_PARTITION' || type === 'LEADER_NOT_AVAILABLE';
}
