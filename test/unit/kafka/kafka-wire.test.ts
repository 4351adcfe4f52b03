import assert from 'node:assert/strict';
import { createdAtOf, envelopeToKafka, fromKafka, toKafka, withCreatedAt } from '../../../src/adapters/kafka/kafka-wire.js';
import { WireHeader, createEnvelope, fromWireRecord, toWireRecord, type Envelope } from '../../../src/core/index.js';

describe('Kafka wire mapping', () => {
  const envelope = createEnvelope({ type: 'order.placed', key: 'o-1', payload: {}, correlationId: 'c-1', headers: { tenant: 't' } }, 'application/json');
  const body = Buffer.from('{}');
  /** What a consumer reads: the record as sent, stamped by the client a few milliseconds after created-at. */
  const receive = (sent: ReturnType<typeof envelopeToKafka>, stampedAt: number) => ({ key: Buffer.from('o-1'), value: body, headers: sent.headers, timestamp: sent.timestamp ?? String(stampedAt), offset: '7' });
  const read = (received: ReturnType<typeof receive>) => {
    const record = fromKafka(received);
    return fromWireRecord(record, { id: 'kafka:t:0:7', attempt: 1, defaultContentType: 'application/json', timestamp: createdAtOf(record, received) });
  };

  it('writes the envelope fields as rmq-* headers; created-at travels in the SDK id (a UUIDv7), so no timestamp and no header; JSON is implied', () => {
    const message = envelopeToKafka(envelope, body);
    assert.equal(message.timestamp, undefined);
    assert.equal(message.key, 'o-1');
    assert.deepEqual(message.headers, {
      tenant: 't',
      [WireHeader.ID]: envelope.id,
      [WireHeader.TYPE]: 'order.placed',
      [WireHeader.CORRELATION_ID]: 'c-1',
    });
  });

  it('an SDK record without rmq-content-type reads as JSON, whatever the reader’s default; another content type travels as a header', () => {
    const readAs = (sent: ReturnType<typeof envelopeToKafka>, defaultContentType: string) => {
      const received = receive(sent, envelope.createdAt.getTime());
      return fromWireRecord(fromKafka(received), { id: 'kafka:t:0:7', attempt: 1, defaultContentType, timestamp: undefined }).contentType;
    };
    assert.equal(readAs(envelopeToKafka(envelope, body), 'text/plain'), 'application/json');
    const text: Envelope = { ...envelope, contentType: 'text/plain; charset=utf-8' };
    const sent = envelopeToKafka(text, body);
    assert.equal(sent.headers[WireHeader.CONTENT_TYPE], 'text/plain; charset=utf-8');
    assert.equal(readAs(sent, 'application/json'), 'text/plain; charset=utf-8');
    // A foreign record (no rmq-id) still takes the reader's default.
    const foreign = fromKafka({ key: null, value: body, headers: {}, offset: '1' });
    assert.equal(fromWireRecord(foreign, { id: 'kafka:t:0:1', attempt: 1, defaultContentType: 'text/plain' }).contentType, 'text/plain');
    // A dead letter of an SDK record names the content type explicitly.
    assert.equal(fromKafka(receive(envelopeToKafka(envelope, body), 0)).headers[WireHeader.CONTENT_TYPE], 'application/json');
  });

  it('reads the envelope back with created-at from the id, to the millisecond, whatever the record timestamp says', () => {
    const got = read(receive(envelopeToKafka(envelope, body), envelope.createdAt.getTime() + 37));
    assert.equal(got.id, envelope.id);
    assert.equal(got.createdAt.getTime(), envelope.createdAt.getTime());
    assert.deepEqual(got.headers, { tenant: 't' });
  });

  it('an id that does not hold created-at (chosen by the caller, or another millisecond) brings an rmq-created-at header', () => {
    const own: Envelope = { ...envelope, id: 'order-42' };
    const other: Envelope = { ...envelope, createdAt: new Date(envelope.createdAt.getTime() - 60_000) };
    for (const e of [own, other]) {
      const sent = envelopeToKafka(e, body);
      assert.equal(sent.headers[WireHeader.CREATED_AT], e.createdAt.toISOString());
      assert.equal(read(receive(sent, Date.now())).createdAt.getTime(), e.createdAt.getTime());
    }
  });

  it('a wire record (outbox rows) gets its created-at as the timestamp; the header stays only when the id does not hold it', () => {
    const fromOutbox = toKafka(toWireRecord(envelope, body));
    assert.equal(fromOutbox.timestamp, String(envelope.createdAt.getTime()));
    assert.equal(fromOutbox.headers[WireHeader.CREATED_AT], undefined);
    const ownId = toKafka(toWireRecord({ ...envelope, id: 'order-42' }, body));
    assert.equal(ownId.timestamp, String(envelope.createdAt.getTime()));
    assert.equal(ownId.headers[WireHeader.CREATED_AT], envelope.createdAt.toISOString());
    const odd = toKafka({ headers: { [WireHeader.CREATED_AT]: 'yesterday' }, body });
    assert.equal(odd.timestamp, undefined);
    assert.equal(odd.headers[WireHeader.CREATED_AT], 'yesterday');
  });

  it('a record of another writer with an rmq-created-at header: the header wins over the timestamp', () => {
    const received = { value: body, headers: { [WireHeader.CREATED_AT]: '2020-01-02T03:04:05.678Z' }, timestamp: '1700000000000', offset: '1' };
    const record = fromKafka(received);
    const got = fromWireRecord(record, { id: 'kafka:t:0:1', attempt: 1, defaultContentType: 'application/json', timestamp: createdAtOf(record, received) });
    assert.equal(got.createdAt.toISOString(), '2020-01-02T03:04:05.678Z');
  });

  it('a record of another writer without it: created-at is the record timestamp, when that is a time', () => {
    const received = { value: body, headers: {}, timestamp: '1700000000123', offset: '1' };
    assert.equal(createdAtOf(fromKafka(received), received)?.getTime(), 1700000000123);
    const nonsense = { value: body, offset: '1', timestamp: 'nonsense' };
    assert.equal(createdAtOf(fromKafka(nonsense), nonsense), undefined);
  });

  it('a dead letter keeps the original created-at: withCreatedAt writes it into the header', () => {
    const received = { value: body, headers: {}, timestamp: '1700000000123', offset: '1' };
    const record = withCreatedAt(fromKafka(received), received);
    assert.equal(record.headers[WireHeader.CREATED_AT], new Date(1700000000123).toISOString());
    assert.equal(toKafka(record).timestamp, '1700000000123');
    const sdk = receive(envelopeToKafka(envelope, body), envelope.createdAt.getTime() + 5);
    assert.equal(withCreatedAt(fromKafka(sdk), sdk).headers[WireHeader.CREATED_AT], envelope.createdAt.toISOString());
  });
});
