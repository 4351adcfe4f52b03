import { SchemaMissingError } from '../core/index.js';
import { OUTBOX_TABLE } from './schema.js';

const MISSING_TABLE = [/relation "rmq_outbox(_key)?" does not exist/i, /Table '.*rmq_outbox(_key)?' doesn't exist/i, /no such table: rmq_outbox/i];

/** A query failing on a missing outbox table becomes an error that says what to run. */
export function asSchemaError(error: unknown): unknown {
  const message = error instanceof Error ? error.message : String(error);
  if (!MISSING_TABLE.some((pattern) => pattern.test(message))) return error;
  return new SchemaMissingError(
    `The outbox table ${OUTBOX_TABLE} does not exist. Add \`outboxMigrations\` (from 'reliable-mq/outbox') to your DataSource's migrations and run them (\`npx typeorm migration:run -d <your data source>\` or \`dataSource.runMigrations()\`).`,
    { cause: error },
  );
}
