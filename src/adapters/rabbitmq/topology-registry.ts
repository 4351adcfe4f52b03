import type { ChannelModel } from 'amqplib';
import { ConnectionLostError, type TopologyError } from '../../core/index.js';
import type { ResolvedRabbitMqConfig } from './config.js';
import type { ConnectionParticipant, RabbitConnection } from './connection.js';
import { Naming } from './naming.js';
import { declareTopology, mergeTopology } from './topology.js';
import type { TopologyConfig } from './topology-config.js';

export interface GroupTopologyOptions {
  readonly queue: string;
  readonly singleActiveConsumer: boolean;
}

/**
 * Declares the configured topology on every (re)connect, and the entities that publishers and
 * subscriptions imply, with the configured specs taking precedence. Remembers every name it declared.
 */
export class TopologyRegistry implements ConnectionParticipant {
  readonly declaredExchanges = new Set<string>();
  readonly declaredQueues = new Set<string>();
  private previous: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly connection: RabbitConnection,
    private readonly config: ResolvedRabbitMqConfig,
  ) {}

  /** On reconnect: refusals are reported as `failure` events; a dead connection makes amqplib retry. */
  async attach(model: ChannelModel): Promise<void> {
    const errors = await this.declareOn(model, this.config.topology);
    const lost = errors.find((e) => e instanceof ConnectionLostError);
    if (lost) throw lost;
    for (const error of errors) this.connection.events.emit('failure', error);
  }

  detach(): void {
    /* nothing held between connections */
  }

  /** Declares the configured topology now; rejects with the first refusal (the others are emitted). */
  async declareConfigured(): Promise<void> {
    await this.declare(this.config.topology);
  }

  async declare(topology: TopologyConfig): Promise<void> {
    const model = this.connection.current();
    if (!model) throw new ConnectionLostError('Not connected to RabbitMQ: cannot declare the topology');
    const [first, ...rest] = await this.declareOn(model, topology);
    for (const error of rest) this.connection.events.emit('failure', error);
    if (first) throw first;
  }

  ensureExchange(name: string): Promise<void> {
    return this.declare(mergeTopology({ exchanges: { [name]: { type: 'topic' } } }, this.config.topology));
  }

  /** What a group on a topic needs: the topic exchange, the group's queue and its dead-letter topic. */
  groupTopology(topic: string, group: string, options: GroupTopologyOptions): TopologyConfig {
    const deadLetters = Naming.deadLetterTopic(topic, group);
    const implied: TopologyConfig = {
      exchanges: { [Naming.exchange(topic)]: { type: 'topic' }, [deadLetters]: { type: 'topic' } },
      queues: {
        [options.queue]: { deadLetterExchange: deadLetters, ...(options.singleActiveConsumer ? { singleActiveConsumer: true } : {}) },
        [deadLetters]: {},
      },
      bindings: [
        { exchange: Naming.exchange(topic), queue: options.queue, pattern: '#' },
        { exchange: deadLetters, queue: deadLetters, pattern: '#' },
      ],
    };
    return mergeTopology(implied, this.config.topology);
  }

  /**
   * One declaration batch at a time: RabbitMQ 3.x answers a second, concurrent declare of a quorum queue
   * before the queue's Raft group is running, and a consume then crashes the whole connection.
   */
  private declareOn(model: ChannelModel, topology: TopologyConfig): Promise<Array<TopologyError | ConnectionLostError>> {
    const run = this.previous.then(() => this.declareNow(model, topology));
    this.previous = run.catch(() => undefined);
    return run;
  }

  private async declareNow(model: ChannelModel, topology: TopologyConfig): Promise<Array<TopologyError | ConnectionLostError>> {
    const errors = await declareTopology(model, topology, this.config.queues);
    for (const name of Object.keys(topology.exchanges ?? {})) this.declaredExchanges.add(name);
    for (const name of Object.keys(topology.queues ?? {})) this.declaredQueues.add(name);
    return errors;
  }
}
