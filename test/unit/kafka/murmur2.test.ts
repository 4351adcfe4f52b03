import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { murmur2, partitionOfKey } from '../../../src/adapters/kafka/murmur2.js';

const require = createRequire(import.meta.url);
/** kafkajs' own Java-compatible murmur2 (64-bit Long arithmetic): the reference. */
const kafkajsMurmur2 = require('kafkajs/src/producer/partitioners/default/murmur2.js') as (key: Buffer | string) => number;

describe('murmur2 (Kafka key hash)', () => {
  it('gives the values of the Java client (Kafka UtilsTest.testMurmur2)', () => {
    const java: Array<[string, number]> = [
      ['21', -973932308],
      ['foobar', -790332482],
      ['a-little-bit-long-string', -985981536],
      ['a-little-bit-longer-string', -1486304829],
      ['lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8', -58897971],
      ['abc', 479470107],
    ];
    for (const [key, hash] of java) assert.equal(murmur2(Buffer.from(key)), hash, key);
  });

  it('equals kafkajs for keys of every length remainder, high bytes and UTF-8 text', () => {
    let seed = 7;
    const random = (): number => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
    for (let n = 0; n < 3000; n++) {
      const bytes = Buffer.from(Array.from({ length: Math.floor(random() * 40) }, () => Math.floor(random() * 256)));
      assert.equal(murmur2(bytes), kafkajsMurmur2(bytes), bytes.toString('hex'));
    }
    for (const key of ['', 'k', 'key-42', 'order-0190c2f4', 'ключ', '🔑 emoji key', 'x'.repeat(1000)]) {
      assert.equal(murmur2(Buffer.from(key)), kafkajsMurmur2(key), key);
    }
  });

  it('picks partitions as kafkajs’ default partitioner does', () => {
    for (let i = 0; i < 500; i++) {
      const key = `key-${String(i)}`;
      for (const count of [1, 3, 6, 12]) assert.equal(partitionOfKey(key, count), (kafkajsMurmur2(key) & 0x7fffffff) % count);
    }
  });
});
