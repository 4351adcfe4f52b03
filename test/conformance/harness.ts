import { randomBytes } from 'node:crypto';
import type { Envelope, Handler, HandlerContext, Publisher, SerializerConfig, Subscriber, Subscription, WireRecord } from '../../src/core/index.js';
import { waitFor } from '../support/wait.js';

/** What a transport can promise; the suite skips (saying why) or loosens only by these flags. */
export interface TransportFeatures {
  /** Per-key order holds with several members in a group and concurrency > 1 (memory, Kafka partitions). */
  readonly orderPerKeyWithConcurrency: boolean;
  /** A group created after messages were published still receives them (Kafka `earliest`, memory retention). */
  readonly newGroupReceivesOldMessages: boolean;
  /** Members of a group share its messages round-robin (RabbitMQ, memory); Kafka assigns whole partitions. */
  readonly balancesGroupMembers: boolean;
  /** The transport dead-letters a message after this many failed deliveries (as configured by the harness). */
  readonly deliveryLimit: number;
  /** A message taken back from a crashed or abandoned consumer comes with a higher attempt (RabbitMQ counts, Kafka cannot). */
  readonly attemptSurvivesConsumerLoss: boolean;
  /** How long to wait for an expected message. */
  readonly timeoutMs: number;
}

/** What an adapter supplies to run the suite: a fresh set of its components per test. */
export interface TransportHarness {
  publisher(serializer?: SerializerConfig): Publisher | Promise<Publisher>;
  subscriber(serializer?: SerializerConfig): Subscriber | Promise<Subscriber>;
  /** Publishes as a producer that does not use this SDK would: raw bytes and headers. */
  publishRaw(topic: string, record: WireRecord): Promise<void>;
  deadLetterTopic(topic: string, group: string): string;
  /** Kills the consumer without settling anything (channel dropped, process gone). */
  crash(subscription: Subscription): Promise<void>;
  /** Releases everything the harness created. */
  close(): Promise<void>;
}

export type HarnessFactory = () => Promise<TransportHarness>;

export function uniqueName(label: string): string {
  return `conf-${label}-${randomBytes(4).toString('hex')}`;
}

export interface Received {
  readonly envelope: Envelope;
  readonly context: HandlerContext;
  readonly by: string;
}

/** Records what handlers received; `behaviour` decides per delivery what the handler does. */
export class Recorder {
  readonly received: Received[] = [];
  private active = 0;
  maxActive = 0;

  handler(by = 'default', behaviour?: (envelope: Envelope, seen: number) => Promise<void> | void): Handler {
    return async (envelope, context) => {
      this.active += 1;
      this.maxActive = Math.max(this.maxActive, this.active);
      try {
        const seen = this.received.filter((r) => r.envelope.id === envelope.id).length;
        if (behaviour) await behaviour(envelope, seen);
        this.received.push({ envelope, context, by });
      } finally {
        this.active -= 1;
      }
    };
  }

  get ids(): string[] {
    return this.received.map((r) => r.envelope.id);
  }

  uniqueIds(): Set<string> {
    return new Set(this.ids);
  }

  by(member: string): Received[] {
    return this.received.filter((r) => r.by === member);
  }

  async waitForUnique(count: number, timeoutMs: number): Promise<void> {
    await waitFor(() => this.uniqueIds().size >= count, timeoutMs, () => `received ${String(this.uniqueIds().size)} of ${String(count)} distinct messages`);
  }
}

/** Tracks publishers and subscribers made during a test so they are closed after it. */
export class Scope {
  private readonly closers: Array<() => Promise<void>> = [];

  constructor(readonly harness: TransportHarness) {}

  async publisher(serializer?: SerializerConfig): Promise<Publisher> {
    const publisher = await this.harness.publisher(serializer);
    this.closers.push(() => publisher.close());
    return publisher;
  }

  async subscriber(serializer?: SerializerConfig): Promise<Subscriber> {
    const subscriber = await this.harness.subscriber(serializer);
    this.closers.push(() => subscriber.close());
    return subscriber;
  }

  async close(): Promise<void> {
    for (const close of this.closers.reverse()) await close().catch(() => undefined);
  }
}

/** Publishes `count` messages, `keys` keys round-robin, sequentially per key and concurrently across keys. */
export async function publishKeyed(publisher: Publisher, topic: string, count: number, keys: number): Promise<Envelope[]> {
  const lanes = Array.from({ length: keys }, (_, k) => k);
  const sent: Envelope[] = [];
  await Promise.all(
    lanes.map(async (k) => {
      for (let i = k; i < count; i += keys) {
        sent.push(await publisher.publish(topic, { type: 'test.sequenced', key: `key-${String(k)}`, payload: { i } }));
      }
    }),
  );
  return sent;
}

export const utf8 = new TextEncoder();
