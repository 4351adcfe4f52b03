// Shared pieces of the outbox lease, retention and Kafka relay tests: a snapshot of the outbox rows, async polling, a
// gated publisher (a Publisher wrapper around a real one that waits on purpose) and the relay's round log.
import type { DataSource } from 'typeorm';
import { RabbitMqTransport } from '../../../src/adapters/rabbitmq/index.js';
import type { Publisher, WireRecord } from '../../../src/core/index.js';
import type { OutboxRelay, OutboxRelayEvents } from '../../../src/outbox/index.js';
import { uniqueName } from '../../support/rabbitmq-admin.js';
import { rabbitUrl } from '../../support/rabbitmq.js';
import { sleep } from '../../support/wait.js';
import { closeConsumer, startConsumer, type Recorder } from '../../faults/outbox/support.js';

/** The RabbitMQ side of a relay test: the relays' transport, the relays to stop, and one recording consumer. */
export class RelayRig {
  private transport: RabbitMqTransport | undefined;
  private consumer: RabbitMqTransport | undefined;
  readonly relays: OutboxRelay[] = [];

  constructor(private readonly connectionName: string) {}

  async open(): Promise<void> {
    this.transport = await RabbitMqTransport.connect({ url: rabbitUrl(), connectionName: this.connectionName });
  }

  get rabbit(): RabbitMqTransport {
    if (!this.transport) throw new Error('RelayRig: open() first');
    return this.transport;
  }

  /** A fresh topic with a consumer recording what arrives on it. */
  async consume(label: string): Promise<{ topic: string; recorder: Recorder }> {
    const topic = uniqueName(label);
    const started = await startConsumer(rabbitUrl(), topic);
    this.consumer = started.transport;
    return { topic, recorder: started.recorder };
  }

  async close(): Promise<void> {
    for (const relay of this.relays.splice(0)) await relay.stop().catch(() => undefined);
    await this.transport?.close().catch(() => undefined);
    this.transport = undefined;
    await closeConsumer(this.consumer, rabbitUrl());
    this.consumer = undefined;
  }
}

/** One outbox row as the tests compare it (driver differences normalised). */
export interface RowState {
  readonly position: string;
  readonly messageId: string;
  readonly key: string | null;
  readonly status: string;
  readonly attempts: number;
  readonly lastError: string | null;
  readonly claimToken: string | null;
  readonly sentAt: string | null;
}

interface RawRow {
  position: unknown;
  message_id: string;
  msg_key: string | null;
  status: string;
  attempts: unknown;
  last_error: string | null;
  claim_token: string | null;
  sent_at: Date | string | null;
}

/** Every row of rmq_outbox, by position. No aliases: the same SQL on PostgreSQL, MariaDB and SQLite. */
export async function rowStates(dataSource: DataSource): Promise<RowState[]> {
  const found = await dataSource.query<RawRow[]>('SELECT position, message_id, msg_key, status, attempts, last_error, claim_token, sent_at FROM rmq_outbox ORDER BY position');
  return found.map((r) => ({
    position: String(r.position),
    messageId: r.message_id,
    key: r.msg_key,
    status: r.status,
    attempts: Number(r.attempts),
    lastError: r.last_error,
    claimToken: r.claim_token,
    sentAt: r.sent_at instanceof Date ? r.sent_at.toISOString() : r.sent_at,
  }));
}

export async function rowCount(dataSource: DataSource, where = '1 = 1'): Promise<number> {
  const [row] = await dataSource.query<Array<{ c: string | number }>>(`SELECT COUNT(*) AS c FROM rmq_outbox WHERE ${where}`);
  return Number(row?.c);
}

/** Polls an async condition until it holds; fails with `describe()` after `timeoutMs`. */
export async function until(condition: () => Promise<boolean> | boolean, timeoutMs: number, describe: () => string | Promise<string>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`Timed out after ${String(timeoutMs)} ms: ${await describe()}`);
    await sleep(20);
  }
}

/** A publisher whose publishes wait until the gate opens, then go to the real publisher. */
export class GatedPublisher implements Publisher {
  waiting = 0;
  private opened = false;
  private readonly waiters: Array<() => void> = [];

  constructor(private readonly inner: Publisher) {}

  open(): void {
    this.opened = true;
    for (const wake of this.waiters.splice(0)) wake();
  }

  publish: Publisher['publish'] = (topic, message) => this.inner.publish(topic, message);

  async publishRecord(topic: string, record: WireRecord): Promise<void> {
    if (!this.opened) {
      this.waiting += 1;
      await new Promise<void>((resolve) => this.waiters.push(resolve));
      this.waiting -= 1;
    }
    await this.inner.publishRecord(topic, record);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

export type RoundResult = OutboxRelayEvents['round'][0];

/** Records a relay's rounds, fenced counts and failures. */
export class RelayLog {
  readonly rounds: RoundResult[] = [];
  readonly failures: string[] = [];
  fenced = 0;

  constructor(relay: OutboxRelay) {
    relay.events.on('round', (r) => this.rounds.push(r));
    relay.events.on('fenced', (n) => {
      this.fenced += n;
    });
    relay.events.on('failure', (e) => this.failures.push(e.message));
  }

  get published(): number {
    return this.rounds.reduce((n, r) => n + r.published, 0);
  }

  /** Rounds that claimed something. */
  get working(): RoundResult[] {
    return this.rounds.filter((r) => r.claimed > 0);
  }
}
