import { describe, expect, it, vi } from 'vitest';
import { SealBlocks } from '../src/audit/seal-blocks.js';

/** Seals `size` bytes of `fill` the way AuditLog.writeLines does: into room(), else fresh(size). */
function seal(blocks: SealBlocks, size: number, fill: number): { bytes: Buffer; release: () => void } {
  let into = blocks.room();
  if (into.length < size) into = blocks.fresh(size);
  const bytes = into.subarray(0, size).fill(fill);
  return { bytes, release: blocks.sealed(size) };
}

describe('SealBlocks: the audit log reuses the memory of sealed lane lines', () => {
  it('never hands out bytes whose write is not over, and reuses blocks once it is', () => {
    const alloc = vi.spyOn(Buffer, 'allocUnsafeSlow');
    try {
      const blocks = new SealBlocks(2);
      const inFlight: Array<{ bytes: Buffer; fill: number; release: () => void }> = [];
      // 20,000 batches of 1 B to 200 KiB, each write over three batches later
      for (let i = 0; i < 20_000; i++) {
        const size = 1 + ((i * 7919) % (200 << 10));
        const fill = i % 251;
        inFlight.push({ ...seal(blocks, size, fill), fill });
        if (inFlight.length > 3) {
          const done = inFlight.shift()!;
          // what was sealed is still there when its write happens
          expect(done.bytes.every((b) => b === done.fill)).toBe(true);
          done.release();
        }
      }
      // a handful of blocks, not one per batch (a fresh buffer per batch stays in RSS until a GC)
      expect(alloc.mock.calls.length).toBeGreaterThan(0);
      expect(alloc.mock.calls.length).toBeLessThanOrEqual(6);
    } finally {
      alloc.mockRestore();
    }
  });

  it('seals at the start of the block again once its writes are over: the memory already touched', () => {
    const blocks = new SealBlocks();
    const a = seal(blocks, 100 << 10, 1);
    a.release();
    // a write over before the next batch (the usual case): the same bytes again, not the next
    // 100 KiB of the block (every page of every block would be touched, each a page fault)
    const b = seal(blocks, 100 << 10, 2);
    expect(b.bytes.buffer).toBe(a.bytes.buffer);
    expect(b.bytes.byteOffset).toBe(a.bytes.byteOffset);
    // a write still in flight: the next batch goes after it
    const c = seal(blocks, 100 << 10, 3);
    expect(c.bytes.byteOffset).toBe(b.bytes.byteOffset + (100 << 10));
    expect(b.bytes.every((x) => x === 2)).toBe(true);
    b.release();
    c.release();
  });

  it('gives a batch larger than a block a block of its own size', () => {
    const blocks = new SealBlocks();
    const { bytes } = seal(blocks, 3 << 20, 1);
    expect(bytes.length).toBe(3 << 20);
    expect(blocks.room().length).toBe(0);
  });
});
