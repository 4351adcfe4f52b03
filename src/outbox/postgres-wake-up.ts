import type { DataSource } from 'typeorm';
import { OUTBOX_CHANNEL } from './transactional-outbox.js';

interface PgClient {
  query(sql: string): Promise<{ rows: Array<Record<string, unknown>> }>;
  on(event: 'notification', listener: (message: { payload?: string }) => void): unknown;
  on(event: 'error' | 'end', listener: () => void): unknown;
  removeAllListeners(event?: string): unknown;
}

interface PostgresDriverLike {
  obtainMasterConnection(): Promise<[PgClient, (error?: unknown) => void]>;
}

/**
 * Holds one pooled PostgreSQL connection in `LISTEN rmq_outbox`: `outbox.add()` issues `pg_notify` in the
 * writer's transaction, delivered at commit, so the relay wakes at once instead of at its next poll.
 * A lost connection (or one that could not be opened) is replaced after a second; polling covers the gap.
 */
export class PostgresWakeUp {
  private client: { connection: PgClient; release: (error?: unknown) => void } | undefined;
  private stopped = false;
  private retry: NodeJS.Timeout | undefined;

  constructor(
    private readonly dataSource: DataSource,
    private readonly onCommit: () => void,
  ) {}

  /** Starts listening; a failure is reported and retried in the background. */
  async start(): Promise<void> {
    try {
      await this.listen();
    } catch (error) {
      this.scheduleRestart();
      throw error;
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retry);
    const client = this.client;
    this.client = undefined;
    if (!client) return;
    client.connection.removeAllListeners();
    client.connection.on('error', () => undefined); // a late socket error must not go unhandled
    await client.connection.query(`UNLISTEN ${OUTBOX_CHANNEL}`).catch(() => undefined);
    client.release();
  }

  private async listen(): Promise<void> {
    const driver = this.dataSource.driver as unknown as PostgresDriverLike;
    const [connection, release] = await driver.obtainMasterConnection();
    let released = false;
    const lost = (): void => {
      if (released) return; // 'error' and 'end' both fire for one loss: release the client once
      released = true;
      connection.removeAllListeners('notification');
      if (this.client?.connection === connection) this.client = undefined;
      release(new Error('LISTEN connection lost'));
      this.scheduleRestart();
    };
    connection.on('error', lost);
    connection.on('end', lost);
    try {
      const schema = (await connection.query('SELECT current_schema() AS schema')).rows[0]?.['schema'];
      connection.on('notification', (message) => {
        if (message.payload === undefined || message.payload === '' || message.payload === schema) this.onCommit();
      });
      await connection.query(`LISTEN ${OUTBOX_CHANNEL}`);
    } catch (error) {
      lost();
      throw error;
    }
    this.client = { connection, release };
  }

  private scheduleRestart(): void {
    if (this.stopped || this.retry) return;
    this.retry = setTimeout(() => {
      this.retry = undefined;
      if (this.stopped) return;
      this.listen().catch(() => {
        this.scheduleRestart();
      });
    }, 1000);
    this.retry.unref();
  }
}
