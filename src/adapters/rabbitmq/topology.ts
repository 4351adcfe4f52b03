import type { Channel, ChannelModel } from 'amqplib';
import type { ConnectionLostError, TopologyError } from '../../core/index.js';
import { toTopologyError } from './amqp-errors.js';
import type { ResolvedRabbitMqConfig } from './config.js';
import type { BindingSpec, ExchangeSpec, QueueSpec, TopologyConfig } from './topology-config.js';

export type QueueDefaults = ResolvedRabbitMqConfig['queues'];

/** The AMQP `x-` arguments of a queue spec, with the transport's defaults filled in. */
export function queueArguments(spec: QueueSpec, defaults: QueueDefaults): Record<string, unknown> {
  const type = spec.type ?? defaults.type;
  const args: Record<string, unknown> = { 'x-queue-type': type };
  if (type === 'quorum') {
    const limit = spec.deliveryLimit ?? defaults.deliveryLimit;
    args['x-delivery-limit'] = limit;
    if (defaults.replicas !== undefined) args['x-quorum-initial-group-size'] = defaults.replicas;
  }
  if (spec.deadLetterExchange !== undefined) args['x-dead-letter-exchange'] = spec.deadLetterExchange;
  if (spec.deadLetterRoutingKey !== undefined) args['x-dead-letter-routing-key'] = spec.deadLetterRoutingKey;
  if (spec.singleActiveConsumer) args['x-single-active-consumer'] = true;
  if (spec.messageTtlMs !== undefined) args['x-message-ttl'] = spec.messageTtlMs;
  if (spec.maxLength !== undefined) args['x-max-length'] = spec.maxLength;
  return { ...args, ...spec.arguments };
}

/** The implied entities, each with the explicitly configured fields of the same name laid over it. */
export function mergeTopology(implied: TopologyConfig, explicit: TopologyConfig): Required<TopologyConfig> {
  return {
    exchanges: overlay(implied.exchanges, explicit.exchanges),
    queues: overlay(implied.queues, explicit.queues),
    bindings: implied.bindings ?? [],
  };
}

function overlay<V extends object>(implied: Readonly<Record<string, V>> | undefined, explicit: Readonly<Record<string, V>> | undefined): Record<string, V> {
  const out: Record<string, V> = {};
  for (const [name, spec] of Object.entries(implied ?? {})) {
    const configured = explicit && Object.hasOwn(explicit, name) ? explicit[name] : undefined;
    out[name] = configured ? { ...spec, ...configured } : spec;
  }
  return out;
}

type Declaration = { entity: string; run: (channel: Channel) => Promise<unknown> };

function declarations(topology: TopologyConfig, defaults: QueueDefaults): Declaration[] {
  const list: Declaration[] = [];
  for (const [name, spec] of Object.entries(topology.exchanges ?? {})) list.push(exchangeDeclaration(name, spec));
  for (const [name, spec] of Object.entries(topology.queues ?? {})) {
    list.push({ entity: `queue '${name}'`, run: (ch) => ch.assertQueue(name, { durable: true, arguments: queueArguments(spec, defaults) }) });
  }
  for (const binding of topology.bindings ?? []) list.push(bindingDeclaration(binding));
  return list;
}

function exchangeDeclaration(name: string, spec: ExchangeSpec): Declaration {
  return {
    entity: `exchange '${name}'`,
    run: (ch) => ch.assertExchange(name, spec.type ?? 'topic', { durable: spec.durable ?? true, ...(spec.arguments ? { arguments: spec.arguments } : {}) }),
  };
}

function bindingDeclaration(b: BindingSpec): Declaration {
  const pattern = b.pattern ?? '#';
  return { entity: `binding '${b.exchange}' → '${b.queue}' (${pattern})`, run: (ch) => ch.bindQueue(b.queue, b.exchange, pattern, b.arguments) };
}

/**
 * Declares every entity, each refusal turned into a typed error naming the entity. A refusal closes the
 * channel, so declarations run on channels of their own and go on after one fails: one bad queue does not
 * keep the others from existing. Resolves with the errors (empty when all went through).
 */
export async function declareTopology(model: ChannelModel, topology: TopologyConfig, defaults: QueueDefaults): Promise<Array<TopologyError | ConnectionLostError>> {
  const errors: Array<TopologyError | ConnectionLostError> = [];
  let channel: Channel | undefined;
  for (const declaration of declarations(topology, defaults)) {
    channel ??= await openQuietChannel(model);
    try {
      await declaration.run(channel);
    } catch (error) {
      errors.push(toTopologyError(declaration.entity, error));
      channel = undefined; // the broker closed it
    }
  }
  if (channel) await channel.close().catch(() => undefined);
  return errors;
}

/** A channel whose broker-side close (a refused declaration) is reported through the failing call, not as an event. */
export async function openQuietChannel(model: ChannelModel): Promise<Channel> {
  const channel = await model.createChannel();
  channel.on('error', () => undefined);
  return channel;
}
