/**
 * Helpers for the inbox fault tests: a private PostgreSQL schema with the inbox and a business table without any unique
 * key, consumer processes (inbox-consumer-process.ts) whose output lines are collected, and one rig per transport that
 * publishes, tells whether a group has acked everything, and cleans up.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import amqplib from 'amqplib';
import type { Admin } from 'kafkajs';
import type { DataSource } from 'typeorm';
import { KafkaTransport } from '../../../src/adapters/kafka/index.js';
import { RabbitMqTransport } from '../../../src/adapters/rabbitmq/index.js';
import { databases, type Database } from '../../integration/outbox/databases.js';
import { committedOffsets, endOffsets, rawAdmin, uniqueTopic } from '../../support/kafka-faults.js';
import { kafkaBrokers } from '../../support/kafka.js';
import { deleteEntities } from '../../support/rabbitmq-admin.js';
import { rabbitUrl } from '../../support/rabbitmq.js';
import { sleep, waitFor } from '../../support/wait.js';

const PROCESS = fileURLToPath(new URL('./inbox-consumer-process.ts', import.meta.url));
function database(name: 'postgres' | 'mariadb'): Database {
  const found = databases.find((d) => d.name === name);
  if (!found) throw new Error(`no ${name} database helper`);
  return found;
}

/** The database a consumer process connects to: PostgreSQL (a schema) or MariaDB (a database of that name). */
export type FaultDatabase = 'postgres' | 'mariadb';

/**
 * A fresh schema (PostgreSQL) or database (MariaDB) with the outbox + inbox migrations and `effects` (message_id,
 * pid) — deliberately no primary or unique key. `schema` names it for the consumer processes (their `DB` env).
 */
export async function openSchema(kind: FaultDatabase = 'postgres'): Promise<{ dataSource: DataSource; schema: string; drop: () => Promise<void> }> {
  const helper = database(kind);
  const dataSource = await helper.open();
  if (kind === 'postgres') {
    await dataSource.query('CREATE TABLE effects (message_id varchar(255) NOT NULL, pid integer NOT NULL, at timestamptz NOT NULL DEFAULT clock_timestamp())');
    return { dataSource, schema: (dataSource.options as { schema: string }).schema, drop: () => helper.drop(dataSource) };
  }
  await dataSource.query('CREATE TABLE effects (message_id varchar(255) NOT NULL, pid integer NOT NULL, at datetime(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3))');
  return { dataSource, schema: (dataSource.options as { database: string }).database, drop: () => helper.drop(dataSource) };
}

/** `$n` placeholders as the data source's driver wants them (MariaDB: `?`, in the same order). */
function sql(dataSource: DataSource, text: string): string {
  return dataSource.options.type === 'postgres' ? text : text.replace(/\$\d+/g, '?');
}

/** Rows of `effects` per message id. */
export async function effectCounts(dataSource: DataSource): Promise<Map<string, number>> {
  const rows = await dataSource.query<Array<{ message_id: string; n: string }>>('SELECT message_id, COUNT(*) AS n FROM effects GROUP BY message_id');
  return new Map(rows.map((r) => [r.message_id, Number(r.n)]));
}

/** What the effects table says of the published ids: the oracle of every inbox fault test. */
export interface EffectOracle {
  readonly counts: Map<string, number>;
  readonly missing: string[];
  readonly twice: Array<[string, number]>;
  readonly unexpected: string[];
  readonly rows: number;
  /** Inbox marks of `consumer`, when asked for. */
  readonly marks: number | undefined;
}

export async function effectOracle(dataSource: DataSource, sent: readonly string[], consumer?: string): Promise<EffectOracle> {
  const counts = await effectCounts(dataSource);
  const sentIds = new Set(sent);
  let marks: number | undefined;
  if (consumer !== undefined) {
    const [row] = await dataSource.query<Array<{ n: string }>>(sql(dataSource, 'SELECT COUNT(*) AS n FROM rmq_inbox WHERE consumer = $1'), [consumer]);
    marks = Number(row?.n ?? 0);
  }
  return {
    counts,
    missing: sent.filter((id) => !counts.has(id)),
    twice: [...counts].filter(([, n]) => n > 1),
    unexpected: [...counts.keys()].filter((id) => !sentIds.has(id)),
    rows: [...counts.values()].reduce((a, b) => a + b, 0),
    marks,
  };
}

