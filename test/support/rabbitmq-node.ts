import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** scripts/brokers/rabbitmq.sh: installs, starts, kills and stops the extra nodes (see its header). */
export const RABBITMQ_SCRIPT = fileURLToPath(new URL('../../scripts/brokers/rabbitmq.sh', import.meta.url));

/** Runs one subcommand of the script; its stdout's last line is the answer (a URL), its stderr goes into errors. */
export async function rabbitScript(args: readonly string[], timeoutMs: number): Promise<string> {
  try {
    const { stdout } = await run('bash', [RABBITMQ_SCRIPT, ...args], { timeout: timeoutMs, killSignal: 'SIGKILL', encoding: 'utf8' });
    return stdout.trim().split('\n').pop() ?? '';
  } catch (error) {
    const e = error as { stderr?: string; killed?: boolean; message: string };
    const why = e.killed === true ? `timed out after ${timeoutMs} ms` : (e.stderr ?? '').trim() || e.message;
    throw new Error(`rabbitmq.sh ${args.join(' ')}: ${why}`, { cause: error });
  }
}

const START_TIMEOUT_MS = 90_000;
const STOP_TIMEOUT_MS = 60_000;

/**
 * An extra single RabbitMQ node `rN@localhost` on AMQP port 5680+N, for fault tests: it can be killed with SIGKILL and
 * started again on the same data. Its files live in `.cache/rabbitmq/rN`. Always `stop()` it in an `after` hook.
 */
export class RabbitNode {
  private constructor(
    readonly n: number,
    readonly url: string,
  ) {}

  /** Starts node N (or finds it running) and resolves once it accepts AMQP. */
  static async start(n: number): Promise<RabbitNode> {
    if (!Number.isInteger(n) || n < 1 || n > 9) throw new Error(`RabbitNode: node number must be 1..9, got ${n}`);
    return new RabbitNode(n, await rabbitScript(['node-start', String(n)], START_TIMEOUT_MS));
  }

  get name(): string {
    return `r${this.n}@localhost`;
  }

  /** SIGKILL of the node's beam and its children: no goodbye to clients, whatever is not on disk is lost. */
  async kill9(): Promise<void> {
    await rabbitScript(['node-kill', String(this.n)], STOP_TIMEOUT_MS);
  }

  /** Starts the node again on the same data (after `kill9()`; a running node is stopped first) and waits for AMQP. */
  async restart(): Promise<void> {
    await rabbitScript(['node-restart', String(this.n)], START_TIMEOUT_MS + STOP_TIMEOUT_MS);
  }

  /** Graceful stop, then SIGKILL of anything left: nothing of the node keeps running. Its data stays. */
  async stop(): Promise<void> {
    await rabbitScript(['node-stop', String(this.n)], STOP_TIMEOUT_MS);
  }
}
