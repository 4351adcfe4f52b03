import { ConfigError, type ConfigIssue } from './errors.js';

/** What one configuration field must be. */
export type FieldRule =
  | { readonly kind: 'string'; readonly oneOf?: readonly string[] }
  | { readonly kind: 'integer'; readonly min?: number; readonly max?: number }
  | { readonly kind: 'number'; readonly min?: number; readonly max?: number }
  | { readonly kind: 'boolean' }
  | { readonly kind: 'function' }
  | { readonly kind: 'array'; readonly items?: FieldRule }
  | { readonly kind: 'object' }
  | { readonly kind: 'custom'; readonly expected: string; readonly check: (value: unknown) => boolean }
  /** A sub-object with its own spec; its issues are named `parent.child`. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  | { readonly kind: 'nested'; readonly spec: ConfigSpec<any> };

export interface FieldSpec<V> {
  readonly rule: FieldRule;
  /** Applied when the field is absent. A field with no default and not `optional` is required. */
  readonly default?: V;
  readonly optional?: boolean;
}

export type ConfigSpec<T> = { readonly [K in keyof T]-?: FieldSpec<T[K]> };

/**
 * Validates one component's configuration object against its spec: every field is checked, every
 * problem is collected, unknown fields are rejected (a typo must not silently fall back to a default),
 * and defaults fill the rest. `refine` adds checks across fields. Throws one `ConfigError` naming them all.
 */
export function validateConfig<T extends object>(
  component: string,
  input: unknown,
  spec: ConfigSpec<T>,
  refine?: (config: T) => ConfigIssue[],
): T {
  const issues: ConfigIssue[] = [];
  const output = collect(input === undefined ? {} : input, spec, '', issues);
  if (issues.length === 0 && refine) issues.push(...refine(output as T));
  if (issues.length > 0) throw new ConfigError(component, issues);
  return output as T;
}

function collect(input: unknown, spec: ConfigSpec<Record<string, unknown>>, prefix: string, issues: ConfigIssue[]): Record<string, unknown> {
  if (!isPlainObject(input)) {
    issues.push({ field: prefix ? prefix.slice(0, -1) : '(root)', expected: 'an object', received: describeValue(input) });
    return {};
  }
  const known = Object.keys(spec);
  for (const key of Object.keys(input)) {
    if (!known.includes(key)) {
      issues.push({ field: prefix + key, expected: `no such field (known: ${known.join(', ')})`, received: describeValue(input[key]) });
    }
  }
  const output: Record<string, unknown> = {};
  for (const key of known) {
    const field = spec[key] as FieldSpec<unknown>;
    const value = input[key];
    const name = prefix + key;
    if (field.rule.kind === 'nested') {
      if (value !== undefined || !field.optional) output[key] = collect(value === undefined ? (field.default ?? {}) : value, field.rule.spec, `${name}.`, issues);
      continue;
    }
    if (value === undefined) {
      if ('default' in field) output[key] = field.default;
      else if (!field.optional) issues.push({ field: name, expected: describeRule(field.rule), received: 'nothing (required)' });
      continue;
    }
    const problem = checkRule(field.rule, value);
    if (problem) issues.push({ field: name, expected: problem, received: describeValue(value) });
    else output[key] = value;
  }
  return Object.freeze(output);
}

/** Returns what was expected when `value` breaks `rule`, or undefined when it is fine. */
function checkRule(rule: FieldRule, value: unknown): string | undefined {
  const ok = (() => {
    switch (rule.kind) {
      case 'string':
        return typeof value === 'string' && value.length > 0 && (!rule.oneOf || rule.oneOf.includes(value));
      case 'integer':
        return Number.isInteger(value) && inRange(value as number, rule.min, rule.max);
      case 'number':
        return typeof value === 'number' && Number.isFinite(value) && inRange(value, rule.min, rule.max);
      case 'boolean':
        return typeof value === 'boolean';
      case 'function':
        return typeof value === 'function';
      case 'array':
        return Array.isArray(value) && (!rule.items || value.every((item) => checkRule(rule.items as FieldRule, item) === undefined));
      case 'object':
        return isPlainObject(value);
      case 'custom':
        return rule.check(value);
      case 'nested':
        return isPlainObject(value);
    }
  })();
  return ok ? undefined : describeRule(rule);
}

function inRange(value: number, min?: number, max?: number): boolean {
  return (min === undefined || value >= min) && (max === undefined || value <= max);
}

export function describeRule(rule: FieldRule): string {
  switch (rule.kind) {
    case 'string':
      return rule.oneOf ? `one of ${rule.oneOf.map((v) => `'${v}'`).join(', ')}` : 'a non-empty string';
    case 'integer':
    case 'number':
      return `${rule.kind === 'integer' ? 'an integer' : 'a finite number'}${rangeText(rule.min, rule.max)}`;
    case 'boolean':
      return 'a boolean';
    case 'function':
      return 'a function';
    case 'array':
      return rule.items ? `an array of ${describeRule(rule.items)}` : 'an array';
    case 'object':
      return 'an object';
    case 'custom':
      return rule.expected;
    case 'nested':
      return 'an object';
  }
}

function rangeText(min?: number, max?: number): string {
  if (min !== undefined && max !== undefined) return ` between ${String(min)} and ${String(max)}`;
  if (min !== undefined) return ` >= ${String(min)}`;
  if (max !== undefined) return ` <= ${String(max)}`;
  return '';
}

export function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return `an array of length ${String(value.length)}`;
  switch (typeof value) {
    case 'string':
      return value.length > 40 ? `'${value.slice(0, 40)}…'` : `'${value}'`;
    case 'number':
    case 'boolean':
    case 'bigint':
      return `${String(value)} (${typeof value})`;
    case 'undefined':
      return 'undefined';
    case 'function':
      return 'a function';
    default:
      return typeof value === 'object' ? 'an object' : typeof value;
  }
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}
