import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import amqplib from 'amqplib';
import { rabbitUrl } from './rabbitmq.js';

const run = promisify(execFile);


export function uniqueName(label: string): string {
  return `it-${label}-${randomBytes(4).toString('hex')}`;
}

/** Forces the broker to close every connection with this connection name (rascal's CONNECTION_FORCED test). */
export async function forceCloseConnections(connectionName: string, node?: string): Promise<number> {
  const nodeArgs = node ? ['-n', node] : [];
  const { stdout } = await run('rabbitmqctl', [...nodeArgs, '-q', 'list_connections', '--no-table-headers', 'pid', 'client_properties'], { timeout: 30_000 });
  const pids = stdout
    .split('\n')
    .filter((line) => line.includes(`{"connection_name","${connectionName}"}`))
    .map((line) => line.split('\t')[0] ?? '')
    .filter((pid) => pid.startsWith('<'));
  for (const pid of pids) await run('rabbitmqctl', [...nodeArgs, '-q', 'close_connection', pid, 'test: forced close'], { timeout: 30_000 });
  return pids.length;
}

/** Deletes queues and exchanges a test created, through a connection of its own. */
export async function deleteEntities(entities: { queues: string[]; exchanges: string[] }, url = rabbitUrl()): Promise<void> {
  const connection = await amqplib.connect(url);
  try {
    for (const queue of entities.queues) {
      const channel = await connection.createChannel();
      await channel.deleteQueue(queue).catch(() => undefined);
      await channel.close().catch(() => undefined);
    }
    for (const exchange of entities.exchanges) {
      const channel = await connection.createChannel();
      await channel.deleteExchange(exchange).catch(() => undefined);
      await channel.close().catch(() => undefined);
    }
  } finally {
    await connection.close();
  }
}