/** Exactly one effect row per published id, none for anything else (and one mark each, when counted). */
export function assertOneEffectEach(oracle: EffectOracle, total: number): void {
  assert.deepEqual(oracle.twice.slice(0, 10), [], 'ids with more than one effect row');
  assert.deepEqual(oracle.missing.slice(0, 10), [], 'published ids without an effect');
  assert.deepEqual(oracle.unexpected.slice(0, 10), [], 'effects of ids never published');
  assert.equal(oracle.rows, total);
  if (oracle.marks !== undefined) assert.equal(oracle.marks, total, 'one inbox mark per id');
}

/** Across the consumer processes of a test: handled deliveries, suppressed duplicates, ids more than one process saw. */
export function deliveryCounts(procs: readonly ConsumerProcess[]): { delivered: number; suppressed: number; redelivered: number } {
  const seenIn = new Map<string, number>();
  for (const p of procs) for (const id of new Set([...p.started, ...p.done, ...p.dups.map((d) => d.id)])) seenIn.set(id, (seenIn.get(id) ?? 0) + 1);
  return {
    delivered: procs.reduce((a, p) => a + p.doneLines, 0),
    suppressed: procs.reduce((a, p) => a + p.dups.length, 0),
    redelivered: [...seenIn.values()].filter((n) => n > 1).length,
  };
}

export async function distinctEffects(dataSource: DataSource): Promise<number> {
  const [row] = await dataSource.query<Array<{ n: string }>>('SELECT COUNT(DISTINCT message_id) AS n FROM effects');
  return Number(row?.n ?? 0);
}

/** One consumer process and what it printed. */
export interface ConsumerProcess {
  readonly child: ChildProcess;
  readonly label: string;
  readonly started: Set<string>;
  readonly done: Set<string>;
  /** Ids whose handler returned (the ack or offset commit follows). */
  readonly returned: Set<string>;
  /** Lines `done`, counted (a set would hide a second `done` of one id in one process). */
  doneLines: number;
  /** When each id's `done` line was printed here (the last one). */
  readonly doneAt: Map<string, number>;
  readonly dups: Array<{ id: string; waitedMs: number; beganAt: number }>;
  /** Batch mode: each committed group's size, how many of its messages were new, when it began and committed (`group` lines). */
  readonly groups: Array<{ size: number; fresh: number; beganAt: number; committedAt: number }>;
  /** Time of the last line of any kind (quiescence). */
  lastLine: number;
  readonly ready: Promise<void>;
  /** Resolves once the process exited and its stdout was read to the end. */
  readonly finished: Promise<void>;
  closed: boolean;
}

export function startConsumer(label: string, args: readonly string[], env: Record<string, string>): ConsumerProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', PROCESS, ...args], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...env } });
  let markReady: () => void = () => undefined;
  let failReady: (error: Error) => void = () => undefined;
  const ready = new Promise<void>((resolve, reject) => {
    markReady = resolve;
    failReady = reject;
  });
  ready.catch(() => undefined); // observed where awaited
  const exited = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      failReady(new Error(`consumer ${label} exited before ready: ${String(code ?? signal)}`));
      resolve();
    });
  });
  const proc: ConsumerProcess = {
    child,
    label,
    started: new Set(),
    done: new Set(),
    returned: new Set(),
    doneAt: new Map(),
    doneLines: 0,
    dups: [],
    groups: [],
    lastLine: Date.now(),
    ready,
    finished: Promise.resolve(),
    closed: false,
  };
  const eof = new Promise<void>((resolve) => {
    const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
    lines.on('close', resolve);
    lines.on('line', (line) => {
      proc.lastLine = Date.now();
      const [word, id, a, b, c] = line.split(' ');
      if (word === 'ready') markReady();
      else if (word === 'closed') proc.closed = true;
      else if (!id) return;
      else if (word === 'start') proc.started.add(id);
      else if (word === 'done') {
        proc.done.add(id);
        proc.doneAt.set(id, Number(a));
        proc.doneLines += 1;
      } else if (word === 'ret') proc.returned.add(id);
      else if (word === 'dup') proc.dups.push({ id, waitedMs: Number(a), beganAt: Number(b) });
      else if (word === 'group') proc.groups.push({ size: Number(id), fresh: Number(a), committedAt: Number(b), beganAt: Number(c) });
    });
  });
  (proc as { finished: Promise<void> }).finished = Promise.all([exited, eof]).then(() => undefined);
  return proc;
}

