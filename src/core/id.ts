/**
 * Time-ordered unique ids (UUIDv7, RFC 9562): 48 bits of Unix milliseconds, then a 12-bit
 * counter that keeps ids generated in the same millisecond in order, then 62 random bits.
 */
const HEX_DIGITS = '0123456789abcdef';

let lastMs = -1;
let counter = 0;

// One call to the CSPRNG per 256 ids: a call per id costs more than building the id.
const POOL_SIZE = 16 * 256;
let pool = new Uint8Array(0);
let poolOffset = POOL_SIZE;

// The id is written as ASCII into one scratch buffer and read out as one flat string: concatenating
// 20 pieces would allocate a chain of intermediate strings per id.
const bytes = new Uint8Array(16);
const text = Buffer.alloc(36);
const HYPHEN = 0x2d;
const HEX_CODES = Array.from(HEX_DIGITS, (digit) => digit.charCodeAt(0));

function fillRandom(): void {
  if (poolOffset + 16 > pool.length) {
    pool = globalThis.crypto.getRandomValues(new Uint8Array(POOL_SIZE));
    poolOffset = 0;
  }
  bytes.set(pool.subarray(poolOffset, poolOffset + 16));
  poolOffset += 16;
}

export function uuidv7(now: number = Date.now()): string {
  fillRandom();
  let ms = now;
  if (ms <= lastMs) {
    ms = lastMs;
    counter += 1;
    if (counter > 0xfff) {
      ms += 1; // counter exhausted: borrow the next millisecond rather than lose ordering
      counter = 0;
    }
  } else {
    counter = ((bytes[6] ?? 0) << 4) & 0x7ff; // random start, leaving headroom to count up
  }
  lastMs = ms;

  const high = Math.floor(ms / 2 ** 16);
  bytes[0] = (high >>> 24) & 0xff;
  bytes[1] = (high >>> 16) & 0xff;
  bytes[2] = (high >>> 8) & 0xff;
  bytes[3] = high & 0xff;
  bytes[4] = (ms >>> 8) & 0xff;
  bytes[5] = ms & 0xff;
  bytes[6] = 0x70 | ((counter >>> 8) & 0x0f);
  bytes[7] = counter & 0xff;
  bytes[8] = 0x80 | ((bytes[8] ?? 0) & 0x3f);

  let at = 0;
  for (let i = 0; i < 16; i++) {
    if (i === 4 || i === 6 || i === 8 || i === 10) text[at++] = HYPHEN;
    const byte = bytes[i] ?? 0;
    text[at++] = HEX_CODES[byte >>> 4] ?? 0;
    text[at++] = HEX_CODES[byte & 0x0f] ?? 0;
  }
  return text.toString('latin1', 0, 36);
}

/** The millisecond timestamp encoded in a UUIDv7. */
export function uuidv7Timestamp(id: string): number {
  return Number.parseInt(id.slice(0, 8) + id.slice(9, 13), 16);
}

/** The millisecond timestamp of `id` when it is a UUIDv7 (any case), else undefined. One pass, no regular expression. */
export function uuidv7TimestampOf(id: unknown): number | undefined {
  if (typeof id !== 'string' || id.length !== 36) return undefined;
  let ms = 0;
  let digits = 0;
  for (let i = 0; i < 36; i++) {
    const code = id.charCodeAt(i);
    if (i === 8 || i === 13 || i === 18 || i === 23) {
      if (code !== HYPHEN) return undefined;
      continue;
    }
    const value = hexValue(code);
    if (value < 0) return undefined;
    if (digits < 12) ms = ms * 16 + value;
    digits += 1;
    if (i === 14 && value !== 7) return undefined; // version 7
    if (i === 19 && (value & 0b1100) !== 0b1000) return undefined; // RFC 9562 variant
  }
  return ms;
}

function hexValue(code: number): number {
  if (code >= 0x30 && code <= 0x39) return code - 0x30;
  const lower = code | 0x20;
  return lower >= 0x61 && lower <= 0x66 ? lower - 0x57 : -1;
}
