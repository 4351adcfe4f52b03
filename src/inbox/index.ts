export { InboxDeduplicator, type InboxConfig, type InboxContext, type InboxHandler, type InboxBatchHandler, type InboxEvents, type InboxRetentionConfig } from './inbox-deduplicator.js';
export { RedisInbox, type RedisInboxConfig } from './redis-inbox.js';
export { CreateReliableMqInbox1764000000001, inboxMigrations, INBOX_TABLE } from './schema.js';
