import assert from 'node:assert/strict';
import { ConfigError, ErrorCode, validateConfig } from '../../../src/core/index.js';
import type { ConfigIssue, ConfigSpec } from '../../../src/core/index.js';

interface Sample {
  name: string;
  mode: string;
  count: number;
  ratio: number;
  enabled: boolean;
  callback: () => void;
  tags: readonly string[];
  extra: Record<string, unknown>;
  even: number;
  note: string | undefined;
}

const spec: ConfigSpec<Sample> = {
  name: { rule: { kind: 'string' } },
  mode: { rule: { kind: 'string', oneOf: ['fast', 'safe'] }, default: 'safe' },
  count: { rule: { kind: 'integer', min: 1, max: 5 }, default: 3 },
  ratio: { rule: { kind: 'number', min: 0, max: 1 }, default: 0.5 },
  enabled: { rule: { kind: 'boolean' }, default: true },
  callback: { rule: { kind: 'function' }, default: () => undefined },
  tags: { rule: { kind: 'array', items: { kind: 'string' } }, default: [] },
  extra: { rule: { kind: 'object' }, default: {} },
  even: { rule: { kind: 'custom', expected: 'an even number', check: (v) => typeof v === 'number' && v % 2 === 0 }, default: 2 },
  note: { rule: { kind: 'string' }, optional: true },
};

