// Shared pieces of the outbox fault tests: relay processes, a recording consumer, writers and the oracle.
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { DataSource } from 'typeorm';
import { RabbitMqTransport } from '../../../src/adapters/rabbitmq/index.js';
import type { Envelope } from '../../../src/core/index.js';
import type { OutboxRelayConfig, TransactionalOutbox } from '../../../src/outbox/index.js';
import { deleteEntities } from '../../support/rabbitmq-admin.js';
import { databases, type Database } from '../../integration/outbox/databases.js';

const RELAY = fileURLToPath(new URL('./relay-process.ts', import.meta.url));

/** What relay-process.ts takes (as one JSON argument). */
export interface RelayProcessConfig {
  /** JSON-safe TypeORM DataSource options (no migrations, no entities). */
  readonly db: Record<string, unknown>;
  readonly rabbitUrl: string;
  /** Publish to Kafka at these brokers instead of RabbitMQ. */
  readonly kafkaBrokers?: readonly string[];
  readonly relay: Partial<Omit<OutboxRelayConfig, 'dataSource' | 'publisher'>>;
  readonly confirmTimeoutMs?: number;
  /** Print `confirmed <id> <outstanding>` after each broker confirm. */
  readonly reportConfirms?: boolean;
  /** After this many confirms, publishes go on reaching the broker but never resolve: a batch is held claimed, unmarked. */
  readonly holdAfterConfirms?: number;
}

/** Payload of every test message: its key and its place in that key's commit order (1, 2, …). */
export interface Seq {
  readonly k: string;
  readonly n: number;
}

export function log(line: string): void {
  console.log(`      ${line}`);
}

export function database(name: Database['name']): Database {
  const found = databases.find((d) => d.name === name);
  if (!found) throw new Error(`no database fixture ${name}`);
  return found;
}

/** The options a second data source (or another process) needs to reach the same schema/database. */
export function connectionOptions(dataSource: DataSource, more: Record<string, unknown> = {}): Record<string, unknown> {
  const o = dataSource.options as unknown as Record<string, unknown>;
  const picked: Record<string, unknown> = {};
  for (const field of ['type', 'host', 'port', 'username', 'password', 'database', 'schema', 'extra']) if (o[field] !== undefined) picked[field] = o[field];
  return { ...picked, ...more };
}

export async function outboxCount(dataSource: DataSource): Promise<number> {
  const [row] = await dataSource.query<Array<{ c: string | number }>>('SELECT COUNT(*) AS c FROM rmq_outbox');
  return Number(row?.c);
}

/** An OutboxRelay in a child process (relay-process.ts). */
export class RelayChild {
  readonly ready: Promise<void>;
  readonly exit: Promise<number | null>;
  published = 0;
  rounds = 0;
  fenced = 0;
  readonly failures: string[] = [];
  private stderr = '';

  private constructor(
    readonly label: string,
    private readonly child: ChildProcess,
    onLine: (words: string[], child: RelayChild) => void,
  ) {
    this.exit = new Promise((resolve) => child.once('exit', (code) => { resolve(code); }));
    child.stderr?.on('data', (chunk: Buffer) => {
      this.stderr = (this.stderr + chunk.toString()).slice(-4000);
    });
    this.ready = new Promise<void>((resolve, reject) => {
      void this.exit.then((code) => { reject(new Error(`relay ${label} exited with ${String(code)} before ready: ${this.stderr}`)); });
      createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
        const words = line.split(' ');
        if (words[0] === 'ready') resolve();
        else if (words[0] === 'round') {
          this.rounds += 1;
          this.published += Number(words[2]);
        } else if (words[0] === 'fenced') this.fenced += Number(words[1]);
        else if (words[0] === 'failure') this.failures.push(words.slice(1).join(' '));
        onLine(words, this);
      });
    });
  }

  static start(label: string, config: RelayProcessConfig, onLine: (words: string[], child: RelayChild) => void = () => undefined): RelayChild {
    const child = spawn(process.execPath, ['--import', 'tsx', RELAY, JSON.stringify(config)], { stdio: ['ignore', 'pipe', 'pipe'] });
    return new RelayChild(label, child, onLine);
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  get stderrTail(): string {
    return this.stderr;
  }

  async kill9(): Promise<void> {
    if (this.alive) this.child.kill('SIGKILL');
    await this.exit;
  }

  /** Graceful stop (SIGTERM: the round in progress finishes); SIGKILL after `timeoutMs`. Resolves with the exit code. */
  async stop(timeoutMs = 30_000): Promise<number | null> {
    if (!this.alive) return this.exit;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
    const code = await this.exit;
    clearTimeout(timer);
    return code;
  }
}

