import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import { loadavg } from 'node:os';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Kafka, Partitioners, logLevel, type Admin, type Message, type Producer, type ProducerConfig } from 'kafkajs';
import { uuidv7 } from '../../src/core/index.js';
import { MESSAGE_TYPE, RAW_BODY } from './payload.js';
import { runScript } from './run.js';
import { now, within, type Measured } from './timing.js';

/** The broker(s) the benchmarks use: `KAFKA_BROKERS` (comma-separated host:port), as the tests read it. */
export const KAFKA_BROKERS: readonly string[] = (process.env['KAFKA_BROKERS'] ?? '127.0.0.1:9092')
  .split(',')
  .map((b) => b.trim())
  .filter((b) => b !== '');

/** An optional integer setting (0 allowed), e.g. an SDK option to experiment with; undefined leaves the SDK's default. */
export function optionalIntEnv(name: string, min = 0): number | undefined {
  const text = process.env[name];
  if (text === undefined || text === '') return undefined;
  const value = Number(text);
  if (!Number.isInteger(value) || value < min) throw new Error(`${name} must be an integer ≥ ${String(min)}, got '${text}'`);
  return value;
}

/** A raw kafkajs client. Errors still throw; the log is kept to errors so a healthy run prints only the tables. */
export function rawKafka(clientId: string): Kafka {
  return new Kafka({ clientId, brokers: [...KAFKA_BROKERS], logLevel: logLevel.ERROR });
}

/** The raw producer is configured as the SDK's (`kafka-transport.ts`, `kafkajs-driver.ts`): idempotent, 1 request in flight, murmur2 partitioner. */
/**
 * Confluent's client (`@confluentinc/kafka-javascript`), or undefined when it does not load
 * (`bash scripts/clients/confluent-kafka.sh ensure` builds it). The caller says which of its APIs it uses.
 */
export function loadConfluent(): unknown {
  try {
    return createRequire(import.meta.url)('@confluentinc/kafka-javascript');
  } catch {
    return undefined;
  }
}

export const RAW_PRODUCER: ProducerConfig = { idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false, createPartitioner: Partitioners.DefaultPartitioner };

/** Keys spread messages over partitions the same way for the SDK and raw (murmur2 of `key-<i mod keys>`). */
export const keyOf = (index: number, keys: number): string => `key-${String(index % keys)}`;

/** A minimal raw record: key and the 1 KiB body. */
export const rawMessage = (index: number, keys: number): Message => ({ key: keyOf(index, keys), value: RAW_BODY });

/** A record as the SDK writes it (`core/wire.ts`): the same body plus the envelope headers, which the SDK's subscriber reads. */
export function envelopeMessage(index: number, keys: number): Message {
  return {
    key: keyOf(index, keys),
    value: RAW_BODY,
    // As the SDK writes it: created-at in the UUIDv7 id, no record timestamp (kafkajs stamps the send time), JSON implied
    headers: { 'rmq-id': uuidv7(Date.now()), 'rmq-type': MESSAGE_TYPE },
  };
}

/** `total` messages in `sendBatch` calls of `batch` messages each, awaited in turn (`acks: -1`). */
export async function sendBatches(producer: Producer, topic: string, total: number, batch: number, make: (index: number) => Message): Promise<void> {
  for (let start = 0; start < total; start += batch) {
    const messages: Message[] = [];
    for (let i = start; i < Math.min(total, start + batch); i++) messages.push(make(i));
    await producer.sendBatch({ topicMessages: [{ topic, messages }], acks: -1 });
  }
}

/** `total` messages, one `send` per message, each awaited before the next. */
export async function sendEach(producer: Producer, topic: string, total: number, make: (index: number) => Message): Promise<void> {
  for (let i = 0; i < total; i++) await producer.send({ topic, messages: [make(i)], acks: -1 });
}

/** A full GC before a measured section, so heap figures do not carry the previous case's garbage (no --expose-gc needed). */
export const collectGarbage: () => void = (() => {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
})();

// ---------------------------------------------------------------------------------------------------------------
// Broker CPU: the process listening on the first broker's port, found through /proc (Linux, local broker only).

const TICK_MS = 10; // USER_HZ is 100 on Linux

function readOr(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** Inodes of the sockets listening on `port` (IPv4 and IPv6). */
function listeningInodes(port: number): Set<string> {
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  const inodes = new Set<string>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of (readOr(table) ?? '').split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
      if (f[1]?.endsWith(`:${hexPort}`) && f[3] === '0A' && f[9] !== undefined) inodes.add(f[9]);
    }
  }
  return inodes;
}

/** The pid of the local broker: BENCH_BROKER_PID, else the process listening on the first broker's port; undefined if not found. */
export function kafkaBrokerPid(): number | undefined {
  const given = Number(process.env['BENCH_BROKER_PID']);
  if (Number.isInteger(given) && given > 0) return given;
  const port = Number(/:(\d+)$/.exec(KAFKA_BROKERS[0] ?? '')?.[1]);
  if (!Number.isInteger(port)) return undefined;
  const targets = new Set([...listeningInodes(port)].map((inode) => `socket:[${inode}]`));
  if (targets.size === 0) return undefined;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${entry}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        if (targets.has(readlinkSync(`/proc/${entry}/fd/${fd}`))) return Number(entry);
      } catch {
        // the fd closed meanwhile
      }
    }
  }
  return undefined;
}

