import { randomUUID } from 'node:crypto';
import type { DataSource, QueryRunner } from 'typeorm';
import { ConfigError } from '../core/index.js';
import { affected, dialectOf, now, nowMinus, nowPlus, placeholders, rows, type DialectName, type OutboxRow } from './dialect.js';
import { OUTBOX_TABLE } from './schema.js';
import { asSchemaError } from './schema-check.js';

export interface Claim {
  readonly token: string;
  readonly rows: OutboxRow[];
  /** Local clock: when the claim lapses (the database's expiry is the same lease from the claim's commit). */
  readonly expiresAt: number;
}

export interface OutboxStats {
  readonly pending: number;
  readonly inFlight: number;
  readonly failed: number;
  readonly sent: number;
  /** Age of the oldest pending row, ms (0 when none). */
  readonly oldestPendingAgeMs: number;
}

export interface FailedRow {
  readonly position: string;
  readonly messageId: string;
  readonly topic: string;
  readonly key: string | null;
  readonly attempts: number;
  readonly lastError: string | null;
}

const COLUMNS = 'position, topic, msg_key AS "key", headers, body, attempts';

/** The outbox table's queries, in the dialect of the data source. Every claim-holder write is fenced by its token. */
export class OutboxStore {
  readonly dialect: DialectName;

  constructor(private readonly dataSource: DataSource) {
    const dialect = dialectOf(dataSource.options.type);
    if (!dialect) {
      throw new ConfigError('OutboxRelay', [{ field: 'dataSource', expected: 'a postgres, mysql/mariadb or sqlite/sqljs DataSource', received: dataSource.options.type }]);
    }
    this.dialect = dialect;
  }

  /**
   * Claims up to `limit` ready rows: pending, due, unclaimed (or with a lapsed claim), and each the head of
   * its key (no earlier unsent row of the same key) — so a key's messages go out one at a time, in order.
   * PostgreSQL and MariaDB skip rows another relay is claiming at the same moment (FOR UPDATE SKIP LOCKED).
   */
  async claim(limit: number, leaseMs: number): Promise<Claim> {
    const token = randomUUID();
    const expiresAt = Date.now() + leaseMs;
    let found: OutboxRow[];
    try {
      found = await this.withRunner((runner) => (this.dialect === 'mysql' ? this.claimMysql(runner, token, limit, leaseMs) : this.claimReturning(runner, token, limit, leaseMs)), 'fail');
    } catch (error) {
      if (!(error instanceof SqliteBusy)) throw error;
      found = []; // a writer's transaction is open on the one SQLite connection: claim nothing now
    }
    return { token, rows: (found as Array<Raw<OutboxRow>>).map(normalise).sort((a, b) => Number(BigInt(a.position) - BigInt(b.position))), expiresAt };
  }

  /** The claim holder finished these rows: deleted, or kept as sent. Returns how many it still owned. */
  async finish(token: string, positions: readonly string[], keepSent: boolean): Promise<number> {
    if (positions.length === 0) return 0;
    const [t, ...ids] = placeholders(this.dialect, positions.length + 1);
    const sql = keepSent
      ? `UPDATE ${OUTBOX_TABLE} SET status = 'sent', sent_at = ${now(this.dialect)}, claim_token = NULL, claim_expires_at = NULL WHERE claim_token = ${String(t)} AND position IN (${ids.join(', ')})`
      : `DELETE FROM ${OUTBOX_TABLE} WHERE claim_token = ${String(t)} AND position IN (${ids.join(', ')})`;
    return this.withRunner((runner) => affected(runner, sql, [token, ...positions]));
  }

  /** A publish failed: back off, or mark the row failed after `maxAttempts`. False when the claim was lost. */
  async fail(token: string, position: string, error: string, maxAttempts: number, backoffMs: number): Promise<boolean> {
    const p = placeholders(this.dialect, 5);
    // `status` before `attempts`: MySQL evaluates SET left to right with the new values, the others with the old.
    const sql =
      `UPDATE ${OUTBOX_TABLE} SET status = CASE WHEN attempts + 1 >= ${String(p[0])} THEN 'failed' ELSE 'pending' END, attempts = attempts + 1, ` +
      `last_error = ${String(p[1])}, claim_token = NULL, claim_expires_at = NULL, available_at = ${nowPlus(this.dialect, String(p[2]))} ` +
      `WHERE claim_token = ${String(p[3])} AND position = ${String(p[4])}`;
    return (await this.withRunner((runner) => affected(runner, sql, [maxAttempts, error.slice(0, 2000), backoffMs, token, position]))) === 1;
  }

  /** Gives rows back unpublished (not enough lease left to publish them safely). */
  async release(token: string, positions: readonly string[]): Promise<void> {
    if (positions.length === 0) return;
    const [t, ...ids] = placeholders(this.dialect, positions.length + 1);
    await this.withRunner((runner) =>
      affected(runner, `UPDATE ${OUTBOX_TABLE} SET claim_token = NULL, claim_expires_at = NULL WHERE claim_token = ${String(t)} AND position IN (${ids.join(', ')})`, [token, ...positions]),
    );
  }

