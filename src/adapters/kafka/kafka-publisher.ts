import {
  ClosedError,
  ConnectionLostError,
  InFlight,
  PublishTimeoutError,
  ReliableMqError,
  Semaphore,
  asError,
  attempt,
  SharedDeadline,
  envelopeFor,
  type Envelope,
  type MessageSerializer,
  type OutgoingMessage,
  type Publisher,
  type WireRecord,
} from '../../core/index.js';
import type { ResolvedKafkaConfig } from './config.js';
import type { ProducerDriver } from './driver.js';
import { breaksProducer, toPublishError } from './kafka-errors.js';
import { envelopeToKafka, toKafka, type OutgoingKafkaMessage } from './kafka-wire.js';
import type { TopicRegistry } from './topic-registry.js';

interface Queued {
  readonly topic: string;
  readonly message: OutgoingKafkaMessage;
  /** Bytes the record adds to a request, roughly (see `sizeOf`). */
  readonly bytes: number;
  /** What the caller's promise resolves with. */
  readonly result: unknown;
  readonly resolve: (value: unknown) => void;
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
  private readonly deadline: SharedDeadline;
  private readonly inFlight = new InFlight();
  private sending = false;
  private lingerTimer: NodeJS.Timeout | undefined;
  private handOverScheduled = false;
  private closed = false;

  /** One idempotent producer per lane; a partition always goes through the same lane (see `laneOf`). */
  private readonly lanes: Array<Promise<ProducerDriver> | undefined>;

  /**
   * `newProducer` makes a connected idempotent producer (`connected`, if given, is one already made). After
   * an uncertain failure (timeout, lost broker, missing partition ack, broken sequence) the publisher drops
   * that lane's producer and takes a new one, whose fresh producer id keeps the old one's retries from
   * colliding with what is sent next. A pipelining client keeps its producer except when its sequence state
   * broke: it recovers from timeouts itself (librdkafka bumps the epoch), and a second producer beside requests
   * still in flight in the first could store a partition's later messages before its earlier ones.
   */
  constructor(
    private readonly newProducer: () => Promise<ProducerDriver>,
    private readonly partitioner: (topic: string, partitionCount: number, key: string | null) => number,
    private readonly topics: TopicRegistry,
    private readonly serializer: MessageSerializer,
    private readonly config: ResolvedKafkaConfig['publish'],
    connected?: ProducerDriver,
    private readonly pipelined = false,
  ) {
    this.room = new Semaphore(config.maxBuffered);
    this.deadline = new SharedDeadline(config.timeoutMs);
    // A producer connected beforehand (the transport's fail-fast check) serves lane 0, and close() disconnects it.
    this.lanes = Array.from({ length: pipelined ? 1 : config.producers }, (_, lane) => (lane === 0 && connected ? Promise.resolve(connected) : undefined));
  }

  publish<T>(topic: string, message: OutgoingMessage<T>): Promise<Envelope<T>> {
    if (this.closed) return Promise.reject(new ClosedError('KafkaPublisher'));
    const envelope = envelopeFor(topic, message, this.serializer.defaultContentType);
    if (envelope instanceof Error) return Promise.reject(envelope);
    return this.inFlight.track(this.enqueue(topic, () => this.build(envelope), envelope));
  }

  /** Publishes a wire record as it is (dead letters, replays), with the same acknowledgement semantics. */
  publishRecord(topic: string, record: WireRecord): Promise<void> {
    if (this.closed) return Promise.reject(new ClosedError('KafkaPublisher'));
    return this.inFlight.track(this.enqueue(topic, () => toKafka(record), undefined));
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Stops taking publishes, sends what is buffered and waits for every acknowledgement, then disconnects. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.inFlight.settled();
    const producers = this.lanes.splice(0, this.lanes.length, ...this.lanes.map(() => undefined));
    await Promise.all(producers.map(async (producer) => (await producer?.catch(() => undefined))?.disconnect().catch(() => undefined)));
  }

