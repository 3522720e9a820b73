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
import { lineType } from '../format/json.js';
import type { EventType } from '../events/event.js';

export const HASH_BYTES = 32;

/** crypto.hash (one-shot, Node >= 20.12) hashes a line without building a Hash object per record; older Node takes createHash. */
const oneShot: ((alg: string, data: string) => string) | undefined = (crypto as { hash?: (a: string, d: string) => string }).hash;

const HASH_HEX = HASH_BYTES * 2;
/** What sealing adds to a line at most: `,"seq":` and 16 digits, `,"hash":"`, 64 hex, `"`. */
const SEAL_EXTRA = 7 + 16 + 9 + HASH_HEX + 1;

/** SHA-256 of one buffer, hex. */
function digestHex(data: Buffer): string {
  return oneShotBuf ? oneShotBuf('sha256', data, 'hex') : crypto.createHash('sha256').update(data).digest('hex');
}
const oneShotBuf = (crypto as { hash?: (a: string, d: Uint8Array, enc: 'hex') => string }).hash;

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
   * the same bytes as each event chained as an object through jsonlCodec, built from and into
   * Buffers (a line is never decoded into a string and encoded again). `onLine` gets each line's
   * event type.
   */
  appendEventLines(lines: Buffer, onLine: (type: EventType) => void): { bytes: Buffer; records: number } {
    const ends: number[] = [];
    for (let nl = lines.indexOf(0x0a); nl >= 0; nl = lines.indexOf(0x0a, nl + 1)) ends.push(nl);
    const out = Buffer.allocUnsafe(lines.length + ends.length * SEAL_EXTRA);
    let o = 0;
    let start = 0;
    for (const nl of ends) {
      const body = nl - 1 - start; // the line up to its closing brace
      const seq = ',"seq":' + this.seq;
      // the canonical bytes, after the previous hash: the line with seq as its last key
      const need = HASH_HEX + body + seq.length + 1;
      if (this.scratch.length < need) this.scratch = Buffer.allocUnsafe(need * 2);
      const sc = this.scratch;
      sc.write(this.head, 0, 'latin1');
      lines.copy(sc, HASH_HEX, start, start + body);
      sc.write(seq + '}', HASH_HEX + body, 'latin1');
      const hash = digestHex(sc.subarray(0, need));
      lines.copy(out, o, start, start + body);
      o += body;
      o += out.write(seq + ',"hash":"' + hash + '"}\n', o, 'latin1');
      onLine(lineType(lines, start));
      this.head = hash;
      this.seq++;
      start = nl + 1;
    }
    return { bytes: out.subarray(0, o), records: ends.length };
  }
  private scratch = Buffer.allocUnsafe(4096);

  /** Appends a record: returns the bytes to write and advances the chain. */
  append(codec: ChainCodec, entry: Entry): string | Buffer {
    const canonical = codec.canonical(entry, this.seq, isHead(entry) ? this.head : null);
    const hash = chainHash(this.head, canonical);
    this.head = hash;
    this.seq++;
    return codec.seal(canonical, hash);
  }
}
