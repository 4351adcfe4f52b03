// A consumer in a process of its own, for kill -9 tests. Usage: consumer-process.ts <url> <topic> <group>
// Prints `ready`, then `done <id> <attempt>` after each handler finished (before its ack reaches the broker).
import { RabbitMqTransport } from '../../../src/adapters/rabbitmq/index.js';

const [url, topic, group] = process.argv.slice(2);
if (!url || !topic || !group) throw new Error('usage: consumer-process.ts <url> <topic> <group>');

const transport = await RabbitMqTransport.connect({ url });
await transport.subscriber().subscribe(
  topic,
  async (message) => {
    await new Promise((resolve) => setTimeout(resolve, 2));
    process.stdout.write(`done ${message.id} ${String(message.attempt)}\n`);
  },
  { group, prefetch: 50, concurrency: 4 },
);
process.stdout.write('ready\n');
