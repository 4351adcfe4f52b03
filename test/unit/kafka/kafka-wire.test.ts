import assert from 'node:assert/strict';
import { envelopeToKafka, fromKafka, kafkaTimestamp, toKafka, withCreatedAt } from '../../../src/adapters/kafka/kafka-wire.js';
import { WireHeader, createEnvelope, fromWireRecord, toWireRecord } from '../../../src/core/index.js';

describe('Kafka wire mapping', () => {
  const envelope = createEnvelope({ type: 'order.placed', key: 'o-1', payload: {}, correlationId: 'c-1', headers: { tenant: 't' } }, 'application/json');
  const body = Buffer.from('{}');

  it('writes created-at as the record timestamp, the other envelope fields as rmq-* headers', () => {
    const message = envelopeToKafka(envelope, body);
    assert.equal(message.timestamp, String(envelope.createdAt.getTime()));
    assert.equal(message.key, 'o-1');
    assert.deepEqual(message.headers, {
      tenant: 't',
      [WireHeader.ID]: envelope.id,
      [WireHeader.TYPE]: 'order.placed',
      [WireHeader.CONTENT_TYPE]: 'application/json',
      [WireHeader.CORRELATION_ID]: 'c-1',
    });
  });

  it('reads the envelope back with created-at from the record timestamp, to the millisecond', () => {
    const sent = envelopeToKafka(envelope, body);
    const received = { key: Buffer.from('o-1'), value: body, headers: sent.headers, timestamp: sent.timestamp ?? '', offset: '7' };
    const read = fromWireRecord(fromKafka(received), { id: 'unused', attempt: 1, defaultContentType: 'application/json', timestamp: kafkaTimestamp(received) });
    assert.equal(read.id, envelope.id);
    assert.equal(read.createdAt.getTime(), envelope.createdAt.getTime());
    assert.deepEqual(read.headers, { tenant: 't' });
  });

  it('turns a wire record’s rmq-created-at header (outbox rows) into the timestamp; keeps a header that is no date', () => {
    const fromOutbox = toKafka(toWireRecord(envelope, body));
    assert.equal(fromOutbox.timestamp, String(envelope.createdAt.getTime()));
    assert.equal(fromOutbox.headers[WireHeader.CREATED_AT], undefined);
    const odd = toKafka({ headers: { [WireHeader.CREATED_AT]: 'yesterday' }, body });
    assert.equal(odd.timestamp, undefined);
    assert.equal(odd.headers[WireHeader.CREATED_AT], 'yesterday');
  });

  it('a record of another writer with an rmq-created-at header: the header wins over the timestamp', () => {
    const received = { value: body, headers: { [WireHeader.CREATED_AT]: '2020-01-02T03:04:05.678Z' }, timestamp: '1700000000000', offset: '1' };
    const read = fromWireRecord(fromKafka(received), { id: 'kafka:t:0:1', attempt: 1, defaultContentType: 'application/json', timestamp: kafkaTimestamp(received) });
    assert.equal(read.createdAt.toISOString(), '2020-01-02T03:04:05.678Z');
  });

  it('a dead letter keeps the original created-at: withCreatedAt writes the timestamp into the header', () => {
    const received = { value: body, headers: {}, timestamp: '1700000000123', offset: '1' };
    const record = withCreatedAt(fromKafka(received), received);
    assert.equal(record.headers[WireHeader.CREATED_AT], new Date(1700000000123).toISOString());
    assert.equal(toKafka(record).timestamp, '1700000000123');
    assert.equal(kafkaTimestamp({ value: body, offset: '1', timestamp: 'nonsense' }), undefined);
  });
});
