import { handlerAbortController, settlesWithin, type DeliveryPipeline, type ResolvedSubscribeOptions, type Subscription } from '../../core/index.js';
import { memoryFallbackId, type GroupMember, type GroupQueue, type QueueEntry } from './group-queue.js';

interface Delivery {
  readonly tag: number;
  readonly entry: QueueEntry;
}

type State = 'active' | 'closing' | 'closed' | 'crashed';

/**
 * One member of a group: holds at most `prefetch` unacknowledged deliveries and runs at most
 * `concurrency` handlers; settles each delivery with the group only after its handler finished.
 */
export class MemorySubscription implements Subscription, GroupMember {
  private readonly buffer: Delivery[] = [];
  private readonly running = new Set<Promise<void>>();
  private readonly abort = handlerAbortController();
  private state: State = 'active';
  private closing: Promise<void> | undefined;

  constructor(
    readonly topic: string,
    readonly group: string,
    private readonly queue: GroupQueue,
    private readonly pipeline: DeliveryPipeline,
    private readonly options: ResolvedSubscribeOptions,
    private readonly defaultContentType: string,
    private readonly onClosed: (subscription: MemorySubscription) => void,
  ) {}

  canAccept(): boolean {
    return this.state === 'active' && this.buffer.length + this.running.size < this.options.prefetch;
  }

  deliver(tag: number, entry: QueueEntry): void {
    this.buffer.push({ tag, entry });
    queueMicrotask(() => {
      this.pump();
    });
  }

  close(): Promise<void> {
    this.closing ??= this.shutDown();
    return this.closing;
  }

  /** Fault injection: the consumer dies without settling anything; the group redelivers all it held. */
  crash(): void {
    if (this.state === 'closed' || this.state === 'crashed') return;
    this.state = 'crashed';
    this.abort.abort(new Error('consumer crashed'));
    this.buffer.length = 0;
    this.queue.removeMember(this);
    this.onClosed(this);
  }

  private pump(): void {
    while (this.state === 'active' && this.running.size < this.options.concurrency && this.buffer.length > 0) {
      const delivery = this.buffer.shift() as Delivery;
      const run = this.process(delivery).finally(() => {
        this.running.delete(run);
        this.pump();
        this.queue.dispatch();
      });
      this.running.add(run);
    }
  }

  private async process({ tag, entry }: Delivery): Promise<void> {
    const { message } = entry;
    const fallback = {
      id: memoryFallbackId(message),
      attempt: entry.deliveries,
      defaultContentType: this.defaultContentType,
      timestamp: message.publishedAt,
    };
    const outcome = await this.pipeline(message.record, fallback, { topic: this.topic, group: this.group, signal: this.abort.signal });
    if (!this.queue.isHeldBy(tag, this)) return; // crashed or abandoned meanwhile: the group already took it back
    if (outcome.action === 'ack') this.queue.ack(tag);
    else if (outcome.action === 'requeue') this.queue.requeue(tag, outcome.error);
    else this.queue.reject(tag, outcome.reason, outcome.error);
  }

  private async shutDown(): Promise<void> {
    if (this.state !== 'active') return;
    this.state = 'closing';
    for (const { tag } of this.buffer.splice(0)) this.queue.release(tag);
    if (!(await settlesWithin(Promise.allSettled([...this.running]), this.options.closeTimeoutMs))) {
      this.abort.abort(new Error('close timeout: handler abandoned'));
    }
    this.state = 'closed';
    this.queue.removeMember(this);
    this.onClosed(this);
  }
}
