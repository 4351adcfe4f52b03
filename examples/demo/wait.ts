import { setTimeout as sleep } from 'node:timers/promises';

export { sleep };

/** Polls until `condition` holds. Returns false after `timeoutMs`, so a scene reports a failed check instead of hanging. */
export async function waitFor(condition: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) return false;
    await sleep(2);
  }
  return true;
}
