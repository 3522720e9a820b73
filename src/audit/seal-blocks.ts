/**
 * The memory the audit log seals the lane's lines into: large blocks, each filled by batch after
 * batch and reused once every write from it is over. A fresh buffer per batch would be garbage
 * that stays in RSS until a GC, and a --log run allocates so little in JavaScript that GCs are
 * rare (tens of MB piled up in a container exec storm).
 */

const EMPTY: Buffer = Buffer.alloc(0);
/** A block: what a few hundred milliseconds of a storm's lines take. */
const BLOCK_BYTES = 1 << 20;
/** Below this much room left, a spare block is taken instead. */
const MIN_ROOM = 64 << 10;

export class SealBlocks {
  private block: Buffer = EMPTY;
  private used = 0;
  /** writes not over yet, per block */
  private readonly pending = new Map<Buffer, number>();
  private readonly spare: Buffer[] = [];

  /** `keep`: blocks kept for reuse besides the current one */
  constructor(private readonly keep = 2) {}

  /** The free part of the current block, where the next batch is sealed if it fits. */
  room(): Buffer {
    // every write from the current block is over: seal at its start again, in memory already
    // touched (a fresh page costs a fault, and filling blocks to their end touched every page of
    // every block: most of the log's cost in a run's first few MiB)
    if (this.used > 0 && !this.pending.has(this.block)) this.used = 0;
    if (this.block.length - this.used < MIN_ROOM && this.spare.length) this.use(this.spare.pop()!);
    return this.block.subarray(this.used);
  }

  /** A batch needs `size` bytes and room() has fewer: a new current block that holds them. */
  fresh(size: number): Buffer {
    const spare = this.spare.findIndex((b) => b.length >= size);
    this.use(spare >= 0 ? this.spare.splice(spare, 1)[0]! : Buffer.allocUnsafeSlow(Math.max(size, BLOCK_BYTES)));
    return this.block;
  }

  /** `bytes` were sealed at the start of room() or fresh(): returns what to call once they are written. */
  sealed(bytes: number): () => void {
    const b = this.block;
    this.used += bytes;
    this.pending.set(b, (this.pending.get(b) ?? 0) + 1);
    return () => {
      const left = this.pending.get(b)! - 1;
      if (left > 0) return void this.pending.set(b, left);
      this.pending.delete(b);
      if (b !== this.block) this.retire(b);
    };
  }

  private use(b: Buffer): void {
    const old = this.block;
    this.block = b;
    this.used = 0;
    if (old !== EMPTY && !this.pending.has(old)) this.retire(old);
  }

  private retire(b: Buffer): void {
    if (this.spare.length < this.keep) this.spare.push(b);
  }
}
