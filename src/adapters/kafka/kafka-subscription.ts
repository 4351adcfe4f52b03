import {
  ConnectionLostError,
  DeliveryLimitExceededError,
  decodeRecord,
  describeError,
  handlerAbortController,
  Semaphore,
  deadLetterRecord,
  settlesWithin,
  WireHeader,
  type BatchHandler,
  type DeadLetterReason,
  type DeliveryPipeline,
  type Envelope,
  type HandlerContext,
  type MessageSerializer,
  type Subscription,
  type WireRecord,
} from '../../core/index.js';
import type { ResolvedKafkaConfig } from './config.js';
import type { BatchPayload, ConsumerDriver } from './driver.js';
import { isRebalancing } from './kafka-errors.js';
import type { KafkaPublisher } from './kafka-publisher.js';
import { createdAtOf, fromKafka, withCreatedAt, type KafkaMessage } from './kafka-wire.js';
import { KafkaNaming } from './naming.js';
import { InOrderProgress, OffsetWatermark } from './offset-watermark.js';
import type { ResolvedKafkaSubscribeOptions } from './subscribe-options.js';

type State = 'active' | 'closing' | 'closed' | 'crashed';
type Result = 'done' | 'abandoned';

/** Batch mode: one handler call per group of consecutive messages of a partition. */
export interface BatchMode {
  readonly handler: BatchHandler;
  readonly serializer: MessageSerializer;
  readonly maxBatchSize: number;
}

export interface KafkaSubscriptionDeps {
  readonly batch?: BatchMode;
  readonly consumer: ConsumerDriver;
  /** Where failures no caller awaits go (a consumer that kafkajs gave up on). */
  readonly onFailure: (error: Error) => void;
  readonly pipeline: DeliveryPipeline;
  readonly deadLetters: KafkaPublisher;
  readonly deadLetterTopic: string;
  readonly defaultContentType: string;
  readonly config: ResolvedKafkaConfig['consumer'];
}

/**
 * One member of a Kafka consumer group. Partitions run concurrently (up to `concurrency`), each in offset
 * order (or, with `orderBy: 'key'`, concurrently across keys). An offset is committed only when the message
 * and every earlier one of its partition are done — handled, or dead-lettered with the broker's ack. A failed
 * message is retried in place with backoff (its partition waits) up to the delivery limit, then dead-lettered.
 * On a rebalance or close: no new messages start, running ones finish (bounded), what is done is committed.
 */
export class KafkaSubscription implements Subscription {
  private state: State = 'active';
  /** Set when the coordinator announced a rebalance: finish, commit, then hand it to kafkajs so it rejoins. */
  private rebalance: Error | undefined;
  private readonly abort = handlerAbortController();
  /** What every handler call of this member gets: the same object each time. */
  private readonly context: HandlerContext;
  private readonly slots: Semaphore;
  private readonly batches = new Set<Promise<void>>();
  private heartbeat: (() => Promise<void>) | undefined;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private closing: Promise<void> | undefined;

  constructor(
    readonly topic: string,
    readonly group: string,
    readonly groupId: string,
    private readonly options: ResolvedKafkaSubscribeOptions,
    private readonly deps: KafkaSubscriptionDeps,
  ) {
    this.slots = new Semaphore(options.concurrency);
    this.context = { topic, group: this.group, signal: this.abort.signal };
    deps.consumer.on(deps.consumer.events.GROUP_JOIN, () => {
      this.rebalance = undefined;
    });
    deps.consumer.on(deps.consumer.events.CRASH, (event) => {
      const { error, restart } = event.payload as { error?: unknown; restart?: boolean };
      const what = restart === false ? 'stopped for good' : 'crashed and restarts';
      deps.onFailure(new ConnectionLostError(`Kafka consumer of ${this.topic} (${this.groupId}) ${what}: ${describeError(error)}`, { cause: error }));
    });
  }

