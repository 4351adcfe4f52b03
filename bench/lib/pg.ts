import { randomBytes } from 'node:crypto';
import { DataSource } from 'typeorm';
import { inboxMigrations } from '../../src/inbox/index.js';
import { outboxMigrations } from '../../src/outbox/index.js';

/** PostgreSQL as the integration tests reach it (PGHOST, PGPORT, PGUSER, PGDATABASE; trust auth). */
export const PG = {
  host: process.env['PGHOST'] ?? '127.0.0.1',
  port: Number(process.env['PGPORT'] ?? 5432),
  username: process.env['PGUSER'] ?? 'postgres',
  database: process.env['PGDATABASE'] ?? 'test',
};

/** A data source on a fresh private schema with the outbox and inbox migrations run and a `bench_row` business table. */
export async function openSchema(poolSize: number): Promise<DataSource> {
  const schema = `bench_${randomBytes(4).toString('hex')}`;
  const admin = new DataSource({ type: 'postgres', ...PG });
  await admin.initialize();
  try {
    await admin.query(`CREATE SCHEMA ${schema}`);
  } finally {
    await admin.destroy();
  }
  const dataSource = new DataSource({
    type: 'postgres',
    ...PG,
    schema,
    extra: { options: `-c search_path=${schema}`, max: poolSize },
    migrations: [...outboxMigrations, ...inboxMigrations],
    logging: false,
  });
  await dataSource.initialize();
  await dataSource.runMigrations();
  await dataSource.query('CREATE TABLE bench_row (id bigserial PRIMARY KEY, ref varchar(255), body bytea NOT NULL)');
  return dataSource;
}

/** Drops the schema and closes the data source. */
export async function dropSchema(dataSource: DataSource): Promise<void> {
  const schema = (dataSource.options as { schema: string }).schema;
  await dataSource.query(`DROP SCHEMA ${schema} CASCADE`);
  await dataSource.destroy();
}

export async function postgresVersion(dataSource: DataSource): Promise<string> {
  const [row] = await dataSource.query<Array<{ server_version: string }>>('SHOW server_version');
  const [sync] = await dataSource.query<Array<{ synchronous_commit: string }>>('SHOW synchronous_commit');
  const [fsync] = await dataSource.query<Array<{ fsync: string }>>('SHOW fsync');
  return `PostgreSQL ${row?.server_version ?? '?'} (synchronous_commit ${sync?.synchronous_commit ?? '?'}, fsync ${fsync?.fsync ?? '?'})`;
}

/** Percentile (0..100) of an ascending-sorted array. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index] as number;
}
