/**
 * How each audit-log format lays out a record with its chain fields (seq, prev, hash), and how
 * a record read back is split into its chain parts: JSONL and OCSF lines, delimited protobuf.
 * The record bodies are the wire forms of src/format/; what is hashed is src/audit/chain.ts.
 */
import type { Entry } from '../events/event.js';
import { ctraceVersion, isEvent } from '../events/records.js';
import { toJsonLine, toJsonObject } from '../format/json.js';
import { ocsfContext, toOcsf, type OcsfObject } from '../format/ocsf.js';
import { decodeRecordObject, entryToProto, recordMessage } from '../format/protobuf.js';

/** How a log format lays out a record and its chain fields. */
export interface ChainCodec {
  readonly format: LogFormat;
  /** The record's bytes with seq (and prev, hex, on head records), without the hash. */
  canonical(entry: Entry, seq: number, prev: string | null): string | Buffer;
  /** The bytes written: the canonical bytes with the hash (hex) added, framed. */
  seal(canonical: string | Buffer, hash: string): string | Buffer;
}

/** ocsf: JSON lines too, each an OCSF event with its chain fields under `unmapped` (src/format/ocsf.ts) */
export type LogFormat = 'jsonl' | 'protobuf' | 'ocsf';

/* ---------- JSONL ---------- */

/**
 * A JSONL record without its chain fields: the JSON object as src/format/json.ts writes it
 * (events take the fast serialiser: the same bytes as JSON.stringify of their object).
 */
export function jsonlBody(entry: Entry): string {
  return isEvent(entry) ? toJsonLine(entry) : JSON.stringify(toJsonObject(entry));
}

/**
 * A record's canonical bytes: its body with `seq` (and, on a head record, `prev`) added as its
 * last keys. native/chain_seal.cc (SealRecord, SealInto) lays them out the same way.
 */
export function jsonlCanonical(body: string, seq: number, prev: string | null): string {
  return body.slice(0, -1) + ',"seq":' + seq + (prev ? ',"prev":"' + prev + '"' : '') + '}';
}

export const jsonlCodec: ChainCodec = {
  format: 'jsonl',
  canonical(entry, seq, prev) {
    return jsonlCanonical(jsonlBody(entry), seq, prev);
  },
  seal(canonical, hash) {
    const s = canonical as string;
    return s.slice(0, -1) + ',"hash":"' + hash + '"}\n';
  },
};

/** `,"hash":"` + 64 hex + `"}`: the fixed-size tail of every chained JSONL line. */
const HASH_TAIL_LEN = 9 + 64 + 2;
const HASH_TAIL_PREFIX = Buffer.from(',"hash":"');
const HEX = /^[0-9a-f]{64}$/;

/** A record read back from a log, with what the chain needs. */
export interface ChainedRecord {
  /** the parsed JSON object / decoded record */
  type: string;
  seq: number | null;
  /** hex */
  prev: string | null;
  /** hex */
  hash: string | null;
  /** canonical bytes, in parts (hash them in order) */
  canonical: Uint8Array[];
  /** the parsed JSON object / decoded Record as a plain object */
  object: Record<string, unknown>;
}

const CLOSE_BRACE = Buffer.from('}');
const CLOSE_BRACES = Buffer.from('}}');

/**
 * Splits a JSONL line (without its newline) into its chain parts. Throws when
 * the line is not JSON; `hash` is null when the line has no well-formed hash tail.
 * An OCSF line (`--log-format ocsf`) carries type and chain fields at the end of
 * its `unmapped` object, so its hash tail is followed by two closing braces.
 */
