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
  readonly code?: unknown;
  readonly message?: string;
  readonly cause?: unknown;
}

const CONNECTION_ERRORS = new Set(['KafkaJSConnectionError', 'KafkaJSConnectionClosedError', 'KafkaJSBrokerNotFound', 'KafkaJSNoBrokerAvailableError', 'KafkaJSLockTimeout']);
const TOO_LARGE = new Set(['MESSAGE_TOO_LARGE', 'RECORD_LIST_TOO_LARGE', 'INVALID_RECORD', 'CORRUPT_MESSAGE']);
const PRODUCER_STATE = new Set(['OUT_OF_ORDER_SEQUENCE_NUMBER', 'UNKNOWN_PRODUCER_ID', 'INVALID_PRODUCER_EPOCH', 'INVALID_PRODUCER_ID_MAPPING']);
const REBALANCING = new Set(['REBALANCE_IN_PROGRESS', 'NOT_COORDINATOR_FOR_GROUP', 'ILLEGAL_GENERATION', 'UNKNOWN_MEMBER_ID']);

/**
 * Confluent's client (librdkafka) names its errors by librdkafka code: `type` is the code's name (`ERR__…` for
 * the client's own, `ERR_…` for the broker's), `code` the number. Its synchronous `produce` errors carry the
 * number only.
 */
const RD_UNROUTABLE = new Set(['ERR_UNKNOWN_TOPIC_OR_PART', 'ERR__UNKNOWN_TOPIC', 'ERR__UNKNOWN_PARTITION', 'ERR_UNKNOWN_TOPIC_ID']);
const RD_INVALID = new Set(['ERR_MSG_SIZE_TOO_LARGE', 'ERR__MSG_SIZE_TOO_LARGE', 'ERR_RECORD_LIST_TOO_LARGE', 'ERR_INVALID_RECORD', 'ERR_CORRUPT_MESSAGE', 'ERR__INVALID_ARG']);
const RD_TIMEOUT = new Set(['ERR__MSG_TIMED_OUT', 'ERR__TIMED_OUT', 'ERR_REQUEST_TIMED_OUT', 'ERR__TIMED_OUT_QUEUE']);
const RD_PRODUCER_STATE = new Set(['ERR__FATAL', 'ERR_OUT_OF_ORDER_SEQUENCE_NUMBER', 'ERR_UNKNOWN_PRODUCER_ID', 'ERR_INVALID_PRODUCER_EPOCH', 'ERR__GAPLESS_GUARANTEE', 'ERR__FENCED']);
const RD_CONNECTION = new Set(['ERR__TRANSPORT', 'ERR__ALL_BROKERS_DOWN', 'ERR__PURGE_QUEUE', 'ERR__PURGE_INFLIGHT', 'ERR__DESTROY', 'ERR__DESTROY_BROKER', 'ERR__STATE', 'ERR_NOT_LEADER_FOR_PARTITION', 'ERR_LEADER_NOT_AVAILABLE', 'ERR_NOT_ENOUGH_REPLICAS', 'ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND']);
/** librdkafka's numbers for the local codes a `produce` call throws synchronously. */
const RD_LOCAL_CODES: Readonly<Record<number, string>> = { [-197]: 'ERR__DESTROY', [-192]: 'ERR__MSG_TIMED_OUT', [-190]: 'ERR__UNKNOWN_PARTITION', [-188]: 'ERR__UNKNOWN_TOPIC', [-186]: 'ERR__INVALID_ARG', [-184]: 'ERR__QUEUE_FULL', [-172]: 'ERR__STATE', [-150]: 'ERR__FATAL', [10]: 'ERR_MSG_SIZE_TOO_LARGE' };

/** A librdkafka error code's name, when the error is one of Confluent's client. */
function librdkafkaType(e: KafkaLikeError): string | undefined {
  if (e.type?.startsWith('ERR_')) return e.type;
  return typeof e.code === 'number' && e.type === undefined && e.name !== 'KafkaJSProtocolError' ? RD_LOCAL_CODES[e.code] : undefined;
}

/** A failed produce of Confluent's client as a typed SDK error. */
function fromLibrdkafka(type: string, error: unknown, detail: string, topics: readonly string[], timeoutMs: number): ReliableMqError {
  if (RD_UNROUTABLE.has(type)) return new UnroutableError(topics.join(', '), `Kafka knows no topic ${topics.join(', ')} (${type})`);
  if (RD_INVALID.has(type)) return new MessageValidationError(`Kafka refused the message as invalid (${type}): ${detail}`, { cause: error });
  if (RD_TIMEOUT.has(type)) return new PublishTimeoutError(timeoutMs, { cause: error });
  if (RD_PRODUCER_STATE.has(type)) {
    return new ConnectionLostError(`The producer's sequence state broke (${type}): the message may or may not be stored; the producer is replaced`, { cause: error });
  }
  if (RD_CONNECTION.has(type)) return new ConnectionLostError(`Lost the Kafka broker before it acknowledged (${type}): the message may or may not be stored (${detail})`, { cause: error });
  return new PublishNackedError(`Kafka did not accept the message (${type}): ${detail}`, { cause: error });
}

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
  const rdType = librdkafkaType(e);
  if (rdType !== undefined) return fromLibrdkafka(rdType, error, detail, topics, timeoutMs);
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

/** The producer cannot go on (its idempotence sequence or epoch broke, or librdkafka raised a fatal error): replace it. */
export function breaksProducer(error: unknown): boolean {
  const e = root(error);
  const rdType = librdkafkaType(e);
  return rdType !== undefined ? RD_PRODUCER_STATE.has(rdType) : e.type !== undefined && PRODUCER_STATE.has(e.type);
}

/** The group is being rebalanced (or this member fell out of it): stop, commit what is done, rejoin. */
export function isRebalancing(error: unknown): boolean {
  const type = root(error).type;
  return type !== undefined && REBALANCING.has(type);
}
