/**
 * Helpers for the Kafka fault tests (test/faults/kafka): a driver that tells each handler the partition and offset of its
 * record (and reports commits), a driver that records every produce call (evidence for a lost publish), a raw reader of a
 * topic's log, committed and end offsets, and the gap check.
 */
import { randomBytes } from 'node:crypto';
import { Kafka, Partitioners, logLevel, type Admin } from 'kafkajs';
import type { ResolvedKafkaConfig } from '../../src/adapters/kafka/config.js';
import { kafkajsDriver, type BatchPayload, type ConsumerDriver, type KafkaDriver } from '../../src/adapters/kafka/index.js';
import { ReliableMqError, type Publisher } from '../../src/core/index.js';

/** Headers the position-tagging driver adds to every delivered record (user headers reach the handler's envelope). */
export const PARTITION_HEADER = 'x-fault-partition';
export const OFFSET_HEADER = 'x-fault-offset';

export function uniqueTopic(label: string): string {
  return `fault-${label}-${randomBytes(4).toString('hex')}`;
}

/** The position of a record as the handler saw it: `partition:offset`. */
export function position(headers: Readonly<Record<string, string>>): { partition: number; offset: number } {
  const partition = headers[PARTITION_HEADER];
  const offset = headers[OFFSET_HEADER];
  if (partition === undefined || offset === undefined) throw new Error('record delivered without the position headers');
  return { partition: Number(partition), offset: Number(offset) };
}

/** Called after each commit the broker accepted: the partition and the committed offset (the next one to read). */
export type CommitListener = (partition: number, offset: number) => void;

function tagged(payload: BatchPayload, onCommit: CommitListener | undefined): BatchPayload {
  const { topic, partition, messages } = payload.batch;
  return {
    resolveOffset: (offset) => {
      payload.resolveOffset(offset);
    },
    heartbeat: () => payload.heartbeat(),
    commitOffsetsIfNecessary: async (offsets) => {
      await payload.commitOffsetsIfNecessary(offsets);
      for (const t of offsets?.topics ?? []) for (const p of t.partitions) onCommit?.(p.partition, Number(p.offset));
    },
    isRunning: () => payload.isRunning(),
    isStale: () => payload.isStale(),
    batch: {
      topic,
      partition,
      messages: messages.map((m) => ({ ...m, headers: { ...m.headers, [PARTITION_HEADER]: String(partition), [OFFSET_HEADER]: m.offset } })),
    },
  };
}

/**
 * kafkajs behind the SDK, unchanged except that each record handed to the subscription carries its partition and offset
 * as headers (`PARTITION_HEADER`, `OFFSET_HEADER`): the handler can report exactly which position it processed.
 * Pass as `KafkaTransport.connect(config, positionTaggingDriver)`; `taggingDriver(onCommit)` also reports the commits.
 */
export function positionTaggingDriver(config: ResolvedKafkaConfig): KafkaDriver {
  return taggingDriver()(config);
}

export function taggingDriver(onCommit?: CommitListener): (config: ResolvedKafkaConfig) => KafkaDriver {
  return (config) => tagging(config, onCommit);
}

function tagging(config: ResolvedKafkaConfig, onCommit: CommitListener | undefined): KafkaDriver {
  const inner = kafkajsDriver(config);
  return {
    producer: (options) => inner.producer(options),
    admin: () => inner.admin(),
    partitioner: () => inner.partitioner(),
    consumer: (options): ConsumerDriver => {
      const consumer = inner.consumer(options);
      return {
        connect: () => consumer.connect(),
        disconnect: () => consumer.disconnect(),
        subscribe: (subscription) => consumer.subscribe(subscription),
        run: (runConfig) => consumer.run({ ...runConfig, eachBatch: (payload) => runConfig.eachBatch(tagged(payload, onCommit)) }),
        stop: () => consumer.stop(),
        on: (event, listener) => consumer.on(event, listener),
        events: consumer.events,
      };
    },
  };
}

