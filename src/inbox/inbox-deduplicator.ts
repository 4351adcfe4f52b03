import { EventEmitter } from 'node:events';
import type { DataSource, EntityManager, QueryRunner } from 'typeorm';
import { ConfigError, SchemaMissingError, validateConfig, type BatchHandler, type ConfigSpec, type Envelope, type Handler, type HandlerContext } from '../core/index.js';
import { ExpirySweeper } from './expiry-sweeper.js';
import { beginWithMark, sqlLiteral, type Marked } from './postgres-begin.js';
import { INBOX_TABLE } from './schema.js';

export interface InboxConfig {
  readonly dataSource: DataSource;
  /** Who deduplicates: one name per logical consumer (service + handler). Two consumers may each handle a message once. */
  readonly consumer: string;
  /** Removes this consumer's marks once they are older than `keepMs`, on a timer, until `close()`. Off by default: marks are kept. */
  readonly retention?: InboxRetentionConfig;
}

export interface InboxRetentionConfig {
  /**
   * How long a mark is kept (ms, at least one minute). It must exceed the longest time between two deliveries of
   * one id — for Kafka, as long as the topic keeps messages (see docs/inbox.md, Retention): a mark removed before
   * the last copy of its message arrives lets that copy have a second effect.
   */
  readonly keepMs: number;
  /** How often expired marks are removed (ms). Default 60 000. */
  readonly intervalMs?: number;
  /** Rows per DELETE statement; a sweep repeats the statement while it removes this many. Default 1000. */
  readonly limit?: number;
}

/** The handler's context inside the inbox: the `manager` of the transaction that also records the message id. */
export interface InboxContext extends HandlerContext {
  readonly manager: EntityManager;
}

export type InboxHandler<T = unknown> = (message: Envelope<T>, context: InboxContext) => Promise<void> | void;

export type InboxBatchHandler<T = unknown> = (messages: ReadonlyArray<Envelope<T>>, context: InboxContext) => Promise<void> | void;

/** Observable inbox events; none is named `error`, so an unobserved one never crashes the process. */
export interface InboxEvents {
  /** A message id this consumer had already handled: the handler was skipped and the delivery is acked. */
  duplicate: [message: Envelope];
  /** `retention`: a sweep removed `count` expired marks. */
  expired: [count: number];
  /** `retention`: a sweep failed (database unreachable, table missing); the next one comes at the next interval. */
  failure: [error: Error];
}

const MIN_KEEP_MS = 60_000;

const retentionSpec: ConfigSpec<InboxRetentionConfig> = {
  keepMs: { rule: { kind: 'integer', min: MIN_KEEP_MS } },
  intervalMs: { rule: { kind: 'integer', min: 1000 }, default: 60_000 },
  limit: { rule: { kind: 'integer', min: 1, max: 100_000 }, default: 1000 },
};

const spec: ConfigSpec<InboxConfig> = {
  dataSource: { rule: { kind: 'custom', expected: 'a TypeORM DataSource', check: (v) => typeof v === 'object' && v !== null && 'transaction' in v && 'options' in v } },
  consumer: { rule: { kind: 'string' } },
  retention: { rule: { kind: 'nested', spec: retentionSpec }, optional: true },
};

/**
 * Exactly one effect per message on top of at-least-once delivery. For each delivery it opens a transaction,
 * inserts (consumer, message id) under a primary key, runs the handler with that transaction's
 * `EntityManager`, and commits; only then does the transport ack or commit the offset. A redelivery finds
 * the id and skips the handler. Two deliveries racing: the key decides, the loser waits and then skips.
 * The handler's writes, the dedup mark and any `outbox.add(context.manager, …)` commit or roll back together.
 */
