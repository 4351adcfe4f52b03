import assert from 'node:assert/strict';
import { InFlight, MessageValidationError, requireHandler, requireTopic, settlesWithin } from '../../../src/core/index.js';

describe('lifecycle helpers', () => {
  it('InFlight waits for every tracked task, whatever its outcome, and forgets settled ones', async () => {
    const inFlight = new InFlight();
    let release: () => void = () => undefined;
    const slow = inFlight.track(new Promise<void>((resolve) => (release = resolve)));
    const failed = inFlight.track(Promise.reject(new Error('x'))).catch(() => 'caught');
    assert.equal(await failed, 'caught');
    let settled = false;
    const waiting = inFlight.settled().then(() => (settled = true));
    await new Promise((r) => setImmediate(r));
    assert.equal(settled, false);
    release();
    await slow;
    await waiting;
    assert.equal(settled, true);
    assert.equal(inFlight.size, 0);
  });

  it('settlesWithin tells whether a promise settled in time, rejections included', async () => {
    assert.equal(await settlesWithin(Promise.reject(new Error('x')), 1000), true);
    assert.equal(await settlesWithin(new Promise(() => undefined), 20), false);
  });

  it('requireTopic and requireHandler throw MessageValidationError', () => {
    assert.throws(() => { requireTopic(''); }, MessageValidationError);
    assert.throws(() => { requireTopic(42); }, MessageValidationError);
    assert.throws(() => { requireHandler('not a function'); }, MessageValidationError);
    requireTopic('orders');
    requireHandler(() => undefined);
  });
});
