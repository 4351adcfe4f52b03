import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** scripts/brokers/kafka.sh: installs, starts, kills and stops Kafka nodes and a 3-node cluster (see its header). */
export const KAFKA_SCRIPT = fileURLToPath(new URL('../../scripts/brokers/kafka.sh', import.meta.url));

/** Runs one subcommand of the script; its stdout's last line is the answer (broker addresses), its stderr goes into errors. */
export async function kafkaScript(args: readonly string[], timeoutMs: number): Promise<string> {
  try {
    const { stdout } = await run('bash', [KAFKA_SCRIPT, ...args], { timeout: timeoutMs, killSignal: 'SIGKILL', encoding: 'utf8' });
    return stdout.trim().split('\n').pop() ?? '';
  } catch (error) {
    const e = error as { stderr?: string; killed?: boolean; message: string };
    const why = e.killed === true ? `timed out after ${timeoutMs} ms` : (e.stderr ?? '').trim() || e.message;
    throw new Error(`kafka.sh ${args.join(' ')}: ${why}`, { cause: error });
  }
}

// Start includes a first-time Maven download of the jars (about 4 s, more on a slow network) and the 60 s readiness wait.
const START_TIMEOUT_MS = 180_000;
// The script waits 30 s after SIGTERM, then sends SIGKILL.
const STOP_TIMEOUT_MS = 60_000;

function brokerList(answer: string): string[] {
  return answer.split(',').filter((broker) => broker !== '');
}

/**
 * An extra single Kafka node N (1..9; KRaft, broker + controller) on 127.0.0.1:29090+N, for fault tests: it can be
 * killed with SIGKILL and started again on the same data. Its files live in `.cache/kafka/nN`; its java command line
 * carries `-Dreliable.mq.node=kafka-nN` (see `marker`). Always `stop()` it in an `after` hook.
 */
export class KafkaNode {
  private constructor(
    readonly n: number,
    readonly brokers: string[],
  ) {}

  /** Starts node N (or finds it running) and resolves once it has logged "Kafka Server started" and answers. */
  static async start(n: number): Promise<KafkaNode> {
    if (!Number.isInteger(n) || n < 1 || n > 9) throw new Error(`KafkaNode: node number must be 1..9, got ${n}`);
    return new KafkaNode(n, brokerList(await kafkaScript(['start', String(n)], START_TIMEOUT_MS)));
  }

  /** The value of `-Dreliable.mq.node` on the node's command line: `pgrep -f reliable.mq.node=kafka-nN` finds it. */
  get marker(): string {
    return `kafka-n${this.n}`;
  }

  /** SIGKILL of the JVM: clients get no goodbye. What the broker had written (page cache included) stays on disk. */
  async kill9(): Promise<void> {
    await kafkaScript(['kill', String(this.n)], STOP_TIMEOUT_MS);
  }

  /** Starts the node again on the same data (after `kill9()`; a running node is stopped first) and waits for it. */
  async restart(): Promise<void> {
    await kafkaScript(['restart', String(this.n)], START_TIMEOUT_MS + STOP_TIMEOUT_MS);
  }

  /** SIGTERM, then SIGKILL after 30 s: nothing of the node keeps running. Its data stays (see `wipe()`). */
  async stop(): Promise<void> {
    await kafkaScript(['stop', String(this.n)], STOP_TIMEOUT_MS);
  }

  /** `stop()`, then deletes the node's folder: the next start formats a new, empty node. */
  async wipe(): Promise<void> {
    await kafkaScript(['wipe', String(this.n)], STOP_TIMEOUT_MS);
  }
}

/**
 * A 3-node KRaft cluster (ids 1..3, each broker + controller) on 127.0.0.1:19092-19094, replication factor 3 for the
 * internal topics and new topics, min.insync.replicas 2, broker session timeout 3 s. Data in `.cache/kafka/cluster-NAME`;
 * the java command lines carry `-Dreliable.mq.node=kafka-cluster-NAME-ID`. Only one cluster runs at a time (fixed ports).
 * Always `stop()` it in an `after` hook.
 */
export class KafkaCluster {
  private constructor(
    readonly name: string,
    readonly brokers: string[],
  ) {}

  /** Starts the cluster (or finds it running) and resolves once all 3 nodes have started and answer. */
  static async start(name: string): Promise<KafkaCluster> {
    if (!/^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$/.test(name)) throw new Error(`KafkaCluster: bad cluster name '${name}'`);
    return new KafkaCluster(name, brokerList(await kafkaScript(['cluster-start', name], START_TIMEOUT_MS)));
  }

  /** The address of node `id` (1..3). */
  broker(id: number): string {
    const broker = this.brokers[id - 1];
    if (broker === undefined) throw new Error(`KafkaCluster: node id must be 1..3, got ${id}`);
    return broker;
  }

  /** SIGKILL of node `id` (1..3). */
  async kill9(id: number): Promise<void> {
    await kafkaScript(['cluster-kill', this.name, String(id)], STOP_TIMEOUT_MS);
  }

  /** Starts node `id` again on its data (a running node is stopped first) and waits until it has started. */
  async restart(id: number): Promise<void> {
    await kafkaScript(['cluster-restart', this.name, String(id)], START_TIMEOUT_MS + STOP_TIMEOUT_MS);
  }

  /** Stops the 3 nodes (SIGTERM, SIGKILL after 30 s): nothing of the cluster keeps running. The data stays. */
  async stop(): Promise<void> {
    await kafkaScript(['cluster-stop', this.name], STOP_TIMEOUT_MS);
  }

  /** `stop()`, then deletes the cluster's folder. */
  async wipe(): Promise<void> {
    await kafkaScript(['cluster-wipe', this.name], STOP_TIMEOUT_MS);
  }
}
