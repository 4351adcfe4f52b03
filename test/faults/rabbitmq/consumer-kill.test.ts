import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { RabbitMqTransport } from '../../../src/adapters/rabbitmq/index.js';
import { deleteEntities, uniqueName } from '../../support/rabbitmq-admin.js';
import { rabbitUrl } from '../../support/rabbitmq.js';
import { waitFor } from '../../support/wait.js';

const CONSUMER = fileURLToPath(new URL('./consumer-process.ts', import.meta.url));
const TOTAL = 3000;

function startConsumer(topic: string, group: string, onDone: (id: string, attempt: number) => void): { child: ChildProcess; ready: Promise<void> } {
  const child = spawn(process.execPath, ['--import', 'tsx', CONSUMER, rabbitUrl(), topic, group], { stdio: ['ignore', 'pipe', 'inherit'] });
  const ready = new Promise<void>((resolve, reject) => {
    child.once('exit', (code) => {
      reject(new Error(`consumer exited early with ${String(code)}`));
    });
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      const [word, id, attempt] = line.split(' ');
      if (word === 'ready') resolve();
      else if (word === 'done' && id) onDone(id, Number(attempt));
    });
  });
  return { child, ready };
}

describe('fault: a RabbitMQ consumer process killed with kill -9 mid-stream', function () {
  this.timeout(120_000);
  const children: ChildProcess[] = [];
  let transport: RabbitMqTransport | undefined;

  after(async () => {
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
    if (transport) {
      const declared = transport.declared();
      await transport.close();
      await deleteEntities(declared);
    }
  });

  it('redelivers its unacked messages to another consumer: none lost', async () => {
    const topic = uniqueName('consumer-kill');
    transport = await RabbitMqTransport.connect({ url: rabbitUrl() });
    await (await transport.subscriber().subscribe(topic, () => undefined, { group: 'g' })).close();
    const publisher = await transport.publisher();
    const sent = await Promise.all(Array.from({ length: TOTAL }, (_, i) => publisher.publish(topic, { type: 'fault.kill', payload: { i } })));

    const byFirst = new Set<string>();
    const bySecond = new Map<string, number>();
    const first = startConsumer(topic, 'g', (id) => byFirst.add(id));
    children.push(first.child);
    await first.ready;
    await waitFor(() => byFirst.size >= TOTAL / 4, 60_000, () => `${String(byFirst.size)} processed by the first consumer`);
    first.child.kill('SIGKILL');
    await new Promise((resolve) => first.child.once('exit', resolve));
    const processedBeforeKill = byFirst.size;

    const second = startConsumer(topic, 'g', (id, attempt) => bySecond.set(id, attempt));
    children.push(second.child);
    await second.ready;
    const all = (): Set<string> => new Set([...byFirst, ...bySecond.keys()]);
    await waitFor(() => all().size >= TOTAL, 60_000, () => `${String(all().size)} of ${String(TOTAL)} processed`);
    second.child.kill('SIGKILL');

    const lost = sent.filter((e) => !all().has(e.id)).length;
    const reprocessed = [...bySecond.keys()].filter((id) => byFirst.has(id)).length;
    const redelivered = [...bySecond.values()].filter((attempt) => attempt >= 2).length;
    console.log(
      `      ${String(TOTAL)} messages: first consumer processed ${String(processedBeforeKill)} before kill -9; second processed ${String(bySecond.size)} ` +
        `(${String(redelivered)} redelivered, ${String(reprocessed)} processed twice: handler done, ack not yet sent); lost ${String(lost)}`,
    );
    assert.equal(lost, 0);
    assert.ok(redelivered > 0, 'the messages the killed consumer held came back as redeliveries');
  });
});
