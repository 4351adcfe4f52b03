// Proves the Kafka fault-test infrastructure: an extra single KRaft node is started, gets 10 messages from an idempotent
// producer (acks -1), is killed with SIGKILL and restarted on the same data, a consumer reads the 10 messages back, and
// the node stops without leaving a process behind.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { Kafka, logLevel } from 'kafkajs';
import type { Admin, Consumer, Producer } from 'kafkajs';
import { KafkaNode } from '../../support/kafka-node.js';
import { kafkaReachable } from '../../support/kafka.js';
import { waitFor } from '../../support/wait.js';

const NODE = 1;
const COUNT = 10;
const execFileAsync = promisify(execFile);

/** PIDs of processes whose command line carries `-Dreliable.mq.node=<marker>` (what kafka.sh puts on the node's JVM). */
async function processesOf(marker: string): Promise<string[]> {
  const pattern = `-Dreliable\\.mq\\.node=${marker}( |$)`;
  try {
    const { stdout } = await execFileAsync('pgrep', ['-f', '--', pattern], { timeout: 5000, encoding: 'utf8' });
    return stdout.split('\n').filter((line) => line !== '');
  } catch (error) {
    if ((error as { code?: unknown }).code === 1) return []; // pgrep: nothing matched
    throw error;
  }
}

describe('Kafka provisioning: an extra node for fault tests', function () {
  this.timeout(120_000);

  let node: KafkaNode | undefined;
  const clients: (Admin | Producer | Consumer)[] = [];

  after(async function () {
    this.timeout(60_000);
    for (const client of clients) await client.disconnect().catch(() => undefined);
    await node?.stop();
  });

  it('keeps 10 idempotently produced messages (acks -1) across kill -9 and restart, then stops cleanly', async () => {
    let started = Date.now();
    node = await KafkaNode.start(NODE);
    const startMs = Date.now() - started;
    assert.deepEqual(node.brokers, [`127.0.0.1:${29090 + NODE}`]);
    assert.ok(await kafkaReachable(node.brokers, 3000), `${node.brokers.join(',')} does not answer after start`);
    assert.equal((await processesOf(node.marker)).length, 1, `expected one JVM of ${node.marker}`);

    // The client-level retrier also covers connection errors while the restarted broker comes back (brokers.md §1).
    const kafka = new Kafka({
      clientId: 'kafka-provisioning-test',
      brokers: node.brokers,
      logLevel: logLevel.NOTHING,
      retry: { retries: 20, initialRetryTime: 100, maxRetryTime: 1000 },
    });
    const topic = `provisioning.durable.${randomBytes(4).toString('hex')}`;
    const admin = kafka.admin();
    clients.push(admin);
    await admin.connect();
    assert.equal(await admin.createTopics({ topics: [{ topic, numPartitions: 1, replicationFactor: 1 }], waitForLeaders: true }), true);

    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    clients.push(producer);
    await producer.connect();
    const sent: string[] = [];
    for (let i = 0; i < COUNT; i += 1) {
      const value = `${topic} #${i}`;
      await producer.send({ topic, acks: -1, messages: [{ key: String(i), value }] });
      sent.push(value);
    }
    await producer.disconnect();
    await admin.disconnect();
    clients.length = 0;

    started = Date.now();
    await node.kill9();
    assert.equal(await kafkaReachable(node.brokers, 1000), false, 'the killed node still answers');
    assert.deepEqual(await processesOf(node.marker), [], `a process of ${node.marker} survived kill -9`);

    await node.restart();
    const killToReadyMs = Date.now() - started;
    assert.ok(await kafkaReachable(node.brokers, 3000), `${node.brokers.join(',')} does not answer after restart`);

    const consumer = kafka.consumer({ groupId: `${topic}.reader` });
    clients.push(consumer);
    const received: string[] = [];
    await consumer.connect();
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => {
        received.push(message.value?.toString() ?? '<null>');
        await Promise.resolve();
      },
    });
    await waitFor(() => received.length >= COUNT, 60_000, () => `received ${received.length} of ${COUNT}: ${received.join(', ')}`);
    await consumer.disconnect();

    const cleanup = kafka.admin();
    clients.length = 0;
    clients.push(cleanup);
    await cleanup.connect();
    const [offsets] = await cleanup.fetchTopicOffsets(topic);
    await cleanup.deleteTopics({ topics: [topic] });
    await cleanup.disconnect();
    clients.length = 0;
    assert.deepEqual(received, sent, 'the messages read back differ from the ones acknowledged before kill -9');
    assert.equal(offsets?.high, String(COUNT), 'the partition holds another number of records than were sent');

    started = Date.now();
    await node.stop();
    const stopMs = Date.now() - started;
    assert.equal(await kafkaReachable(node.brokers, 1000), false, `${node.brokers.join(',')} still answers after stop`);
    assert.deepEqual(await processesOf(node.marker), [], `processes of ${node.marker} left after stop`);
    node = undefined;
    process.stdout.write(`      timings: start ${startMs} ms, kill -9 -> ready again ${killToReadyMs} ms, stop ${stopMs} ms\n`);
  });
});
