/**
 * The protobuf form: proto/ctrace.proto, loaded at run time with protobufjs from
 * the shipped file, one `ctrace.v1.Record` per entry, in the standard delimited
 * framing (varint length, then the message).
 */
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type protobuf from 'protobufjs';
import type { Entry } from '../events/event.js';
import { entryFromProto as generatedFromProto, entryToProto as generatedToProto } from '../events/generated/schema.js';
import { pTime, uTime } from '../events/wire.js';

export const PROTO_PATH = fileURLToPath(new URL('../../proto/ctrace.proto', import.meta.url));
export const RECORD_TYPE = 'ctrace.v1.Record';

let recordType: protobuf.Type | undefined;

/**
 * The Record message type, from proto/ctrace.proto (loaded once). protobufjs itself is
 * loaded here, on first use, so a tracer that never writes protobuf never pays for it.
 */
export function recordMessage(): protobuf.Type {
  if (!recordType) {
    const pb = createRequire(import.meta.url)('protobufjs') as typeof protobuf;
    recordType = pb.loadSync(PROTO_PATH).lookupType(RECORD_TYPE);
  }
  return recordType;
}

type Obj = Record<string, unknown>;

/* ---------- time ---------- */

/** ISO-8601 UTC (ns precision) to google.protobuf.Timestamp. */
export const isoToTimestamp = pTime;
export const timestampToIso = uTime;

/** The plain Record object of an entry (no chain fields), ready for Record.encode. */
export const entryToProto: (e: Entry) => Obj = generatedToProto;

/** An entry from a decoded Record (as plain object: longs as strings, oneofs named). */
export const entryFromProto: (rec: Obj) => Entry = generatedFromProto;

/** One entry as a length-delimited Record (stdout and socket streams). */
export function encodeDelimited(e: Entry): Buffer {
  return Buffer.from(recordMessage().encodeDelimited(entryToProto(e)).finish());
}


// longs as decimal strings: all 64 bits survive (src/events/wire.ts makes them Int64)
const CONVERSION = { longs: String, oneofs: true } as const;

/** Decodes one Record message (without its length prefix) into a plain object. */
export function decodeRecordObject(msg: Uint8Array): Obj {
  const T = recordMessage();
  return T.toObject(T.decode(msg), CONVERSION) as Obj;
}

/**
 * Splits a byte stream into delimited messages. `push` returns the complete
 * messages so far (with the stream offset of their length prefix); `pending` is
 * the size of an incomplete trailing one.
 */
export class FrameSplitter {
  private buf: Buffer = Buffer.alloc(0);
  /** a frame longer than what has arrived: its chunks, joined once it is whole (linear, not per chunk) */
  private parts: Buffer[] = [];
  private partLen = 0;
  private need = 0;
  /** bytes consumed so far (offset of the next frame in the stream) */
  offset = 0;

  constructor(private readonly maxMessage = 64 * 1024 * 1024) {}

  push(chunk: Buffer): Array<{ offset: number; bytes: Buffer }> {
    if (this.need > 0) {
      this.parts.push(chunk);
      this.partLen += chunk.length;
      if (this.partLen < this.need) return [];
      this.buf = Buffer.concat(this.parts, this.partLen);
      this.parts = [];
      this.partLen = 0;
      this.need = 0;
    } else {
      this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    }
    const out: Array<{ offset: number; bytes: Buffer }> = [];
    let pos = 0;
    for (;;) {
      let len = 0;
      let shift = 0;
      let i = pos;
      let done = false;
      while (i < this.buf.length && i - pos < 5) {
        const b = this.buf[i++]!;
        len += (b & 0x7f) * 2 ** shift;
        shift += 7;
        if (b < 0x80) {
          done = true;
          break;
        }
      }
      if (!done) {
        if (i - pos >= 5) throw new Error(`bad length prefix at byte ${this.offset + pos}`);
        break;
      }
      if (len > this.maxMessage) throw new Error(`record of ${len} bytes at byte ${this.offset + pos}: not a ctrace stream`);
      if (i + len > this.buf.length) {
        this.need = i + len - pos;
        break;
      }
      out.push({ offset: this.offset + pos, bytes: this.buf.subarray(i, i + len) });
      pos = i + len;
    }
    this.offset += pos;
    this.buf = this.buf.subarray(pos);
    if (this.need > 0) {
      this.parts = [this.buf];
      this.partLen = this.buf.length;
      this.buf = Buffer.alloc(0);
    }
    return out;
  }

  get pending(): number {
    return this.buf.length + this.partLen;
  }
}
