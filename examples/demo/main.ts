/**
 * What a message broker buys you, shown on the in-memory transport: no broker, no Docker, ~3 seconds.
 *
 *   npm run demo
 *
 * Every number printed is measured; every claim is checked, and a failed check exits non-zero.
 * The scenes import from `src/`; in an application the same names come from 'reliable-mq'.
 */
import { asynchrony } from './scenes/asynchrony.js';
import { decoupling } from './scenes/decoupling.js';
import { peakShaving } from './scenes/peak-shaving.js';
import { outboxAndInbox } from './scenes/outbox-inbox.js';
import { poisonMessage } from './scenes/poison.js';
import type { Checks } from './checks.js';
import { ms } from './table.js';

const scenes: ReadonlyArray<() => Promise<Checks>> = [decoupling, asynchrony, peakShaving, poisonMessage, outboxAndInbox];

// A safety net, not a timer the demo relies on: unref'd, it cannot keep the process alive, but if a
// scene hangs or leaks a handle the demo fails loudly instead of hanging forever.
setTimeout(() => {
  console.error('\nFAIL: the demo did not finish within 30 s');
  process.exit(1);
}, 30_000).unref();

const started = performance.now();
let failed = 0;
try {
  for (const scene of scenes) failed += (await scene()).failed;
} catch (error) {
  console.error('\nFAIL: a scene threw:', error);
  failed += 1;
}

console.log('');
console.log(failed === 0 ? `All checks passed in ${ms(performance.now() - started)} ms.` : `${String(failed)} check(s) FAILED.`);
process.exitCode = failed === 0 ? 0 : 1;
