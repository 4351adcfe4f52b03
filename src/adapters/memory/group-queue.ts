import { DeliveryLimitExceededError, deadLetterRecord, type DeadLetterReason, type WireRecord } from '../../core/index.js';

export interface StoredMessage {
  readonly seq: number;
  readonly topic: string;
  readonly record: WireRecord;
  readonly publishedAt: Date;
}

/** One copy of a message in one group's queue; `deliveries` counts its delivery attempts. */
export interface QueueEntry {
  readonly message: StoredMessage;
  deliveries: number;
}

/** The id of a message whose producer gave none: its topic and position in the broker. */
export function memoryFallbackId(message: StoredMessage): string {
  return `memory:${message.topic}:${String(message.seq)}`;
}

/** A member of a group that takes deliveries: a subscription. */
export interface GroupMember {
  /** True while the member has room for one more unacknowledged delivery (its prefetch). */
  canAccept(): boolean;
  deliver(tag: number, entry: QueueEntry): void;
}

interface InFlight {
  readonly entry: QueueEntry;
  readonly member: GroupMember;
}

export interface GroupQueueOptions {
  readonly topic: string;
  readonly group: string;
  readonly deliveryLimit: number;
  readonly deadLetter: (record: WireRecord) => void;
}

/**
 * One consumer group's queue on a topic: each message to one member, unacked messages held until
 * settled, returned ones redelivered in their original order. A key with a message in flight is
 * locked, so messages sharing a key are never processed concurrently and keep their order.
 */
export class GroupQueue {
  private readonly ready: QueueEntry[] = [];
  private readonly inFlight = new Map<number, InFlight>();
  private readonly lockedKeys = new Set<string>();
  /** Ready entries per key, and how many ready entries wait on a locked key: lets dispatch skip a futile scan. */
  private readonly readyPerKey = new Map<string, number>();
  private readyBlocked = 0;
  private readonly members: GroupMember[] = [];
  private nextTag = 1;
  private turn = 0;
  private dispatching = false;

  constructor(private readonly options: GroupQueueOptions) {}

  get readyCount(): number {
    return this.ready.length;
  }

  get inFlightCount(): number {
    return this.inFlight.size;
  }

  get memberCount(): number {
    return this.members.length;
  }

  enqueue(message: StoredMessage): void {
    this.ready.push({ message, deliveries: 0 });
    this.countReady(message.record.key, 1);
  }

  addMember(member: GroupMember): void {
    this.members.push(member);
    this.dispatch();
  }

  /** Removes a member; everything it holds unsettled goes back to the queue as a failed delivery. */
  removeMember(member: GroupMember): void {
    const index = this.members.indexOf(member);
    if (index >= 0) this.members.splice(index, 1);
    for (const [tag, flight] of this.inFlight) {
      if (flight.member === member) this.requeue(tag, undefined);
    }
    this.dispatch();
  }

  ack(tag: number): void {
    if (this.take(tag)) this.dispatch();
  }

  /** A failed delivery: redelivered, or dead-lettered once it reached the delivery limit. */
  requeue(tag: number, error: unknown): void {
    const entry = this.take(tag);
    if (!entry) return;
    if (entry.deliveries >= this.options.deliveryLimit) {
      this.deadLetter(entry, 'delivery-limit', new DeliveryLimitExceededError(entry.deliveries, error));
    } else {
      this.insertInOrder(entry);
    }
    this.dispatch();
  }

  /** Returned unprocessed (a closing member's buffer): does not count as a delivery attempt. */
  release(tag: number): void {
    const entry = this.take(tag);
    if (!entry) return;
    entry.deliveries -= 1;
    this.insertInOrder(entry);
    this.dispatch();
  }

  reject(tag: number, reason: DeadLetterReason, error: unknown): void {
    const entry = this.take(tag);
    if (!entry) return;
    this.deadLetter(entry, reason, error);
    this.dispatch();
  }

  isHeldBy(tag: number, member: GroupMember): boolean {
    return this.inFlight.get(tag)?.member === member;
  }

  dispatch(): void {
    if (this.dispatching) return;
    this.dispatching = true;
    try {
      while (this.deliverOne()) {
        /* keep going while some member takes a message */
      }
    } finally {
      this.dispatching = false;
    }
  }

  private deliverOne(): boolean {
    const count = this.members.length;
    for (let i = 0; i < count; i++) {
      const member = this.members[(this.turn + i) % count] as GroupMember;
      if (!member.canAccept()) continue;
      if (this.ready.length === this.readyBlocked) return false; // every ready message waits on a key in flight
      const index = this.ready.findIndex((e) => e.message.record.key === undefined || !this.lockedKeys.has(e.message.record.key));
      if (index < 0) return false;
      const [entry] = this.ready.splice(index, 1) as [QueueEntry];
      const key = entry.message.record.key;
      this.countReady(key, -1);
      if (key !== undefined) {
        this.lockedKeys.add(key);
        this.readyBlocked += this.readyPerKey.get(key) ?? 0;
      }
      entry.deliveries += 1;
      const tag = this.nextTag++;
      this.inFlight.set(tag, { entry, member });
      this.turn = (this.turn + i + 1) % count;
      member.deliver(tag, entry);
      return true;
    }
    return false;
  }

  private take(tag: number): QueueEntry | undefined {
    const flight = this.inFlight.get(tag);
    if (!flight) return undefined;
    this.inFlight.delete(tag);
    const key = flight.entry.message.record.key;
    if (key !== undefined && this.lockedKeys.delete(key)) this.readyBlocked -= this.readyPerKey.get(key) ?? 0;
    return flight.entry;
  }

  private insertInOrder(entry: QueueEntry): void {
    const seq = entry.message.seq;
    let index = this.ready.findIndex((e) => e.message.seq > seq);
    if (index < 0) index = this.ready.length;
    this.ready.splice(index, 0, entry);
    this.countReady(entry.message.record.key, 1);
  }

  private countReady(key: string | undefined, delta: number): void {
    if (key === undefined) return;
    const count = (this.readyPerKey.get(key) ?? 0) + delta;
    if (count === 0) this.readyPerKey.delete(key);
    else this.readyPerKey.set(key, count);
    if (this.lockedKeys.has(key)) this.readyBlocked += delta;
  }

  private deadLetter(entry: QueueEntry, reason: DeadLetterReason, error: unknown): void {
    const { topic, group } = this.options;
    const id = memoryFallbackId(entry.message);
    this.options.deadLetter(deadLetterRecord(entry.message.record, { id, reason, error, topic, group, attempts: entry.deliveries }));
  }
}