/** User + system CPU milliseconds of process `pid`, or undefined. */
export function processCpuMs(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  const stat = readOr(`/proc/${String(pid)}/stat`);
  if (stat === undefined) return undefined;
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const user = Number(fields[11]);
  const system = Number(fields[12]);
  return Number.isFinite(user) && Number.isFinite(system) ? (user + system) * TICK_MS : undefined;
}

/** As `timing.ts`'s `measure`, with the Kafka broker's CPU instead of RabbitMQ's. */
export async function measureKafka(brokerPid: number | undefined, task: () => Promise<void>): Promise<Measured> {
  const broker = processCpuMs(brokerPid);
  const cpu = process.cpuUsage();
  const start = now();
  await task();
  const ms = now() - start;
  const used = process.cpuUsage(cpu);
  const brokerAfter = processCpuMs(brokerPid);
  return { ms, cpuMs: (used.user + used.system) / 1000, brokerCpuMs: broker === undefined || brokerAfter === undefined ? undefined : brokerAfter - broker };
}

// ---------------------------------------------------------------------------------------------------------------

/**
 * The topics and groups of one benchmark run, all named under a unique prefix. `cleanUp` first runs the registered
 * closers (clients still connected), then deletes every group and topic under the prefix — also those the SDK created
 * itself (dead-letter topics) — over an admin client of its own.
 */
export class KafkaScratch {
  readonly prefix: string;
  private admin: Admin | undefined;
  private readonly closers = new Set<() => Promise<unknown>>();

  constructor(bench: string) {
    this.prefix = `bench.kafka-${bench}.${Date.now().toString(36)}.${String(process.pid)}`;
  }

  name(label: string): string {
    return `${this.prefix}.${label}`;
  }

  async adminClient(): Promise<Admin> {
    if (!this.admin) {
      const admin = rawKafka(`${this.prefix}.admin`).admin();
      await admin.connect();
      this.admin = admin;
    }
    return this.admin;
  }

  /** Registers a client to close before clean-up deletes anything; returns a function that unregisters it. */
  closeOnCleanUp(closer: () => Promise<unknown>): () => void {
    this.closers.add(closer);
    return () => this.closers.delete(closer);
  }

  /** Creates a fresh topic with replication factor 1; fails if it exists. */
  async createTopic(topic: string, partitions: number): Promise<void> {
    const created = await (await this.adminClient()).createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: partitions, replicationFactor: 1 }] });
    if (!created) throw new Error(`topic ${topic} already existed`);
  }

  /** Log-end offsets (high watermarks) by partition. */
  async endOffsets(topic: string): Promise<Map<number, bigint>> {
    const offsets = await (await this.adminClient()).fetchTopicOffsets(topic);
    return new Map(offsets.map((o) => [o.partition, BigInt(o.high)]));
  }

  /** Messages in the topic: the sum of the end offsets (all start at 0 on a fresh topic). */
  async stored(topic: string): Promise<number> {
    let sum = 0n;
    for (const high of (await this.endOffsets(topic)).values()) sum += high;
    return Number(sum);
  }

  /** The group's committed offsets by partition (-1 where none). */
  async committed(groupId: string, topic: string): Promise<Map<number, bigint>> {
    const [entry] = await (await this.adminClient()).fetchOffsets({ groupId, topics: [topic] });
    return new Map((entry?.partitions ?? []).map((p) => [p.partition, BigInt(p.offset)]));
  }

  /** Deletes these groups and topics now (groups must have no members). */
  async remove(entities: { topics?: readonly string[]; groups?: readonly string[] }): Promise<void> {
    const admin = await this.adminClient();
    if (entities.groups && entities.groups.length > 0) await admin.deleteGroups([...entities.groups]);
    if (entities.topics && entities.topics.length > 0) await admin.deleteTopics({ topics: [...entities.topics] });
  }

  async cleanUp(): Promise<void> {
    for (const closer of [...this.closers]) {
      await within(15_000, 'closing a client', closer()).catch((error: unknown) => {
        console.error('clean-up: closing a client failed:', error);
      });
    }
    this.closers.clear();
    try {
      const admin = await this.adminClient();
      const groups = (await admin.listGroups()).groups.map((g) => g.groupId).filter((g) => g.startsWith(this.prefix));
      if (groups.length > 0) await admin.deleteGroups(groups);
      const topics = (await admin.listTopics()).filter((t) => t.startsWith(this.prefix));
      if (topics.length > 0) await admin.deleteTopics({ topics });
    } finally {
      const admin = this.admin;
      this.admin = undefined;
      await admin?.disconnect().catch(() => undefined);
    }
  }
}

export async function kafkaVersionInfo(scratch: KafkaScratch): Promise<string> {
  const cluster = await (await scratch.adminClient()).describeCluster();
  return `${String(cluster.brokers.length)} broker(s) at ${KAFKA_BROKERS.join(', ')}, cluster ${cluster.clusterId}`;
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
 * Runs one benchmark script: a time budget, clean-up of everything under the scratch prefix on success, failure,
 * budget overrun or a signal, then exit (0 only when `main` succeeded and clean-up worked).
 */
export async function runKafkaBench(bench: string, budgetMs: number, main: (scratch: KafkaScratch) => Promise<void>): Promise<never> {
  return runScript(bench, budgetMs, new KafkaScratch(bench), 60_000, main);
}
