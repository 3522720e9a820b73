/**
 * The NATS sink's memory queue: records waiting for their acknowledgement, oldest first, their
 * payloads copied into one fixed block used as a ring. A Buffer per record would be garbage
 * outside V8's heap that outlives two scavenges (a record waits for its acknowledgement), and
 * V8 collects such memory only after tens of MB of it: ctrace's RSS grew by that much in a
 * storm. The block is the queue's bound in bytes; a record that does not fit is the caller's to
 * spool.
 *
 * For the same reason nothing else per record is a JavaScript object while it waits: where its
 * payload lies, its subject (an index into the few subjects) and its sequence number are kept
 * in typed arrays, and the messages peek() hands out are made for the send and die young. An
 * object per waiting record (its id string, a view of its payload) was promoted to V8's old
 * space in a storm and kept RSS creeping by a few MB per 10,000 records between major GCs.
 *
 * Space is freed only when records leave the front (acknowledged): a record sent and not yet
 * acknowledged may still be referenced by the client's outbound buffer (while it reconnects),
 * and its bytes must stay as they were. For the same reason release() hands the records over
 * and leaves the block to them: the next record goes into a new block.
 */
import type { SpoolMessage } from './nats-spool.js';

export class MemoryQueue {
  private block: Buffer | null = null;
  /** ring of the records' fields: index (head + i) % maxRecords is the i-th oldest */
  private readonly offsets: Int32Array;
  private readonly lengths: Int32Array;
  private readonly subjectOf: Uint16Array;
  private readonly seqs: Float64Array;
  private readonly subjects: string[] = [];
  private readonly subjectIndex = new Map<string, number>();
  private head = 0;
  private count = 0;
  /** where the next payload goes */
  private tail = 0;
  private used = 0;

  /** idOf: a record's message id from its sequence number */
  constructor(
    readonly maxBytes: number,
    readonly maxRecords: number,
    private readonly idOf: (seq: number) => string,
  ) {
    this.offsets = new Int32Array(maxRecords);
    this.lengths = new Int32Array(maxRecords);
    this.subjectOf = new Uint16Array(maxRecords);
    this.seqs = new Float64Array(maxRecords);
  }

  get length(): number {
    return this.count;
  }

  /** payload bytes held */
  get bytes(): number {
    return this.used;
  }

  /** Copies the payload in; false when it does not fit (nothing is kept). */
  push(subject: string, seq: number, payload: Uint8Array): boolean {
    const n = payload.length;
    if (this.count >= this.maxRecords || n > this.maxBytes) return false;
    let s = this.subjectIndex.get(subject);
    if (s === undefined) {
      if (this.subjects.length > 0xffff) return false;
      s = this.subjects.push(subject) - 1;
      this.subjectIndex.set(subject, s);
    }
    const at = this.place(n);
    if (at < 0) return false;
    this.block ??= Buffer.allocUnsafeSlow(this.maxBytes);
    this.block.set(payload, at);
    const k = (this.head + this.count) % this.maxRecords;
    this.offsets[k] = at;
    this.lengths[k] = n;
    this.subjectOf[k] = s;
    this.seqs[k] = seq;
    this.count++;
    this.tail = at + n;
    this.used += n;
    return true;
  }

  /** The `n` oldest records (views: valid until they leave the queue). */
  peek(n: number): SpoolMessage[] {
    const out: SpoolMessage[] = [];
    for (let i = 0; i < n && i < this.count; i++) out.push(this.message(i));
    return out;
  }

  /** The `n` oldest records were acknowledged: their space is free. */
  shift(n: number): void {
    const k = Math.min(n, this.count);
    for (let i = 0; i < k; i++) this.used -= this.lengths[(this.head + i) % this.maxRecords]!;
    this.head = (this.head + k) % this.maxRecords;
    this.count -= k;
    if (this.count === 0) this.tail = 0;
  }

  /** Every record, oldest first, for the caller to copy elsewhere; the queue starts afresh. */
  release(): SpoolMessage[] {
    const all = this.peek(this.count);
    this.block = null;
    this.head = 0;
    this.count = 0;
    this.tail = 0;
    this.used = 0;
    return all;
  }

  private message(i: number): SpoolMessage {
    const k = (this.head + i) % this.maxRecords;
    const at = this.offsets[k]!;
    return { subject: this.subjects[this.subjectOf[k]!]!, id: this.idOf(this.seqs[k]!), payload: this.block!.subarray(at, at + this.lengths[k]!) };
  }

  /**
   * Where n bytes go, or -1. The live bytes run from the oldest record's offset (head) to tail,
   * or, wrapped (the newest record lies before the oldest), [head, end) and [0, tail). A record
   * never wraps: the end left over is skipped.
   */
  private place(n: number): number {
    if (this.count === 0) return 0;
    const head = this.offsets[this.head]!;
    if (this.offsets[(this.head + this.count - 1) % this.maxRecords]! >= head) {
      if (this.maxBytes - this.tail >= n) return this.tail;
      return n <= head ? 0 : -1;
    }
    return head - this.tail >= n ? this.tail : -1;
  }
}
