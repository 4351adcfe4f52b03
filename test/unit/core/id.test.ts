import assert from 'node:assert/strict';
import { uuidv7, uuidv7Timestamp, uuidv7TimestampOf } from '../../../src/core/index.js';
import type * as IdModuleNamespace from '../../../src/core/id.js';

type IdModule = typeof IdModuleNamespace;

/** A fresh copy of the id module: its monotonic clock state is module-wide, so explicit timestamps must not leak. */
async function freshIdModule(): Promise<IdModule> {
  const url = new URL(`../../../src/core/id.ts?fresh=${String(Math.random())}`, import.meta.url).href;
  return (await import(url)) as IdModule;
}

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('uuidv7', () => {
  it('has the UUID layout, version 7 and the RFC 9562 variant', () => {
    const id = uuidv7();
    assert.match(id, UUID_V7);
    const hex = id.replace(/-/g, '');
    assert.equal(hex[12], '7');
    assert.equal(Number.parseInt(hex[16] ?? '', 16) >> 2, 0b10);
  });

  it('generates 10,000 unique ids sorted ascending as strings', () => {
    const ids = Array.from({ length: 10_000 }, () => uuidv7());
    assert.equal(new Set(ids).size, ids.length);
    for (let i = 1; i < ids.length; i++) {
      assert.ok(ids[i - 1]! < ids[i]!, `id ${String(i)} not after its predecessor: ${ids[i - 1]!} >= ${ids[i]!}`);
    }
    for (const id of ids) assert.match(id, UUID_V7);
  });

  it('stays ordered when the clock goes backwards', async () => {
    const ids = await freshIdModule();
    const a = ids.uuidv7(Date.UTC(2030, 0, 1));
    const b = ids.uuidv7(Date.UTC(2029, 0, 1));
    assert.ok(a < b, `${a} >= ${b}`);
    assert.equal(ids.uuidv7Timestamp(b), Date.UTC(2030, 0, 1));
  });

  it('encodes the given timestamp', async () => {
    const ids = await freshIdModule();
    const now = Date.UTC(2030, 0, 1, 12, 0, 0, 123);
    const id = ids.uuidv7(now);
    assert.equal(ids.uuidv7Timestamp(id), now);
    assert.equal(id.slice(0, 13), `${now.toString(16).padStart(12, '0').slice(0, 8)}-${now.toString(16).padStart(12, '0').slice(8)}`);
  });
});

describe('uuidv7Timestamp', () => {
  it('round trips the current time', () => {
    const before = Date.now();
    const ts = uuidv7Timestamp(uuidv7());
    assert.ok(ts >= before && ts <= Date.now() + 1, `timestamp ${String(ts)} not near ${String(before)}`);
  });

  it('reads the first 48 bits', () => {
    assert.equal(uuidv7Timestamp('01890a5d-ac96-774b-bcce-b302099a8057'), 0x01890a5dac96);
  });
});

describe('uuidv7TimestampOf', () => {
  const valid = '01890a5d-ac96-774b-bcce-b302099a8057';

  it('reads the timestamp of a UUIDv7, in either case', async () => {
    assert.equal(uuidv7TimestampOf(valid), 0x01890a5dac96);
    assert.equal(uuidv7TimestampOf(valid.toUpperCase()), 0x01890a5dac96);
    const ids = await freshIdModule(); // an explicit future timestamp must not move the shared id clock
    const id = ids.uuidv7(Date.UTC(2031, 5, 1, 0, 0, 0, 7));
    assert.equal(uuidv7TimestampOf(id), Date.UTC(2031, 5, 1, 0, 0, 0, 7));
  });

  it('agrees with the UUIDv7 pattern on 10,000 generated ids and on every malformed variant', () => {
    for (let i = 0; i < 10_000; i++) {
      const id = uuidv7();
      assert.equal(uuidv7TimestampOf(id), uuidv7Timestamp(id));
    }
    const malformed = [
      valid.replace('-774b', '-674b'), // version 6
      valid.replace('-bcce', '-7cce'), // variant 0
      valid.replace('-bcce', '-ccce'), // variant 110
      valid.replace('a', 'g'),
      valid.replace(/-/g, ''),
      valid.slice(0, 35),
      `${valid}0`,
      valid.replace('-ac96', '_ac96'),
      '',
    ];
    for (const id of malformed) {
      assert.equal(UUID_V7_ANY_CASE.test(id), false, id);
      assert.equal(uuidv7TimestampOf(id), undefined, id);
    }
    for (const value of [undefined, null, 42, { id: valid }]) assert.equal(uuidv7TimestampOf(value), undefined);
  });
});

const UUID_V7_ANY_CASE = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i;
