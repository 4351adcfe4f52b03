// An OutboxRelay in a process of its own, for kill -9 and multi-relay tests.
// Usage: relay-process.ts '<json RelayProcessConfig>' (see support.ts). Prints one line per event:
//   ready | confirmed <messageId> <outstanding> (with reportConfirms) | holding <confirmed> <outstanding> | round <claimed> <published> <failed> <fenced>
//   | fenced <count> | failure <message> | stopped
// SIGTERM: stops the relay (the round in progress finishes), closes the transport and the data source, exits 0.
import { DataSource, type DataSourceOptions } from 'typeorm';
import { KafkaTransport } from '../../../src/adapters/kafka/index.js';
import { RabbitMqTransport } from '../../../src/adapters/rabbitmq/index.js';
import { WireHeader, type Publisher, type WireRecord } from '../../../src/core/index.js';
import { OutboxRelay } from '../../../src/outbox/index.js';
import type { RelayProcessConfig } from './support.js';

const raw = process.argv[2];
if (raw === undefined) throw new Error("usage: relay-process.ts '<json config>'");
const config = JSON.parse(raw) as RelayProcessConfig;
const say = (line: string): void => {
  process.stdout.write(`${line}\n`);
};

const dataSource = new DataSource({ ...config.db, logging: false } as DataSourceOptions);
await dataSource.initialize();
// RabbitMQ, or Kafka when `kafkaBrokers` is given.
const transport =
  config.kafkaBrokers !== undefined
    ? await KafkaTransport.connect({ brokers: [...config.kafkaBrokers], clientId: 'outbox-relay-process', publish: { timeoutMs: config.confirmTimeoutMs ?? 5000 } })
    : await RabbitMqTransport.connect({
        url: config.rabbitUrl,
        connectionName: 'outbox-relay-process',
        reconnect: { initialDelayMs: 100, maxDelayMs: 1000 },
        publish: { confirmTimeoutMs: config.confirmTimeoutMs ?? 5000 },
      });
const inner = await transport.publisher();
let outstanding = 0;
let confirmed = 0;
let holding = false;
const never = new Promise<never>(() => undefined);
// reportConfirms: a line per broker confirm. holdAfterConfirms: from the Nth confirm on, publishes still go to the
// broker but never resolve for the relay, so the batch in progress stays claimed and unmarked until the kill.
const publisher: Publisher =
  config.reportConfirms || config.holdAfterConfirms !== undefined
    ? {
        publish: (topic, message) => inner.publish(topic, message),
        publishRecord: async (topic: string, record: WireRecord) => {
          outstanding += 1;
          try {
            await inner.publishRecord(topic, record);
          } finally {
            outstanding -= 1;
          }
          if (holding) await never;
          confirmed += 1;
          if (config.reportConfirms) say(`confirmed ${record.headers[WireHeader.ID] ?? '?'} ${String(outstanding)}`);
          if (config.holdAfterConfirms !== undefined && confirmed >= config.holdAfterConfirms) {
            holding = true;
            say(`holding ${String(confirmed)} ${String(outstanding)}`);
          }
        },
        close: () => inner.close(),
      }
    : inner;

const relay = new OutboxRelay({ dataSource, publisher, ...config.relay });
relay.events.on('round', (r) => {
  if (r.claimed > 0) say(`round ${String(r.claimed)} ${String(r.published)} ${String(r.failed)} ${String(r.fenced)}`);
});
relay.events.on('fenced', (count) => {
  say(`fenced ${String(count)}`);
});
relay.events.on('failure', (error) => {
  say(`failure ${error.message.replace(/\s+/g, ' ')}`);
});

let stopping = false;
process.on('SIGTERM', () => {
  if (stopping) return;
  stopping = true;
  void (async () => {
    await relay.stop();
    await transport.close();
    await dataSource.destroy();
    say('stopped');
    process.exit(0);
  })();
});

await relay.start();
say('ready');
