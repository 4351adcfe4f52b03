import type { EntityManager, QueryRunner } from 'typeorm';
import {
  MessageSerializer,
  OutboxTransactionError,
  createEnvelope,
  requireTopic,
  toWireRecord,
  type Envelope,
  type OutgoingMessage,
  type SerializerConfig,
} from '../core/index.js';
import { dialectOf, placeholders, rows, type DialectName } from './dialect.js';
import { OUTBOX_KEY_TABLE, OUTBOX_TABLE } from './schema.js';
import { asSchemaError } from './schema-check.js';

/** A message for the outbox: what `Publisher.publish` takes, plus its topic. */
export interface OutboxMessage<T = unknown> extends OutgoingMessage<T> {
  readonly topic: string;
}

export const OUTBOX_CHANNEL = 'rmq_outbox';

/**
 * Writes outgoing messages into the caller's database transaction. Rollback: nothing is published.
 * Commit: every message will be published by an `OutboxRelay` — at least once, each key in commit order.
 */
export class TransactionalOutbox {
  private readonly serializer: MessageSerializer;

  constructor(config: { serializer?: SerializerConfig } = {}) {
    this.serializer = new MessageSerializer(config.serializer ?? {});
  }

  /**
   * Inserts the messages with the `EntityManager` of `dataSource.transaction(...)` (or a `QueryRunner` in a
   * transaction). Validates and encodes them first: an invalid message throws before anything is written.
   */
  async add<T>(target: EntityManager | QueryRunner, messages: OutboxMessage<T> | readonly OutboxMessage<T>[]): Promise<Array<Envelope<T>>> {
    const runner = runnerOf(target);
    if (!runner?.isTransactionActive) throw new OutboxTransactionError();
    const dialect = dialectOf(runner.dataSource.options.type);
    if (!dialect) throw new OutboxTransactionError(`The outbox does not support the ${runner.dataSource.options.type} driver (postgres, mysql/mariadb, sqlite/sqljs)`);
    const list = Array.isArray(messages) ? (messages as readonly OutboxMessage<T>[]) : [messages as OutboxMessage<T>];
    const prepared = await Promise.all(list.map((m) => this.prepare(m)));
    try {
      for (const [i, { topic, envelope, body }] of prepared.entries()) {
        const params = [envelope.id, topic, envelope.key ?? null, JSON.stringify(toWireRecord(envelope, body).headers), Buffer.from(body)];
        if (dialect === 'postgres') {
          await runner.query(postgresInsert(envelope.key !== undefined, i === prepared.length - 1), params);
          continue;
        }
        const seq = envelope.key === undefined ? null : await nextKeySeq(runner, dialect, envelope.key);
        const [id, t, key, headers, bytes] = params;
        await runner.query(`INSERT INTO ${OUTBOX_TABLE} (message_id, topic, msg_key, key_seq, headers, body) VALUES (${placeholders(dialect, 6).join(', ')})`, [id, t, key, seq, headers, bytes]);
      }
    } catch (error) {
      throw asSchemaError(error);
    }
    return prepared.map((p) => p.envelope);
  }

  private async prepare<T>(message: OutboxMessage<T>): Promise<{ topic: string; envelope: Envelope<T>; body: Uint8Array }> {
    requireTopic(message.topic);
    const { topic, ...outgoing } = message;
    const envelope = createEnvelope(outgoing, this.serializer.defaultContentType);
    const body = await this.serializer.encode(envelope.type, envelope.contentType, envelope.payload);
    return { topic, envelope, body };
  }
}

function runnerOf(target: EntityManager | QueryRunner): QueryRunner | undefined {
  return 'isTransactionActive' in target ? target : target.queryRunner;
}

/**
 * PostgreSQL: one statement per message. A keyed message takes its sequence number in the same statement
 * (the key upsert as a CTE, see `nextKeySeq`), and the last message of an `add` sends the NOTIFY that wakes
 * the relays on commit; its payload names the schema, so relays of other schemas ignore it.
 */
function postgresInsert(keyed: boolean, notify: boolean): string {
  const returning = notify ? ` RETURNING pg_notify('${OUTBOX_CHANNEL}', current_schema())` : '';
  const columns = `${OUTBOX_TABLE} (message_id, topic, msg_key, key_seq, headers, body)`;
  if (!keyed) return `INSERT INTO ${columns} VALUES ($1, $2, $3, NULL, $4, $5)${returning}`;
  return (
    `WITH seq AS (INSERT INTO ${OUTBOX_KEY_TABLE} (msg_key, last_seq) VALUES ($3, 1) ON CONFLICT (msg_key) DO UPDATE SET last_seq = ${OUTBOX_KEY_TABLE}.last_seq + 1 RETURNING last_seq) ` +
    `INSERT INTO ${columns} SELECT $1, $2, $3, seq.last_seq, $4, $5 FROM seq${returning}`
  );
}

/**
 * The next sequence number of `key`. The upsert locks the key's row until this transaction ends, so a
 * concurrent writer of the same key waits and gets the next number only after this one committed:
 * sequence order is commit order.
 */
async function nextKeySeq(runner: QueryRunner, dialect: DialectName, key: string): Promise<string> {
  if (dialect === 'mysql') {
    await runner.query(`INSERT INTO ${OUTBOX_KEY_TABLE} (msg_key, last_seq) VALUES (?, LAST_INSERT_ID(1)) ON DUPLICATE KEY UPDATE last_seq = LAST_INSERT_ID(last_seq + 1)`, [key]);
    const [row] = await rows<{ seq: string | number }>(runner, 'SELECT LAST_INSERT_ID() AS seq', []);
    return String(row?.seq);
  }
  const p = placeholders(dialect, 1)[0] as string;
  const [row] = await rows<{ last_seq: string | number }>(
    runner,
    `INSERT INTO ${OUTBOX_KEY_TABLE} (msg_key, last_seq) VALUES (${p}, 1) ON CONFLICT (msg_key) DO UPDATE SET last_seq = ${OUTBOX_KEY_TABLE}.last_seq + 1 RETURNING last_seq`,
    [key],
  );
  return String(row?.last_seq);
}
