export { TransactionalOutbox, OUTBOX_CHANNEL, type OutboxMessage } from './transactional-outbox.js';
export { OutboxRelay, type OutboxRelayEvents } from './outbox-relay.js';
export type { OutboxRelayConfig } from './config.js';
export type { OutboxStats, FailedRow } from './outbox-store.js';
export { CreateReliableMqOutbox1764000000000, outboxMigrations, OUTBOX_TABLE, OUTBOX_KEY_TABLE } from './schema.js';
