import assert from 'node:assert/strict';
import { RabbitMqTransport } from '../../../src/adapters/rabbitmq/index.js';
import { ConfigError } from '../../../src/core/index.js';

async function issuesOf(config: unknown): Promise<string[]> {
  try {
    await RabbitMqTransport.connect(config as never);
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected ConfigError, got ${String(error)}`);
    assert.equal(error.component, 'RabbitMqTransport');
    return error.issues.map((i) => i.field);
  }
  assert.fail('connect() accepted an invalid configuration');
}

describe('RabbitMqTransport configuration', () => {
  const cases: Array<[string, unknown, string]> = [
    ['url not amqp', { url: 'http://localhost' }, 'url'],
    ['heartbeat negative', { heartbeatSeconds: -1 }, 'heartbeatSeconds'],
    ['reconnect jitter above 1', { reconnect: { jitter: 2 } }, 'reconnect.jitter'],
    ['reconnect factor below 1', { reconnect: { factor: 0.5 } }, 'reconnect.factor'],
    ['reconnect unknown key', { reconnect: { retries: 3 } }, 'reconnect.retries'],
    ['maxDelay below initialDelay', { reconnect: { initialDelayMs: 500, maxDelayMs: 100 } }, 'reconnect.maxDelayMs'],
    ['confirm timeout zero', { publish: { confirmTimeoutMs: 0 } }, 'publish.confirmTimeoutMs'],
    ['window not an integer', { publish: { maxInFlight: 1.5 } }, 'publish.maxInFlight'],
    ['mandatory not boolean', { publish: { mandatory: 'yes' } }, 'publish.mandatory'],
    ['queue type unknown', { queues: { type: 'stream' } }, 'queues.type'],
    ['delivery limit zero', { queues: { deliveryLimit: 0 } }, 'queues.deliveryLimit'],
    ['topology queue spec with unknown key', { topology: { queues: { q: { durabel: true } } } }, 'topology.queues'],
    ['topology exchange type unknown', { topology: { exchanges: { e: { type: 'x-delayed' } } } }, 'topology.exchanges'],
    ['topology binding without queue', { topology: { bindings: [{ exchange: 'e' }] } }, 'topology.bindings'],
    ['section given as null', { publish: null }, 'publish'],
    ['unknown top-level key', { prefech: 10 }, 'prefech'],
  ];
  for (const [label, config, field] of cases) {
    it(`${label} → ConfigError naming '${field}'`, async () => {
      assert.deepEqual(await issuesOf(config), [field]);
    });
  }

  it('collects every problem at once', async () => {
    assert.deepEqual(await issuesOf({ url: 'x', publish: { confirmTimeoutMs: -1, maxInFlight: 0 } }), ['url', 'publish.confirmTimeoutMs', 'publish.maxInFlight']);
  });
});
