import assert from 'node:assert/strict';
import { InFlight, MessageValidationError, handlerAbortController, requireHandler, requireTopic, settlesWithin } from '../../../src/core/index.js';

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

describe('handlerAbortController', () => {
  it('lets every running handler listen to the signal without a leak warning, and aborts them all', async () => {
    const warnings: string[] = [];
    const onWarning = (warning: Error): void => {
      warnings.push(warning.name);
    };
    process.on('warning', onWarning);
    try {
      const controller = handlerAbortController();
      let aborted = 0;
      for (let i = 0; i < 50; i++) controller.signal.addEventListener('abort', () => (aborted += 1), { once: true });
      await new Promise((resolve) => setImmediate(resolve)); // warnings are emitted on the next tick
      controller.abort(new Error('closing'));
      assert.equal(aborted, 50);
      assert.deepEqual(warnings.filter((w) => w === 'MaxListenersExceededWarning'), []);
    } finally {
      process.off('warning', onWarning);
    }
  });
});
