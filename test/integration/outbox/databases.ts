import { randomBytes } from 'node:crypto';
import { DataSource, type DataSourceOptions } from 'typeorm';
import { inboxMigrations } from '../../../src/inbox/index.js';
import { outboxMigrations } from '../../../src/outbox/index.js';

export interface Database {
  readonly name: 'postgres' | 'mariadb' | 'sqljs';
  /** A data source on a fresh, private schema or database, with the outbox and inbox migrations run. */
  open(): Promise<DataSource>;
  /** Drops what `open()` created. */
  drop(dataSource: DataSource): Promise<void>;
}

const PG = { host: process.env['PGHOST'] ?? '127.0.0.1', port: Number(process.env['PGPORT'] ?? 5432), username: process.env['PGUSER'] ?? 'postgres', database: process.env['PGDATABASE'] ?? 'test' };
const MARIA = { host: process.env['MARIADB_HOST'] ?? '127.0.0.1', port: Number(process.env['MARIADB_PORT'] ?? 3306), username: 'root', password: '', database: 'test' };

async function migrated(options: DataSourceOptions): Promise<DataSource> {
  const dataSource = new DataSource({ ...options, migrations: [...outboxMigrations, ...inboxMigrations], logging: false });
  await dataSource.initialize();
  await dataSource.runMigrations();
  return dataSource;
}

export const databases: Database[] = [
  {
    name: 'postgres',
    async open() {
      const schema = `rmq_${randomBytes(4).toString('hex')}`;
      const admin = new DataSource({ type: 'postgres', ...PG });
      await admin.initialize();
      await admin.query(`CREATE SCHEMA ${schema}`);
      await admin.destroy();
      return migrated({ type: 'postgres', ...PG, schema, extra: { options: `-c search_path=${schema}` } });
    },
    async drop(dataSource) {
      const schema = (dataSource.options as { schema: string }).schema;
      await dataSource.query(`DROP SCHEMA ${schema} CASCADE`);
      await dataSource.destroy();
    },
  },
  {
    name: 'mariadb',
    async open() {
      const database = `rmq_${randomBytes(4).toString('hex')}`;
      const admin = new DataSource({ type: 'mariadb', ...MARIA });
      await admin.initialize();
      await admin.query(`CREATE DATABASE ${database}`);
      await admin.destroy();
      return migrated({ type: 'mariadb', ...MARIA, database });
    },
    async drop(dataSource) {
      await dataSource.query(`DROP DATABASE ${(dataSource.options as { database: string }).database}`);
      await dataSource.destroy();
    },
  },
  {
    name: 'sqljs',
    open: () => migrated({ type: 'sqljs' }),
    async drop(dataSource) {
      await dataSource.destroy();
    },
  },
];
