import assert from 'node:assert/strict';
import { DataSource } from 'typeorm';
import { MemoryTransport } from '../../../src/adapters/memory/index.js';
import { ConfigError } from '../../../src/core/index.js';
import { InboxDeduplicator, RedisInbox } from '../../../src/inbox/index.js';
import { OutboxRelay } from '../../../src/outbox/index.js';

function fieldsOf(build: () => unknown): string[] {
  try {
    build();
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected ConfigError, got ${String(error)}`);
    return error.issues.map((i) => i.field);
  }
  assert.fail('accepted an invalid configuration');
}

describe('outbox and inbox configuration', () => {
  const dataSource = new DataSource({ type: 'sqljs' });
  const publisher = new MemoryTransport().publisher();

  const relayCases: Array<[string, Record<string, unknown>, string[]]> = [
    ['no data source', { publisher }, ['dataSource']],
    ['no publisher', { dataSource }, ['publisher']],
    ['batch size zero', { dataSource, publisher, batchSize: 0 }, ['batchSize']],
    ['lease too short', { dataSource, publisher, leaseMs: 10 }, ['leaseMs']],
    ['publish timeout not below the lease', { dataSource, publisher, leaseMs: 5000, publishTimeoutMs: 5000 }, ['publishTimeoutMs']],
    ['publish timeout leaving no time to claim and mark (1 ms below the lease)', { dataSource, publisher, leaseMs: 1000, publishTimeoutMs: 999 }, ['publishTimeoutMs']],
    ['unknown key', { dataSource, publisher, batch: 10 }, ['batch']],
  ];
  for (const [label, config, fields] of relayCases) {
    it(`OutboxRelay: ${label} → ConfigError naming ${fields.join(', ')}`, () => {
      assert.deepEqual(fieldsOf(() => new OutboxRelay(config as never)), fields);
    });
  }

  it('OutboxRelay refuses a database it has no SQL for', () => {
    const oracle = { options: { type: 'oracle' }, createQueryRunner: () => undefined } as unknown as DataSource; // only its type is read
    assert.deepEqual(fieldsOf(() => new OutboxRelay({ dataSource: oracle, publisher })), ['dataSource']);
  });

  it('InboxDeduplicator and RedisInbox name their invalid fields', () => {
    assert.deepEqual(fieldsOf(() => new InboxDeduplicator({ dataSource, consumer: '' })), ['consumer']);
    assert.deepEqual(fieldsOf(() => new InboxDeduplicator({ consumer: 'c' } as never)), ['dataSource']);
    assert.deepEqual(fieldsOf(() => new RedisInbox({ redis: {} as never, consumer: 'c', ttlMs: 0 })), ['redis', 'ttlMs']);
  });

  const retentionCases: Array<[string, Record<string, unknown>, string[]]> = [
    ['no window', {}, ['retention.keepMs']],
    ['a window under a minute (marks gone before a redelivery)', { keepMs: 59_999 }, ['retention.keepMs']],
    ['sweeps more often than once a second', { keepMs: 3_600_000, intervalMs: 999 }, ['retention.intervalMs']],
    ['a statement limit of 0', { keepMs: 3_600_000, limit: 0 }, ['retention.limit']],
    ['unknown key', { keepMs: 3_600_000, ttl: 5 }, ['retention.ttl']],
  ];
  for (const [label, retention, fields] of retentionCases) {
    it(`InboxDeduplicator retention: ${label} → ConfigError naming ${fields.join(', ')}`, () => {
      assert.deepEqual(fieldsOf(() => new InboxDeduplicator({ dataSource, consumer: 'c', retention: retention as never })), fields);
    });
  }
});
