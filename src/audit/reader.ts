/**
 * Reading what ctrace wrote, in either format: split a byte stream (a log file,
 * stdin, the Unix socket) into records, detecting JSONL or delimited protobuf
 * from its first bytes.
 */
import type { LogFormat } from './chain.js';
import { FrameSplitter } from '../format/protobuf.js';

export interface RawRecord {
  /** 1-based line (JSONL) or record (protobuf) number in the stream */
  index: number;
  /** byte offset of the record in the stream */
  offset: number;
  /** the line without its newline, or the message without its length prefix */
  bytes: Buffer;
  /** false for a trailing line without newline / a truncated message */
  complete: boolean;
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

/** Splits a stream into records; the format is detected from the first bytes unless given. */
export async function* rawRecords(
  stream: AsyncIterable<Buffer | string> | Iterable<Buffer | string>,
  format: LogFormat | 'auto' = 'auto',
  onFormat?: (f: LogFormat) => void,
): AsyncGenerator<RawRecord> {
  let fmt: LogFormat | null = format === 'auto' ? null : format;
  if (fmt) onFormat?.(fmt);
  let index = 0;
  // JSONL state
  let carry: Buffer = Buffer.alloc(0);
  let offset = 0;
  // protobuf state
  const frames = new FrameSplitter();

  for await (const c of stream) {
    const chunk = typeof c === 'string' ? Buffer.from(c) : c;
    if (chunk.length === 0) continue;
    if (!fmt) {
      fmt = detectFormat(carry.length ? Buffer.concat([carry, chunk]) : chunk);
      onFormat?.(fmt);
    }
    if (fmt === 'jsonl') {
      const buf = carry.length ? Buffer.concat([carry, chunk]) : chunk;
      let start = 0;
      for (;;) {
        const nl = buf.indexOf(0x0a, start);
        if (nl < 0) break;
        yield { index: ++index, offset: offset + start, bytes: buf.subarray(start, nl), complete: true };
        start = nl + 1;
      }
      offset += start;
      carry = Buffer.from(buf.subarray(start));
    } else {
      for (const f of frames.push(chunk)) {
        yield { index: ++index, offset: f.offset, bytes: f.bytes, complete: true };
      }
    }
  }
  if (fmt === 'jsonl' && carry.length) {
    yield { index: ++index, offset, bytes: carry, complete: false };
  } else if (fmt === 'protobuf' && frames.pending) {
    yield { index: ++index, offset: frames.offset, bytes: Buffer.alloc(0), complete: false };
  }
}
