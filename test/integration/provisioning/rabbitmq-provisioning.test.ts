// Proves the fault-test infrastructure: an extra RabbitMQ node is started, killed with SIGKILL, restarted on the same data
// (a confirmed persistent message in a durable quorum queue survives) and stopped without leaving a process behind.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { connect } from 'amqplib';
import type { ChannelModel } from 'amqplib';
import { RabbitNode } from '../../support/rabbitmq-node.js';
import { reachable } from '../../support/rabbitmq.js';
import { sleep, waitFor } from '../../support/wait.js';

const NODE = 1;
const execFileAsync = promisify(execFile);

/** PIDs of processes whose command line names the node (what `pgrep -f r1@localhost` lists). */
async function processesOf(name: string): Promise<string[]> {
  try {
    const { stdout } = await execFileAsync('pgrep', ['-f', name], { timeout: 5000, encoding: 'utf8' });
    return stdout.split('\n').filter((line) => line !== '');
  } catch (error) {
    if ((error as { code?: unknown }).code === 1) return []; // pgrep: nothing matched
    throw error;
  }
}

/** Rejects after `ms` instead of hanging (a quorum queue without a leader makes basic.get wait 60 s). */
async function within<T>(ms: number, what: string, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => { reject(new Error(`${what}: no answer within ${ms} ms`)); }, ms);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Polls `basic.get` until a message arrives (a restarted quorum queue needs a moment to elect its leader). */
async function getOne(model: ChannelModel, queue: string, timeoutMs: number): Promise<Buffer | undefined> {
  const channel = await model.createChannel();
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const message = await within(deadline - Date.now(), `basic.get on ${queue}`, channel.get(queue, { noAck: true }));
    if (message !== false) {
      await channel.close();
      return message.content;
    }
    if (Date.now() > deadline) return undefined;
    await sleep(100);
  }
}

describe('RabbitMQ provisioning: an extra node for fault tests', function () {
  this.timeout(60_000);

  let node: RabbitNode | undefined;
  const connections: ChannelModel[] = [];

  after(async function () {
    this.timeout(60_000);
    for (const model of connections) await within(5000, 'connection close', model.close()).catch(() => undefined);
    await node?.stop();
  });

  it('keeps a confirmed persistent message in a durable quorum queue across kill -9 and restart, then stops cleanly', async () => {
    let started = Date.now();
    node = await RabbitNode.start(NODE);
    const startMs = Date.now() - started;
    assert.equal(node.url, `amqp://guest:guest@127.0.0.1:${5680 + NODE}`);
    assert.ok(await reachable(node.url, 3000), `${node.url} does not answer AMQP after start`);

    const queue = `provisioning.durable.${randomBytes(4).toString('hex')}`;
    const body = Buffer.from(`survives kill -9 ${queue}`);
    const first = await connect(node.url);
    connections.push(first);
    let firstClosed = false;
    first.on('error', () => undefined); // the broker vanishes without a goodbye: the socket error is expected
    first.on('close', () => {
      firstClosed = true;
    });
    const confirm = await first.createConfirmChannel();
    confirm.on('error', () => undefined);
    await confirm.assertQueue(queue, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
    // RabbitMQ 3.10.8 ships Ra 2.2.0, whose server registry (names.dets) is written to disk by a 500 ms auto-save only
    // (synced on every change since Ra PR #443, 2024). A SIGKILL within 0.5 s of declaring a quorum queue loses the
    // registration: after the restart the queue gets a new, empty Ra member with no leader, its messages are gone and
    // basic.get times out. Verified here: no pause lost the message 3 times out of 3, a 1 s pause kept it every time.
    await sleep(1000);
    confirm.sendToQueue(queue, body, { persistent: true });
    await confirm.waitForConfirms();

    started = Date.now();
    await node.kill9();
    await waitFor(() => firstClosed, 10_000, () => 'the client connection did not notice the kill');
    assert.equal(await reachable(node.url, 1000), false, 'the killed node still answers AMQP');

    await node.restart();
    const killToRestartMs = Date.now() - started;
    const second = await connect(node.url);
    connections.push(second);
    second.on('error', () => undefined);
    const content = await getOne(second, queue, 15_000);
    assert.ok(content !== undefined, 'the confirmed message did not survive kill -9 and restart');
    assert.deepEqual(content, body);
    const cleanup = await second.createChannel();
    await cleanup.deleteQueue(queue);
    await cleanup.close();
    await second.close();
    connections.length = 0;

    started = Date.now();
    await node.stop();
    const stopMs = Date.now() - started;
    assert.equal(await reachable(node.url, 1000), false, `port ${5680 + NODE} still answers AMQP after stop`);
    assert.deepEqual(await processesOf(node.name), [], `processes of ${node.name} left after stop`);
    node = undefined;
    process.stdout.write(`      timings: start ${startMs} ms, kill -9 -> accepting again ${killToRestartMs} ms, stop ${stopMs} ms\n`);
  });
});