export interface Delivery {
  readonly id: string;
  readonly k: string;
  readonly n: number;
  readonly attempt: number;
}

/** Every delivery in arrival order. */
export class Recorder {
  readonly deliveries: Delivery[] = [];
  readonly counts = new Map<string, number>();

  record(message: Envelope): void {
    const { k, n } = message.payload as Seq;
    this.deliveries.push({ id: message.id, k, n, attempt: message.attempt });
    this.counts.set(message.id, (this.counts.get(message.id) ?? 0) + 1);
  }

  get distinct(): number {
    return this.counts.size;
  }

  duplicates(): string[] {
    return [...this.counts].filter(([, c]) => c > 1).map(([id]) => id);
  }

  /**
   * Per key, the `n` of each message at its first delivery, in arrival order, compared with 1..committed: returns the
   * problems (out of order, missing, unexpected), empty when every key arrived complete and in commit order.
   */
  orderProblems(committedPerKey: ReadonlyMap<string, number>): string[] {
    const seen = new Set<string>();
    const firsts = new Map<string, number[]>();
    for (const d of this.deliveries) {
      if (seen.has(d.id)) continue;
      seen.add(d.id);
      const list = firsts.get(d.k) ?? [];
      list.push(d.n);
      firsts.set(d.k, list);
    }
    const problems: string[] = [];
    for (const [k, total] of committedPerKey) {
      const list = firsts.get(k) ?? [];
      const bad = list.findIndex((n, i) => n !== i + 1);
      if (bad >= 0) problems.push(`${k}: first deliveries ${JSON.stringify(list.slice(Math.max(0, bad - 2), bad + 3))} around index ${String(bad)} (expected ${String(bad + 1)})`);
      else if (list.length !== total) problems.push(`${k}: ${String(list.length)} of ${String(total)} arrived`);
    }
    for (const k of firsts.keys()) if (!committedPerKey.has(k)) problems.push(`${k}: unexpected key`);
    return problems;
  }
}

/** A consumer (concurrency 1: the handler sees the queue's order) recording every delivery. */
export async function startConsumer(url: string, topic: string, prefetch = 200): Promise<{ transport: RabbitMqTransport; recorder: Recorder }> {
  const transport = await RabbitMqTransport.connect({ url, connectionName: 'outbox-fault-consumer', reconnect: { initialDelayMs: 100, maxDelayMs: 1000 } });
  const recorder = new Recorder();
  await transport.subscriber().subscribe(
    topic,
    (m) => {
      recorder.record(m);
    },
    { group: 'g', prefetch, concurrency: 1 },
  );
  return { transport, recorder };
}

/** Closes the consumer's transport and deletes the exchanges and queues it declared. */
export async function closeConsumer(transport: RabbitMqTransport | undefined, url: string): Promise<void> {
  if (!transport) return;
  const declared = transport.declared();
  await transport.close().catch(() => undefined);
  await deleteEntities(declared, url).catch(() => undefined);
}

/**
 * A single sequential writer: each call commits one transaction with one message per given key, numbering each key's
 * messages 1, 2, … in commit order (one writer: call order is commit order). Returns the committed message ids.
 */
export class SequentialWriter {
  readonly committed: string[] = [];
  readonly perKey = new Map<string, number>();

  constructor(
    private readonly dataSource: DataSource,
    private readonly outbox: TransactionalOutbox,
    private readonly topic: string,
  ) {}

  async commit(keys: readonly string[]): Promise<void> {
    const next = new Map(this.perKey);
    const messages = keys.map((k) => {
      const n = (next.get(k) ?? 0) + 1;
      next.set(k, n);
      return { topic: this.topic, type: 'outbox.fault', key: k, payload: { k, n } satisfies Seq };
    });
    const envelopes = await this.dataSource.transaction((manager) => this.outbox.add(manager, messages));
    for (const [k, n] of next) this.perKey.set(k, n);
    for (const e of envelopes) this.committed.push(e.id);
  }
}

export const keys = (count: number): string[] => Array.from({ length: count }, (_, i) => `k${String(i).padStart(3, '0')}`);

export const pick = <T>(list: readonly T[]): T => list[Math.floor(Math.random() * list.length)] as T;
