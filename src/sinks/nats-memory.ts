/**
 * The NATS sink's memory queue: records waiting for their acknowledgement, oldest first, their
 * payloads copied into one fixed block used as a ring. A Buffer per record would be garbage
 * outside V8's heap that outlives two scavenges (a record waits for its acknowledgement), and
 * V8 collects such memory only after tens of MB of it: ctrace's RSS grew by that much in a
 * storm. The block is the queue's bound in bytes; a record that does not fit is the caller's to
 * spool.
 *
 * Space is freed only when records leave the front (acknowledged): a record sent and not yet
 * acknowledged may still be referenced by the client's outbound buffer (while it reconnects),
 * and its bytes must stay as they were. For the same reason release() hands the records over
 * and leaves the block to them: the next record goes into a new block.
 */
import type { SpoolMessage } from './nats-spool.js';

export class MemoryQueue {
  private block: Buffer | null = null;
  private readonly items: SpoolMessage[] = [];
  /** where the next payload goes */
  private tail = 0;
  private used = 0;

  constructor(
    readonly maxBytes: number,
    readonly maxRecords: number,
  ) {}

  get length(): number {
    return this.items.length;
  }

  /** payload bytes held */
  get bytes(): number {
    return this.used;
  }

  /** Copies the payload in; false when it does not fit (nothing is kept). */
  push(subject: string, id: string, payload: Uint8Array): boolean {
    const n = payload.length;
    if (this.items.length >= this.maxRecords || n > this.maxBytes) return false;
    const at = this.place(n);
    if (at < 0) return false;
    this.block ??= Buffer.allocUnsafeSlow(this.maxBytes);
    this.block.set(payload, at);
    this.items.push({ subject, id, payload: this.block.subarray(at, at + n) });
    this.tail = at + n;
    this.used += n;
    return true;
  }

  /** The `n` oldest records (views: valid until they leave the queue). */
  peek(n: number): SpoolMessage[] {
    return this.items.slice(0, n);
  }

  /** The `n` oldest records were acknowledged: their space is free. */
  shift(n: number): void {
    const gone = this.items.splice(0, n);
    for (const m of gone) this.used -= m.payload.length;
    if (this.items.length === 0) this.tail = 0;
  }

  /** Every record, oldest first, for the caller to copy elsewhere; the queue starts afresh. */
  release(): SpoolMessage[] {
    const all = this.items.splice(0);
    this.block = null;
    this.tail = 0;
    this.used = 0;
    return all;
  }

  /**
   * Where n bytes go, or -1. The live bytes run from the oldest record's offset (head) to tail,
   * or, wrapped (the newest record lies before the oldest), [head, end) and [0, tail). A record
   * never wraps: the end left over is skipped.
   */
  private place(n: number): number {
    if (this.items.length === 0) return 0;
    const head = this.offsetOf(this.items[0]!);
    if (this.offsetOf(this.items[this.items.length - 1]!) >= head) {
      if (this.maxBytes - this.tail >= n) return this.tail;
      return n <= head ? 0 : -1;
    }
    return head - this.tail >= n ? this.tail : -1;
  }

  /** Where a held record's payload starts in the block. */
  private offsetOf(m: SpoolMessage): number {
    return m.payload.byteOffset - this.block!.byteOffset;
  }
}