export class InboxDeduplicator {
  readonly events = new EventEmitter<InboxEvents>();
  private readonly config: InboxConfig;
  private readonly insert: string;
  private serial: Promise<void> = Promise.resolve();
  /** PostgreSQL: the consumer as an SQL literal, for the marks that begin a transaction (see `beginWithMark`). */
  private readonly postgresConsumer: string | undefined;
  /** PostgreSQL batch mode: the last group's marks hit ids seen before (see `postgresBatch`). */
  private expectDuplicates = false;
  private readonly sweeper: ExpirySweeper | undefined;

  constructor(config: InboxConfig) {
    this.config = validateConfig('InboxDeduplicator', config, spec);
    this.insert = insertStatement(this.config.dataSource.options.type);
    this.postgresConsumer = this.config.dataSource.options.type === 'postgres' ? sqlLiteral(this.config.consumer) : undefined;
    const retention = this.config.retention as Required<InboxRetentionConfig> | undefined;
    if (retention) {
      this.sweeper = new ExpirySweeper(() => this.removeExpired(retention.keepMs, retention.limit), retention.intervalMs, retention.limit, {
        expired: (count) => this.events.emit('expired', count),
        failure: (error) => this.events.emit('failure', error),
      });
    }
  }

  /** Stops the `retention` sweeps (waiting for one in progress). Handlers keep working; the DataSource stays yours. */
  async close(): Promise<void> {
    await this.sweeper?.close();
  }

  /** Wraps an inbox handler into a transport handler. */
  wrap<T = unknown>(handler: InboxHandler<T>): Handler<T> {
    return async (message, context) => {
      const run = async (manager: EntityManager, fresh: boolean): Promise<void> => {
        if (fresh) await handler(message, { ...context, manager });
        else this.events.emit('duplicate', message);
      };
      const marks = this.postgresMarks([message.id]);
      if (marks !== undefined) return this.beginningWith(`${marks} ON CONFLICT DO NOTHING`, (manager, marked) => run(manager, marked.rowCount === 1));
      await this.transaction(async (manager) => run(manager, await this.record(manager, message.id)));
    };
  }

  /**
   * Batch mode (Kafka `subscribeBatch`): one transaction for a whole group — the marks of every message and
   * the handler's work for the ones not seen before — committed before the offsets. Fewer commits, the
   * same one effect per message id.
   */
  wrapBatch<T = unknown>(handler: InboxBatchHandler<T>): BatchHandler<T> {
    return async (messages, context) => {
      const run = async (manager: EntityManager, recorded: Set<string>): Promise<void> => {
        const fresh: Array<Envelope<T>> = [];
        for (const message of messages) {
          if (recorded.delete(message.id)) fresh.push(message);
          else this.events.emit('duplicate', message);
        }
        if (fresh.length > 0) await handler(fresh, { ...context, manager });
      };
      const ids = [...new Set(messages.map((m) => m.id))];
      const marks = this.postgresMarks(ids);
      if (marks !== undefined) return this.postgresBatch(marks, ids, run);
      await this.transaction(async (manager) => run(manager, await this.recordAll(manager, ids)));
    };
  }

  /**
   * PostgreSQL: the marks' INSERT with its values as literals (up to ON CONFLICT), or undefined elsewhere or for an
   * id with a NUL. Several ids go as one array unnested: PostgreSQL parses and plans that with less CPU than a
   * VALUES row per id (groups of 500: 7–8 µs per mark instead of 10–12).
   */
  private postgresMarks(ids: readonly string[]): string | undefined {
    if (this.postgresConsumer === undefined || ids.length === 0) return undefined;
    const literals: string[] = [];
    for (const id of ids) {
      const literal = sqlLiteral(id);
      if (literal === undefined) return undefined;
      literals.push(literal);
    }
    const head = `INSERT INTO ${INBOX_TABLE} (consumer, message_id)`;
    if (literals.length === 1) return `${head} VALUES (${this.postgresConsumer}, ${literals[0] ?? ''})`;
    return `${head} SELECT ${this.postgresConsumer}, unnest(ARRAY[${literals.join(', ')}]::varchar[])`;
  }