export async function kill(proc: ConsumerProcess): Promise<void> {
  if (proc.child.exitCode === null && proc.child.signalCode === null) proc.child.kill('SIGKILL');
  await proc.finished;
}

/**
 * A crash window to kill a consumer process in. Handlers (or batch groups) of one process tend to run in step, so a
 * random moment can miss a window in every round of a test; a test that must hit both waits for them:
 * `in-transaction`: some message started (its mark inserted) and not yet committed; `after-commit`: some message
 * committed whose handler has not returned (no ack or offset commit yet); `random`: up to `randomMs` from now.
 */
export type KillWindow = 'in-transaction' | 'after-commit' | 'random';

export async function killAt(proc: ConsumerProcess, window: KillWindow, randomMs: number): Promise<void> {
  const open = (): boolean => [...proc.started].some((id) => !proc.done.has(id));
  const committedOnly = (): boolean => [...proc.done].some((id) => !proc.returned.has(id));
  if (window === 'in-transaction') await waitFor(open, 10_000, () => `${proc.label}: nothing inside its transaction`);
  else if (window === 'after-commit') await waitFor(committedOnly, 10_000, () => `${proc.label}: nothing between its commit and its ack`);
  else await sleep(Math.random() * randomMs);
  await kill(proc);
}

/** What `openSchema` opened. */
export type FaultSchema = Awaited<ReturnType<typeof openSchema>>;

/** What one fault test started, set as it starts them; `faultScope` tears it down. */
export interface FaultScope {
  readonly procs: ConsumerProcess[];
  rig: Rig | undefined;
  db: FaultSchema | undefined;
}

/**
 * Registers the suite's teardown (a mocha `after` hook): `first` (processes of other kinds), then every consumer
 * process in `procs` killed, the rig's entities for `groups` removed, the database dropped.
 */
export function faultScope(groups: readonly string[], first: () => Promise<void> = () => Promise.resolve()): FaultScope {
  const scope: FaultScope = { procs: [], rig: undefined, db: undefined };
  after(async () => {
    await first();
    for (const p of scope.procs) await kill(p);
    await scope.rig?.cleanup(groups);
    await scope.db?.drop();
  });
  return scope;
}

/** SIGTERM: the process closes its transport gracefully (running handlers finish and are acked) and prints `closed`. */
export async function stopGracefully(proc: ConsumerProcess, timeoutMs = 60_000): Promise<void> {
  proc.child.kill('SIGTERM');
  const timer = setTimeout(() => proc.child.kill('SIGKILL'), timeoutMs);
  await proc.finished;
  clearTimeout(timer);
  if (!proc.closed) throw new Error(`consumer ${proc.label} did not close gracefully (exit ${String(proc.child.exitCode ?? proc.child.signalCode)})`);
}

/** Waits until no process printed anything for `quietMs`. */
export async function quiet(procs: readonly ConsumerProcess[], quietMs: number, timeoutMs: number): Promise<void> {
  await waitFor(() => procs.every((p) => Date.now() - p.lastLine >= quietMs), timeoutMs, () => `consumers still busy after ${String(timeoutMs)} ms`);
}