/** One `sendBatch` call of the SDK's producer, as the driver saw it. */
export interface SendRecord {
  readonly call: number;
  /** The `rmq-id` of each record, by topic. */
  readonly ids: readonly string[];
  readonly startedAt: number;
  endedAt?: number;
  /** 'ok', or the kafkajs error (name/type ← cause). */
  outcome?: string;
  /** On 'ok': what kafkajs reported per partition (the base offset the broker assigned). */
  result?: Array<{ partition: number; baseOffset: string; errorCode: number }>;
}

/**
 * A driver (kafkajs unless `driver` says otherwise) behind the SDK, recording every produce call (`sends`): which ids it
 * carried, when it started and settled and how. Evidence for a lost publish: which call carried it and what else was
 * still in flight in the client at the time.
 */
export function recordingDriver(sends: SendRecord[], driver: (config: ResolvedKafkaConfig) => KafkaDriver = kafkajsDriver): (config: ResolvedKafkaConfig) => KafkaDriver {
  return (config) => {
    const inner = driver(config);
    return {
      ...(inner.pipelines === undefined ? {} : { pipelines: inner.pipelines }),
      consumer: (options) => inner.consumer(options),
      admin: () => inner.admin(),
      partitioner: () => inner.partitioner(),
      producer: (options) => {
        const producer = inner.producer(options);
        return {
          connect: () => producer.connect(),
          disconnect: () => producer.disconnect(),
          sendBatch: async (batch) => {
            const record: SendRecord = { call: sends.length, ids: batch.topicMessages.flatMap((t) => t.messages.map((m) => m.headers['rmq-id'] ?? '')), startedAt: Date.now() };
            sends.push(record);
            try {
              const result = await producer.sendBatch(batch);
              record.outcome = 'ok';
              record.result = (result as unknown as Array<{ partition: number; baseOffset: string; errorCode: number }>).map(({ partition, baseOffset, errorCode }) => ({ partition, baseOffset, errorCode }));
              return result;
            } catch (error) {
              const e = error as { name?: string; type?: string; cause?: { name?: string; type?: string } };
              record.outcome = `${e.name ?? '?'}${e.type ? `/${e.type}` : ''}${e.cause ? ` ← ${e.cause.name ?? '?'}${e.cause.type ? `/${e.cause.type}` : ''}` : ''}`;
              throw error;
            } finally {
              record.endedAt = Date.now();
            }
          },
        };
      },
    };
  };
}

/** The partition kafkajs' default partitioner (murmur2, as the SDK's producer) picks for `key` among `partitions`. */
export function partitionOf(key: string, partitions: number): number {
  const metadata = Array.from({ length: partitions }, (_, partitionId) => ({ partitionId, leader: 0, replicas: [], isr: [], partitionErrorCode: 0 }));
  return Partitioners.DefaultPartitioner()({ topic: 't', partitionMetadata: metadata, message: { key, value: null } });
}

/** A raw kafkajs admin on `brokers` (no SDK in between). Disconnect it when done. */
export async function rawAdmin(brokers: readonly string[]): Promise<Admin> {
  const admin = new Kafka({ clientId: 'fault-admin', brokers: [...brokers], logLevel: logLevel.NOTHING, retry: { retries: 10, initialRetryTime: 200, maxRetryTime: 2000 } }).admin();
  await admin.connect();
  return admin;
}

/** The end offset (high watermark) of each partition. */
export async function endOffsets(admin: Admin, topic: string): Promise<Map<number, number>> {
  return new Map((await admin.fetchTopicOffsets(topic)).map((p) => [p.partition, Number(p.high)]));
}

/** The committed offset of each partition for `groupId` (-1: nothing committed). */
export async function committedOffsets(admin: Admin, groupId: string, topic: string): Promise<Map<number, number>> {
  const [result] = await admin.fetchOffsets({ groupId, topics: [topic] });
  return new Map((result?.partitions ?? []).map((p) => [p.partition, Number(p.offset)]));
}

