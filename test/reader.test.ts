/** Splitting streams into records (src/audit/reader.ts): lines across chunks, the size limit, live chunk ends. */
import { describe, expect, it } from 'vitest';
import { storedRecords, type StoredRecord } from '../src/audit/reader.js';
import { encodeDelimited } from '../src/format/protobuf.js';
import { execEvent } from './helpers/events.js';

async function all(chunks: Array<string | Buffer>, maxBytes?: number): Promise<StoredRecord[]> {
  const out: StoredRecord[] = [];
  for await (const r of storedRecords(chunks, 'auto', undefined, maxBytes)) out.push(r);
  return out;
}

describe('storedRecords', () => {
  it('joins a line that spans chunks, with its offset and index', async () => {
    const recs = await all(['{"a":1}\n{"b', '":', '2}\n{"c":3}\n']);
    expect(recs.map((r) => r.bytes.toString())).toEqual(['{"a":1}', '{"b":2}', '{"c":3}']);
    expect(recs.map((r) => r.offset)).toEqual([0, 8, 16]);
    expect(recs.map((r) => r.index)).toEqual([1, 2, 3]);
  });

  it('marks the last record of each chunk (a live reader prints there)', async () => {
    const recs = await all(['{"a":1}\n{"b":2}\n', '{"c":3}\n{"d"', ':4}\n']);
    expect(recs.map((r) => !!r.endOfChunk)).toEqual([false, true, true, true]);
  });

  it('a line over the limit is one tooLong record, its bytes not kept; the next line is read', async () => {
    const long = '{"x":"' + 'y'.repeat(100) + '"}';
    const recs = await all(['{"a":1}\n', long.slice(0, 40), long.slice(40), '\n{"b":2}\n'], 64);
    expect(recs).toHaveLength(3);
    expect(recs[1]).toMatchObject({ index: 2, tooLong: long.length, complete: true });
    expect(recs[1]!.bytes.length).toBe(0);
    expect(recs[2]!.bytes.toString()).toBe('{"b":2}');
    expect(recs[2]!.offset).toBe(8 + long.length + 1);
  });

  it('a cut-short last line is incomplete', async () => {
    const recs = await all(['{"a":1}\n{"b"']);
    expect(recs.at(-1)).toMatchObject({ index: 2, complete: false });
    expect(recs.at(-1)!.bytes.toString()).toBe('{"b"');
  });

  it('protobuf frames split byte by byte come out whole', async () => {
    const frames = Buffer.concat([encodeDelimited(execEvent(1)), encodeDelimited(execEvent(2))]);
    const chunks = [...frames].map((b) => Buffer.from([b]));
    const recs = await all(chunks);
    expect(recs).toHaveLength(2);
    expect(recs.every((r) => r.complete)).toBe(true);
    expect(Buffer.concat(recs.map((r) => r.bytes)).length).toBeLessThan(frames.length);
  });
});
