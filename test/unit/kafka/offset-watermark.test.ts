import assert from 'node:assert/strict';
import { OffsetWatermark } from '../../../src/adapters/kafka/offset-watermark.js';

describe('OffsetWatermark', () => {
  it('commits only past a contiguous run of done offsets: a commit of N+1 means 0..N are done', () => {
    const w = new OffsetWatermark();
    for (const offset of ['10', '11', '12', '13']) w.add(offset);
    assert.equal(w.next(), undefined);
    w.complete('12');
    w.complete('13');
    assert.equal(w.next(), undefined, '10 and 11 are still in flight');
    w.complete('10');
    assert.equal(w.next(), '11');
    w.complete('11');
    assert.equal(w.next(), '14');
    assert.equal(w.inFlight, 0);
  });

  it('handles offsets beyond 2^53 exactly', () => {
    const w = new OffsetWatermark();
    w.add('9007199254740993');
    w.complete('9007199254740993');
    assert.equal(w.next(), '9007199254740994');
  });

  it('tolerates gaps in offsets (compacted or transactional topics)', () => {
    const w = new OffsetWatermark();
    w.add('5');
    w.add('9');
    w.complete('9');
    assert.equal(w.next(), undefined);
    w.complete('5');
    assert.equal(w.next(), '10');
  });
});
