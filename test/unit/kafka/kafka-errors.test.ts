import assert from 'node:assert/strict';
import { breaksProducer, isRebalancing, toPublishError } from '../../../src/adapters/kafka/kafka-errors.js';
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

  it("maps Confluent's librdkafka errors by their code's name, and bare codes thrown by produce", () => {
    // Confluent's KafkaJS-compatible errors: name KafkaJSError (or a subclass), type = librdkafka code name, code = its number.
    const rd = (type: string, code: number, name = 'KafkaJSError'): Error => Object.assign(new Error(type), { name, type, code });
    assert.ok(toPublishError(rd('ERR__MSG_TIMED_OUT', -192), ['orders'], 1000) instanceof PublishTimeoutError);
    assert.ok(toPublishError(rd('ERR_REQUEST_TIMED_OUT', 7, 'KafkaJSRequestTimeoutError'), ['orders'], 1000) instanceof PublishTimeoutError);
    assert.ok(toPublishError(rd('ERR_MSG_SIZE_TOO_LARGE', 10, 'KafkaJSProtocolError'), ['orders'], 1000) instanceof MessageValidationError);
    assert.ok(toPublishError(rd('ERR_UNKNOWN_TOPIC_OR_PART', 3, 'KafkaJSProtocolError'), ['orders'], 1000) instanceof UnroutableError);
    assert.ok(toPublishError(rd('ERR__TRANSPORT', -195, 'KafkaJSConnectionError'), ['orders'], 1000) instanceof ConnectionLostError);
    const fatal = toPublishError(rd('ERR__FATAL', -150), ['orders'], 1000);
    assert.ok(fatal instanceof ConnectionLostError && /producer is replaced/.test(fatal.message));
    assert.ok(toPublishError(rd('ERR_NOT_ENOUGH_REPLICAS', 19, 'KafkaJSProtocolError'), ['orders'], 1000) instanceof ConnectionLostError);
    assert.ok(toPublishError(rd('ERR_TOPIC_AUTHORIZATION_FAILED', 29, 'KafkaJSProtocolError'), ['orders'], 1000) instanceof PublishNackedError);
    // LibrdKafkaError as `produce` throws it: a number, no type.
    const thrown = (code: number): Error => Object.assign(new Error('local'), { code });
    assert.ok(toPublishError(thrown(-184), ['orders'], 1000) instanceof PublishNackedError); // queue full: retriable nack
    assert.ok(toPublishError(thrown(10), ['orders'], 1000) instanceof MessageValidationError);
    assert.ok(toPublishError(thrown(-188), ['orders'], 1000) instanceof UnroutableError);
  });

  it('tells which failures leave the producer unusable (replace it) and which it recovers from', () => {
    const rd = (type: string, code: number): Error => Object.assign(new Error(type), { name: 'KafkaJSError', type, code });
    assert.ok(breaksProducer(rd('ERR__FATAL', -150)));
    assert.ok(breaksProducer(rd('ERR_OUT_OF_ORDER_SEQUENCE_NUMBER', 45)));
    assert.ok(breaksProducer(kafkaError('KafkaJSProtocolError', 'UNKNOWN_PRODUCER_ID')));
    assert.ok(breaksProducer(kafkaError('KafkaJSNumberOfRetriesExceeded', undefined, kafkaError('KafkaJSProtocolError', 'OUT_OF_ORDER_SEQUENCE_NUMBER'))));
    assert.ok(!breaksProducer(rd('ERR__MSG_TIMED_OUT', -192)));
    assert.ok(!breaksProducer(rd('ERR__TRANSPORT', -195)));
    assert.ok(!breaksProducer(kafkaError('KafkaJSConnectionError')));
    assert.ok(!breaksProducer(new PublishTimeoutError(1000)));
  });

  it('recognises a rebalance, also wrapped', () => {
    assert.ok(isRebalancing(kafkaError('KafkaJSProtocolError', 'REBALANCE_IN_PROGRESS')));
    assert.ok(isRebalancing(kafkaError('KafkaJSNumberOfRetriesExceeded', undefined, kafkaError('KafkaJSProtocolError', 'ILLEGAL_GENERATION'))));
    assert.ok(!isRebalancing(kafkaError('KafkaJSConnectionError')));
  });
});