export interface LogRecord {
  readonly partition: number;
  readonly offset: number;
  /** The SDK's message id (`rmq-id` header). */
  readonly id: string;
}

/** Reads every record of `topic` from the beginning to the current end offsets with a raw kafkajs consumer (throwaway group). */
export async function readLog(brokers: readonly string[], topic: string, timeoutMs = 60_000): Promise<LogRecord[]> {
  const kafka = new Kafka({ clientId: 'fault-reader', brokers: [...brokers], logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  const groupId = `fault-reader-${randomBytes(4).toString('hex')}`;
  const consumer = kafka.consumer({ groupId, maxWaitTimeInMs: 100, sessionTimeout: 10_000, heartbeatInterval: 1000 });
  try {
    const ends = await endOffsets(admin, topic);
    const records: LogRecord[] = [];
    const reached = new Map<number, number>();
    const complete = (): boolean => [...ends].every(([p, end]) => end === 0 || (reached.get(p) ?? -1) >= end - 1);
    if (complete()) return records;
    await consumer.connect();
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    let finished: () => void = () => undefined;
    const done = new Promise<void>((resolve) => {
      finished = resolve;
    });
    await consumer.run({
      autoCommit: false,
      partitionsConsumedConcurrently: 8,
      eachBatch: async ({ batch }) => {
        for (const m of batch.messages) {
          const offset = Number(m.offset);
          if (offset >= (ends.get(batch.partition) ?? 0)) continue;
          records.push({ partition: batch.partition, offset, id: m.headers?.['rmq-id']?.toString() ?? '' });
          reached.set(batch.partition, Math.max(reached.get(batch.partition) ?? -1, offset));
        }
        if (complete()) finished();
        await Promise.resolve();
      },
    });
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      done,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          reject(new Error(`readLog ${topic}: not at the end offsets after ${String(timeoutMs)} ms (reached ${JSON.stringify([...reached])}, ends ${JSON.stringify([...ends])})`));
        }, timeoutMs);
      }),
    ]).finally(() => {
      clearTimeout(timer);
    });
    return records;
  } finally {
    await consumer.disconnect().catch(() => undefined);
    await admin.deleteGroups([groupId]).catch(() => undefined);
    await admin.disconnect().catch(() => undefined);
  }
}

/** Offsets in 0..end-1 of each partition that `processed` does not contain. */
export function gaps(processed: ReadonlyMap<number, ReadonlySet<number>>, ends: ReadonlyMap<number, number>): Array<{ partition: number; offset: number }> {
  const missing: Array<{ partition: number; offset: number }> = [];
  for (const [partition, end] of ends) {
    const seen = processed.get(partition);
    for (let offset = 0; offset < end; offset++) if (!seen?.has(offset)) missing.push({ partition, offset });
  }
  return missing;
}

/** A compact description of missing positions for failure messages: `p0:[12,13] p2:[7]` (first 20 per partition). */
export function describePositions(positions: ReadonlyArray<{ partition: number; offset: number }>): string {
  const by = new Map<number, number[]>();
  for (const { partition, offset } of positions) by.set(partition, [...(by.get(partition) ?? []), offset]);
  return [...by].map(([p, offsets]) => `p${String(p)}:[${offsets.slice(0, 20).join(',')}${offsets.length > 20 ? `,… ${String(offsets.length)} in all` : ''}]`).join(' ');
}

/**
 * `lanes` concurrent loops publishing `m-0` … `m-<total-1>` (id and key alike), each awaiting its publish; what
 * resolved, what rejected and how. `markKilled()` starts counting the publishes that resolve after a fault.
 */
export class PublishLanes {
  readonly resolved = new Set<string>();
  readonly rejected = new Set<string>();
  /** Typed retriable rejections by error code. */
  readonly codes = new Map<string, number>();
  /** Every rejection by its message (first 160 characters). */
  readonly reasons = new Map<string, number>();
  /** Rejections that were not typed retriable errors. */
  readonly untyped: string[] = [];
  resolvedAfterKill = 0;
  readonly done: Promise<void>;
  private killed = false;
  private next = 0;

