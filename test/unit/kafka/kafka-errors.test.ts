import assert from 'node:assert/strict';
import { isRebalancing, toPublishError } from '../../../src/adapters/kafka/kafka-errors.js';
import { ConnectionLostError, MessageValidationError, PublishNackedError, PublishTimeoutError, UnroutableError } from '../../../src/core/index.js';

function kafkaError(name: string, type?: string, cause?: unknown): Error {
  return Object.assign(new Error(`${name} ${type ?? ''}`), { name, type, cause });
}

describe('Kafka error mapping', () => {
  it('maps produce failures to typed SDK errors', () => {
    assert.ok(toPublishError(kafkaError('KafkaJSProtocolError', 'UNKNOWN_TOPIC_OR_PARTITION'), ['orders'], 1000) instanceof UnroutableError);
    assert.ok(toPublishError(kafkaError('KafkaJSProtocolError', 'MESSAGE_TOO_LARGE'), ['orders'], 1000) instanceof MessageValidationError);
    assert.ok(toPublishError(kafkaError('KafkaJSRequestTimeoutError'), ['orders'], 1000) instanceof PublishTimeoutError);
    assert.ok(toPublishError(kafkaError('KafkaJSConnectionError'), ['orders'], 1000) instanceof ConnectionLostError);
    assert.ok(toPublishError(kafkaError('KafkaJSProtocolError', 'NOT_ENOUGH_REPLICAS'), ['orders'], 1000) instanceof PublishNackedError);
  });

  it('looks through KafkaJSNumberOfRetriesExceeded to the last failure', () => {
    const wrapped = kafkaError('KafkaJSNumberOfRetriesExceeded', undefined, kafkaError('KafkaJSConnectionError'));
    const typed = toPublishError(wrapped, ['orders'], 1000);
    assert.ok(typed instanceof ConnectionLostError && typed.retriable);
    assert.equal(typed.cause, wrapped);
  });

  it('looks through KafkaJSNonRetriableError to a connection failure', () => {
    const wrapped = kafkaError('KafkaJSNonRetriableError', undefined, kafkaError('KafkaJSConnectionError'));
    assert.ok(toPublishError(wrapped, ['orders'], 1000) instanceof ConnectionLostError);
  });

  it('recognises a rebalance, also wrapped', () => {
    assert.ok(isRebalancing(kafkaError('KafkaJSProtocolError', 'REBALANCE_IN_PROGRESS')));
    assert.ok(isRebalancing(kafkaError('KafkaJSNumberOfRetriesExceeded', undefined, kafkaError('KafkaJSProtocolError', 'ILLEGAL_GENERATION'))));
    assert.ok(!isRebalancing(kafkaError('KafkaJSConnectionError')));
  });
});
