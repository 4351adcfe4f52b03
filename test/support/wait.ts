import { setTimeout as sleep } from 'node:timers/promises';

/** Polls `condition` until it holds; fails with `describe()` after `timeoutMs`. */
export async function waitFor(condition: () => boolean, timeoutMs: number, describe: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`Timed out after ${String(timeoutMs)} ms: ${describe()}`);
    await sleep(5);
  }
}

/** Waits `ms` and asserts that `condition` never became true (nothing unexpected arrived). */
export async function staysFalse(condition: () => boolean, ms: number, describe: () => string): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (condition()) throw new Error(`Unexpected: ${describe()}`);
    await sleep(10);
  }
}

export { sleep };
