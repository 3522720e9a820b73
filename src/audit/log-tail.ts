/**
 * The end of an existing audit log, read at start-up: where a new run's chain links to, or
 * why the file cannot be continued (cut short by a crash: damaged; not a ctrace log of this
 * format: foreign).
 */
import { closeSync, createReadStream, fstatSync, openSync, readSync } from 'node:fs';
import { parseJsonlRecord, parseProtobufRecord, type LogFormat } from './codecs.js';
import { detectFormat, storedRecords } from './reader.js';

/** A position in a chain: the seq of a record and its hash (hex). */
export interface ChainLink {
  seq: number;
  hash: string;
}

export type Tail =
  | ({ state: 'ok' } & ChainLink)
  | { state: 'damaged'; why: string; link: ChainLink | null }
  | { state: 'foreign'; why: string };

/** The chain position of the last complete line before a cut-short one, or null. */
function lastJsonlLink(tail: Buffer): ChainLink | null {
  const end = tail.lastIndexOf(0x0a);
  if (end < 0) return null;
  const start = tail.lastIndexOf(0x0a, end - 1) + 1;
  try {
    const r = parseJsonlRecord(tail.subarray(start, end));
    return r.hash && r.seq !== null ? { seq: r.seq, hash: r.hash } : null;
  } catch {
    return null;
  }
}

/** The last record of an existing log: where a new run's chain links to. */
export async function scanTail(path: string, format: LogFormat): Promise<Tail> {
  const fd = openSync(path, 'r');
  let first: Buffer;
  let tail: Buffer;
  let size: number;
  try {
    size = fstatSync(fd).size;
    first = Buffer.alloc(Math.min(size, 2));
    readSync(fd, first, 0, first.length, 0);
    const n = Math.min(size, 1024 * 1024);
    tail = Buffer.alloc(n);
    readSync(fd, tail, 0, n, size - n);
  } finally {
    closeSync(fd);
  }
  const found = detectFormat(first);
  if (found !== (format === 'ocsf' ? 'jsonl' : format)) return { state: 'foreign', why: `it looks like ${found}` };
  if (format !== 'protobuf') {
    if (tail[tail.length - 1] !== 0x0a) return { state: 'damaged', why: 'no newline at the end', link: lastJsonlLink(tail) };
    const prevNl = tail.lastIndexOf(0x0a, tail.length - 2);
    if (prevNl < 0 && tail.length < size) return { state: 'foreign', why: 'its last line is longer than 1 MiB' };
    try {
      const r = parseJsonlRecord(tail.subarray(prevNl + 1, tail.length - 1));
      // OCSF and ctrace's own JSONL are both lines: one chain holds one of them
      const ocsf = typeof r.object.class_uid === 'number';
      if (ocsf !== (format === 'ocsf')) return { state: 'foreign', why: `it looks like ${ocsf ? 'ocsf' : 'jsonl'}` };
      if (r.hash && r.seq !== null) return { state: 'ok', seq: r.seq, hash: r.hash };
      return { state: 'foreign', why: 'its last line carries no chain hash' };
    } catch {
      return { state: 'foreign', why: 'its last line is not JSON' };
    }
  }
  // protobuf: frames can only be found from the start
  let last: Buffer | null = null;
  let incomplete = false;
  try {
    for await (const r of storedRecords(createReadStream(path), 'protobuf')) {
      if (r.complete) last = r.bytes;
      else incomplete = true;
    }
  } catch (err) {
    return { state: 'foreign', why: (err as Error).message };
  }
  if (incomplete) {
    let link: ChainLink | null = null;
    try {
      const r = last ? parseProtobufRecord(last) : null;
      if (r?.hash && r.seq !== null) link = { seq: r.seq ?? 0, hash: r.hash };
    } catch {
      /* a new chain */
    }
    return { state: 'damaged', why: 'its last record is cut short', link };
  }
  try {
    const r = last ? parseProtobufRecord(last) : null;
    if (r?.hash) return { state: 'ok', seq: r.seq ?? 0, hash: r.hash };
    return { state: 'foreign', why: 'its last record carries no chain hash' };
  } catch (err) {
    return { state: 'foreign', why: `its last record does not decode: ${(err as Error).message}` };
  }
}
