/**
 * What the audit log writes, chained: each record gets the next seq and the hash linking it to
 * the one before (src/audit/chain.ts), in the log's format. Builds the records of a run (start,
 * events, lost, stop) and of a file boundary (rotate, continuation), and tallies the events for
 * the lost and stop records. Knows nothing of files: it returns the bytes to append.
 *
 * A JSONL log may hand its chain to the addon's writer (attach(), native/log_writer.h): records
 * are then sealed and queued there, in one order with the lines the poll thread seals, and the
 * methods return null.
 */
import type { NativeLogWriter } from '../addon/native.js';
import type { EventType, LostReport, TraceEvent } from '../events/event.js';
import { isHead, nowIso, RecordTally, startRecord, type Entry, type LossSource, type StartOptions } from '../events/records.js';
import { Chain, newSeed } from './chain.js';
import { codecFor, jsonlBody, type ChainCodec, type LogFormat } from './codecs.js';
import type { ChainLink } from './log-tail.js';

export class LogRecords {
  readonly format: LogFormat;
  private readonly codec: ChainCodec;
  private readonly chain: Chain;
  readonly tally = new RecordTally();
  private writer: NativeLogWriter | null = null;
  private onWriterError: (errno: number) => void = () => {};
  /** the writer's counts of the poll thread's lines already in the tally */
  private taken: Record<EventType, number> = { exec: 0, exit: 0, mount: 0 };

  /** `link`: the last record of the log this run continues; null begins a new chain (a random seed). */
  constructor(format: LogFormat, link: ChainLink | null) {
    this.format = format;
    this.codec = codecFor(format);
    this.chain = link ? new Chain(link.seq + 1, link.hash) : new Chain(0, newSeed());
  }

  /** The chain head: seq of the next record and hash of the last one (hex). */
  head(): ChainLink {
    if (this.writer) {
      const s = this.writer.state();
      return { seq: s.seq, hash: s.head };
    }
    return { seq: this.chain.seq, hash: this.chain.head };
  }

  /**
   * From now on the chain is `writer`'s (JSONL only): it goes on from head(). `onError` gets the
   * errno of a seal the writer refused (the log failed there).
   */
  attach(writer: NativeLogWriter, onError: (errno: number) => void): void {
    if (this.codec.format !== 'jsonl') throw new Error('the addon seals JSONL logs only');
    this.writer = writer;
    this.onWriterError = onError;
  }

  /** The tally with the events of the lines the writer's poll thread sealed (for stats and the stop record). */
  syncTally(): void {
    if (!this.writer) return;
    const s = this.writer.state();
    for (const type of ['exec', 'exit', 'mount'] as const) {
      this.tally.events[type] += s[type] - this.taken[type];
      this.taken[type] = s[type];
    }
  }

  start(options: StartOptions): string | Buffer | null {
    return this.append(startRecord(options));
  }

  event(event: TraceEvent): string | Buffer | null {
    this.tally.event(event);
    return this.append(event);
  }

  /**
   * Events already in their JSON form (the tracer's JSON lane), each ended by a newline: chained
   * as the same events written through event() would be, into `into` or `grow(size)` (see
   * Chain.appendEventLines). JSONL logs only.
   */
  lines(lines: Buffer, into?: Buffer, grow?: (size: number) => Buffer): { bytes: Buffer | null; records: number } {
    if (this.codec.format !== 'jsonl') throw new Error('JSON lines go to a JSONL log only');
    if (this.writer) {
      const r = this.writer.sealLines(lines);
      if (r.err === -22) throw new TypeError('every line must be an event\'s JSON object ({"type":"exec|exit|mount"...}) ended by a newline');
      if (r.err !== 0) {
        this.onWriterError(-r.err);
        return { bytes: null, records: 0 };
      }
      this.tally.countAll(r);
      return { bytes: null, records: r.exec + r.exit + r.mount };
    }
    const { bytes, records, counts } = this.chain.appendEventLines(lines, into, grow);
    this.tally.countAll(counts);
    return { bytes, records };
  }

  lost(report: LostReport, source: LossSource): string | Buffer | null {
    return this.append(this.tally.lostRecord(report, source));
  }

  stop(reason: string): string | Buffer | null {
    this.syncTally();
    return this.append(this.tally.stopRecord(reason));
  }

  /** The last record of a file that ends: why it ends. */
  rotate(reason: 'size' | 'SIGHUP'): string | Buffer | null {
    return this.append({ type: 'rotate', time: nowIso(), reason });
  }

  /** The first record of the next file, linked to the last one (the previous file's name, when ctrace renamed it). */
  continuation(previousFile: string | null): string | Buffer | null {
    return this.append({ type: 'continuation', time: nowIso(), previousFile });
  }

  /** The record chained: its bytes, or null when the writer sealed and queued it. */
  private append(entry: Entry): string | Buffer | null {
    if (!this.writer) return this.chain.append(this.codec, entry);
    const err = this.writer.sealRecord(jsonlBody(entry), isHead(entry));
    if (err !== 0) this.onWriterError(-err);
    return null;
  }
}
