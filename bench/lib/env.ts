/** Settings read from the environment, validated: a typo fails fast instead of benchmarking the wrong thing. */

export const AMQP_URL = process.env['RMQ_URL'] ?? 'amqp://guest:guest@127.0.0.1:5672';

export function intEnv(name: string, fallback: number): number {
  const text = process.env[name];
  if (text === undefined || text === '') return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1) throw new Error(`${name} must be a positive integer, got '${text}'`);
  return value;
}

export function listEnv<T extends string>(name: string, allowed: readonly T[], fallback: readonly T[]): readonly T[] {
  const text = process.env[name];
  if (text === undefined || text === '') return fallback;
  const values = text.split(',').map((v) => v.trim());
  for (const value of values) {
    if (!(allowed as readonly string[]).includes(value)) throw new Error(`${name}: '${value}' is not one of ${allowed.join(', ')}`);
  }
  return values as T[];
}

/** `key=value,key=value` (librdkafka properties for the Confluent cases), or {} when unset. */
export function propertiesEnv(name: string): Record<string, string> {
  const text = process.env[name] ?? '';
  const properties: Record<string, string> = {};
  for (const pair of text.split(',').filter(Boolean)) {
    const at = pair.indexOf('=');
    if (at < 1) throw new Error(`${name}: '${pair}' is not key=value`);
    properties[pair.slice(0, at).trim()] = pair.slice(at + 1).trim();
  }
  return properties;
}