/** A transport under test, as the parent process sees it. */
export interface Rig {
  readonly name: 'RabbitMQ' | 'Kafka';
  readonly kind: 'rabbitmq' | 'kafka';
  readonly address: string;
  readonly topic: string;
  /** Creates the topic and the groups' queues (RabbitMQ) so nothing published is missed. */
  prepare(groups: readonly string[]): Promise<void>;
  /** Publishes `count` messages concurrently; the ids in order. */
  publish(count: number): Promise<string[]>;
  /** Undefined when `group` has acked (committed) every message, else what is left. */
  unacked(group: string): Promise<string | undefined>;
  cleanup(groups: readonly string[]): Promise<void>;
}

async function publishAll(publish: (i: number) => Promise<{ id: string }>, count: number): Promise<string[]> {
  const sent = await Promise.all(Array.from({ length: count }, (_, i) => publish(i)));
  return sent.map((e) => e.id);
}

export async function rabbitRig(label: string): Promise<Rig> {
  const url = rabbitUrl();
  const topic = uniqueTopic(`inbox-${label}`);
  const transport = await RabbitMqTransport.connect({ url, connectionName: `fault-${topic}` });
  return {
    name: 'RabbitMQ',
    kind: 'rabbitmq',
    address: url,
    topic,
    async prepare(groups) {
      for (const group of groups) await (await transport.subscriber().subscribe(topic, () => undefined, { group })).close();
    },
    async publish(count) {
      const publisher = await transport.publisher();
      return publishAll((i) => publisher.publish(topic, { type: 'fault.inbox', payload: { i } }), count);
    },
    async unacked(group) {
      const connection = await amqplib.connect(url);
      try {
        const channel = await connection.createChannel();
        const { messageCount, consumerCount } = await channel.checkQueue(`${topic}.${group}`);
        return messageCount === 0 ? undefined : `${String(messageCount)} messages still in ${topic}.${group} (${String(consumerCount)} consumers)`;
      } finally {
        await connection.close();
      }
    },
    async cleanup() {
      const declared = transport.declared();
      await transport.close().catch(() => undefined);
      await deleteEntities(declared).catch(() => undefined);
    },
  };
}

export async function kafkaRig(label: string, partitions = 6): Promise<Rig> {
  const brokers = kafkaBrokers();
  const topic = uniqueTopic(`inbox-${label}`);
  const transport = await KafkaTransport.connect({ brokers, topics: { defaults: { partitions } } });
  let admin: Admin | undefined;
  return {
    name: 'Kafka',
    kind: 'kafka',
    address: brokers.join(','),
    topic,
    async prepare() {
      await transport.ensureTopic(topic);
      admin = await rawAdmin(brokers);
    },
    async publish(count) {
      const publisher = await transport.publisher();
      return publishAll((i) => publisher.publish(topic, { type: 'fault.inbox', payload: { i } }), count);
    },
    async unacked(group) {
      if (!admin) throw new Error('prepare() first');
      const ends = await endOffsets(admin, topic);
      const committed = await committedOffsets(admin, `${topic}.${group}`, topic);
      const behind = [...ends].filter(([p, end]) => end > 0 && committed.get(p) !== end);
      return behind.length === 0 ? undefined : `uncommitted: ${behind.map(([p, end]) => `p${String(p)} committed ${String(committed.get(p))} of ${String(end)}`).join(', ')}`;
    },
    async cleanup(groups) {
      await transport.close().catch(() => undefined);
      // The consumer processes created the groups' dead-letter topics.
      const topics = [...new Set([...transport.createdTopics(), ...groups.map((g) => `${topic}.${g}.dlq`)])];
      await admin?.deleteTopics({ topics }).catch((error: unknown) => process.stderr.write(`cleanup: topics ${topics.join(', ')}: ${String(error)}\n`));
      await admin?.deleteGroups(groups.map((g) => `${topic}.${g}`)).catch((error: unknown) => process.stderr.write(`cleanup: groups: ${String(error)}\n`));
      await admin?.disconnect().catch(() => undefined);
    },
  };
}

export { sleep, waitFor };
