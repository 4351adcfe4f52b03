import { MemoryTransport, WireHeader, type Codec, type Envelope } from '../../../src/index.js';
import { Checks } from '../checks.js';
import { printScene, printTable } from '../table.js';
import { sleep, waitFor } from '../wait.js';

/** Takes JSON bodies as raw bytes: a dead-letter reader must not try to parse what could not be parsed. */
const jsonBodyAsBytes: Codec = { contentType: 'application/json', encode: (payload) => payload as Uint8Array, decode: (body) => body };

/**
 * A producer outside the SDK sends truncated JSON. The pipeline dead-letters it before any handler
 * sees it, with the reason in headers and the body untouched; the good message behind it flows on.
 */
export async function poisonMessage(): Promise<Checks> {
  printScene(4, 'Poison message', 'truncated JSON from a foreign producer is dead-lettered with its reason; the next message flows on');
  const checks = new Checks();
  const transport = new MemoryTransport();
  const subscriber = transport.subscriber();
  const deadLetterReader = transport.subscriber({ serializer: { codecs: [jsonBodyAsBytes] } });
  const publisher = transport.publisher();
  const dlqTopic = transport.deadLetterTopic('orders', 'billing');
  const handled: string[] = [];
  const deadLetters: Envelope[] = [];

  try {
    await deadLetterReader.subscribe(dlqTopic, (message) => void deadLetters.push(message), { group: 'ops' });
    await subscriber.subscribe('orders', (message) => void handled.push(message.id), { group: 'billing' });

    const poisonBody = new TextEncoder().encode('{"orderId": 17, "total": ');
    transport.publishRaw('orders', {
      headers: { [WireHeader.ID]: 'poison-17', [WireHeader.TYPE]: 'order.placed', [WireHeader.CONTENT_TYPE]: 'application/json' },
      body: poisonBody,
    });
    const good = await publisher.publish('orders', { type: 'order.placed', payload: { orderId: 18, total: 12.5 } });

    await waitFor(() => handled.length >= 1 && deadLetters.length >= 1, 2_000);
    await sleep(50); // time for a redelivery to show up, were there one

    printTable(
      [{ header: 'message' }, { header: 'outcome' }, { header: 'handler calls', align: 'right' }],
      [
        ['poison-17', deadLetters.some((d) => d.id === 'poison-17') ? `dead-lettered to ${dlqTopic}` : 'NOT dead-lettered', String(handled.filter((id) => id === 'poison-17').length)],
        [good.id, handled.includes(good.id) ? 'handled and acked' : 'NOT handled', String(handled.filter((id) => id === good.id).length)],
      ],
    );

    const dead = deadLetters[0];
    const deadBody = dead ? new TextDecoder().decode(dead.payload as Uint8Array) : '';
    if (dead) {
      console.log('');
      const field = (name: string): string => dead.headers[name] ?? '(missing)';
      printTable(
        [{ header: 'dead letter' }, { header: 'value' }],
        [
          ['id', dead.id],
          [WireHeader.DEAD_LETTER_REASON, field(WireHeader.DEAD_LETTER_REASON)],
          [WireHeader.DEAD_LETTER_ERROR, field(WireHeader.DEAD_LETTER_ERROR)],
          [WireHeader.DEAD_LETTER_TOPIC, field(WireHeader.DEAD_LETTER_TOPIC)],
          [WireHeader.DEAD_LETTER_GROUP, field(WireHeader.DEAD_LETTER_GROUP)],
          [WireHeader.DEAD_LETTER_ATTEMPTS, field(WireHeader.DEAD_LETTER_ATTEMPTS)],
          ['body (kept as sent)', deadBody],
        ],
      );
    }

    checks.check(!handled.includes('poison-17'), 'the handler never saw the poison message');
    checks.check(deadLetters.length === 1 && dead?.id === 'poison-17', 'the poison message was dead-lettered once, keeping its id');
    checks.check(dead?.headers[WireHeader.DEAD_LETTER_REASON] === 'malformed-payload', 'the dead letter says why: malformed-payload');
    checks.check(deadBody === new TextDecoder().decode(poisonBody), 'the body was kept byte for byte');
    checks.check(handled.length === 1 && handled[0] === good.id, 'the good message behind it was handled once');
  } finally {
    await publisher.close();
    await subscriber.close();
    await deadLetterReader.close();
  }
  checks.print();
  return checks;
}
