import { isPlainObject, type ConfigSpec } from '../../core/index.js';

export type ExchangeType = 'topic' | 'fanout' | 'direct' | 'headers';

export interface ExchangeSpec {
  /** Default `topic`: the routing key is the message type, so bindings can select by type pattern. */
  readonly type?: ExchangeType;
  /** Default true. */
  readonly durable?: boolean;
  readonly arguments?: Readonly<Record<string, unknown>>;
}

export interface QueueSpec {
  /** Default: the transport's `queues.type` (quorum). */
  readonly type?: 'quorum' | 'classic';
  /** Quorum queues only: dead-letter after this many failed deliveries (`x-delivery-limit`). */
  readonly deliveryLimit?: number;
  readonly deadLetterExchange?: string;
  readonly deadLetterRoutingKey?: string;
  /** Only one consumer receives at a time; the next takes over when it goes: strict queue order. */
  readonly singleActiveConsumer?: boolean;
  readonly messageTtlMs?: number;
  readonly maxLength?: number;
  readonly arguments?: Readonly<Record<string, unknown>>;
}

export interface BindingSpec {
  readonly exchange: string;
  readonly queue: string;
  /** Routing pattern. Default `#` (everything). */
  readonly pattern?: string;
  readonly arguments?: Readonly<Record<string, unknown>>;
}

/** rascal-style declarative topology: what must exist, declared on every (re)connect. */
export interface TopologyConfig {
  readonly exchanges?: Readonly<Record<string, ExchangeSpec>>;
  readonly queues?: Readonly<Record<string, QueueSpec>>;
  readonly bindings?: readonly BindingSpec[];
}

const EXCHANGE_KEYS = ['type', 'durable', 'arguments'];
const QUEUE_KEYS = ['type', 'deliveryLimit', 'deadLetterExchange', 'deadLetterRoutingKey', 'singleActiveConsumer', 'messageTtlMs', 'maxLength', 'arguments'];
const BINDING_KEYS = ['exchange', 'queue', 'pattern', 'arguments'];

function onlyKeys(value: unknown, keys: readonly string[]): value is Record<string, unknown> {
  return isPlainObject(value) && Object.keys(value).every((k) => keys.includes(k));
}

const optionalText = (v: unknown): boolean => v === undefined || (typeof v === 'string' && v.length > 0);
const optionalCount = (v: unknown): boolean => v === undefined || (Number.isInteger(v) && (v as number) >= 0);
const optionalArgs = (v: unknown): boolean => v === undefined || isPlainObject(v);

export function isExchangeSpec(v: unknown): boolean {
  return onlyKeys(v, EXCHANGE_KEYS) && (v['type'] === undefined || ['topic', 'fanout', 'direct', 'headers'].includes(v['type'] as string)) &&
    (v['durable'] === undefined || typeof v['durable'] === 'boolean') && optionalArgs(v['arguments']);
}

export function isQueueSpec(v: unknown): boolean {
  return onlyKeys(v, QUEUE_KEYS) && (v['type'] === undefined || v['type'] === 'quorum' || v['type'] === 'classic') &&
    optionalCount(v['deliveryLimit']) && optionalText(v['deadLetterExchange']) && (v['deadLetterRoutingKey'] === undefined || typeof v['deadLetterRoutingKey'] === 'string') &&
    (v['singleActiveConsumer'] === undefined || typeof v['singleActiveConsumer'] === 'boolean') && optionalCount(v['messageTtlMs']) && optionalCount(v['maxLength']) && optionalArgs(v['arguments']);
}

function isBindingSpec(v: unknown): boolean {
  return onlyKeys(v, BINDING_KEYS) && typeof v['exchange'] === 'string' && typeof v['queue'] === 'string' &&
    (v['pattern'] === undefined || typeof v['pattern'] === 'string') && optionalArgs(v['arguments']);
}

const mapOf = (check: (v: unknown) => boolean) => (v: unknown): boolean => isPlainObject(v) && Object.values(v).every(check);

export const topologySpec: ConfigSpec<Required<TopologyConfig>> = {
  exchanges: { rule: { kind: 'custom', expected: `an object of exchange specs { ${EXCHANGE_KEYS.join(', ')} }`, check: mapOf(isExchangeSpec) }, default: {} },
  queues: { rule: { kind: 'custom', expected: `an object of queue specs { ${QUEUE_KEYS.join(', ')} }`, check: mapOf(isQueueSpec) }, default: {} },
  bindings: { rule: { kind: 'array', items: { kind: 'custom', expected: `a binding { ${BINDING_KEYS.join(', ')} }`, check: isBindingSpec } }, default: [] },
};
