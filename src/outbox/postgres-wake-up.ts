import type { DataSource } from 'typeorm';
import { OUTBOX_CHANNEL } from './transactional-outbox.js';

interface PgClient {
  query(sql: string): Promise<unknown>;
  on(event: 'notification' | 'error' | 'end', listener: () => void): unknown;
  removeAllListeners(event?: string): unknown;
}

interface PostgresDriverLike {
  obtainMasterConnection(): Promise<[PgClient, (error?: unknown) => void]>;
}

/**
 * Holds one pooled PostgreSQL connection in `LISTEN rmq_outbox`: `outbox.add()` issues `pg_notify` in the
 * writer's transaction, delivered at commit, so the relay wakes at once instead of at its next poll.
 * A lost connection is replaced; polling covers the gap.
 */
export class PostgresWakeUp {
  private client: { connection: PgClient; release: (error?: unknown) => void } | undefined;
  private stopped = false;
  private retry: NodeJS.Timeout | undefined;

  constructor(
    private readonly dataSource: DataSource,
    private readonly onCommit: () => void,
  ) {}

  async start(): Promise<void> {
    const driver = this.dataSource.driver as unknown as PostgresDriverLike;
    const [connection, release] = await driver.obtainMasterConnection();
    connection.on('notification', this.onCommit);
    const lost = (): void => {
      connection.removeAllListeners('notification');
      this.client = undefined;
      release(new Error('LISTEN connection lost'));
      this.scheduleRestart();
    };
    connection.on('error', lost);
    connection.on('end', lost);
    await connection.query(`LISTEN ${OUTBOX_CHANNEL}`);
    this.client = { connection, release };
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retry);
    const client = this.client;
    this.client = undefined;
    if (!client) return;
    client.connection.removeAllListeners();
    await client.connection.query(`UNLISTEN ${OUTBOX_CHANNEL}`).catch(() => undefined);
    client.release();
  }

  private scheduleRestart(): void {
    if (this.stopped) return;
    this.retry = setTimeout(() => {
      this.start().catch(() => {
        this.scheduleRestart();
      });
    }, 1000);
    this.retry.unref();
  }
}
