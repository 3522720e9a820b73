/**
 * The tamper-evident hash chain of an audit log.
 *
 * Every record (event, start, stop, lost, rotate, continuation) carries `seq`
 * and `hash`:
 *
 *     hash[n] = hex( SHA-256( hash[n-1] || canonical(record n) ) )
 *
 * where hash[n-1] is the previous record's hash as 64 lowercase hex characters
 * (ASCII), and canonical(record) is the record's bytes exactly as written, minus
 * the hash field itself:
 *  - JSONL: the line without its trailing `,"hash":"<64 hex>"` (the hash is
 *    always the last key, so the canonical bytes are the line's prefix plus `}`);
 *  - protobuf: the encoded Record without its last field (hash, field 15, which
 *    holds the 32 raw bytes).
 * In shell terms, for JSONL: `printf '%s%s' "$prev" "$line_without_hash" | sha256sum`.
 *
 * `seq` counts records from the start of the chain (+1 per record, across runs
 * and rotated files). A head record (start, continuation) also carries `prev`,
 * the value hash[n-1] it links to, inside its canonical bytes: a new chain's
 * start record has a random 32-byte seed there; a start appended to an existing
 * log links to that log's last record; a continuation links to the rotate record
 * that ended the previous file. Any altered, removed, inserted or reordered
 * record breaks the equation for itself or its successor.
 */
import * as crypto from 'node:crypto';
import { toJsonLine, toJsonObject } from '../format/json.js';
import { isEvent, isHead, type Entry } from '../events/records.js';

export const HASH_BYTES = 32;

/** crypto.hash (one-shot, Node >= 20.12) hashes a line without building a Hash object per record; older Node takes createHash. */
const oneShot: ((alg: string, data: string) => string) | undefined = (crypto as { hash?: (a: string, d: string) => string }).hash;

/** hash[n] (hex) from hash[n-1] (hex) and the canonical bytes of record n, given as parts. */
export function chainHash(prev: string, ...canonical: Array<string | Uint8Array>): string {
  if (oneShot && canonical.length === 1 && typeof canonical[0] === 'string') return oneShot('sha256', prev + canonical[0]);
  const h = crypto.createHash('sha256').update(prev, 'latin1');
  for (const part of canonical) h.update(part);
  return h.digest('hex');
}

/** A new chain's seed: 32 random bytes, hex. */
export function newSeed(): string {
  return crypto.randomBytes(HASH_BYTES).toString('hex');
}

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

/** The running chain of one log: the next seq and the last hash. */
export class Chain {
  constructor(
    public seq: number,
    /** hex */
    public head: string,
  ) {}

  /** Appends an event already in its JSON form (a JSON-lines lane line, no newline): JSONL only. */
  appendEventLine(line: string): string {
    const canonical = eventCanonical(line, this.seq);
    const hash = chainHash(this.head, canonical);
    this.head = hash;
    this.seq++;
    return jsonlCodec.seal(canonical, hash) as string;
  }

  /** Appends a record: returns the bytes to write and advances the chain. */
  append(codec: ChainCodec, entry: Entry): string | Buffer {
    const canonical = codec.canonical(entry, this.seq, isHead(entry) ? this.head : null);
    const hash = chainHash(this.head, canonical);
    this.head = hash;
    this.seq++;
    return codec.seal(canonical, hash);
  }
}

/* ---------- JSONL ---------- */

/** An event line's canonical bytes: the line with `seq` added as its last key. */
function eventCanonical(line: string, seq: number): string {
  return line.slice(0, -1) + ',"seq":' + seq + '}';
}

export const jsonlCodec: ChainCodec = {
  format: 'jsonl',
  canonical(entry, seq, prev) {
    // events take the fast serialiser: the same bytes as JSON.stringify of the object below
    if (isEvent(entry) && !prev) return eventCanonical(toJsonLine(entry), seq);
    const o = toJsonObject(entry);
    o.seq = seq;
    if (prev) o.prev = prev;
    return JSON.stringify(o);
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
