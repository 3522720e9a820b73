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
import type { ChainCodec } from './codecs.js';
import { loadNative } from '../addon/native.js';
import type { EventType } from '../events/event.js';

export const HASH_BYTES = 32;

const EMPTY = Buffer.alloc(0);

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

  /**
   * Appends a batch of event lines as the addon's lane writes them (JSON, each ended by '\n'):
   * the same bytes as each event chained as an object through jsonlCodec. The addon seals them
   * (native/chain_seal.cc, with the OpenSSL Node's crypto uses): a line is never decoded into a
   * string, and a storm's lines are not walked one by one in JavaScript. The records go to the
   * start of `into` when they fit, else to the start of `grow(size)`; `bytes` is where they are.
   */
  appendEventLines(
    lines: Buffer,
    into: Buffer = EMPTY,
    grow: (size: number) => Buffer = (size) => Buffer.allocUnsafe(size),
  ): { bytes: Buffer; records: number; counts: Record<EventType, number> } {
    const native = loadNative();
    let block = into;
    let r = native.sealLines(lines, this.seq, this.head, block);
    if (r.head === undefined) {
      block = grow(r.size);
      r = native.sealLines(lines, this.seq, this.head, block);
    }
    const counts = { exec: r.exec!, exit: r.exit!, mount: r.mount! };
    const records = counts.exec + counts.exit + counts.mount;
    this.seq += records;
    this.head = r.head!;
    return { bytes: block.subarray(0, r.size), records, counts };
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
