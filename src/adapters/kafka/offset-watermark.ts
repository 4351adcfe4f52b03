/**
 * Tracks which offsets of one partition are done when several run at once, and yields the commit
 * watermark: the offset after the longest run of done offsets from the start. Committing it never
 * skips a message still in flight (a commit of N+1 means 0..N are done — no gaps).
 */
export class OffsetWatermark {
  private readonly pending: bigint[] = [];
  private readonly done = new Set<bigint>();
  private committable: bigint | undefined;

  /** Offsets must be added in increasing order, as they are read from the partition. */
  add(offset: string): void {
    this.pending.push(BigInt(offset));
  }

  complete(offset: string): void {
    this.done.add(BigInt(offset));
    while (this.pending.length > 0 && this.done.has(this.pending[0] as bigint)) {
      const head = this.pending.shift() as bigint;
      this.done.delete(head);
      this.committable = head + 1n;
    }
  }

  /** The offset to commit (the next one to read), or undefined when nothing new is done. */
  next(): string | undefined {
    return this.committable === undefined ? undefined : this.committable.toString();
  }

  get inFlight(): number {
    return this.pending.length;
  }
}

/** Where a partition processed strictly in order stands: the offset after the last one done. */
export class InOrderProgress {
  private last: string | undefined;

  complete(offset: string): void {
    this.last = offset;
  }

  next(): string | undefined {
    return this.last === undefined ? undefined : (BigInt(this.last) + 1n).toString();
  }
}
