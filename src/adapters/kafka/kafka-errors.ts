import {
  ConnectionLostError,
  MessageValidationError,
  PublishNackedError,
  PublishTimeoutError,
  UnroutableError,
  type ReliableMqError,
} from '../../core/index.js';

interface KafkaLikeError {
  readonly name?: string;
  readonly type?: string;
  readonly message?: string;
  readonly cause?: unknown;
}

const CONNECTION_ERRORS = new Set(['KafkaJSConnectionError', 'KafkaJSConnectionClosedError', 'KafkaJSBrokerNotFound', 'KafkaJSNoBrokerAvailableError', 'KafkaJSLockTimeout']);
const TOO_LARGE = new Set(['MESSAGE_TOO_LARGE', 'RECORD_LIST_TOO_LARGE', 'INVALID_RECORD', 'CORRUPT_MESSAGE']);
const PRODUCER_STATE = new Set(['OUT_OF_ORDER_SEQUENCE_NUMBER', 'UNKNOWN_PRODUCER_ID', 'INVALID_PRODUCER_EPOCH', 'INVALID_PRODUCER_ID_MAPPING']);
const REBALANCING = new Set(['REBALANCE_IN_PROGRESS', 'NOT_COORDINATOR_FOR_GROUP', 'ILLEGAL_GENERATION', 'UNKNOWN_MEMBER_ID']);

const WRAPPERS = new Set(['KafkaJSNumberOfRetriesExceeded', 'KafkaJSNonRetriableError']);

/** The innermost error: kafkajs wraps the last failure in `KafkaJSNumberOfRetriesExceeded` or `KafkaJSNonRetriableError`. */
function root(error: unknown): KafkaLikeError {
  let current = error as KafkaLikeError;
  while (current.name !== undefined && WRAPPERS.has(current.name) && current.cause) current = current.cause;
  return current;
}

/** A failed produce as a typed SDK error. */
export function toPublishError(error: unknown, topics: readonly string[], timeoutMs: number): ReliableMqError {
  const e = root(error);
  const detail = e.message ?? String(error);
  if (e.type === 'UNKNOWN_TOPIC_OR_PARTITION') return new UnroutableError(topics.join(', '), `Kafka knows no topic ${topics.join(', ')}`);
  if (e.type !== undefined && TOO_LARGE.has(e.type)) return new MessageValidationError(`Kafka refused the message as invalid (${e.type}): ${detail}`, { cause: error });
  if (e.name === 'KafkaJSRequestTimeoutError' || e.type === 'REQUEST_TIMED_OUT') return new PublishTimeoutError(timeoutMs, { cause: error });
  if (e.type !== undefined && PRODUCER_STATE.has(e.type)) {
    return new ConnectionLostError(`The producer's sequence state broke (${e.type}): the message may or may not be stored; the producer is replaced`, { cause: error });
  }
  if (e.name !== undefined && CONNECTION_ERRORS.has(e.name)) {
    return new ConnectionLostError(`Lost the Kafka broker before it acknowledged: the message may or may not be stored (${detail})`, { cause: error });
  }
  return new PublishNackedError(`Kafka did not accept the message: ${detail}`, { cause: error });
}

/** The group is being rebalanced (or this member fell out of it): stop, commit what is done, rejoin. */
export function isRebalancing(error: unknown): boolean {
  const type = root(error).type;
  return type !== undefined && REBALANCING.has(type);
}
