import { Table, TableIndex, type MigrationInterface, type QueryRunner } from 'typeorm';

export const INBOX_TABLE = 'rmq_inbox';

function timeType(driverType: string): { type: string; now: string } {
  if (driverType === 'postgres') return { type: 'timestamptz', now: 'now()' };
  if (driverType === 'mysql' || driverType === 'mariadb') return { type: 'datetime(3)', now: 'CURRENT_TIMESTAMP(3)' };
  return { type: 'varchar(32)', now: "(strftime('%Y-%m-%d %H:%M:%f', 'now'))" };
}

/**
 * Creates `rmq_inbox`: one row per (consumer, message id) handled, under a primary key, so a second
 * delivery of the same message cannot insert again. Include `inboxMigrations` in your migrations.
 */
export class CreateReliableMqInbox1764000000001 implements MigrationInterface {
  name = 'CreateReliableMqInbox1764000000001';

  async up(runner: QueryRunner): Promise<void> {
    const time = timeType(runner.dataSource.options.type);
    await runner.createTable(
      new Table({
        name: INBOX_TABLE,
        columns: [
          { name: 'consumer', type: 'varchar', length: '191', isPrimary: true },
          { name: 'message_id', type: 'varchar', length: '255', isPrimary: true },
          { name: 'received_at', type: time.type, default: time.now },
        ],
      }),
      true,
    );
    await runner.createIndex(INBOX_TABLE, new TableIndex({ name: 'rmq_inbox_received', columnNames: ['received_at'] }));
  }

  async down(runner: QueryRunner): Promise<void> {
    await runner.dropTable(INBOX_TABLE, true);
  }
}

export const inboxMigrations = [CreateReliableMqInbox1764000000001];
