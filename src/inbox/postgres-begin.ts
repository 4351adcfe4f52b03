import type { QueryRunner } from 'typeorm';

/** The part of node-postgres' `Client` this module uses: a simple query (no parameters) may hold several statements. */
interface PgClient {
  query(text: string): Promise<unknown>;
}

interface CommandResult {
  readonly rowCount: number | null;
  readonly rows: Array<Record<string, unknown>>;
}

/**
 * A PostgreSQL string literal for `value`, or undefined when it holds a NUL character (the simple-query
 * protocol ends the text at a NUL: such an id takes the parameterized path, where PostgreSQL refuses it).
 * Quotes are doubled; a value with a backslash becomes an `E'…'` literal with its backslashes doubled, so the
 * literal means the same whatever `standard_conforming_strings` says.
 */
export function sqlLiteral(value: string): string | undefined {
  if (value.includes('\0')) return undefined;
  const quoted = value.replaceAll("'", "''");
  return value.includes('\\') ? `E'${quoted.replaceAll('\\', '\\\\')}'` : `'${quoted}'`;
}

/** What the statement after `START TRANSACTION` did. */
export interface Marked {
  readonly rowCount: number;
  readonly rows: ReadonlyArray<Record<string, unknown>>;
}

/**
 * Starts the runner's transaction with `markSql` (the inbox's INSERT, its values as literals: see `sqlLiteral`)
 * in one round trip: `START TRANSACTION; INSERT …` as one simple query, where TypeORM's `startTransaction()`
 * and the INSERT take two. Leaves the runner as `startTransaction()` would: active at depth 1, its start
 * events broadcast, so `commitTransaction`, `rollbackTransaction` and nested transactions (savepoints) work as
 * usual. A runner whose transaction state is not the fields this knows, or an isolation level to set, takes
 * TypeORM's two round trips instead.
 */
export async function beginWithMark(runner: QueryRunner, markSql: string, isolationLevel: unknown): Promise<Marked> {
  if (isolationLevel !== undefined || typeof (runner as unknown as { transactionDepth?: unknown }).transactionDepth !== 'number') {
    await runner.startTransaction();
    const result = await runner.query(markSql, undefined, true);
    return { rowCount: result.affected ?? 0, rows: result.records as Marked['rows'] };
  }
  // Active first, as TypeORM does: whatever fails from here on, the caller's rollback ends the transaction.
  Object.assign(runner, { isTransactionActive: true, transactionDepth: 1 });
  await runner.broadcaster.broadcast('BeforeTransactionStart');
  const client = (await runner.connect()) as PgClient;
  const results = (await client.query(`START TRANSACTION; ${markSql}`)) as readonly CommandResult[];
  await runner.broadcaster.broadcast('AfterTransactionStart');
  const marked = results[1];
  return { rowCount: marked?.rowCount ?? 0, rows: marked?.rows ?? [] };
}
