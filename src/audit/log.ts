/**
 * The audit log: every event and record, hash-chained, appended to files that are only ever
 * appended to. A sink (src/sinks/sink.ts) composed of two parts:
 *  - ./log-records.ts: the records, chained (seq and hash, src/audit/chain.ts) in the log's
 *    format: start, events, lost, stop, and rotate/continuation at file boundaries;
 *  - ./log-file.ts: the files: create/open (checks in ./log-open.ts), batched writes, fsync, damaged tails,
 *    rotation and pruning.
 * This module decides when a file ends (maxSize reached, or SIGHUP after an external tool moved
 * it): a rotate record, the switch, a continuation record linked to it.
 *
 * A JSONL log under a tracer with the JSON lane hands its chain and its writes to the addon
 * (attachLane()): the poll thread then seals the lines JavaScript would only have sealed and
 * written, and a writer thread writes them; this module seals its own records there too.
 *
 * Durability, chosen on purpose (like pino's sonic-boom): records are written once per batch
 * and fsynced per the policy (default every second); close() writes the stop record and
 * everything queued, then fsyncs. After a failed write the log ends at its last complete record,
 * stops (onError), and close() rejects with the error. Starting on an existing log continues
 * its chain (the start record links to its last record).
 */
import { basename, resolve } from 'node:path';
import type { EventType, LostReport, TraceEvent } from '../events/event.js';
import type { LossSource, StartOptions } from '../events/records.js';
import type { NativeLogWriter } from '../addon/native.js';
import { describeFsError, errCode } from '../util/fs-util.js';
import type { Sink } from '../sinks/sink.js';
import type { LogFormat } from './codecs.js';
import type { FsyncPolicy } from './fsync.js';
import { LogFile } from './log-file.js';
import { AuditLogError } from './log-open.js';
import { LogRecords } from './log-records.js';
import { SealBlocks } from './seal-blocks.js';

export { AuditLogError } from './log-open.js';
export { fsyncPolicy, type FsyncPolicy } from './fsync.js';

export interface AuditLogOptions {
  path: string;
  /** default jsonl */
  format?: LogFormat;
  /** rotate when the file reaches this many bytes; 0 = never (default 100 MiB) */
  maxSize?: number;
  /** rotated files to keep; 0 = all (default 10) */
  keep?: number;
  /** default { intervalMs: 1000 } */
  fsync?: FsyncPolicy;
  /** the options recorded in the start record */
  start: StartOptions;
  /** A write failed: the log is closed at its last complete record. Called once. */
  onError?: (err: Error) => void;
  /** Something worth telling the operator (a file moved aside, loose permissions). */
  onWarning?: (message: string) => void;
  /**
   * Append to a log owned by another user, or in a directory others can write or own
   * (--log-allow-unsafe). Refused by default: whoever can replace the file can rewrite the record.
   */
  allowUnsafe?: boolean;
}

export interface AuditLogStats {
  records: number;
  events: Record<EventType, number>;
  lost: number;
  dropped: number;
  rotations: number;
  writes: number;
  syncs: number;
  /** bytes written to the log files */
  bytes: number;
  /** ms since the oldest write not yet fsynced; 0 when everything written is synced */
  fsyncLagMs: number;
}

const DEFAULT_MAX_SIZE = 100 * 1024 * 1024;

export class AuditLog implements Sink {
  readonly path: string;
  readonly format: LogFormat;
  private rotateDue = false;
  private dropped = 0;
  private closing: Promise<void> | null = null;

  private constructor(
    private readonly file: LogFile,
    private readonly records: LogRecords,
  ) {
    this.path = file.path;
    this.format = records.format;
  }

  /**
   * Opens (or creates) the log and writes its start record to disk; rejects with
   * a one-line reason when the path cannot be written.
   */
  static async open(opts: AuditLogOptions): Promise<AuditLog> {
    const path = resolve(opts.path);
    const format = opts.format ?? 'jsonl';
    const onError = opts.onError ?? (() => {});
    let file: LogFile;
    let log: AuditLog;
    try {
      const opened = await LogFile.open({
        path,
        format,
        maxSize: opts.maxSize ?? DEFAULT_MAX_SIZE,
        keep: opts.keep ?? 10,
        fsync: opts.fsync ?? { intervalMs: 1000 },
        allowUnsafe: opts.allowUnsafe ?? false,
        onWarning: opts.onWarning ?? (() => {}),
      });
      file = opened.file;
      log = new AuditLog(file, new LogRecords(format, opened.link));
      log.queue(log.records.start(opts.start));
      try {
        await file.flush();
      } catch (err) {
        await file.close().catch(() => {});
        throw err;
      }
    } catch (err) {
      if (err instanceof AuditLogError) throw err;
      throw new AuditLogError(`cannot open audit log ${path}: ${describeFsError(err)}`, errCode(err));
    }
    file.onFailure = onError;
    file.started();
    return log;
  }

  /**
   * Hands the chain and the writing to the addon (a JSONL log, before the tracer starts): give
   * the writer to the tracer's lane (TracerOptions.jsonLaneLog). Null when this log cannot.
   */
  attachLane(): NativeLogWriter | null {
    if (this.format !== 'jsonl' || this.file.failed || this.closing) return null;
    const writer = this.file.attachWriter(this.records.head());
    if (writer) this.records.attach(writer, (errno) => this.file.writerFailed(errno));
    return writer;
  }

  /* ---------- the Sink side (synchronous, never blocks the tracer) ---------- */

