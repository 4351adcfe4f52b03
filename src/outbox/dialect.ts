import type { QueryRunner } from 'typeorm';

export type DialectName = 'postgres' | 'mysql' | 'sqlite';

/** The TypeORM driver types the outbox supports, by the SQL dialect it speaks to them. */
export function dialectOf(driverType: string): DialectName | undefined {
  if (driverType === 'postgres') return 'postgres';
  if (driverType === 'mysql' || driverType === 'mariadb') return 'mysql';
  if (driverType === 'sqljs' || driverType === 'sqlite' || driverType === 'better-sqlite3') return 'sqlite';
  return undefined;
}

/** A claimed outbox row as the relay needs it. */
export interface OutboxRow {
  readonly position: string;
  readonly topic: string;
  readonly key: string | null;
  readonly headers: string;
  readonly body: Uint8Array;
  readonly attempts: number;
}

/** Placeholders differ: `$1` on PostgreSQL, `?` elsewhere. */
export function placeholders(dialect: DialectName, count: number, from = 1): string[] {
  return Array.from({ length: count }, (_, i) => (dialect === 'postgres' ? `$${String(from + i)}` : '?'));
}

export function now(dialect: DialectName): string {
  if (dialect === 'postgres') return 'now()';
  if (dialect === 'mysql') return 'CURRENT_TIMESTAMP(3)';
  return "strftime('%Y-%m-%d %H:%M:%f', 'now')";
}

/** `now + ms` as SQL, for a parameter holding a number of milliseconds. */
export function nowPlus(dialect: DialectName, msParam: string): string {
  if (dialect === 'postgres') return `now() + (${msParam} * interval '1 millisecond')`;
  if (dialect === 'mysql') return `CURRENT_TIMESTAMP(3) + INTERVAL (${msParam} * 1000) MICROSECOND`;
  return `strftime('%Y-%m-%d %H:%M:%f', 'now', '+' || (${msParam} / 1000.0) || ' seconds')`;
}

/**
 * `now - ms` as SQL, for a parameter holding a (non-negative) number of milliseconds. Not `nowPlus('-' + param)`:
 * PostgreSQL cannot type a negated parameter (`- $1`: "operator is not unique: - unknown"), and SQLite reads the
 * modifier `'+-1.5 seconds'` as invalid (NULL).
 */
export function nowMinus(dialect: DialectName, msParam: string): string {
  if (dialect === 'postgres') return `now() - (${msParam} * interval '1 millisecond')`;
  if (dialect === 'mysql') return `CURRENT_TIMESTAMP(3) - INTERVAL (${msParam} * 1000) MICROSECOND`;
  return `strftime('%Y-%m-%d %H:%M:%f', 'now', '-' || (${msParam} / 1000.0) || ' seconds')`;
}

export async function rows<T>(runner: QueryRunner, sql: string, params: unknown[]): Promise<T[]> {
  const result = await runner.query(sql, params, true);
  return result.records as T[];
}

export async function affected(runner: QueryRunner, sql: string, params: unknown[]): Promise<number> {
  const result = await runner.query(sql, params, true);
  return result.affected ?? 0;
}
