// A Kafka consumer in a process of its own, for kill -9 tests.
// Usage: consumer-process.ts <brokers> <topic> <group> <orderBy partition|key> <concurrency> [<failAt partition:offset>]
// Prints `ready` once it has joined the group, then `done <id> <partition> <offset>` after each handler finished (before
// its offset is committed). The handler at <failAt> always throws (retried in place, printing `fail <partition> <offset>
// <attempt>`): the partition's committed offset must never pass it.
import { KafkaTransport } from '../../../src/adapters/kafka/index.js';
import { position, positionTaggingDriver } from '../../support/kafka-faults.js';

const [brokers, topic, group, orderBy, concurrency, failAt] = process.argv.slice(2);
if (!brokers || !topic || !group || (orderBy !== 'partition' && orderBy !== 'key') || !concurrency) {
  throw new Error('usage: consumer-process.ts <brokers> <topic> <group> <partition|key> <concurrency> [<failAt p:o>]');
}

const transport = await KafkaTransport.connect(
  {
    brokers: brokers.split(','),
    consumer: { sessionTimeoutMs: 6000, heartbeatIntervalMs: 500, maxWaitTimeMs: 200, commitIntervalMs: 200, retryInitialDelayMs: 20, retryMaxDelayMs: 200, deliveryLimit: 100_000 },
  },
  positionTaggingDriver,
);
await transport.subscriber().subscribe(
  topic,
  async (message) => {
    const { partition, offset } = position(message.headers);
    await new Promise((resolve) => setTimeout(resolve, 2));
    if (`${String(partition)}:${String(offset)}` === failAt) {
      process.stdout.write(`fail ${String(partition)} ${String(offset)} ${String(message.attempt)}\n`);
      throw new Error('injected handler failure');
    }
    process.stdout.write(`done ${message.id} ${String(partition)} ${String(offset)}\n`);
  },
  { group, orderBy, concurrency: Number(concurrency), prefetch: Math.max(Number(concurrency), 10) },
);
process.stdout.write('ready\n');