  write(event: TraceEvent): void {
    if (!this.accepting()) return;
    this.rotateIfDue();
    this.queue(this.records.event(event));
  }

  /**
   * Events as JSON lines, each ended by a newline (the tracer's JSON lane); each is
   * chained as the same event written through write() would be. JSONL logs only.
   */
  writeLines(lines: Buffer): void {
    if (!this.accepting()) return;
    if (this.format !== 'jsonl') throw new Error('JSON lines go to a JSONL log only');
    // a batch that cannot fill the file is chained whole, in Buffers; one that may is chained
    // line by line, so the file rotates after the very line that fills it
    if (!this.rotateDue && lines.length * 2 < this.file.room) {
      if (this.file.writerState()) {
        this.records.lines(lines); // sealed and queued by the addon
        return this.file.sealedByWriter();
      }
      // in slices a seal block holds: the reader hands over up to a few MiB of held lines at once
      for (let start = 0; start < lines.length; ) {
        const end = sliceEnd(lines, start, SEAL_SLICE_BYTES);
        const { bytes, records } = this.records.lines(lines.subarray(start, end), this.blocks.room(), (size) => this.blocks.fresh(size));
        if (records && bytes) this.queue(bytes, records, this.blocks.sealed(bytes.length));
        start = end;
      }
      return;
    }
    let start = 0;
    for (let nl = lines.indexOf(0x0a); nl >= 0; nl = lines.indexOf(0x0a, start)) {
      this.rotateIfDue();
      this.queue(this.records.lines(lines.subarray(start, nl + 1)).bytes);
      start = nl + 1;
    }
  }

  /** Events were dropped (by the kernel, or by a slow stdout): a `lost` record. */
  noteLost(report: LostReport, source: LossSource = 'kernel'): void {
    if (!this.accepting()) return;
    this.rotateIfDue();
    this.queue(this.records.lost(report, source));
  }

  /**
   * SIGHUP: if the file at `path` is no longer the one being written (an external
   * tool renamed it), end the old file with a rotate record and continue in a
   * new file at `path`. Does nothing when the file is still in place.
   */
  reopen(): void {
    if (this.file.failed || this.closing || this.file.switching) return;
    if (this.file.moved()) this.rotate('SIGHUP');
  }

  /** Everything appended so far is written and fsynced when this resolves. */
  flush(): Promise<void> {
    return this.file.flush();
  }

  /**
   * Writes the stop record (with `reason`), everything queued, fsyncs and closes.
   * Rejects with the write error if the log failed. Idempotent.
   */
  close(reason = 'closed'): Promise<void> {
    this.closing ??= (async () => {
      // no rotation before the stop record: it ends the run in the file that holds the run
      if (!this.file.failed) this.queue(this.records.stop(reason));
      await this.file.close();
    })();
    return this.closing;
  }

  /** The chain head: seq of the next record and hash of the last one (hex). */
  head(): { seq: number; hash: string } {
    return this.records.head();
  }

  /** Counters: records appended, events by type, kernel losses noted, records dropped after a failure, rotations, write and fsync calls. */
  stats(): AuditLogStats {
    const f = this.file;
    const w = f.writerState();
    this.records.syncTally();
    return {
      records: f.records + (w?.records ?? 0),
      events: { ...this.records.tally.events },
      lost: this.records.tally.lost,
      dropped: this.dropped,
      rotations: f.switches,
      writes: f.writes + (w?.writes ?? 0),
      syncs: f.syncs + (w?.syncs ?? 0),
      bytes: f.bytes + (w?.writtenBytes ?? 0),
      fsyncLagMs: f.fsyncLagMs(),
    };
  }

  get failed(): Error | null {
    return this.file.failed;
  }

  private accepting(): boolean {
    if (this.file.failed || this.closing) {
      this.dropped++;
      return false;
    }
    return true;
  }

  /** Where lane lines are sealed. */
  private readonly blocks = new SealBlocks();

  /** `bytes` null: the addon's writer sealed and queued the record. */
  private queue(bytes: string | Buffer | null, records = 1, written?: () => void): void {
    if (bytes !== null) this.file.queue(bytes, records, written);
    else this.file.sealedByWriter();
    if (this.file.full) this.rotateDue = true;
  }

  /** The file reached maxSize with the previous record: end it before the next one. */
  private rotateIfDue(): void {
    if (this.rotateDue) this.rotate('size');
  }

  private rotate(reason: 'size' | 'SIGHUP'): void {
    this.rotateDue = false;
    const renameTo = reason === 'size' ? this.file.rotatedName() : null;
    const end = this.records.rotate(reason);
    if (end !== null) this.file.queue(end);
    this.file.switchTo(renameTo);
    const next = this.records.continuation(renameTo ? basename(renameTo) : null);
    if (next !== null) this.file.queue(next);
    else this.file.sealedByWriter();
  }
}

/** Lines sealed at once: well inside a seal block (src/audit/seal-blocks.ts), so blocks are reused. */
const SEAL_SLICE_BYTES = 256 << 10;

/** The end of the slice of `lines` from `start`: after the last newline within `max` bytes (or the first one past them). */
function sliceEnd(lines: Buffer, start: number, max: number): number {
  if (lines.length - start <= max) return lines.length;
  const nl = lines.lastIndexOf(0x0a, start + max - 1);
  if (nl >= start) return nl + 1;
  const next = lines.indexOf(0x0a, start + max);
  return next < 0 ? lines.length : next + 1;
}
