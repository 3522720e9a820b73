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
import { isHead, type Entry } from '../events/records.js';
import { eventCanonical, jsonlCodec, type ChainCodec } from './codecs.js';

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
