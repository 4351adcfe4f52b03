import { loadavg } from 'node:os';
import amqplib, { type Channel, type ChannelModel, type ConfirmChannel, type Options } from 'amqplib';
import { AMQP_URL } from './env.js';
import { runScript } from './run.js';

export type QueueType = 'classic' | 'quorum';
export const QUEUE_TYPES: readonly QueueType[] = ['classic', 'quorum'];

/** The raw client connects as the SDK does (Nagle off), so the comparison is about the client code only. */
export function connectRaw(name: string): Promise<ChannelModel> {
  return amqplib.connect(AMQP_URL, { noDelay: true, clientProperties: { connection_name: name } });
}

/** Arguments of a queue as the SDK declares it by default (`x-delivery-limit` 20 on quorum queues). */
export function queueArguments(type: QueueType): Record<string, unknown> {
  return type === 'quorum' ? { 'x-queue-type': 'quorum', 'x-delivery-limit': 20 } : { 'x-queue-type': 'classic' };
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(`publish failed: ${JSON.stringify(error)}`);
}

/** A durable topic exchange with one durable queue of `type` bound to it with `#`. */
export async function declareRoute(channel: Channel, exchange: string, queue: string, type: QueueType): Promise<void> {
  await channel.assertExchange(exchange, 'topic', { durable: true });
  await channel.assertQueue(queue, { durable: true, arguments: queueArguments(type) });
  await channel.bindQueue(queue, exchange, '#');
}

/**
 * Publishes `total` messages keeping at most `window` unconfirmed: each confirm lets the next one go.
 * Rejects on the first nack or channel failure. Ignores `drain` (amqplib buffers), like the baselines.
 */
export function publishWindow(
  channel: ConfirmChannel,
  target: { exchange: string; routingKey: string },
  body: Buffer,
  options: () => Options.Publish,
  total: number,
  window: number,
): Promise<void> {
  return new Promise((resolve, reject) => {
    let sent = 0;
    let confirmed = 0;
    let failed = false;
    const refill = (): void => {
      while (!failed && sent < total && sent - confirmed < window) {
        sent += 1;
        channel.publish(target.exchange, target.routingKey, body, options(), (error: unknown) => {
          if (failed) return;
          if (error) {
            failed = true;
            reject(asError(error));
            return;
          }
          confirmed += 1;
          if (confirmed === total) resolve();
          else refill();
        });
      }
    };
    if (total === 0) resolve();
    else refill();
  });
}

/** Publishes `total` messages one at a time, each awaiting its confirm before the next is sent. */
export async function publishEach(channel: ConfirmChannel, target: { exchange: string; routingKey: string }, body: Buffer, options: Options.Publish, total: number): Promise<void> {
  for (let i = 0; i < total; i++) {
    await new Promise<void>((resolve, reject) => {
      channel.publish(target.exchange, target.routingKey, body, options, (error: unknown) => {
        if (error) reject(asError(error));
        else resolve();
      });
    });
  }
}

/**
 * The broker entities one benchmark run creates, under a unique prefix. Everything `track`ed is deleted by
 * `cleanUp`, over a connection of its own, whatever state the benchmark's connections are in.
 */
export class Scratch {
  readonly prefix: string;
  private readonly queues = new Set<string>();
  private readonly exchanges = new Set<string>();
  private admin: { model: ChannelModel; channel: Channel } | undefined;

  constructor(bench: string) {
    this.prefix = `bench.${bench}.${Date.now().toString(36)}.${String(process.pid)}`;
  }

  name(label: string): string {
    return `${this.prefix}.${label}`;
  }

  track(entities: { queues?: readonly string[]; exchanges?: readonly string[] }): void {
    for (const queue of entities.queues ?? []) this.queues.add(queue);
    for (const exchange of entities.exchanges ?? []) this.exchanges.add(exchange);
  }

  /** A channel for declarations and checks; re-opened if a refusal closed it. */
  async channel(): Promise<Channel> {
    if (!this.admin) {
      const model = await connectRaw(`${this.prefix}.admin`);
      model.on('error', () => undefined);
      const channel = await model.createChannel();
      channel.on('error', () => undefined);
      channel.on('close', () => {
        if (this.admin?.channel === channel) {
          void model.close().catch(() => undefined);
          this.admin = undefined;
        }
      });
      this.admin = { model, channel };
    }
    return this.admin.channel;
  }

  async messageCount(queue: string): Promise<number> {
    return (await (await this.channel()).checkQueue(queue)).messageCount;
  }

  async purge(queue: string): Promise<void> {
    await (await this.channel()).purgeQueue(queue);
  }

  /** Deletes the given entities now (all tracked ones when none given) and forgets them. */
  async remove(entities?: { queues?: readonly string[]; exchanges?: readonly string[] }): Promise<void> {
    const queues = entities ? (entities.queues ?? []) : [...this.queues];
    const exchanges = entities ? (entities.exchanges ?? []) : [...this.exchanges];
    for (const queue of queues) {
      await (await this.channel()).deleteQueue(queue);
      this.queues.delete(queue);
    }
    for (const exchange of exchanges) {
      await (await this.channel()).deleteExchange(exchange);
      this.exchanges.delete(exchange);
    }
  }

  async cleanUp(): Promise<void> {
    try {
      await this.remove();
    } finally {
      const admin = this.admin;
      this.admin = undefined;
      await admin?.model.close().catch(() => undefined);
    }
  }
}

export async function brokerVersion(): Promise<string> {
  const model = await connectRaw('bench.version');
  try {
    const props = model.connection.serverProperties;
    return `${props.product} ${props.version}`;
  } finally {
    await model.close();
  }
}

export function printHeader(title: string, facts: Record<string, string | number>): void {
  console.log(`\n# ${title}`);
  const all: Record<string, string | number> = {
    date: new Date().toISOString(),
    node: process.version,
    'load avg (1 min) at start': loadavg()[0]?.toFixed(2) ?? '?',
    ...facts,
  };
  for (const [key, value] of Object.entries(all)) console.log(`  ${key}: ${String(value)}`);
  console.log('');
}

/**
 * Runs one benchmark script: a time budget, clean-up of everything tracked in `Scratch` on success,
 * failure, budget overrun or a signal, then exit (0 only when `main` succeeded).
 */
export async function runBench(bench: string, budgetMs: number, main: (scratch: Scratch) => Promise<void>): Promise<never> {
  return runScript(bench, budgetMs, new Scratch(bench), 20_000, main);
}
