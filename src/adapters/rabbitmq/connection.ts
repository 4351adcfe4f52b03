import { EventEmitter } from 'node:events';
import { connect, type ChannelModel, type RecoveringChannelModel } from 'amqplib';
import { ConnectionLostError } from '../../core/index.js';
import type { ResolvedRabbitMqConfig } from './config.js';

/** Lifecycle events of the connection. None is named `error`, so an unobserved event never crashes the process. */
export interface RabbitMqEvents {
  connect: [];
  disconnect: [error: Error];
  'reconnect-scheduled': [info: { attempt: number; delayMs: number; error: Error }];
  'reconnect-failed': [error: Error];
  blocked: [reason: string];
  unblocked: [];
  /** A failure no caller awaits: a refused re-declaration after reconnect, a consumer that could not re-attach. */
  failure: [error: Error];
}

/** A part of the transport that lives on channels: re-created on every new connection. */
export interface ConnectionParticipant {
  attach(model: ChannelModel): Promise<void>;
  detach(error: Error): void;
}

/**
 * One AMQP connection kept alive by amqplib's own recovery (backoff with jitter, `setup` hook). On every
 * (re)connect the setup hook re-attaches each participant: topology, publisher channels, consumers.
 */
export class RabbitConnection {
  readonly events = new EventEmitter<RabbitMqEvents>();
  private recovering: RecoveringChannelModel | undefined;
  private model: ChannelModel | undefined;
  private readonly participants = new Set<ConnectionParticipant>();
  private closed = false;

  constructor(private readonly config: ResolvedRabbitMqConfig) {}

  /** Connects; rejects with `ConnectionLostError` once `reconnect.initialMaxRetries` attempts have failed. */
  async open(): Promise<void> {
    const r = this.config.reconnect;
    try {
      this.recovering = await connect(withHeartbeat(this.config.url, this.config.heartbeatSeconds), {
        noDelay: true, // without it Nagle's algorithm adds ~40 ms to every lone publish and its confirm
        clientProperties: { connection_name: this.config.connectionName },
        recovery: {
          initialDelay: r.initialDelayMs,
          maxDelay: r.maxDelayMs,
          factor: r.factor,
          jitter: r.jitter,
          maxRetries: r.maxRetries < 0 ? Infinity : r.maxRetries,
          initialMaxRetries: r.initialMaxRetries,
          setup: (model: ChannelModel) => this.setup(model),
        },
      });
    } catch (error) {
      throw new ConnectionLostError(`Cannot connect to RabbitMQ at ${redact(this.config.url)}: ${(error as Error).message}`, { cause: error });
    }
    this.forwardEvents(this.recovering);
  }

  get connected(): boolean {
    return this.model !== undefined;
  }

  current(): ChannelModel | undefined {
    return this.model;
  }

  /** Adds a participant; attaches it at once when connected (its errors go to the caller). */
  async register(participant: ConnectionParticipant): Promise<void> {
    this.participants.add(participant);
    if (this.model) await participant.attach(this.model);
  }

  unregister(participant: ConnectionParticipant): void {
    this.participants.delete(participant);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.participants.clear();
    await this.recovering?.close();
    this.model = undefined;
  }

  private async setup(model: ChannelModel): Promise<void> {
    this.model = model;
    for (const participant of this.participants) {
      try {
        await participant.attach(model);
      } catch (error) {
        if (this.model !== model) throw error; // the new connection died during setup: amqplib retries it
        this.events.emit('failure', error as Error);
        this.retryAttach(participant, model, 1);
      }
    }
  }

  /** A participant that failed to attach to a healthy connection tries again with backoff, alone. */
  private retryAttach(participant: ConnectionParticipant, model: ChannelModel, attempt: number): void {
    const r = this.config.reconnect;
    const delay = Math.min(r.maxDelayMs, r.initialDelayMs * r.factor ** attempt);
    setTimeout(() => {
      if (this.model !== model || !this.participants.has(participant)) return;
      participant.attach(model).catch((error: unknown) => {
        this.events.emit('failure', error as Error);
        this.retryAttach(participant, model, attempt + 1);
      });
    }, delay).unref();
  }

  private forwardEvents(recovering: RecoveringChannelModel): void {
    recovering.on('connect', () => this.events.emit('connect'));
    recovering.on('disconnect', (error: Error) => {
      this.model = undefined;
      for (const participant of this.participants) participant.detach(error);
      this.events.emit('disconnect', error);
    });
    recovering.on('reconnect-scheduled', (info: { attempt: number; delay: number; error: Error }) =>
      this.events.emit('reconnect-scheduled', { attempt: info.attempt, delayMs: info.delay, error: info.error }),
    );
    recovering.on('reconnect-failed', (error: Error) => this.events.emit('reconnect-failed', error));
    recovering.on('blocked', (reason: string) => this.events.emit('blocked', reason));
    recovering.on('unblocked', () => this.events.emit('unblocked'));
    recovering.on('error', (error: Error) => this.events.emit('failure', error));
  }
}

/** amqplib reads the heartbeat from the URL; an explicit `?heartbeat=` in the URL wins. */
function withHeartbeat(url: string, seconds: number): string {
  const parsed = new URL(url);
  if (!parsed.searchParams.has('heartbeat')) parsed.searchParams.set('heartbeat', String(seconds));
  return parsed.toString();
}

export function redact(url: string): string {
  return url.replace(/\/\/([^:@/]+):([^@/]+)@/, '//$1:***@');
}
