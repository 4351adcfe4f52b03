import assert from 'node:assert/strict';
import { ConfigError, resolveSubscribeOptions } from '../../../src/core/index.js';
import type { Middleware } from '../../../src/core/index.js';

function fieldsRejected(options: unknown): string[] {
  try {
    resolveSubscribeOptions('Test.subscribe', options);
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected ConfigError, got ${String(error)}`);
    assert.equal(error.code, 'RMQ_CONFIG_INVALID');
    assert.equal(error.component, 'Test.subscribe');
    return error.issues.map((i) => i.field);
  }
  assert.fail('resolveSubscribeOptions did not throw');
}

const passThrough: Middleware = (next) => next;

describe('resolveSubscribeOptions', () => {
  it('applies defaults', () => {
    const resolved = resolveSubscribeOptions('Test.subscribe', { group: 'g' });
    assert.deepEqual({ ...resolved, middleware: [...resolved.middleware] }, {
      group: 'g',
      concurrency: 1,
      prefetch: 10,
      middleware: [],
      closeTimeoutMs: 30_000,
    });
  });

  it('keeps given values', () => {
    const resolved = resolveSubscribeOptions('Test.subscribe', { group: 'g', concurrency: 4, prefetch: 8, middleware: [passThrough], closeTimeoutMs: 0 });
    assert.equal(resolved.concurrency, 4);
    assert.equal(resolved.prefetch, 8);
    assert.deepEqual(resolved.middleware, [passThrough]);
    assert.equal(resolved.closeTimeoutMs, 0);
  });

  it('raises prefetch to concurrency when only concurrency > 10 is given', () => {
    const resolved = resolveSubscribeOptions('Test.subscribe', { group: 'g', concurrency: 25 });
    assert.equal(resolved.concurrency, 25);
    assert.equal(resolved.prefetch, 25);
  });

  it('keeps the default prefetch when concurrency <= 10', () => {
    assert.equal(resolveSubscribeOptions('Test.subscribe', { group: 'g', concurrency: 10 }).prefetch, 10);
  });

  const invalid: [string, unknown, string[]][] = [
    ['group missing', {}, ['group']],
    ['options undefined', undefined, ['group']],
    ['group empty', { group: '' }, ['group']],
    ['group not a string', { group: 7 }, ['group']],
    ['concurrency 0', { group: 'g', concurrency: 0 }, ['concurrency']],
    ['concurrency 1.5', { group: 'g', concurrency: 1.5 }, ['concurrency']],
    ["concurrency '3'", { group: 'g', concurrency: '3' }, ['concurrency']],
    ['prefetch < concurrency', { group: 'g', concurrency: 5, prefetch: 4 }, ['prefetch']],
    ['prefetch 0', { group: 'g', prefetch: 0 }, ['prefetch']],
    ['middleware not functions', { group: 'g', middleware: [passThrough, 'log'] }, ['middleware']],
    ['middleware not an array', { group: 'g', middleware: passThrough }, ['middleware']],
    ['closeTimeoutMs negative', { group: 'g', closeTimeoutMs: -1 }, ['closeTimeoutMs']],
    ['unknown key prefech', { group: 'g', prefech: 5 }, ['prefech']],
  ];
  for (const [label, options, fields] of invalid) {
    it(`rejects ${label}, naming the field`, () => {
      assert.deepEqual(fieldsRejected(options), fields);
    });
  }

  it('names prefetch with the concurrency it must reach', () => {
    try {
      resolveSubscribeOptions('Test.subscribe', { group: 'g', concurrency: 5, prefetch: 4 });
      assert.fail('did not throw');
    } catch (error) {
      assert.ok(error instanceof ConfigError);
      assert.deepEqual(error.issues, [{ field: 'prefetch', expected: 'at least concurrency (5)', received: '4' }]);
    }
  });

  it('lists the known fields when a key is misspelled', () => {
    try {
      resolveSubscribeOptions('Test.subscribe', { group: 'g', prefech: 5 });
      assert.fail('did not throw');
    } catch (error) {
      assert.ok(error instanceof ConfigError);
      assert.match(error.issues[0]?.expected ?? '', /known: group, concurrency, prefetch, middleware, closeTimeoutMs/);
    }
  });

  it('rejects a non-object root', () => {
    assert.deepEqual(fieldsRejected('g'), ['(root)']);
  });

  it('collects several invalid fields at once', () => {
    assert.deepEqual(fieldsRejected({ group: '', concurrency: 0, closeTimeoutMs: -5 }), ['group', 'concurrency', 'closeTimeoutMs']);
  });

  it('names only concurrency when an invalid concurrency above 10 is given without prefetch', () => {
    assert.deepEqual(fieldsRejected({ group: 'g', concurrency: 10.5 }), ['concurrency']);
  });
});
