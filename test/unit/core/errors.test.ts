import assert from 'node:assert/strict';
import {
  ClosedError,
  ConfigError,
  ConnectionLostError,
  DeliveryLimitExceededError,
  ErrorCode,
  FatalError,
  MessageValidationError,
  SchemaMissingError,
  OutboxTransactionError,
  PoisonMessageError,
  PublishNackedError,
  PublishTimeoutError,
  ReliableMqError,
  RetryableError,
  TopologyError,
  UnroutableError,
  describeError,
} from '../../../src/core/index.js';

const cases: [ReliableMqError, string, string, boolean][] = [
  [new ConfigError('C', [{ field: 'f', expected: 'e', received: 'r' }]), 'ConfigError', 'RMQ_CONFIG_INVALID', false],
  [new ConnectionLostError(), 'ConnectionLostError', 'RMQ_CONNECTION_LOST', true],
  [new PublishNackedError(), 'PublishNackedError', 'RMQ_PUBLISH_NACKED', true],
  [new PublishTimeoutError(500), 'PublishTimeoutError', 'RMQ_PUBLISH_TIMEOUT', true],
  [new UnroutableError('orders'), 'UnroutableError', 'RMQ_UNROUTABLE', false],
  [new TopologyError('queue q', 'x-max-length differs'), 'TopologyError', 'RMQ_TOPOLOGY_MISMATCH', false],
  [new PoisonMessageError('schema-violation', 'bad'), 'PoisonMessageError', 'RMQ_POISON_MESSAGE', false],
  [new MessageValidationError('bad'), 'MessageValidationError', 'RMQ_MESSAGE_INVALID', false],
  [new ClosedError('Thing'), 'ClosedError', 'RMQ_CLOSED', false],
  [new RetryableError('later'), 'RetryableError', 'RMQ_HANDLER_RETRYABLE', true],
  [new FatalError('never'), 'FatalError', 'RMQ_HANDLER_FATAL', false],
  [new DeliveryLimitExceededError(5), 'DeliveryLimitExceededError', 'RMQ_DELIVERY_LIMIT_EXCEEDED', false],
  [new SchemaMissingError('run the migration'), 'SchemaMissingError', 'RMQ_SCHEMA_MISSING', false],
  [new OutboxTransactionError(), 'OutboxTransactionError', 'RMQ_OUTBOX_NOT_IN_TRANSACTION', false],
];

describe('errors', () => {
  for (const [error, name, code, retriable] of cases) {
    it(`${name}: code ${code}, retriable ${String(retriable)}, name, brand`, () => {
      assert.equal(error.code, code);
      assert.equal(error.retriable, retriable);
      assert.equal(error.name, name);
      assert.ok(error instanceof ReliableMqError);
      assert.ok(error instanceof Error);
      assert.equal(ReliableMqError.is(error), true);
      assert.match(String(error.stack), new RegExp(`^${name}: `));
    });
  }

  it('ErrorCode values are all distinct and RMQ_-prefixed', () => {
    const values = Object.values(ErrorCode);
    assert.equal(new Set(values).size, values.length);
    for (const v of values) assert.match(v, /^RMQ_[A-Z_]+$/);
    assert.equal(cases.length, values.length, 'one case per code');
  });

  it('ReliableMqError.is accepts a plain object carrying the brand symbol', () => {
    assert.equal(ReliableMqError.is({ [Symbol.for('reliable-mq.error')]: true, code: 'RMQ_CLOSED' }), true);
  });

  it('ReliableMqError.is rejects look-alikes', () => {
    assert.equal(ReliableMqError.is(new Error('x')), false);
    assert.equal(ReliableMqError.is({ code: 'RMQ_CLOSED', retriable: false }), false);
    assert.equal(ReliableMqError.is({ [Symbol('reliable-mq.error')]: true }), false);
    assert.equal(ReliableMqError.is({ [Symbol.for('reliable-mq.error')]: 'yes' }), false);
    assert.equal(ReliableMqError.is(null), false);
    assert.equal(ReliableMqError.is('RMQ_CLOSED'), false);
  });

  it('keeps the cause', () => {
    const cause = new Error('socket reset');
    assert.equal(new ConnectionLostError('lost', { cause }).cause, cause);
    assert.equal(new RetryableError('later', { cause }).cause, cause);
    assert.equal(new PoisonMessageError('malformed-payload', 'x', { cause }).cause, cause);
    assert.equal(new DeliveryLimitExceededError(3, cause).cause, cause);
    assert.equal('cause' in new FatalError('no cause'), false);
  });

  it('carries the extra fields and messages', () => {
    const config = new ConfigError('Comp', [
      { field: 'a', expected: 'an integer', received: "'x'" },
      { field: 'b', expected: 'a boolean', received: 'nothing (required)' },
    ]);
    assert.equal(config.component, 'Comp');
    assert.equal(config.message, "Invalid Comp configuration: a: expected an integer, received 'x'; b: expected a boolean, received nothing (required)");
    const poison = new PoisonMessageError('unknown-type', 'type t');
    assert.equal(poison.reason, 'unknown-type');
    assert.equal(poison.message, 'unknown-type: type t');
    assert.equal(new PublishTimeoutError(250).timeoutMs, 250);
    assert.equal(new UnroutableError('orders').destination, 'orders');
    assert.equal(new TopologyError('queue q', 'args').entity, 'queue q');
    assert.equal(new ClosedError('MemoryPublisher').message, 'MemoryPublisher is closed');
    const limit = new DeliveryLimitExceededError(4, new RetryableError('db down'));
    assert.equal(limit.attempts, 4);
    assert.equal(limit.message, 'Delivered 4 times without success; last error: RetryableError: db down');
    assert.equal(new DeliveryLimitExceededError(2).message, 'Delivered 2 times without success');
  });

  it('describeError describes errors and non-errors in one line', () => {
    assert.equal(describeError(new FatalError('bad input')), 'FatalError: bad input');
    assert.equal(describeError(new TypeError('x is undefined')), 'TypeError: x is undefined');
    assert.equal(describeError('boom'), 'non-error thrown: boom');
    assert.equal(describeError(42), 'non-error thrown: 42');
    assert.equal(describeError(undefined), 'non-error thrown: undefined');
  });
});
