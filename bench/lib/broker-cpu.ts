import { readFileSync } from 'node:fs';

/**
 * CPU time of the local broker process, read from /proc (Linux, broker on this machine only). The pid comes
 * from BENCH_BROKER_PID or the system node's pid file; without either, readings are undefined.
 */
const PID_FILE = process.env['BENCH_BROKER_PID_FILE'] ?? '/var/lib/rabbitmq/mnesia/rabbit@localhost.pid';

function brokerPid(): number | undefined {
  const given = process.env['BENCH_BROKER_PID'] ?? readOr(PID_FILE);
  const pid = Number(given?.trim());
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

function readOr(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

const pid = brokerPid();
const TICK_MS = 10; // USER_HZ is 100 on Linux

/** User + system CPU milliseconds the broker has used so far, or undefined when it cannot be read. */
export function brokerCpuMs(): number | undefined {
  if (pid === undefined) return undefined;
  const stat = readOr(`/proc/${String(pid)}/stat`);
  if (stat === undefined) return undefined;
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const user = Number(fields[11]);
  const system = Number(fields[12]);
  return Number.isFinite(user) && Number.isFinite(system) ? (user + system) * TICK_MS : undefined;
}