  /** Subscribes and resolves once this member has joined the group (and so has its partitions). */
  async start(): Promise<void> {
    const { consumer, config } = this.deps;
    await consumer.connect();
    await consumer.subscribe({ topics: [this.topic], fromBeginning: config.fromBeginning });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: this.options.concurrency,
      eachBatch: (payload) => this.track(this.onBatch(payload)),
    });
    this.heartbeatTimer = setInterval(() => {
      this.beat();
    }, config.heartbeatIntervalMs);
    this.heartbeatTimer.unref();
  }

  close(): Promise<void> {
    this.closing ??= this.shutDown();
    return this.closing;
  }

  get isClosed(): boolean {
    return this.state === 'closed' || this.state === 'crashed';
  }

  /** Fault injection for tests: the member dies without committing or finishing anything. */
  async crash(): Promise<void> {
    if (this.state === 'closed' || this.state === 'crashed') return;
    this.state = 'crashed';
    this.abort.abort(new Error('consumer crashed'));
    clearInterval(this.heartbeatTimer);
    await this.deps.consumer.disconnect().catch(() => undefined);
  }

  /** Read through a method: the state changes across awaits, which narrowing cannot see. */
  private crashed(): boolean {
    return this.state === 'crashed';
  }

  private get taking(): boolean {
    return this.state === 'active' && this.rebalance === undefined;
  }

  private track(batch: Promise<void>): Promise<void> {
    this.batches.add(batch);
    const forget = (): void => {
      this.batches.delete(batch);
    };
    batch.then(forget, forget);
    return batch;
  }

  /** Keeps the session alive while handlers run longer than the heartbeat interval; notices a rebalance early. */
  private beat(): void {
    if (this.batches.size === 0 || !this.heartbeat) return;
    this.heartbeat().catch((error: unknown) => {
      if (isRebalancing(error)) this.rebalance ??= error as Error;
    });
  }

  private async onBatch(payload: BatchPayload): Promise<void> {
    this.heartbeat = () => payload.heartbeat();
    if (this.deps.batch) return this.onBatchGrouped(payload, this.deps.batch);
    if (this.options.orderBy !== 'key') return this.onBatchInOrder(payload);
    const { topic, partition, messages } = payload.batch;
    const watermark = new OffsetWatermark();
    const lanes = new KeyLanes(Math.min(this.options.concurrency, this.options.prefetch));
    let lastCommit = Date.now();
    let committing = Promise.resolve();
    const commit = (): Promise<void> => (committing = committing.then(() => this.commit(payload, watermark)));

    for (const message of messages) {
      if (!this.taking || !payload.isRunning() || payload.isStale()) break;
      watermark.add(message.offset);
      const key = message.key ? message.key.toString() : undefined;
      await lanes.start(key, async () => {
        if (!(await this.slots.acquire(this.abort.signal))) return;
        try {
          if ((await this.process(topic, partition, message)) === 'done') watermark.complete(message.offset);
        } finally {
          this.slots.release();
        }
        if (Date.now() - lastCommit >= this.deps.config.commitIntervalMs) {
          lastCommit = Date.now();
          await commit();
        }
      });
    }
    if (this.crashed()) return;
    await lanes.drain();
    if (this.crashed()) return;
    await commit();
    if (this.rebalance !== undefined && this.state === 'active') throw this.rebalance; // kafkajs rejoins the group
  }

  /** `orderBy: 'partition'`: the partition's messages one after another (the common case, without lanes). */
  private async onBatchInOrder(payload: BatchPayload): Promise<void> {
    const { topic, partition, messages } = payload.batch;
    const progress = new InOrderProgress(); // strictly in order: the last offset done is the watermark
    let lastCommit = Date.now();
    for (const message of messages) {
      if (!this.taking || !payload.isRunning() || payload.isStale()) break;
      if (!this.slots.tryAcquire() && !(await this.slots.acquire(this.abort.signal))) break;
      let result: Result;
      try {
        result = await this.process(topic, partition, message);
      } finally {
        this.slots.release();
      }
      if (result !== 'done') break;
      progress.complete(message.offset);
      if (Date.now() - lastCommit >= this.deps.config.commitIntervalMs) {
        lastCommit = Date.now();
        await this.commit(payload, progress);
      }
    }
    if (this.crashed()) return;
    await this.commit(payload, progress);
    if (this.rebalance !== undefined && this.state === 'active') throw this.rebalance; // kafkajs rejoins the group
  }

  /** Batch mode: groups of up to `maxBatchSize` consecutive messages, each group committed once it is done. */
  private async onBatchGrouped(payload: BatchPayload, mode: BatchMode): Promise<void> {
    const { topic, partition, messages } = payload.batch;
    const progress = new InOrderProgress(); // groups complete in order: the last offset of the last group is the watermark
    // A group's commit runs while the next group is handled: the offset of a done group needs no wait for the broker.
    let committing = Promise.resolve();
    for (let start = 0; start < messages.length; start += mode.maxBatchSize) {
      if (!this.taking || !payload.isRunning() || payload.isStale()) break;
      const chunk = messages.slice(start, start + mode.maxBatchSize);
      if (!this.slots.tryAcquire() && !(await this.slots.acquire(this.abort.signal))) break;
      let done: boolean;
      try {
        done = await this.processGroup(topic, partition, chunk, mode);
      } finally {
        this.slots.release();
      }
      if (this.crashed() || !done) break;
      progress.complete((chunk[chunk.length - 1] as KafkaMessage).offset);
      committing = committing.then(() => this.commit(payload, progress));
    }
    await committing; // the last group's commit: the watermark as it is now
    if (this.crashed()) return;
    if (this.rebalance !== undefined && this.state === 'active') throw this.rebalance;
  }

  /**
   * Hands the decodable messages to the batch handler together (twice at most); if that fails, each message
   * goes alone through the per-message path (retries, then dead letter), so one bad message cannot sink
   * the group. Undecodable messages take the per-message path at once. False when the member stopped first.
   */
  private async processGroup(topic: string, partition: number, chunk: KafkaMessage[], mode: BatchMode): Promise<boolean> {
    const decoded: Array<{ message: KafkaMessage; envelope: Envelope }> = [];
    const alone: KafkaMessage[] = [];
    for (const message of chunk) {
      try {
        const record = fromKafka(message);
        const fallback = { id: recordId(record, topic, partition, message.offset), attempt: 1, defaultContentType: this.deps.defaultContentType, timestamp: createdAtOf(record, message) };
        const envelope = decodeRecord(mode.serializer, record, fallback);
        decoded.push({ message, envelope: envelope instanceof Promise ? await envelope : envelope });
      } catch {
        alone.push(message);
      }
    }
    for (let attempt = 1; decoded.length > 0; attempt++) {
      try {
        await mode.handler(decoded.map((d) => ({ ...d.envelope, attempt })), this.context);
        break;
      } catch {
        if (this.crashed()) return false;
        if (attempt >= 2) {
          alone.push(...decoded.map((d) => d.message));
          break;
        }
        if (!(await this.pause(attempt)) || !this.taking) return false;
      }
    }
    alone.sort((a, b) => (BigInt(a.offset) < BigInt(b.offset) ? -1 : 1));
    for (const message of alone) if ((await this.process(topic, partition, message)) === 'abandoned') return false;
    return true;
  }

  /** Commits the watermark and moves the fetch position to it; unfinished messages are fetched again. */
  private async commit(payload: BatchPayload, watermark: Pick<OffsetWatermark, 'next'>): Promise<void> {
    const next = watermark.next();
    if (next === undefined || this.crashed()) return;
    const { topic, partition } = payload.batch;
    payload.resolveOffset((BigInt(next) - 1n).toString());
    try {
      await payload.commitOffsetsIfNecessary({ topics: [{ topic, partitions: [{ partition, offset: next }] }] });
    } catch (error) {
      if (isRebalancing(error)) this.rebalance ??= error as Error; // not committed: the next owner may process some again
    }
  }

  /** Runs one message until it is handled or dead-lettered ('done'), or the member stops first ('abandoned'). */
  private async process(topic: string, partition: number, message: KafkaMessage): Promise<Result> {
    const record = fromKafka(message);
    const id = recordId(record, topic, partition, message.offset);
    const timestamp = createdAtOf(record, message);
    for (let attempt = 1; ; attempt++) {
      if (this.crashed()) return 'abandoned';
      const outcome = await this.deps.pipeline(record, { id, attempt, defaultContentType: this.deps.defaultContentType, timestamp }, this.context);
      if (this.crashed()) return 'abandoned';
      if (outcome.action === 'ack') return 'done';
      if (outcome.action === 'dead-letter') return this.deadLetter(withCreatedAt(record, message), id, outcome.reason, outcome.error, attempt);
      if (attempt >= this.deps.config.deliveryLimit) {
        return this.deadLetter(withCreatedAt(record, message), id, 'delivery-limit', new DeliveryLimitExceededError(attempt, outcome.error), attempt);
      }
      if (!(await this.pause(attempt)) || !this.taking) return 'abandoned'; // closing or rebalancing: the next owner retries it
    }
  }

  /** Publishes the dead letter and waits for Kafka's ack, retrying with backoff: the offset never passes a lost message. */
  private async deadLetter(record: WireRecord, id: string, reason: DeadLetterReason, error: unknown, attempts: number): Promise<Result> {
    const dead = deadLetterRecord(record, { id, reason, error, topic: this.topic, group: this.group, attempts });
    for (let attempt = 1; ; attempt++) {
      try {
        await this.deps.deadLetters.publishRecord(this.deps.deadLetterTopic, dead);
        return 'done';
      } catch {
        if (!(await this.pause(attempt)) || this.state !== 'active') return 'abandoned';
      }
    }
  }

  /** Backoff before a retry; false when the member stops meanwhile. */
  private async pause(attempt: number): Promise<boolean> {
    const { retryInitialDelayMs, retryMaxDelayMs } = this.deps.config;
    const delay = Math.min(retryMaxDelayMs, retryInitialDelayMs * 2 ** (attempt - 1));
    await new Promise((resolve) => setTimeout(resolve, delay));
    return !this.crashed();
  }

  private async shutDown(): Promise<void> {
    if (this.state !== 'active') return;
    this.state = 'closing';
    const stopped = this.deps.consumer.stop();
    if (!(await settlesWithin(stopped, this.options.closeTimeoutMs))) {
      this.state = 'crashed'; // abandon: nothing more is committed, the running handlers' messages are fetched again
      this.abort.abort(new Error('close timeout: handler abandoned'));
      await settlesWithin(stopped, 5000); // let it leave the group
    }
    clearInterval(this.heartbeatTimer);
    await this.deps.consumer.disconnect().catch(() => undefined);
    if (this.state === 'closing') this.state = 'closed';
  }
}

