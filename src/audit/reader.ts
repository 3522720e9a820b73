/**
 * Reading what ctrace wrote, in either format: split a byte stream (a log file,
 * stdin, the Unix socket) into records, detecting JSONL or delimited protobuf
 * from its first bytes.
 */
import type { LogFormat } from './codecs.js';
import { FrameSplitter } from '../format/protobuf.js';

/**
 * The largest record read back: an event line is a few KiB (its argv is bounded in kernel);
 * anything past this is not a ctrace record, and reading it whole would only cost memory.
 */
export const MAX_RECORD_BYTES = 16 * 1024 * 1024;

/** One record as stored in a log or stream: its bytes and where they were (not decoded; src/decode/abi.ts RawRecord is a kernel record). */
export interface StoredRecord {
  /** 1-based line (JSONL) or record (protobuf) number in the stream */
  index: number;
  /** byte offset of the record in the stream */
  offset: number;
  /** the line without its newline, or the message without its length prefix (empty when tooLong) */
  bytes: Buffer;
  /** false for a trailing line without newline / a truncated message */
  complete: boolean;
  /** the line's length when it is over MAX_RECORD_BYTES (its bytes are skipped, not kept) */
  tooLong?: number;
  /** the last record of what the source had ready: a live reader prints now */
  endOfChunk?: boolean;
}

/**
 * JSONL when the stream begins with `{"` (a JSON object), protobuf otherwise: a
 * delimited stream begins with a varint length, and a ctrace stream's first
 * record (start or continuation) is never 123 bytes long with a `lost` field
 * first, which is what `{"` would mean.
 */
export function detectFormat(first: Buffer): LogFormat {
  return first.length >= 1 && first[0] === 0x7b && (first.length === 1 || first[1] === 0x22) ? 'jsonl' : 'protobuf';
}

/**
 * Splits a stream into records; the format is detected from the first bytes unless given.
 * Linear in the stream's length: a line that spans chunks is kept as its chunks and joined
 * once, and a line over maxBytes is skipped as it streams by (a `tooLong` record).
 */
export async function* storedRecords(
  stream: AsyncIterable<Buffer | string> | Iterable<Buffer | string>,
  format: LogFormat | 'auto' = 'auto',
  onFormat?: (f: LogFormat) => void,
  maxBytes = MAX_RECORD_BYTES,
): AsyncGenerator<StoredRecord> {
  let fmt: LogFormat | null = format === 'auto' ? null : format;
  if (fmt) onFormat?.(fmt);
  let index = 0;
  // JSONL state: the start of a line not ended yet, as the chunks that hold it
  let parts: Buffer[] = [];
  let partLen = 0;
  let offset = 0; // of the line being read
  // protobuf state
  const frames = new FrameSplitter(maxBytes);

  for await (const c of stream) {
    const chunk = typeof c === 'string' ? Buffer.from(c) : c;
    if (chunk.length === 0) continue;
    if (!fmt) {
      fmt = detectFormat(chunk);
      onFormat?.(fmt);
    }
    if (fmt === 'jsonl') {
      let start = 0;
      let last: StoredRecord | null = null;
      for (;;) {
        const nl = chunk.indexOf(0x0a, start);
        if (nl < 0) break;
        const len = partLen + (nl - start);
        let rec: StoredRecord;
        if (len > maxBytes) rec = { index: ++index, offset, bytes: Buffer.alloc(0), complete: true, tooLong: len };
        else {
          const bytes = partLen ? Buffer.concat([...parts, chunk.subarray(start, nl)], len) : chunk.subarray(start, nl);
          rec = { index: ++index, offset, bytes, complete: true };
        }
        parts = [];
        partLen = 0;
        offset += len + 1;
        start = nl + 1;
        if (last) yield last;
        last = rec;
      }
      if (start < chunk.length) {
        // keep the rest (unless the line is already too long: then only count it)
        if (partLen + (chunk.length - start) <= maxBytes) parts.push(chunk.subarray(start));
        else parts = [];
        partLen += chunk.length - start;
      }
      if (last) yield { ...last, endOfChunk: true };
    } else {
      const got = frames.push(chunk);
      for (let i = 0; i < got.length; i++) {
        yield { index: ++index, offset: got[i]!.offset, bytes: got[i]!.bytes, complete: true, endOfChunk: i === got.length - 1 };
      }
    }
  }
  if (fmt === 'jsonl' && partLen) {
    const tooLong = partLen > maxBytes;
    yield { index: ++index, offset, bytes: tooLong ? Buffer.alloc(0) : Buffer.concat(parts, partLen), complete: false, ...(tooLong ? { tooLong: partLen } : {}), endOfChunk: true };
  } else if (fmt === 'protobuf' && frames.pending) {
    yield { index: ++index, offset: frames.offset, bytes: Buffer.alloc(0), complete: false, endOfChunk: true };
  }
}
