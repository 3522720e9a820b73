/**
 * The NATS sink's memory queue: payloads copied into one block used as a ring, freed from the
 * front only, bounded in bytes and records; a release leaves the block to the records handed over.
 */
import { describe, expect, it } from 'vitest';
import { MemoryQueue } from '../src/sinks/nats-memory.js';

const bytes = (s: string) => Buffer.from(s);
const text = (q: MemoryQueue) => q.peek(q.length).map((m) => Buffer.from(m.payload).toString());

describe('MemoryQueue', () => {
  it('keeps copies, oldest first, and refuses what would not fit in its bytes or records', () => {
    const q = new MemoryQueue(16, 3, (seq) => `id${seq}`);
    const src = bytes('aaaa');
    expect(q.push('s', 0, src)).toBe(true);
    src.fill(0x7a); // the caller's memory is reused: the queue kept its own copy
    expect(q.push('s', 1, bytes('bbbbbb'))).toBe(true);
    expect(q.push('s', 2, bytes('ccccccc'))).toBe(false); // 4 + 6 + 7 > 16
    expect(q.push('s', 2, bytes('cccccc'))).toBe(true);
    expect(q.push('s', 3, bytes('d'))).toBe(false); // 3 records
    expect(text(q)).toEqual(['aaaa', 'bbbbbb', 'cccccc']);
    expect(q.peek(2).map((m) => m.id)).toEqual(['id0', 'id1']);
    expect(q.bytes).toBe(16);
    expect(q.push('s', 4, Buffer.alloc(17))).toBe(false);
  });

  it('wraps round: space freed at the front is used again, and a record never straddles the end', () => {
    const q = new MemoryQueue(10, 100, String);
    expect(q.push('s', 0, bytes('0000'))).toBe(true); // [0,4)
    expect(q.push('s', 1, bytes('1111'))).toBe(true); // [4,8)
    expect(q.push('s', 2, bytes('222'))).toBe(false); // 2 left at the end, front not free
    q.shift(1);
    expect(q.push('s', 2, bytes('222'))).toBe(true); // [0,3): the end's 2 bytes skipped
    expect(q.push('s', 3, bytes('3'))).toBe(true); // [3,4)
    expect(q.push('s', 4, bytes('4'))).toBe(false); // up to the oldest record: full
    expect(text(q)).toEqual(['1111', '222', '3']);
    q.shift(1); // the front is now [0,3): not wrapped any more
    expect(q.push('s', 4, bytes('444444'))).toBe(true); // [4,10)
    expect(text(q)).toEqual(['222', '3', '444444']);
    expect(q.bytes).toBe(10);
    q.shift(3);
    expect(q.length).toBe(0);
    expect(q.push('s', 5, bytes('5555555555'))).toBe(true);
    expect(text(q)).toEqual(['5555555555']);
  });

  it('hands every record over on release and leaves their bytes alone: the next records go elsewhere', () => {
    const q = new MemoryQueue(8, 100, (seq) => 'abc'[seq]!);
    q.push('s', 0, bytes('aaaa'));
    q.push('s', 1, bytes('bbbb'));
    const sent = q.peek(2); // what the client may still hold in its outbound buffer
    const released = q.release();
    expect(released.map((m) => m.id)).toEqual(['a', 'b']);
    expect(q.length).toBe(0);
    expect(q.bytes).toBe(0);
    expect(q.push('s', 2, bytes('cccccccc'))).toBe(true);
    expect(sent.map((m) => Buffer.from(m.payload).toString())).toEqual(['aaaa', 'bbbb']);
    expect(text(q)).toEqual(['cccccccc']);
  });
});