  private build(envelope: Envelope): OutgoingKafkaMessage | Promise<OutgoingKafkaMessage> {
    const body = this.serializer.encodeNow(envelope.type, envelope.contentType, envelope.payload);
    return body instanceof Promise ? body.then((bytes) => envelopeToKafka(envelope, bytes)) : envelopeToKafka(envelope, body);
  }

  /**
   * Waits for room first, then builds the message (publishes that wait hold no encoded body) and queues it
   * for the next request; resolves with `result` once its partition is acknowledged. With the partition
   * count known, room free and the body encoded synchronously, the message is queued in the caller's tick.
   */
  private enqueue<R>(topic: string, build: () => OutgoingKafkaMessage | Promise<OutgoingKafkaMessage>, result: R): Promise<R> {
    const partitions = this.topics.knownPartitions(topic);
    if (partitions === undefined || !this.room.tryAcquire()) return this.enqueueWhenReady(topic, build, result, false);
    const message = attempt(build);
    if (message instanceof Error) {
      this.room.release();
      return Promise.reject(message);
    }
    if (message instanceof Promise) return this.enqueueWhenReady(topic, () => message, result, true);
    return this.queueMessage(topic, partitions, message, result);
  }

  private async enqueueWhenReady<R>(topic: string, build: () => OutgoingKafkaMessage | Promise<OutgoingKafkaMessage>, result: R, holdingRoom: boolean): Promise<R> {
    let held = holdingRoom;
    try {
      const partitions = await this.topics.partitions(topic);
      if (!held && !this.room.tryAcquire() && !(await this.room.acquire(this.deadline.signal()))) {
        throw new PublishTimeoutError(this.config.timeoutMs, { cause: new Error(`not sent: ${String(this.config.maxBuffered)} publishes were buffered or awaiting acknowledgement`) });
      }
      held = true;
      const message = await build();
      held = false; // queueMessage releases the room once the message is settled
      return await this.queueMessage(topic, partitions, message, result);
    } finally {
      if (held) this.room.release();
    }
  }