  constructor(publisher: Publisher, topic: string, type: string, lanes: number, total: number) {
    this.done = Promise.all(Array.from({ length: lanes }, () => this.lane(publisher, topic, type, total))).then(() => undefined);
  }

  markKilled(): void {
    this.killed = true;
  }

  private async lane(publisher: Publisher, topic: string, type: string, total: number): Promise<void> {
    while (this.next < total) {
      const id = `m-${String(this.next++)}`;
      try {
        await publisher.publish(topic, { id, type, key: id, payload: { id } });
        this.resolved.add(id);
        if (this.killed) this.resolvedAfterKill++;
      } catch (error) {
        this.rejected.add(id);
        const reason = String(error).slice(0, 160);
        this.reasons.set(reason, (this.reasons.get(reason) ?? 0) + 1);
        if (ReliableMqError.is(error) && error.retriable) this.codes.set(error.code, (this.codes.get(error.code) ?? 0) + 1);
        else this.untyped.push(`${id}: ${String(error)}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
  }
}

/**
 * Which produce call carried each lost or duplicated id, what the log holds where the broker said it put the call's
 * records, and which earlier calls the client was still retrying then. `partitions`: the topic's partition count.
 */
export function diagnose(sends: readonly SendRecord[], records: readonly LogRecord[], partitions: number, lost: readonly string[], duplicated: readonly string[], t0: number): string {
  const log = new Map(records.map((r) => [`${String(r.partition)}:${String(r.offset)}`, r.id]));
  const at = (t: number | undefined): string => (t === undefined ? 'never' : `${String(t - t0)} ms`);
  const describe = (s: SendRecord): string => {
    const counts = Array.from({ length: partitions }, (_, p) => [p, s.ids.filter((id) => partitionOf(id, partitions) === p).length] as const);
    const perPartition = counts.map(([p, n]) => `p${String(p)}×${String(n)}`).join(' ');
    // What the log holds at the acknowledged offset: another call's record means the broker took this batch for a
    // retry of a batch it already had (same producer sequence numbers) and wrote nothing.
    const acks = (s.result ?? []).map((r) => {
      const there = log.get(`${String(r.partition)}:${r.baseOffset}`);
      const owner = there === undefined ? undefined : sends.find((x) => x.ids.includes(there));
      const foreign = there !== undefined && !s.ids.includes(there);
      return `p${String(r.partition)}@${r.baseOffset}${foreign ? ` (the log has ${there} there, of call #${String(owner?.call)})` : ''}`;
    });
    const missing = s.result ? counts.filter(([p, n]) => n > 0 && !s.result?.some((r) => r.partition === p)).map(([p]) => `p${String(p)}`) : [];
    const result = s.result ? ` acked ${acks.join(' ')}${missing.length > 0 ? `, no ack for ${missing.join(' ')}` : ''}` : '';
    return `call #${String(s.call)} (${perPartition}, ${at(s.startedAt)} → ${at(s.endedAt)}: ${s.outcome ?? 'pending'}${result})`;
  };
  const lines: string[] = [];
  const calls = new Map<SendRecord, string[]>();
  for (const [label, ids] of [['lost', lost], ['duplicated', duplicated]] as const) {
    for (const id of ids) {
      for (const s of sends.filter((x) => x.ids.includes(id))) calls.set(s, [...(calls.get(s) ?? []), `${label} ${id} (p${String(partitionOf(id, partitions))})`]);
    }
  }
  for (const [s, ids] of calls) {
    const pending = sends.filter((x) => x.call < s.call && x.startedAt <= s.startedAt && (x.endedAt === undefined || x.endedAt > s.startedAt));
    lines.push(`        ${ids.slice(0, 4).join(', ')}${ids.length > 4 ? ` (+${String(ids.length - 4)})` : ''}: in ${describe(s)}; still in flight in the client when it started: ${pending.map(describe).join('; ') || 'none'}`);
  }
  return `      diagnosis (times from the kill):\n${lines.join('\n')}`;
}
