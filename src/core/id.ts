/**
 * Time-ordered unique ids (UUIDv7, RFC 9562): 48 bits of Unix milliseconds, then a 12-bit
 * counter that keeps ids generated in the same millisecond in order, then 62 random bits.
 */
const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

let lastMs = -1;
let counter = 0;

// One call to the CSPRNG per 256 ids: a call per id costs more than building the id.
const POOL_SIZE = 16 * 256;
let pool = new Uint8Array(0);
let poolOffset = POOL_SIZE;

function randomBytes(n: number): Uint8Array {
  if (poolOffset + n > pool.length) {
    pool = globalThis.crypto.getRandomValues(new Uint8Array(POOL_SIZE));
    poolOffset = 0;
  }
  const bytes = pool.slice(poolOffset, poolOffset + n);
  poolOffset += n;
  return bytes;
}

export function uuidv7(now: number = Date.now()): string {
  const bytes = randomBytes(16);
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

  let out = '';
  for (let i = 0; i < 16; i++) {
    if (i === 4 || i === 6 || i === 8 || i === 10) out += '-';
    out += HEX[bytes[i] ?? 0] ?? '00';
  }
  return out;
}

/** The millisecond timestamp encoded in a UUIDv7. */
export function uuidv7Timestamp(id: string): number {
  return Number.parseInt(id.slice(0, 8) + id.slice(9, 13), 16);
}

const UUIDV7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i;

/** The millisecond timestamp of `id` when it is a UUIDv7, else undefined. */
export function uuidv7TimestampOf(id: unknown): number | undefined {
  return typeof id === 'string' && UUIDV7.test(id) ? uuidv7Timestamp(id) : undefined;
}