  /** Queues a built message for the next request; the room it holds is released once it is settled. */
  private queueMessage<R>(topic: string, partitions: number, message: OutgoingKafkaMessage, result: R): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      try {
        message.partition = this.partitioner(topic, partitions, message.key);
      } catch (error) {
        this.room.release();
        reject(asError(error));
        return;
      }
      this.queue.push({ topic, message, bytes: sizeOf(message), result, resolve: resolve as (value: unknown) => void, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.pipelined) {
      this.scheduleHandOver();
      return;
    }
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
      while (this.queue.length > 0) await this.sendBatch(this.queue.splice(0, this.batchLength()));
    } finally {
      this.sending = false;
    }
  }

  /**
   * A pipelining client (see `KafkaDriver.pipelines`) gets what this tick queued at once, without waiting for
   * earlier requests: it batches, lingers and keeps each partition's order itself.
   */
  private scheduleHandOver(): void {
    if (this.handOverScheduled) return;
    this.handOverScheduled = true;
    setImmediate(() => {
      this.handOverScheduled = false;
      while (this.queue.length > 0) void this.sendBatch(this.queue.splice(0, this.batchLength()));
    });
  }

  /**
   * How many queued messages the next request takes: at most `maxBatchSize`, and at most `maxBatchBytes`
   * (Kafka refuses a record batch over its `message.max.bytes` whole). A message larger than that goes
   * alone, so if the broker refuses it, it is the only one refused.
   */
  private batchLength(): number {
    let bytes = 0;
    let count = 0;
    for (const item of this.queue) {
      const size = item.bytes;
      if (count > 0 && (bytes + size > this.config.maxBatchBytes || count >= this.config.maxBatchSize)) break;
      bytes += size;
      count += 1;
      if (bytes > this.config.maxBatchBytes) break;
    }
    return Math.max(1, count);
  }

  /**
   * Sends a batch as one request per partition, concurrently. Not one request for all partitions: when the
   * leader of one partition fails, kafkajs retries the whole request, and after a reconnect it re-sends
   * partitions another broker had already acknowledged, with new sequence numbers, which Kafka stores again
   * (seen in the leader-kill fault test). One partition per request leaves kafkajs nothing acknowledged to
   * re-send. An idempotent kafkajs producer sends one request per broker at a time, so the partitions are
   * spread over `producers` lanes, each its own producer and connections: their requests overlap.
   */
  private async sendBatch(batch: Queued[]): Promise<void> {
    const byPartition = new Map<string, Queued[]>();
    for (const item of batch) {
      const id = `${item.topic}\u0000${String(item.message.partition)}`;
      const items = byPartition.get(id);
      if (items) items.push(item);
      else byPartition.set(id, [item]);
    }
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        reject(new PublishTimeoutError(this.config.timeoutMs));
      }, this.config.timeoutMs);
    });
    // Handled here too: a partition still waiting for its producer (a reconnect) when the timer fires has not raced it
    // yet, and an unhandled rejection would end the process.
    timeout.catch(() => undefined);
    try {
      await Promise.all([...byPartition.values()].map((items) => this.sendPartition(items, timeout)));
    } finally {
      clearTimeout(timer);
    }
  }

  /** One partition's messages in one request: all acknowledged, or all rejected with a typed error. */
  private async sendPartition(items: Queued[], timeout: Promise<never>): Promise<void> {
    const [{ topic, message }] = items as [Queued, ...Queued[]];
    const partition = message.partition;
    const lane = this.laneOf(topic, partition);
    try {
      const producer = await Promise.race([this.currentProducer(lane), timeout]);
      const acks = await Promise.race([producer.sendBatch({ topicMessages: [{ topic, messages: items.map((i) => i.message) }], acks: -1, timeout: this.config.timeoutMs }), timeout]);
      if (acks.some((a) => a.errorCode === 0 && a.topicName === topic && a.partition === partition)) {
        this.settle(items);
        return;
      }
      this.dropProducer(lane);
      const error = new ConnectionLostError(`Kafka answered the request but did not acknowledge partition ${String(partition)} of ${topic}: the message may or may not be stored`);
      this.settle(items, error);
    } catch (error) {
      const typed = ReliableMqError.is(error) ? error : toPublishError(error, [topic], this.config.timeoutMs);
      if (this.pipelined ? breaksProducer(error) : typed instanceof PublishTimeoutError || typed instanceof ConnectionLostError) this.dropProducer(lane);
      this.settle(items, typed);
    }
  }

  /** Settles the callers of sent messages and frees the room their messages held. */
  private settle(items: readonly Queued[], error?: Error): void {
    for (const item of items) {
      this.room.release();
      if (error) item.reject(error);
      else item.resolve(item.result);
    }
  }

  /** The lane of a partition: fixed, so that one partition's requests never overlap and keep their order. */
  private laneOf(topic: string, partition: number | undefined): number {
    if (this.lanes.length === 1) return 0;
    let hash = 0;
    for (let i = 0; i < topic.length; i++) hash = (hash * 31 + topic.charCodeAt(i)) | 0;
    return (Math.abs(hash) + (partition ?? 0)) % this.lanes.length; // a topic's partitions take the lanes in turn
  }

  private currentProducer(lane: number): Promise<ProducerDriver> {
    const current = this.lanes[lane];
    if (current) return current;
    const created = this.newProducer();
    created.catch(() => {
      if (this.lanes[lane] === created) this.lanes[lane] = undefined;
    });
    this.lanes[lane] = created;
    return created;
  }

  /** Stops using a lane's producer; its pending retries can no longer overlap with new requests' sequence numbers. */
  private dropProducer(lane: number): void {
    const old = this.lanes[lane];
    this.lanes[lane] = undefined;
    void old?.then((producer) => producer.disconnect()).catch(() => undefined);
  }
}

/** Bytes a record adds to a request, roughly: value, key and headers. */
function sizeOf(message: OutgoingKafkaMessage): number {
  let size = message.value.length + (message.key?.length ?? 0) + 64;
  for (const name in message.headers) size += name.length + (message.headers[name]?.length ?? 0) + 8;
  return size;
}
