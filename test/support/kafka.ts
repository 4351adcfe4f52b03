import { connect, type Socket } from 'node:net';

/** The broker the tests use: `KAFKA_BROKERS` (comma-separated host:port; set by the global setup), else the standard node. */
export const DEFAULT_KAFKA_BROKERS: readonly string[] = ['127.0.0.1:9092'];

export function kafkaBrokers(): string[] {
  const list = (process.env['KAFKA_BROKERS'] ?? '')
    .split(',')
    .map((broker) => broker.trim())
    .filter((broker) => broker !== '');
  return list.length > 0 ? list : [...DEFAULT_KAFKA_BROKERS];
}

/**
 * ApiVersions v0 request: size 13, api key 18, version 0, correlation id 1, client id "rmq". Every Kafka broker answers
 * it (a version it does not support still gets a response, with error 35 UNSUPPORTED_VERSION).
 */
const API_VERSIONS_REQUEST = Buffer.from([0, 0, 0, 13, 0, 18, 0, 0, 0, 0, 0, 1, 0, 3, 0x72, 0x6d, 0x71]);

function splitHostPort(broker: string): { host: string; port: number } | undefined {
  const match = /^\[?([^\]]*?)\]?:(\d+)$/.exec(broker.trim());
  if (match?.[1] === undefined || match[2] === undefined) return undefined;
  return { host: match[1] === '' ? '127.0.0.1' : match[1], port: Number(match[2]) };
}

/** True when a Kafka broker at `broker` (host:port) answers an ApiVersions request within `timeoutMs`. */
export async function kafkaAnswers(broker: string, timeoutMs = 2000): Promise<boolean> {
  const target = splitHostPort(broker);
  if (target === undefined) return false;
  return new Promise<boolean>((resolve) => {
    let received = Buffer.alloc(0);
    let settled = false;
    const socket: Socket = connect(target, () => socket.write(API_VERSIONS_REQUEST));
    const finish = (ok: boolean): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => { finish(false); }, timeoutMs);
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      if (received.length < 10) return;
      const errorCode = received.readInt16BE(8);
      finish(received.readInt32BE(4) === 1 && (errorCode === 0 || errorCode === 35));
    });
    socket.on('error', () => { finish(false); });
    socket.on('close', () => { finish(false); });
  });
}

/**
 * True when at least one of `brokers` answers Kafka's ApiVersions request within `timeoutMs` (all are asked at once):
 * enough for a client to bootstrap. No client library and no credentials are needed.
 */
export async function kafkaReachable(brokers: readonly string[], timeoutMs = 2000): Promise<boolean> {
  if (brokers.length === 0) return false;
  const answers = await Promise.all(brokers.map((broker) => kafkaAnswers(broker, timeoutMs)));
  return answers.includes(true);
}
