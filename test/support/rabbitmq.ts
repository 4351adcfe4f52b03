import { connect as tcpConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';

/** The broker the tests use: `RMQ_URL` (set by the global setup when it started one), else the machine's own node. */
export const DEFAULT_RABBIT_URL = 'amqp://guest:guest@127.0.0.1:5672';

export function rabbitUrl(): string {
  const url = process.env['RMQ_URL'];
  return url !== undefined && url !== '' ? url : DEFAULT_RABBIT_URL;
}

/** AMQP 0-9-1 protocol header; a broker answers it with a Connection.Start frame. */
const PROTOCOL_HEADER = Buffer.from([0x41, 0x4d, 0x51, 0x50, 0, 0, 9, 1]);

/**
 * True when an AMQP 0-9-1 broker answers at `url` within `timeoutMs`: it opens a socket, sends the protocol header and
 * waits for a Connection.Start frame (frame type 1, channel 0, class 10, method 10). No credentials are needed.
 */
export async function reachable(url: string, timeoutMs = 2000): Promise<boolean> {
  let target: URL;
  try {
    target = new URL(url);
  } catch {
    return false;
  }
  const tls = target.protocol === 'amqps:';
  if (!tls && target.protocol !== 'amqp:') return false;
  const host = target.hostname.replace(/^\[(.*)\]$/, '$1') || '127.0.0.1';
  const port = target.port !== '' ? Number(target.port) : tls ? 5671 : 5672;

  return new Promise<boolean>((resolve) => {
    let received = Buffer.alloc(0);
    let settled = false;
    const socket: Socket = tls
      ? tlsConnect({ host, port, servername: host, rejectUnauthorized: false }, () => socket.write(PROTOCOL_HEADER))
      : tcpConnect({ host, port }, () => socket.write(PROTOCOL_HEADER));
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
      if (received.length < 11) return;
      finish(received[0] === 1 && received.readUInt16BE(1) === 0 && received.readUInt16BE(7) === 10 && received.readUInt16BE(9) === 10);
    });
    socket.on('error', () => { finish(false); });
    socket.on('close', () => { finish(false); });
  });
}
