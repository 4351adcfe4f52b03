import {
  ClosedError,
  ConnectionLostError,
  InFlight,
  PublishTimeoutError,
  ReliableMqError,
  Semaphore,
  createEnvelope,
  requireTopic,
  toWireRecord,
  type Envelope,
  type MessageSerializer,
  type OutgoingMessage,
  type Publisher,
  type WireRecord,
} from '../../core/index.js';
import type { ResolvedKafkaConfig } from './config.js';
import type { ProducerDriver } from './driver.js';
import { toPublishError } from './kafka-errors.js';
import { toKafka, type OutgoingKafkaMessage } from './kafka-wire.js';
import type { TopicRegistry } from './topic-registry.js';

interface Queued {
  readonly topic: string;
  readonly message: OutgoingKafkaMessage;
  readonly resolve: () => void;
  readonly reject: (error: Error) => void;
}

/**
 * An idempotent producer with `acks = -1`: `publish` resolves only after every in-sync replica has the
 * message. Concurrent publishes are gathered into one produce request (up to `maxBatchSize`, waiting at
 * most `lingerMs` for company), so N concurrent `await publish()` calls cost about one round trip per batch.
 * The key picks the partition (murmur2, as the Java client), so order per key holds.
 */
export class KafkaPublisher implements Publisher {
  private readonly queue: Queued[] = [];
  private readonly room: Semaphore;
  private readonly inFlight = new InFlight();
  private sending = false;
  private lingerTimer: NodeJS.Timeout | undefined;
  private closed = false;

  private producer: Promise<ProducerDriver> | undefined;

  /**
   * `newProducer` makes a connected idempotent producer: after an uncertain failure (timeout, lost broker,
   * missing partition ack, broken sequence) the publisher drops its producer and takes a new one, whose
   * fresh producer id keeps the old one's retries from colliding with what is sent next.
   */
  constructor(
    private readonly newProducer: () => Promise<ProducerDriver>,
    private readonly partitioner: (topic: string, partitionCount: number, key: string | null) => number,
    private readonly topics: TopicRegistry,
    private readonly serializer: MessageSerializer,
    private readonly config: ResolvedKafkaConfig['publish'],
  ) {
    this.room = new Semaphore(config.maxBuffered);
  }

  publish<T>(topic: string, message: OutgoingMessage<T>): Promise<Envelope<T>> {
    if (this.closed) return Promise.reject(new ClosedError('KafkaPublisher'));
    return this.inFlight.track(this.publishEnvelope(topic, message));
  }

  /** Publishes a wire record as it is (dead letters, replays), with the same acknowledgement semantics. */
  publishRecord(topic: string, record: WireRecord): Promise<void> {
    if (this.closed) return Promise.reject(new ClosedError('KafkaPublisher'));
    return this.inFlight.track(this.enqueue(topic, toKafka(record)));
  }

  /** Stops taking publishes, sends what is buffered and waits for every acknowledgement, then disconnects. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.inFlight.settled();
    const producer = this.producer;
    this.producer = undefined;
    await (await producer?.catch(() => undefined))?.disconnect().catch(() => undefined);
  }

  private async publishEnvelope<T>(topic: string, message: OutgoingMessage<T>): Promise<Envelope<T>> {
    requireTopic(topic);
    const envelope = createEnvelope(message, this.serializer.defaultContentType);
    const body = await this.serializer.encode(envelope.type, envelope.contentType, envelope.payload);
    await this.enqueue(topic, toKafka(toWireRecord(envelope, body)));
    return envelope;
  }

  private async enqueue(topic: string, message: OutgoingKafkaMessage): Promise<void> {
    message.partition = this.partitioner(topic, await this.topics.partitions(topic), message.key);
    if (!this.room.tryAcquire() && !(await this.room.acquire(AbortSignal.timeout(this.config.timeoutMs)))) {
      throw new PublishTimeoutError(this.config.timeoutMs, { cause: new Error(`not sent: ${String(this.config.maxBuffered)} publishes were buffered or awaiting acknowledgement`) });
    }
    try {
      await new Promise<void>((resolve, reject) => {
        this.queue.push({ topic, message, resolve, reject });
        this.schedule();
      });
    } finally {
      this.room.release();
    }
  }

  private schedule(): void {
    if (this.sending) return; // the batch in flight collects the next one meanwhile
    if (this.queue.length >= this.config.maxBatchSize || this.config.lingerMs === 0) {
      void this.sendLoop();
      return;
    }
    this.lingerTimer ??= setTimeout(() => {
      this.lingerTimer = undefined;
      void this.sendLoop();
    }, this.config.lingerMs);
  }

  private async sendLoop(): Promise<void> {
    if (this.sending) return;
    this.sending = true;
    if (this.lingerTimer) clearTimeout(this.lingerTimer);
    this.lingerTimer = undefined;
    try {
      while (this.queue.length > 0) await this.sendBatch(this.queue.splice(0, this.config.maxBatchSize));
    } finally {
      this.sending = false;
    }
  }

  private async sendBatch(batch: Queued[]): Promise<void> {
    const byTopic = new Map<string, OutgoingKafkaMessage[]>();
    for (const item of batch) {
      const messages = byTopic.get(item.topic);
      if (messages) messages.push(item.message);
      else byTopic.set(item.topic, [item.message]);
    }
    const topicMessages = [...byTopic].map(([topic, messages]) => ({ topic, messages }));
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        reject(new PublishTimeoutError(this.config.timeoutMs));
      }, this.config.timeoutMs);
    });
    try {
      const producer = await this.currentProducer();
      const acks = await Promise.race([producer.sendBatch({ topicMessages, acks: -1, timeout: this.config.timeoutMs }), timeout]);
      const acked = new Set(acks.filter((a) => a.errorCode === 0).map((a) => `${a.topicName}:${String(a.partition)}`));
      let missing = 0;
      for (const item of batch) {
        if (acked.has(`${item.topic}:${String(item.message.partition)}`)) {
          item.resolve();
        } else {
          missing += 1;
          item.reject(new ConnectionLostError(`Kafka acknowledged the request but not partition ${String(item.message.partition)} of ${item.topic}: the message may or may not be stored`));
        }
      }
      if (missing > 0) this.dropProducer();
    } catch (error) {
      const typed = ReliableMqError.is(error) ? error : toPublishError(error, [...byTopic.keys()], this.config.timeoutMs);
      if (typed instanceof PublishTimeoutError || typed instanceof ConnectionLostError) this.dropProducer();
      for (const item of batch) item.reject(typed);
    } finally {
      clearTimeout(timer);
    }
  }

  private currentProducer(): Promise<ProducerDriver> {
    if (!this.producer) {
      const created = this.newProducer();
      created.catch(() => {
        if (this.producer === created) this.producer = undefined;
      });
      this.producer = created;
    }
    return this.producer;
  }

  /** Stops using the current producer; its pending retries can no longer overlap with new requests' sequence numbers. */
  private dropProducer(): void {
    const old = this.producer;
    this.producer = undefined;
    void old?.then((producer) => producer.disconnect()).catch(() => undefined);
  }
}
