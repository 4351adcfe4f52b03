import assert from 'node:assert/strict';
import { Semaphore } from '../../../src/core/index.js';

describe('Semaphore', () => {
  it('grants up to capacity at once, then serves waiters first come, first served', async () => {
    const s = new Semaphore(2);
    assert.ok(s.tryAcquire());
    assert.ok(await s.acquire());
    assert.equal(s.tryAcquire(), false);
    const order: number[] = [];
    const waiting = [1, 2, 3].map((n) => s.acquire().then(() => order.push(n)));
    s.release();
    s.release();
    s.release();
    await Promise.all(waiting);
    assert.deepEqual(order, [1, 2, 3]);
    assert.equal(s.inUse, 2);
  });

  it('an aborted waiter takes no slot and is skipped', async () => {
    const s = new Semaphore(1);
    await s.acquire();
    const controller = new AbortController();
    const aborted = s.acquire(controller.signal);
    const next = s.acquire();
    controller.abort();
    assert.equal(await aborted, false);
    s.release();
    assert.equal(await next, true);
    s.release();
    assert.equal(s.inUse, 0);
    assert.ok(s.tryAcquire());
  });
});