  /**
   * PostgreSQL, a group's marks: first a plain INSERT, which PostgreSQL runs with less CPU than `ON CONFLICT`
   * (whose speculative insertion costs about 3 of a mark's 7–8 µs here). An id marked before, or by a racing
   * delivery that committed first, violates the key: that transaction rolls back before the handler runs, and
   * the group runs again with `ON CONFLICT DO NOTHING RETURNING`, which says which ids are new. After a
   * violation, groups take that path at once until one comes back with every id new: a redelivered range is
   * mostly duplicates.
   */
  private async postgresBatch(marks: string, ids: readonly string[], run: (manager: EntityManager, recorded: Set<string>) => Promise<void>): Promise<void> {
    if (!this.expectDuplicates) {
      try {
        await this.beginningWith(marks, (manager) => run(manager, new Set(ids)), { conflicts: 'throw' });
        return;
      } catch (error) {
        if (!(error instanceof MarksConflict)) throw error;
        this.expectDuplicates = true;
      }
    }
    return this.beginningWith(`${marks} ON CONFLICT DO NOTHING RETURNING message_id`, (manager, marked) => {
      if (marked.rowCount === ids.length) this.expectDuplicates = false;
      return run(manager, new Set(marked.rows.map((r) => r['message_id'] as string)));
    });
  }

  /**
   * PostgreSQL: a transaction that begins with the marks in one round trip (see `beginWithMark`), then runs
   * `work` on the same runner and commits — or rolls back when anything throws. With `conflicts: 'throw'`, marks
   * that violate the key reject with `MarksConflict` (after the rollback), and `work` does not run.
   */
  private async beginningWith(markSql: string, work: (manager: EntityManager, marked: Marked) => Promise<void>, options: { conflicts?: 'throw' } = {}): Promise<void> {
    const runner = this.config.dataSource.createQueryRunner();
    try {
      let marked: Marked;
      try {
        marked = await beginWithMark(runner, markSql, this.config.dataSource.options.isolationLevel);
      } catch (error) {
        if (options.conflicts === 'throw' && isUniqueViolation(error)) throw new MarksConflict();
        throw this.schemaError(error);
      }
      await work(runner.manager, marked);
      await runner.commitTransaction();
    } catch (error) {
      if (runner.isTransactionActive) await runner.rollbackTransaction().catch(() => undefined);
      throw error;
    } finally {
      await runner.release();
    }
  }

  /**
   * sql.js has one connection: two transactions begun on it at once interleave into one, and the key can no
   * longer decide between racing deliveries. There, the inbox runs its transactions one after another.
   */
  private transaction(work: (manager: EntityManager) => Promise<void>): Promise<void> {
    return this.oneAtATimeOnSqlJs(() => this.config.dataSource.transaction(work));
  }