  async stats(): Promise<OutboxStats> {
    const n = now(this.dialect);
    const sql =
      `SELECT status, CASE WHEN claim_expires_at IS NOT NULL AND claim_expires_at > ${n} THEN 1 ELSE 0 END AS claimed, ` +
      `COUNT(*) AS count, MIN(created_at) AS oldest FROM ${OUTBOX_TABLE} GROUP BY status, CASE WHEN claim_expires_at IS NOT NULL AND claim_expires_at > ${n} THEN 1 ELSE 0 END`;
    const found = await this.withRunner((runner) => rows<{ status: string; claimed: number | string; count: number | string; oldest: unknown }>(runner, sql, []));
    let pending = 0;
    let inFlight = 0;
    let failed = 0;
    let sent = 0;
    let oldest = Infinity;
    for (const row of found) {
      const count = Number(row.count);
      if (row.status === 'failed') failed += count;
      else if (row.status === 'sent') sent += count;
      else if (Number(row.claimed) === 1) inFlight += count;
      else pending += count;
      if (row.status === 'pending') oldest = Math.min(oldest, toTime(row.oldest));
    }
    return { pending, inFlight, failed, sent, oldestPendingAgeMs: oldest === Infinity ? 0 : Math.max(0, Date.now() - oldest) };
  }

  async failed(limit: number): Promise<FailedRow[]> {
    const [p] = placeholders(this.dialect, 1);
    const sql = `SELECT position, message_id AS "messageId", topic, msg_key AS "key", attempts, last_error AS "lastError" FROM ${OUTBOX_TABLE} WHERE status = 'failed' ORDER BY position LIMIT ${String(p)}`;
    const found = await this.withRunner((runner) => rows<Raw<FailedRow>>(runner, this.quoteAliases(sql), [limit]));
    return found.map((r) => ({ ...r, position: String(r.position), attempts: Number(r.attempts) }));
  }

  /** Failed rows (all, or these positions) go back to pending with their attempts reset. */
  async requeue(positions?: readonly string[]): Promise<number> {
    const where = this.positionsClause(positions);
    const sql = `UPDATE ${OUTBOX_TABLE} SET status = 'pending', attempts = 0, available_at = ${now(this.dialect)} WHERE status = 'failed'${where.sql}`;
    return this.withRunner((runner) => affected(runner, sql, where.params));
  }

  /** Deletes failed rows (all, or these positions). */
  async purge(positions?: readonly string[]): Promise<number> {
    const where = this.positionsClause(positions);
    return this.withRunner((runner) => affected(runner, `DELETE FROM ${OUTBOX_TABLE} WHERE status = 'failed'${where.sql}`, where.params));
  }

  /** Removes sent rows older than `keepSentMs`, at most `limit` at a time (short statements, writers never wait long). */
  async removeSent(keepSentMs: number, limit: number): Promise<number> {
    const [age, max] = placeholders(this.dialect, 2);
    const cutoff = nowMinus(this.dialect, String(age));
    const inner = `SELECT position FROM ${OUTBOX_TABLE} WHERE status = 'sent' AND sent_at < ${cutoff} ORDER BY position LIMIT ${String(max)}`;
    const sql =
      this.dialect === 'mysql'
        ? `DELETE FROM ${OUTBOX_TABLE} WHERE status = 'sent' AND sent_at < ${cutoff} ORDER BY position LIMIT ${String(max)}`
        : `DELETE FROM ${OUTBOX_TABLE} WHERE position IN (${inner})`;
    return this.withRunner((runner) => affected(runner, sql, [keepSentMs, limit]));
  }

  private eligible(n: string): string {
    return (
      `o.status = 'pending' AND o.available_at <= ${n} AND (o.claim_expires_at IS NULL OR o.claim_expires_at < ${n}) ` +
      `AND (o.msg_key IS NULL OR NOT EXISTS (SELECT 1 FROM ${OUTBOX_TABLE} e WHERE e.msg_key = o.msg_key AND e.key_seq < o.key_seq AND e.status <> 'sent'))`
    );
  }

  private claimReturning(runner: QueryRunner, token: string, limit: number, leaseMs: number): Promise<OutboxRow[]> {
    const [t, lease, max] = placeholders(this.dialect, 3);
    const lock = this.dialect === 'postgres' ? ' FOR UPDATE SKIP LOCKED' : '';
    const heads = `SELECT o.position FROM ${OUTBOX_TABLE} o WHERE ${this.eligible(now(this.dialect))} ORDER BY o.position LIMIT ${String(max)}${lock}`;
    const sql =
      `UPDATE ${OUTBOX_TABLE} SET claim_token = ${String(t)}, claim_expires_at = ${nowPlus(this.dialect, String(lease))} ` +
      `WHERE position IN (${heads}) RETURNING ${COLUMNS}`;
    return rows<OutboxRow>(runner, sql, [token, leaseMs, limit]);
  }

