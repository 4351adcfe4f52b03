import { randomBytes } from 'node:crypto';
import { Kafka, logLevel, type Admin } from 'kafkajs';
import { KafkaTransport, kafkajsDriver, type KafkaConfig, type KafkaDriver, type ResolvedKafkaConfig } from '../../../src/adapters/kafka/index.js';

export function kafkaBrokers(): string[] {
  return (process.env['KAFKA_BROKERS'] ?? '127.0.0.1:9092').split(',');
}

export function uniqueTopic(label: string): string {
  return `it-${label}-${randomBytes(4).toString('hex')}`;
}

/** Transports opened in a test; closed, and their topics deleted, after it. */
export class KafkaFixture {
  private readonly transports: KafkaTransport[] = [];
  private adminClient: Admin | undefined;

  async connect(config: KafkaConfig = {}, driver: (config: ResolvedKafkaConfig) => KafkaDriver = kafkajsDriver): Promise<KafkaTransport> {
    const transport = await KafkaTransport.connect(
      {
        brokers: kafkaBrokers(),
        consumer: { sessionTimeoutMs: 6000, heartbeatIntervalMs: 500, maxWaitTimeMs: 200, ...config.consumer },
        ...(config.topics ? { topics: config.topics } : {}),
        ...(config.publish ? { publish: config.publish } : {}),
      },
      driver,
    );
    this.transports.push(transport);
    return transport;
  }

  async admin(): Promise<Admin> {
    if (!this.adminClient) {
      this.adminClient = new Kafka({ clientId: 'it-admin', brokers: kafkaBrokers(), logLevel: logLevel.NOTHING }).admin();
      await this.adminClient.connect();
    }
    return this.adminClient;
  }

  /** The committed offset of each partition of `topic` for `groupId`. */
  async committed(groupId: string, topic: string): Promise<Map<number, bigint>> {
    const [result] = await (await this.admin()).fetchOffsets({ groupId, topics: [topic] });
    return new Map((result?.partitions ?? []).map((p) => [p.partition, BigInt(p.offset)]));
  }

  async cleanUp(): Promise<void> {
    const topics = this.transports.flatMap((t) => t.createdTopics());
    for (const transport of this.transports.splice(0)) await transport.close().catch(() => undefined);
    if (topics.length > 0) await (await this.admin()).deleteTopics({ topics }).catch(() => undefined);
    await this.adminClient?.disconnect();
    this.adminClient = undefined;
  }
}