export function parseJsonlRecord(line: Buffer): ChainedRecord {
  const object = JSON.parse(line.toString('utf8')) as unknown;
  if (!object || typeof object !== 'object' || Array.isArray(object)) throw new Error('not a JSON object');
  const top = object as Record<string, unknown>;
  const nested = typeof top.class_uid === 'number' && !!top.unmapped && typeof top.unmapped === 'object';
  const o = nested ? (top.unmapped as Record<string, unknown>) : top;
  const closers = nested ? 2 : 1;
  const type = typeof o.type === 'string' ? o.type : '?';
  const seq = typeof o.seq === 'number' && Number.isSafeInteger(o.seq) && o.seq >= 0 ? o.seq : null;
  const prev = typeof o.prev === 'string' && HEX.test(o.prev) ? o.prev : null;
  let hash: string | null = null;
  let canonical: Uint8Array[] = [line];
  const n = line.length;
  const tailLen = HASH_TAIL_LEN - 1 + closers;
  if (
    n > tailLen &&
    line[n - 1] === 0x7d &&
    line[n - closers] === 0x7d &&
    line[n - closers - 1] === 0x22 &&
    line.subarray(n - tailLen, n - tailLen + HASH_TAIL_PREFIX.length).equals(HASH_TAIL_PREFIX) &&
    typeof o.hash === 'string' &&
    HEX.test(o.hash)
  ) {
    const hex = line.subarray(n - closers - 65, n - closers - 1).toString('latin1');
    if (hex === o.hash) {
      hash = hex;
      canonical = [line.subarray(0, n - tailLen), nested ? CLOSE_BRACES : CLOSE_BRACE];
    }
  }
  return { type, seq, prev, hash, canonical, object: top };
}

/* ---------- OCSF ---------- */

/**
 * The OCSF audit log (`--log-format ocsf`): one OCSF event a line, chained like
 * the JSONL log (src/audit/chain.ts) with the chain fields at the end of
 * `unmapped`: `…,"unmapped":{…,"seq":N[,"prev":"<hex>"],"hash":"<hex>"}}`.
 * The canonical bytes are the line without `,"hash":"<hex>"`.
 */
export const ocsfCodec: ChainCodec = {
  format: 'ocsf',
  canonical(entry, seq, prev) {
    const o = toOcsf(entry, ocsfContext(ctraceVersion()));
    const u = o.unmapped as OcsfObject;
    u.seq = seq;
    if (prev) u.prev = prev;
    return JSON.stringify(o);
  },
  seal(canonical, hash) {
    const s = canonical as string;
    return s.slice(0, -2) + ',"hash":"' + hash + '"}}\n';
  },
};

/* ---------- protobuf ---------- */

type Obj = Record<string, unknown>;
const n = (v: unknown): number => (typeof v === 'number' ? v : typeof v === 'string' ? Number(v) : 0);

const HASH_FIELD_TAG = (15 << 3) | 2; // field 15, length-delimited
const HASH_TRAILER = 2 + 32; // tag, length (32), 32 bytes

function varint(n: number): Buffer {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return Buffer.from(out);
}

export const protobufCodec: ChainCodec = {
  format: 'protobuf',
  canonical(entry, seq, prev) {
    const o = entryToProto(entry);
    if (seq) o.seq = seq;
    if (prev) o.prev = Buffer.from(prev, 'hex');
    return Buffer.from(recordMessage().encode(o).finish());
  },
  seal(canonical, hash) {
    const c = canonical as Buffer;
    return Buffer.concat([varint(c.length + HASH_TRAILER), c, Buffer.from([HASH_FIELD_TAG, 32]), Buffer.from(hash, 'hex')]);
  },
};

/** A Record message read back from a protobuf log, with its chain parts. Throws when it does not decode. */
export function parseProtobufRecord(msg: Buffer): ChainedRecord {
  const object = decodeRecordObject(msg);
  const type =
    object.kind === 'event' ? String((object.event as Obj | undefined)?.detail ?? '?') : String(object.kind ?? '?');
  const seq = n(object.seq);
  const prev = object.prev instanceof Uint8Array && object.prev.length === 32 ? Buffer.from(object.prev).toString('hex') : null;
  let hash: string | null = null;
  let canonical: Uint8Array[] = [msg];
  const len = msg.length;
  if (
    object.hash instanceof Uint8Array &&
    object.hash.length === 32 &&
    len > HASH_TRAILER &&
    msg[len - HASH_TRAILER] === HASH_FIELD_TAG &&
    msg[len - HASH_TRAILER + 1] === 32 &&
    msg.subarray(len - 32).equals(object.hash)
  ) {
    hash = Buffer.from(object.hash).toString('hex');
    canonical = [msg.subarray(0, len - HASH_TRAILER)];
  }
  return { type, seq, prev, hash, canonical, object };
}


/** The codec of a log format. */
export function codecFor(format: LogFormat): ChainCodec {
  return format === 'protobuf' ? protobufCodec : format === 'ocsf' ? ocsfCodec : jsonlCodec;
}
