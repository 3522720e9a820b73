/**
 * What the audit log writes, chained: each record gets the next seq and the hash linking it to
 * the one before (src/audit/chain.ts), in the log's format. Builds the records of a run (start,
 * events, lost, stop) and of a file boundary (rotate, continuation), and tallies the events for
 * the lost and stop records. Knows nothing of files: it returns the bytes to append.
 */
import type { LostReport, TraceEvent } from '../events/event.js';
import { nowIso, RecordTally, startRecord, type LossSource, type StartOptions } from '../events/records.js';
import { Chain, newSeed } from './chain.js';
import { codecFor, type ChainCodec, type LogFormat } from './codecs.js';
import type { ChainLink } from './log-tail.js';

export class LogRecords {
  readonly format: LogFormat;
  private readonly codec: ChainCodec;
  private readonly chain: Chain;
  readonly tally = new RecordTally();

  /** `link`: the last record of the log this run continues; null begins a new chain (a random seed). */
  constructor(format: LogFormat, link: ChainLink | null) {
    this.format = format;
    this.codec = codecFor(format);
    this.chain = link ? new Chain(link.seq + 1, link.hash) : new Chain(0, newSeed());
  }

  /** The chain head: seq of the next record and hash of the last one (hex). */
  head(): ChainLink {
    return { seq: this.chain.seq, hash: this.chain.head };
  }

  start(options: StartOptions): string | Buffer {
    return this.chain.append(this.codec, startRecord(options));
  }

  event(event: TraceEvent): string | Buffer {
    this.tally.event(event);
    return this.chain.append(this.codec, event);
  }

  /**
   * Events already in their JSON form (the tracer's JSON lane), each ended by a newline: chained
   * as the same events written through event() would be, into `into` or `grow(size)` (see
   * Chain.appendEventLines). JSONL logs only.
   */
  lines(lines: Buffer, into?: Buffer, grow?: (size: number) => Buffer): { bytes: Buffer; records: number } {
    if (this.codec.format !== 'jsonl') throw new Error('JSON lines go to a JSONL log only');
    const { bytes, records, counts } = this.chain.appendEventLines(lines, into, grow);
    this.tally.countAll(counts);
    return { bytes, records };
  }

  lost(report: LostReport, source: LossSource): string | Buffer {
    return this.chain.append(this.codec, this.tally.lostRecord(report, source));
  }

  stop(reason: string): string | Buffer {
    return this.chain.append(this.codec, this.tally.stopRecord(reason));
  }

  /** The last record of a file that ends: why it ends. */
  rotate(reason: 'size' | 'SIGHUP'): string | Buffer {
    return this.chain.append(this.codec, { type: 'rotate', time: nowIso(), reason });
  }

  /** The first record of the next file, linked to the last one (the previous file's name, when ctrace renamed it). */
  continuation(previousFile: string | null): string | Buffer {
    return this.chain.append(this.codec, { type: 'continuation', time: nowIso(), previousFile });
  }
}
