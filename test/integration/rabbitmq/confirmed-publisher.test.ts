import assert from 'node:assert/strict';
import { RabbitMqTransport } from '../../../src/adapters/rabbitmq/index.js';
import { ConnectionLostError, ErrorCode, PublishNackedError, ReliableMqError, UnroutableError } from '../../../src/core/index.js';
import { deleteEntities, forceCloseConnections, uniqueName } from '../../support/rabbitmq-admin.js';
import { rabbitUrl } from '../../support/rabbitmq.js';
import { waitFor } from '../../support/wait.js';

describe('RabbitMQ ConfirmedPublisher (real broker)', function () {
  this.timeout(30_000);
  const cleanup: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const step of cleanup.splice(0).reverse()) await step().catch(() => undefined);
  });

  async function connect(config: Parameters<typeof RabbitMqTransport.connect>[0] = {}): Promise<RabbitMqTransport> {
    const transport = await RabbitMqTransport.connect({ url: rabbitUrl(), ...config });
    cleanup.push(async () => {
      const declared = transport.declared();
      await transport.close();
      await deleteEntities(declared);
    });
    return transport;
  }

  it('rejects an unroutable publish with UnroutableError, and keeps publishing to routable topics', async () => {
    const transport = await connect();
    const [nowhere, somewhere] = [uniqueName('nowhere'), uniqueName('somewhere')];
    const received: string[] = [];
    await transport.subscriber().subscribe(somewhere, (m) => void received.push(m.id), { group: 'g' });
    const publisher = await transport.publisher();
    await assert.rejects(publisher.publish(nowhere, { type: 'x', payload: 1 }), (e: unknown) => e instanceof UnroutableError && e.code === ErrorCode.UNROUTABLE && e.destination === nowhere);
    const sent = await publisher.publish(somewhere, { type: 'x', payload: 2 });
    await waitFor(() => received.includes(sent.id), 5000, () => 'routable message consumed');
  });

  it('rejects with PublishNackedError when the broker refuses the message (queue full, reject-publish)', async () => {
    const topic = uniqueName('full');
    const queue = `${topic}.bounded`;
    const transport = await connect({
      topology: {
        exchanges: { [topic]: { type: 'topic' } },
        queues: { [queue]: { type: 'classic', maxLength: 2, arguments: { 'x-overflow': 'reject-publish' } } },
        bindings: [{ exchange: topic, queue }],
      },
    });
    const publisher = await transport.publisher();
    await publisher.publish(topic, { type: 'x', payload: 1 });
    await publisher.publish(topic, { type: 'x', payload: 2 });
    await assert.rejects(publisher.publish(topic, { type: 'x', payload: 3 }), (e: unknown) => e instanceof PublishNackedError && e.retriable);
  });

  it('pipelines concurrent publishes and resolves each only after its confirm', async () => {
    const transport = await connect({ publish: { maxInFlight: 50 } });
    const topic = uniqueName('pipeline');
    let consumed = 0;
    await transport.subscriber().subscribe(topic, () => void (consumed += 1), { group: 'g', prefetch: 200 });
    const publisher = await transport.publisher();
    const sent = await Promise.all(Array.from({ length: 2000 }, (_, i) => publisher.publish(topic, { type: 'x', payload: { i } })));
    assert.equal(new Set(sent.map((e) => e.id)).size, 2000);
    await waitFor(() => consumed === 2000, 10_000, () => `${String(consumed)} of 2000 consumed`);
  });

  it('a forced connection close settles every pending publish (resolved or ConnectionLostError), then recovers', async () => {
    const name = uniqueName('conn');
    const transport = await connect({ connectionName: name, reconnect: { initialDelayMs: 50, maxDelayMs: 500 } });
    const events: string[] = [];
    transport.events.on('disconnect', () => events.push('disconnect'));
    transport.events.on('connect', () => events.push('connect'));
    const topic = uniqueName('forced');
    const consumed = new Set<string>();
    await transport.subscriber().subscribe(topic, (m) => void consumed.add(m.id), { group: 'g', prefetch: 100 });
    const publisher = await transport.publisher();
    const confirmed: string[] = [];
    const failed: unknown[] = [];
    let stop = false;
    const lanes = Array.from({ length: 20 }, async (_, lane) => {
      for (let i = 0; !stop; i++) {
        try {
          confirmed.push((await publisher.publish(topic, { type: 'x', payload: { lane, i } })).id);
        } catch (error) {
          failed.push(error);
          await new Promise((r) => setTimeout(r, 20));
        }
      }
    });
    await waitFor(() => consumed.size > 200, 5000, () => 'publishing started');
    assert.ok((await forceCloseConnections(name)) >= 1, 'the connection was found and closed');
    await waitFor(() => events.includes('connect'), 10_000, () => `reconnected (events: ${events.join(',')})`);
    const confirmedBeforeReconnect = confirmed.length;
    await waitFor(() => confirmed.length > confirmedBeforeReconnect + 200, 10_000, () => 'publishing resumed after reconnect');
    stop = true;
    await Promise.all(lanes);
    for (const error of failed) assert.ok(ReliableMqError.is(error) && error.retriable, `a typed retriable error, got ${String(error)}`);
    await waitFor(() => confirmed.every((id) => consumed.has(id)), 15_000, () => `${String(confirmed.filter((id) => !consumed.has(id)).length)} confirmed messages not consumed yet`);
    const codes = [...new Set(failed.map((e) => (e as ReliableMqError).code))].join(', ');
    console.log(`      forced close: ${String(confirmed.length)} confirmed and all consumed, ${String(failed.length)} rejected (${codes || 'none'})`);
  });

  it('fails connect() with ConnectionLostError when no broker answers', async () => {
    await assert.rejects(
      RabbitMqTransport.connect({ url: 'amqp://guest:guest@127.0.0.1:5999', reconnect: { initialMaxRetries: 1, initialDelayMs: 10 } }),
      (e: unknown) => e instanceof ConnectionLostError && e.code === ErrorCode.CONNECTION_LOST && !e.message.includes('guest:guest'),
    );
  });
});