/**
 * Runs tasks at most `limit` at once, tasks of the same key one after another. `start` resolves once the
 * task has a slot, so the caller can keep reading messages while earlier ones run.
 */
class KeyLanes {
  private readonly running = new Set<Promise<void>>();
  private readonly tails = new Map<string, Promise<void>>();

  constructor(private readonly limit: number) {}

  async start(key: string | undefined, task: () => Promise<void>): Promise<void> {
    while (this.running.size >= this.limit) await Promise.race(this.running);
    const previous = key === undefined ? undefined : this.tails.get(key);
    const run = (previous ?? Promise.resolve()).then(task);
    const settled = run.catch(() => undefined);
    this.running.add(settled);
    if (key !== undefined) this.tails.set(key, settled);
    void settled.then(() => {
      this.running.delete(settled);
      if (key !== undefined && this.tails.get(key) === settled) this.tails.delete(key);
    });
  }

  async drain(): Promise<void> {
    await Promise.all(this.running);
  }
}

/** The record's own id, or for a record from a producer without the SDK one derived from its position (built only then). */
function recordId(record: WireRecord, topic: string, partition: number, offset: string): string {
  const own = record.headers[WireHeader.ID];
  return own !== undefined && own !== '' ? own : KafkaNaming.positionId(topic, partition, offset);
}
