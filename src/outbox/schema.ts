import { Table, TableIndex, type MigrationInterface, type QueryRunner } from 'typeorm';
import { dialectOf } from './dialect.js';

export const OUTBOX_TABLE = 'rmq_outbox';
export const OUTBOX_KEY_TABLE = 'rmq_outbox_key';

function types(driverType: string): { id: string; bytes: string; time: string; big: string } {
  const dialect = dialectOf(driverType);
  if (dialect === 'postgres') return { id: 'bigint', bytes: 'bytea', time: 'timestamptz', big: 'bigint' };
  if (dialect === 'mysql') return { id: 'bigint', bytes: 'longblob', time: 'datetime(3)', big: 'bigint' };
  return { id: 'integer', bytes: 'blob', time: 'varchar(32)', big: 'integer' }; // SQLite: AUTOINCREMENT needs INTEGER
}

/**
 * Creates the outbox tables: `rmq_outbox` (one row per message to publish) and `rmq_outbox_key` (the last
 * sequence number per ordering key; writers of one key lock its row, so sequence order is commit order).
 * Include it in your own migrations: `migrations: [...yours, ...outboxMigrations]`.
 */
export class CreateReliableMqOutbox1764000000000 implements MigrationInterface {
  name = 'CreateReliableMqOutbox1764000000000';

  async up(runner: QueryRunner): Promise<void> {
    const t = types(runner.dataSource.options.type);
    const now = dialectOf(runner.dataSource.options.type) === 'sqlite' ? "(strftime('%Y-%m-%d %H:%M:%f', 'now'))" : t.time === 'timestamptz' ? 'now()' : 'CURRENT_TIMESTAMP(3)';
    await runner.createTable(
      new Table({
        name: OUTBOX_TABLE,
        columns: [
          { name: 'position', type: t.id, isPrimary: true, isGenerated: true, generationStrategy: 'increment' },
          { name: 'message_id', type: 'varchar', length: '255' },
          { name: 'topic', type: 'varchar', length: '255' },
          { name: 'msg_key', type: 'varchar', length: '255', isNullable: true },
          { name: 'key_seq', type: t.big, isNullable: true },
          { name: 'headers', type: 'text' },
          { name: 'body', type: t.bytes },
          { name: 'status', type: 'varchar', length: '16', default: "'pending'" },
          { name: 'attempts', type: 'integer', default: 0 },
          { name: 'last_error', type: 'text', isNullable: true },
          { name: 'created_at', type: t.time, default: now },
          { name: 'available_at', type: t.time, default: now },
          { name: 'sent_at', type: t.time, isNullable: true },
          { name: 'claim_token', type: 'varchar', length: '36', isNullable: true },
          { name: 'claim_expires_at', type: t.time, isNullable: true },
        ],
      }),
      true,
    );
    await runner.createIndex(OUTBOX_TABLE, new TableIndex({ name: 'rmq_outbox_ready', columnNames: ['status', 'available_at', 'position'] }));
    await runner.createIndex(OUTBOX_TABLE, new TableIndex({ name: 'rmq_outbox_key_order', columnNames: ['msg_key', 'key_seq'] }));
    await runner.createTable(
      new Table({
        name: OUTBOX_KEY_TABLE,
        columns: [
          { name: 'msg_key', type: 'varchar', length: '255', isPrimary: true },
          { name: 'last_seq', type: t.big },
        ],
      }),
      true,
    );
  }

  async down(runner: QueryRunner): Promise<void> {
    await runner.dropTable(OUTBOX_KEY_TABLE, true);
    await runner.dropTable(OUTBOX_TABLE, true);
  }
}

export const outboxMigrations = [CreateReliableMqOutbox1764000000000];