  private async claimMysql(runner: QueryRunner, token: string, limit: number, leaseMs: number): Promise<OutboxRow[]> {
    // READ COMMITTED: under REPEATABLE READ the locking scan takes gap locks that deadlock writers' inserts.
    await runner.startTransaction('READ COMMITTED');
    try {
      const heads = await rows<{ position: string }>(
        runner,
        `SELECT o.position FROM ${OUTBOX_TABLE} o WHERE ${this.eligible(now('mysql'))} ORDER BY o.position LIMIT ? FOR UPDATE SKIP LOCKED`,
        [limit],
      );
      if (heads.length > 0) {
        const ids = heads.map((h) => h.position);
        await runner.query(
          `UPDATE ${OUTBOX_TABLE} SET claim_token = ?, claim_expires_at = ${nowPlus('mysql', '?')} WHERE position IN (${ids.map(() => '?').join(', ')})`,
          [token, leaseMs, ...ids],
        );
      }
      await runner.commitTransaction();
    } catch (error) {
      await runner.rollbackTransaction().catch(() => undefined);
      throw error;
    }
    return rows<OutboxRow>(runner, `SELECT ${COLUMNS.replace('AS "key"', 'AS `key`')} FROM ${OUTBOX_TABLE} WHERE claim_token = ?`, [token]);
  }

  private positionsClause(positions?: readonly string[]): { sql: string; params: string[] } {
    if (!positions) return { sql: '', params: [] };
    if (positions.length === 0) return { sql: ' AND 1 = 0', params: [] };
    return { sql: ` AND position IN (${placeholders(this.dialect, positions.length).join(', ')})`, params: [...positions] };
  }

  private quoteAliases(sql: string): string {
    return this.dialect === 'mysql' ? sql.replace(/AS "(\w+)"/g, 'AS `$1`') : sql;
  }

  private async withRunner<R>(work: (runner: QueryRunner) => Promise<R>, whenBusy: 'wait' | 'fail' = 'wait'): Promise<R> {
    if (this.dataSource.options.type === 'sqljs') {
      for (let waited = 0; ; waited += 5) {
        try {
          return await this.onSqljs(work);
        } catch (error) {
          if (!(error instanceof SqliteBusy) || whenBusy === 'fail' || waited > 10_000) throw error;
          await new Promise((resolve) => setTimeout(resolve, 5)); // an application transaction is open: wait for it
        }
      }
    }
    const runner = this.dataSource.createQueryRunner();
    try {
      return await work(runner);
    } catch (error) {
      throw asSchemaError(error);
    } finally {
      await runner.release();
    }
  }

  /**
   * sql.js has one connection, shared with the application's transactions: a relay statement run while one
   * is open would see (and publish) rows that may still roll back, or be rolled back with it. So each relay
   * statement runs directly on the database, synchronously, only when no transaction is open — there is no
   * await between the check and the statement in which one could begin. Otherwise the round waits.
   */
  private async onSqljs<R>(work: (runner: QueryRunner) => Promise<R>): Promise<R> {
    const shared = this.dataSource.createQueryRunner(); // sql.js hands out its one runner
    const db = (this.dataSource.driver as unknown as { databaseConnection: SqlJsDatabase }).databaseConnection;
    const direct = {
      query: (sql: string, params: unknown[] = []) => {
        if (shared.isTransactionActive) return Promise.reject(new SqliteBusy());
        let statement: ReturnType<SqlJsDatabase['prepare']> | undefined;
        try {
          statement = db.prepare(sql);
          statement.bind(params.map((p) => (p === undefined ? null : p)));
          const records: unknown[] = [];
          while (statement.step()) records.push(statement.getAsObject());
          return Promise.resolve({ records, affected: db.getRowsModified(), raw: records });
        } catch (error) {
          const typed = asSchemaError(error);
          return Promise.reject(typed instanceof Error ? typed : new Error(String(typed)));
        } finally {
          statement?.free();
        }
      },
    } as unknown as QueryRunner;
    return work(direct);
  }
}

interface SqlJsDatabase {
  prepare(sql: string): { bind(values: unknown[]): boolean; step(): boolean; getAsObject(): unknown; free(): boolean };
  getRowsModified(): number;
}

/** The single SQLite connection stayed inside a writer's transaction. */
class SqliteBusy extends Error {
  constructor() {
    super('the SQLite connection is inside another transaction');
  }
}

/** Drivers differ in what they return for bigint, integer and binary columns. */
type Raw<T> = { [K in keyof T]: K extends 'position' | 'attempts' | 'body' ? unknown : T[K] };

function normalise(row: Raw<OutboxRow>): OutboxRow {
  const body = row.body;
  return {
    position: String(row.position),
    topic: row.topic,
    key: row.key ?? null,
    headers: row.headers,
    body: body instanceof Uint8Array ? body : Buffer.from(String(body)),
    attempts: Number(row.attempts),
  };
}

function toTime(value: unknown): number {
  if (value instanceof Date) return value.getTime();
  if (typeof value === 'string') return Date.parse(value.includes('T') || value.endsWith('Z') ? value : `${value.replace(' ', 'T')}Z`);
  return Date.now();
}