function issuesOf(input: unknown, refine?: (c: Sample) => ConfigIssue[]): readonly ConfigIssue[] {
  try {
    validateConfig('Sample', input, spec, refine);
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected ConfigError, got ${String(error)}`);
    assert.equal(error.code, ErrorCode.CONFIG_INVALID);
    assert.equal(error.component, 'Sample');
    return error.issues;
  }
  assert.fail('validateConfig did not throw');
}

function onlyIssue(input: unknown): ConfigIssue {
  const issues = issuesOf(input);
  assert.equal(issues.length, 1, `expected one issue, got ${JSON.stringify(issues)}`);
  return issues[0]!;
}

describe('validateConfig', () => {
  it('applies defaults and keeps given values; result is frozen', () => {
    const config = validateConfig('Sample', { name: 'svc', count: 5 }, spec);
    assert.equal(config.name, 'svc');
    assert.equal(config.count, 5);
    assert.equal(config.mode, 'safe');
    assert.equal(config.ratio, 0.5);
    assert.equal(config.enabled, true);
    assert.equal(typeof config.callback, 'function');
    assert.deepEqual(config.tags, []);
    assert.deepEqual(config.extra, {});
    assert.equal(config.even, 2);
    assert.equal(config.note, undefined);
    assert.equal('note' in config, false);
    assert.ok(Object.isFrozen(config));
  });

  it('reports a missing required field as required', () => {
    const issue = onlyIssue({});
    assert.equal(issue.field, 'name');
    assert.equal(issue.expected, 'a non-empty string');
    assert.equal(issue.received, 'nothing (required)');
  });

  it('treats an undefined root as an empty object', () => {
    const issue = onlyIssue(undefined);
    assert.equal(issue.field, 'name');
  });

  for (const [label, root, received] of [
    ['null', null, 'null'],
    ['a string', 'x', "'x'"],
    ['an array', [], 'an array of length 0'],
    ['a class instance', new Date(0), 'an object'],
  ] as const) {
    it(`rejects ${label} as root`, () => {
      const issue = onlyIssue(root);
      assert.equal(issue.field, '(root)');
      assert.equal(issue.expected, 'an object');
      assert.equal(issue.received, received);
    });
  }

  const wrong: [string, keyof Sample, unknown, string][] = [
    ['string: number given', 'name', 42, 'a non-empty string'],
    ['string: empty', 'name', '', 'a non-empty string'],
    ['string oneOf: other value', 'mode', 'slow', "one of 'fast', 'safe'"],
    ['integer: fraction', 'count', 1.5, 'an integer between 1 and 5'],
    ['integer: numeric string', 'count', '3', 'an integer between 1 and 5'],
    ['integer: below min', 'count', 0, 'an integer between 1 and 5'],
    ['integer: above max', 'count', 6, 'an integer between 1 and 5'],
    ['number: NaN', 'ratio', Number.NaN, 'a finite number between 0 and 1'],
    ['number: Infinity', 'ratio', Number.POSITIVE_INFINITY, 'a finite number between 0 and 1'],
    ['number: above max', 'ratio', 1.5, 'a finite number between 0 and 1'],
    ['number: string', 'ratio', '0.5', 'a finite number between 0 and 1'],
    ['boolean: string', 'enabled', 'true', 'a boolean'],
    ['function: object', 'callback', {}, 'a function'],
    ['array: not an array', 'tags', 'a', 'an array of a non-empty string'],
    ['array: bad item', 'tags', ['ok', 3], 'an array of a non-empty string'],
    ['object: array', 'extra', [], 'an object'],
    ['object: null', 'extra', null, 'an object'],
    ['custom: check fails', 'even', 3, 'an even number'],
  ];
  for (const [label, field, value, expected] of wrong) {
    it(`rejects wrong type (${label}) naming the field`, () => {
      const issue = onlyIssue({ name: 'svc', [field]: value });
      assert.equal(issue.field, field);
      assert.equal(issue.expected, expected);
    });
  }

  it('describes received values', () => {
    assert.equal(onlyIssue({ name: 'svc', count: 7 }).received, '7 (number)');
    assert.equal(onlyIssue({ name: 'svc', enabled: 'yes' }).received, "'yes'");
    assert.equal(onlyIssue({ name: 'svc', callback: 1n }).received, '1 (bigint)');
    assert.equal(onlyIssue({ name: 'svc', tags: [1, 2] }).received, 'an array of length 2');
    assert.equal(onlyIssue({ name: 'svc', extra: () => 1 }).received, 'a function');
  });

  it('rejects an unknown key, naming it and listing the known ones', () => {
    const issue = onlyIssue({ name: 'svc', cuont: 2 });
    assert.equal(issue.field, 'cuont');
    assert.match(issue.expected, /^no such field \(known: /);
    for (const key of Object.keys(spec)) assert.ok(issue.expected.includes(key), `known list misses ${key}`);
    assert.equal(issue.received, '2 (number)');
  });

  it('collects every issue in one ConfigError whose message names them all', () => {
    let caught: unknown;
    try {
      validateConfig('Sample', { count: 0, enabled: 1, typo: true }, spec);
    } catch (error) {
      caught = error;
    }
    assert.ok(caught instanceof ConfigError);
    assert.equal(caught.code, 'RMQ_CONFIG_INVALID');
    assert.equal(caught.retriable, false);
    assert.deepEqual(caught.issues.map((i) => i.field).sort(), ['count', 'enabled', 'name', 'typo']);
    assert.match(caught.message, /^Invalid Sample configuration: /);
    for (const field of ['count', 'enabled', 'name', 'typo']) assert.ok(caught.message.includes(`${field}: expected`));
  });

  it('runs refine on the resolved config (defaults applied) and reports its issues', () => {
    let seen: Sample | undefined;
    const issues = issuesOf({ name: 'svc' }, (c) => {
      seen = c;
      return [{ field: 'count', expected: 'refined', received: String(c.count) }];
    });
    assert.equal(seen?.count, 3);
    assert.deepEqual(issues, [{ field: 'count', expected: 'refined', received: '3' }]);
  });

  it('does not run refine when a field is invalid', () => {
    let calls = 0;
    const issues = issuesOf({ name: 'svc', count: 'many' }, () => {
      calls += 1;
      return [];
    });
    assert.equal(calls, 0);
    assert.deepEqual(
      issues.map((i) => i.field),
      ['count'],
    );
  });

  it('returns the config when refine reports nothing', () => {
    const config = validateConfig('Sample', { name: 'svc' }, spec, () => []);
    assert.equal(config.name, 'svc');
  });

  describe('nested rule', () => {
    interface Inner {
      size: number;
      label: string;
    }
    interface Outer {
      inner: Inner;
      extra: Inner | undefined;
    }
    const innerSpec: ConfigSpec<Inner> = {
      size: { rule: { kind: 'integer', min: 1 }, default: 4 },
      label: { rule: { kind: 'string' }, default: 'x' },
    };
    const outerSpec: ConfigSpec<Outer> = {
      inner: { rule: { kind: 'nested', spec: innerSpec } },
      extra: { rule: { kind: 'nested', spec: innerSpec }, optional: true },
    };
    const nestedIssues = (input: unknown): readonly ConfigIssue[] => {
      try {
        validateConfig('Outer', input, outerSpec);
      } catch (error) {
        assert.ok(error instanceof ConfigError);
        return error.issues;
      }
      assert.fail('validateConfig did not throw');
    };

    it('fills the nested defaults when the section is absent; omits an absent optional section', () => {
      const config = validateConfig('Outer', {}, outerSpec);
      assert.deepEqual(config, { inner: { size: 4, label: 'x' } });
      assert.ok(Object.isFrozen(config.inner));
    });

    it('names nested issues parent.child, including unknown keys', () => {
      assert.deepEqual(
        nestedIssues({ inner: { size: 0, lable: 'y' } }).map((i) => [i.field, i.expected]),
        [
          ['inner.lable', 'no such field (known: size, label)'],
          ['inner.size', 'an integer >= 1'],
        ],
      );
    });

    it('rejects a non-object section, naming it', () => {
      assert.deepEqual(nestedIssues({ inner: 5 }), [{ field: 'inner', expected: 'an object', received: '5 (number)' }]);
    });

    it('rejects null for a nested section, naming it (as other rule kinds reject null)', () => {
      assert.deepEqual(nestedIssues({ inner: null }), [{ field: 'inner', expected: 'an object', received: 'null' }]);
    });
  });
});
