import assert from 'node:assert/strict';
import { KafkaTransport } from '../../../src/adapters/kafka/index.js';
import type { KafkaDriver } from '../../../src/adapters/kafka/index.js';
import { TopicRegistry } from '../../../src/adapters/kafka/topic-registry.js';
import { ConfigError } from '../../../src/core/index.js';

async function issuesOf(config: unknown): Promise<string[]> {
  const noDriver = (): KafkaDriver => {
    throw new Error('the driver must not be created for an invalid configuration');
  };
  try {
    await KafkaTransport.connect(config as never, noDriver);
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected ConfigError, got ${String(error)}`);
    return error.issues.map((i) => i.field);
  }
  assert.fail('connect() accepted an invalid configuration');
}

describe('KafkaTransport configuration', () => {
  const cases: Array<[string, unknown, string]> = [
    ['broker without port', { brokers: ['localhost'] }, 'brokers'],
    ['no brokers', { brokers: [] }, 'brokers'],
    ['linger too long', { publish: { lingerMs: 5000 } }, 'publish.lingerMs'],
    ['batch size zero', { publish: { maxBatchSize: 0 } }, 'publish.maxBatchSize'],
    ['no producer lanes', { publish: { producers: 0 } }, 'publish.producers'],
    ['topic spec unknown key', { topics: { defaults: { partition: 3 } } }, 'topics.defaults'],
    ['topic config not strings', { topics: { topics: { t: { config: { 'retention.ms': 5 } } } } }, 'topics.topics'],
    ['heartbeat not below session timeout', { consumer: { sessionTimeoutMs: 6000, heartbeatIntervalMs: 6000 } }, 'consumer.heartbeatIntervalMs'],
    ['delivery limit zero', { consumer: { deliveryLimit: 0 } }, 'consumer.deliveryLimit'],
    ['unknown key', { groupId: 'x' }, 'groupId'],
  ];
  for (const [label, config, field] of cases) {
    it(`${label} → ConfigError naming '${field}'`, async () => {
      assert.deepEqual(await issuesOf(config), [field]);
    });
  }
});

describe('Kafka topic defaults fitted to the cluster', () => {
  const admin = {} as never;
  const base = { defaults: {}, topics: {}, allowUnreplicated: false };

  it('replicates 3 times with min.insync 2 on three brokers or more, once on a single broker', () => {
    assert.deepEqual(new TopicRegistry(admin, base, 3).specFor('t'), { partitions: 6, replicationFactor: 3, minInsyncReplicas: 2, config: {} });
    assert.deepEqual(new TopicRegistry(admin, base, 1).specFor('t'), { partitions: 6, replicationFactor: 1, minInsyncReplicas: 1, config: {} });
  });

  it('never silently replicates once on a multi-broker cluster', () => {
    const registry = new TopicRegistry(admin, { ...base, defaults: { replicationFactor: 1 } }, 3);
    assert.throws(() => registry.specFor('t'), (e: unknown) => e instanceof ConfigError && /replicationFactor/.test(e.issues[0]?.field ?? ''));
    assert.equal(new TopicRegistry(admin, { ...base, defaults: { replicationFactor: 1 }, allowUnreplicated: true }, 3).specFor('t').replicationFactor, 1);
  });

  it('refuses more replicas than brokers, and lets per-topic settings override the defaults', () => {
    assert.throws(() => new TopicRegistry(admin, { ...base, defaults: { replicationFactor: 3 } }, 1).specFor('t'), ConfigError);
    const registry = new TopicRegistry(admin, { ...base, defaults: { partitions: 3, config: { a: '1' } }, topics: { t: { partitions: 12, config: { b: '2' } } } }, 1);
    assert.deepEqual(registry.specFor('t'), { partitions: 12, replicationFactor: 1, minInsyncReplicas: 1, config: { a: '1', b: '2' } });
  });
});
