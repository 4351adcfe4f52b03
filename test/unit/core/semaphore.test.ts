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

describe('Semaphore with many waiters on one signal', () => {
  it('aborts every waiter of the signal at once and keeps serving the others in order', async () => {
    const s = new Semaphore(1);
    assert.ok(s.tryAcquire());
    const shared = new AbortController();
    const own = new AbortController();
    const doomed = Array.from({ length: 10_000 }, () => s.acquire(shared.signal));
    const mine = s.acquire(own.signal);
    const plain = s.acquire();
    shared.abort();
    assert.deepEqual(new Set(await Promise.all(doomed)), new Set([false]));
    s.release();
    assert.equal(await mine, true);
    s.release();
    assert.equal(await plain, true);
    own.abort(); // after its grant: no effect
    s.release();
    assert.equal(s.inUse, 0);
    assert.ok(s.tryAcquire());
  });

  it('waiters granted before their signal aborts keep their slot', async () => {
    const s = new Semaphore(1);
    assert.ok(s.tryAcquire());
    const deadline = new AbortController();
    const first = s.acquire(deadline.signal);
    const second = s.acquire(deadline.signal);
    s.release();
    assert.equal(await first, true);
    deadline.abort();
    assert.equal(await second, false);
    assert.equal(s.inUse, 1);
    s.release();
    assert.equal(s.inUse, 0);
  });
});