  /** sql.js: `work` after the inbox's earlier transactions (a statement issued meanwhile would join an open one). */
  private oneAtATimeOnSqlJs<R>(work: () => Promise<R>): Promise<R> {
    if (this.config.dataSource.options.type !== 'sqljs') return work();
    const run = this.serial.then(work);
    this.serial = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  /** Removes marks older than `olderThanMs` (keep it well above the broker's redelivery window), `limit` at a time. */
  removeExpired(olderThanMs: number, limit = 1000): Promise<number> {
    const type = this.config.dataSource.options.type;
    return this.oneAtATimeOnSqlJs(async () => {
      const runner = this.config.dataSource.createQueryRunner();
      try {
        return await removeExpired(runner, type, this.config.consumer, olderThanMs, limit);
      } catch (error) {
        throw this.schemaError(error);
      } finally {
        await runner.release();
      }
    });
  }

  /** Marks many distinct ids; returns those that were new. One statement where the database can say which rows it inserted. */
  private async recordAll(manager: EntityManager, ids: readonly string[]): Promise<Set<string>> {
    const type = this.config.dataSource.options.type;
    const returning = type === 'postgres' || type === 'sqljs' || type === 'better-sqlite3';
    if (!returning || ids.length === 0) {
      const fresh = new Set<string>();
      for (const id of ids) if (await this.record(manager, id)) fresh.add(id);
      return fresh;
    }
    const values = ids.map((_, i) => (type === 'postgres' ? `($1, $${String(i + 2)})` : '(?, ?)')).join(', ');
    const params = type === 'postgres' ? [this.config.consumer, ...ids] : ids.flatMap((id) => [this.config.consumer, id]);
    try {
      const rows = await manager.query<Array<{ message_id: string }>>(
        `INSERT INTO ${INBOX_TABLE} (consumer, message_id) VALUES ${values} ON CONFLICT DO NOTHING RETURNING message_id`,
        params,
      );
      return new Set(rows.map((r) => r.message_id));
    } catch (error) {
      throw this.schemaError(error);
    }
  }

  private async record(manager: EntityManager, messageId: string): Promise<boolean> {
    try {
      const result = await (manager.queryRunner as QueryRunner).query(this.insert, [this.config.consumer, messageId], true);
      return (result.affected ?? 0) === 1;
    } catch (error) {
      throw this.schemaError(error);
    }
  }

  private schemaError(error: unknown): unknown {
    const message = error instanceof Error ? error.message : String(error);
    if (!/rmq_inbox/.test(message) || !/(does not exist|doesn't exist|no such table)/i.test(message)) return error;
    return new SchemaMissingError(
      `The inbox table ${INBOX_TABLE} does not exist. Add \`inboxMigrations\` (from 'reliable-mq/inbox') to your DataSource's migrations and run them (\`npx typeorm migration:run -d <your data source>\` or \`dataSource.runMigrations()\`).`,
      { cause: error },
    );
  }
}

/** Internal: a group's plain INSERT of marks met an id already marked; the group runs again tolerating it. */
class MarksConflict extends Error {}

/** PostgreSQL's unique_violation, from node-postgres directly or wrapped by TypeORM (which copies `code`). */
function isUniqueViolation(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === '23505';
}

function insertStatement(driverType: string): string {
  if (driverType === 'postgres') return `INSERT INTO ${INBOX_TABLE} (consumer, message_id) VALUES ($1, $2) ON CONFLICT DO NOTHING`;
  if (driverType === 'mysql' || driverType === 'mariadb') return `INSERT IGNORE INTO ${INBOX_TABLE} (consumer, message_id) VALUES (?, ?)`;
  if (driverType === 'sqljs' || driverType === 'sqlite' || driverType === 'better-sqlite3') return `INSERT INTO ${INBOX_TABLE} (consumer, message_id) VALUES (?, ?) ON CONFLICT DO NOTHING`;
  throw new ConfigError('InboxDeduplicator', [{ field: 'dataSource', expected: 'a postgres, mysql/mariadb or sqlite/sqljs DataSource', received: driverType }]);
}

async function removeExpired(runner: QueryRunner, driverType: string, consumer: string, olderThanMs: number, limit: number): Promise<number> {
  let sql: string;
  if (driverType === 'postgres') {
    sql = `DELETE FROM ${INBOX_TABLE} WHERE ctid IN (SELECT ctid FROM ${INBOX_TABLE} WHERE consumer = $1 AND received_at < now() - ($2 * interval '1 millisecond') LIMIT $3)`;
  } else if (driverType === 'mysql' || driverType === 'mariadb') {
    sql = `DELETE FROM ${INBOX_TABLE} WHERE consumer = ? AND received_at < CURRENT_TIMESTAMP(3) - INTERVAL (? * 1000) MICROSECOND LIMIT ?`;
  } else {
    sql = `DELETE FROM ${INBOX_TABLE} WHERE rowid IN (SELECT rowid FROM ${INBOX_TABLE} WHERE consumer = ? AND received_at < strftime('%Y-%m-%d %H:%M:%f', 'now', '-' || (? / 1000.0) || ' seconds') LIMIT ?)`;
  }
  const result = await runner.query(sql, [consumer, olderThanMs, limit], true);
  return result.affected ?? 0;
}
