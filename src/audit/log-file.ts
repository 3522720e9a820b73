/**
 * The audit log's files: the bytes of chained records (./log-records.ts) appended to a file that
 * is only ever appended to. Knows nothing of what the bytes mean beyond where records end.
 *
 *  - open (checks in ./log-open.ts): a regular file (O_NOFOLLOW, no FIFO, no device), owned by this user,
 *    in a directory others cannot write (unless allowUnsafe); created 0600, its directory 0700
 *    if ctrace creates it. An existing log that ends in an incomplete record (a crash) is moved
 *    aside untouched (`<path>.<time>.damaged`); one already at maxSize is rotated first.
 *  - write: records queued in memory go out with one write() per batch (all records that arrived
 *    in one tick, or while the previous write was in flight). A failed or short write (ENOSPC,
 *    EIO...) truncates the file back to the end of the last complete record, so the log never
 *    ends in half a record; the file then fails for good (onFailure).
 *  - fsync every `fsync.intervalMs` when something was written, after every batch with 'always',
 *    only at a file switch and close with 'never'.
 *  - switch: fsync, close, rename to `<path>.<UTC time>` (ctrace's rotation; none when an
 *    external tool moved the file, SIGHUP), open a new file at the path, prune rotated files
 *    beyond `keep`.
 *  - a JSONL log may hand its writing to the addon (attachWriter(), native/log_writer.h): the
 *    writer thread then writes every record, and truncates after a failed write, while this
 *    module keeps the rest: fsync, switches (the writer stops at each until the next file is
 *    open), failure and close.
 */
import { statSync } from 'node:fs';
import { lstat, readdir, rename, unlink, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { loadNative, type NativeLogWriter, type NativeLogWriterState } from '../addon/native.js';
import { describeFsError, ensureDir, errCode, errnoError } from '../util/fs-util.js';
import type { LogFormat } from './codecs.js';
import type { FsyncPolicy } from './fsync.js';
import { damagedPath, isRotatedName, rotatedPath } from './files.js';
import { AuditLogError, checkDir, checkOwner, openForAppend } from './log-open.js';
import { scanTail, type ChainLink } from './log-tail.js';

export interface LogFileOptions {
  /** absolute */
  path: string;
  format: LogFormat;
  /** switch files when one reaches this many bytes; 0 = never */
  maxSize: number;
  /** rotated files to keep; 0 = all */
  keep: number;
  fsync: FsyncPolicy;
  allowUnsafe: boolean;
  onWarning: (message: string) => void;
}

interface DataOp {
  kind: 'data';
  parts: Array<string | Buffer>;
  /** byte length of each record, to truncate back to a record boundary */
  sizes: number[];
  bytes: number;
  /** called once the parts are written (or failed): their buffers may be reused */
  written: Array<() => void>;
}
interface SwitchOp {
  kind: 'switch';
  /** rename the current file to this before opening a new one (ctrace's own rotation) */
  renameTo: string | null;
}
type Op = DataOp | SwitchOp;

/** How often an attached writer is asked whether it failed, when nothing else asks. */
const WATCH_MS = 250;
/** How often a flush or a switch looks whether the writer got there. */
const WRITER_POLL_MS = 2;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * How long the writer collects records before it writes them: woken per batch it cost more than
 * its writes (as stdout's writer to a file: native/out_queue.h). Well inside the fsync interval,
 * before which nothing is durable anyway; with fsync after every write, no wait.
 */
function writerHoldMs(fsync: FsyncPolicy): number {
  if (fsync === 'always') return 0;
  return fsync === 'never' ? WRITER_HOLD_MS : Math.min(WRITER_HOLD_MS, Math.floor(fsync.intervalMs / 4));
}
const WRITER_HOLD_MS = 200;

/** The buffers from byte `off` on. */
function fromOffset(bufs: Buffer[], off: number): Buffer[] {
  let i = 0;
  while (i < bufs.length && off >= bufs[i]!.length) off -= bufs[i++]!.length;
  return i < bufs.length ? [bufs[i]!.subarray(off), ...bufs.slice(i + 1)] : [];
}

/** Bytes up to and including the last newline before byte `off`. */
function lastLineEnd(bufs: Buffer[], off: number): number {
  let start = 0;
  let end = 0;
  for (const b of bufs) {
    const upto = Math.min(b.length, off - start);
    if (upto <= 0) break;
    const nl = b.lastIndexOf(0x0a, upto - 1);
    if (nl >= 0) end = start + nl + 1;
    start += b.length;
  }
  return end;
}

export class LogFile {
  readonly path: string;
  private readonly o: LogFileOptions;

  private fh!: FileHandle;
  private ino = 0;
  private dev = 0;
  /** bytes of the current file on disk after the last complete write */
  private durableSize = 0;
  /** bytes of the current file once everything queued is written */
  private fileSize = 0;
  private recordsInFile = 0;
  private switchPending = 0;
  private readonly reserved = new Set<string>();

  private ops: Op[] = [];
  private pumping = false;
  private scheduled = false;
  private syncWanted = false;
  private unsynced = false;
  private unsyncedSince = 0;
  private waiters: Array<() => void> = [];
  private timer: NodeJS.Timeout | undefined;
  private failure: AuditLogError | null = null;
  /** started(): failures from now on go to onFailure (before, flush() rejects) */
  private running = false;
  /** Called once when writing fails for good, after started(). */
  onFailure: (err: AuditLogError) => void = () => {};
  /** the addon's writer, once attachWriter() gave it the writing */
  private writer: NativeLogWriter | null = null;
  /** its bytes written before the last fsync began */
  private syncedBytes = 0;
  private writerFlushDue = false;
  private watch: NodeJS.Timeout | undefined;

  /** records queued, over all files */
  records = 0;
  /** bytes written, over all files */
  bytes = 0;
  writes = 0;
  syncs = 0;
  switches = 0;

  private constructor(o: LogFileOptions) {
    this.o = o;
    this.path = o.path;
  }

  /**
   * Checks and opens the log at `path` (see the module comment) and says where the chain goes on
   * from: the last record of the file there, or of its damaged tail; null for a new chain.
   */
  static async open(o: LogFileOptions): Promise<{ file: LogFile; link: ChainLink | null }> {
    const file = new LogFile(o);
    const link = await file.prepare();
    try {
      await file.openFile();
    } catch (err) {
      throw new AuditLogError(`cannot open audit log ${o.path}: ${describeFsError(err)}`, errCode(err));
    }
    return { file, link };
  }

  /** What is at the path before it is opened: refused, continued, moved aside, or rotated. */
  private async prepare(): Promise<ChainLink | null> {
    const what = `audit log ${this.path}`;
    try {
      await ensureDir(dirname(this.path));
    } catch (err) {
      throw new AuditLogError(`cannot create the directory of ${what}: ${describeFsError(err)}`, errCode(err));
    }
    let existing: Awaited<ReturnType<typeof lstat>> | null = null;
    try {
      existing = await lstat(this.path);
    } catch (err) {
      if (errCode(err) !== 'ENOENT') throw new AuditLogError(`cannot open ${what}: ${describeFsError(err)}`, errCode(err));
    }
    await checkDir(this.path, what, this.o.allowUnsafe);
    if (!existing) return null;
    if (existing.isSymbolicLink()) throw new AuditLogError(`${what} is a symbolic link; refusing to follow it`, 'ELOOP');
    if (!existing.isFile()) throw new AuditLogError(`${what} is not a regular file; refusing to write to it`, 'EINVAL');
    checkOwner(existing, what, this.o.allowUnsafe);
    if (existing.size === 0) return null;
    const tail = await scanTail(this.path, this.o.format);
    if (tail.state === 'foreign') {
      throw new AuditLogError(`${what} exists and is not a ctrace ${this.o.format} log (${tail.why}); choose another path`, 'EINVAL');
    }
    if (tail.state === 'damaged') {
      // kept whatever --log-keep says (a crash, or tampering: evidence either way); the chain
      // goes on from its last complete record, so verify passes over it and names it
      const aside = damagedPath(this.path, new Date());
      await rename(this.path, aside);
      this.o.onWarning(
        `${what} ends in an incomplete record (${tail.why}); moved it aside, untouched, to ${aside}; ` +
          (tail.link ? `the chain continues from its last complete record (seq ${tail.link.seq})` : 'a new chain begins'),
      );
      return tail.link;
    }
    if (this.o.maxSize > 0 && existing.size >= this.o.maxSize) {
      await rename(this.path, rotatedPath(this.path, new Date(), this.reserved));
      await this.prune();
    }
    return { seq: tail.seq, hash: tail.hash };
  }

  /**
   * Opens the file at the path (./log-open.ts); records what rotation and truncation need. At a
   * switch the records queued for the new file since switchTo() are already counted in fileSize
   * and recordsInFile: what the file holds is added, not put in their place.
   */
  private async openFile(switching = false): Promise<void> {
    const { fh, st } = await openForAppend(this.path, this.o.allowUnsafe, this.o.onWarning);
    this.fh = fh;
    this.ino = st.ino;
    this.dev = st.dev;
    this.durableSize = st.size;
    if (switching) this.writer?.resume(fh.fd, st.size);
    if (switching) this.fileSize += st.size;
    else {
      this.fileSize = st.size;
      this.recordsInFile = 0;
    }
  }

  /** The first records are on disk: from now on failures go to onFailure, and the fsync timer runs. */
  started(): void {
    this.running = true;
    const fsync = this.o.fsync;
    if (typeof fsync === 'object') {
      this.timer = setInterval(() => {
        this.checkWriter();
        if (this.unsynced) {
          this.syncWanted = true;
          this.schedule();
        }
      }, fsync.intervalMs);
      this.timer.unref();
    }
  }

  get failed(): AuditLogError | null {
    return this.failure;
  }

  /** The current file has reached maxSize (and holds more than the record that opens it). */
  get full(): boolean {
    if (this.writer) return this.writer.state().full;
    return this.o.maxSize > 0 && this.fileSize >= this.o.maxSize && this.recordsInFile > 1;
  }

  /** A file switch is queued and not done yet. */
  get switching(): boolean {
    return this.switchPending > 0;
  }

  /** The file at the path is no longer the one being written (an external tool moved it). */
  moved(): boolean {
    try {
      const st = statSync(this.path);
      return st.ino !== this.ino || st.dev !== this.dev;
    } catch {
      return true;
    }
  }

  /** A free name to rotate the current file to. */
  rotatedName(): string {
    return rotatedPath(this.path, new Date(), this.reserved);
  }

  /** ms since the oldest write not yet fsynced; 0 when everything written is synced. */
  fsyncLagMs(): number {
    this.checkWriter();
    return this.unsynced ? performance.now() - this.unsyncedSince : 0;
  }

  /** Bytes the current file takes before it is full (Infinity without a size limit). */
  get room(): number {
    if (this.o.maxSize <= 0) return Infinity;
    return this.o.maxSize - (this.writer ? this.writer.state().fileSize : this.fileSize);
  }

  /**
   * Hands the writing of the current file to the addon (JSONL only), the chain going on from
   * `head`: from now on records are sealed by the returned writer, not queued here. Null (and
   * nothing changes) while anything queued here is not written yet.
   */
  attachWriter(head: { seq: number; hash: string }): NativeLogWriter | null {
    if (this.writer || this.failure || this.o.format !== 'jsonl' || this.ops.length || this.pumping || this.scheduled) return null;
    const { LogWriter } = loadNative();
    const fsync = this.o.fsync;
    const w = new LogWriter(this.fh.fd, this.durableSize, this.recordsInFile, head.seq, head.hash, this.o.maxSize, fsync === 'always', writerHoldMs(fsync));
    this.writer = w;
    // the writer's failures surface at the next seal, flush or switch, and here within a beat
    this.watch = setInterval(() => this.checkWriter(), WATCH_MS);
    this.watch.unref();
    return w;
  }

  /** The writer's counters (null without one): its records, bytes, writes and fsyncs add to this file's. */
  writerState(): NativeLogWriterState | null {
    return this.writer?.state() ?? null;
  }

  /**
   * Records were sealed by the writer in this tick: they go out with one write at its end, as
   * records queued here do.
   */
  sealedByWriter(): void {
    if (this.writerFlushDue) return;
    this.writerFlushDue = true;
    setImmediate(() => {
      this.writerFlushDue = false;
      if (!this.failure) this.writer?.flush();
    });
  }

  /** The writer refused a record: it failed with this errno (checkWriter says how). */
  writerFailed(errno: number): void {
    if (!this.checkWriter()) this.fail(errnoError(errno, 'write'));
  }

  /**
   * Queues the bytes of `records` records (one, unless a batch of lane lines) for the current
   * file; `written` is called when the write that took them is over (their memory may be reused).
   */
  queue(bytes: string | Buffer, records = 1, written?: () => void): void {
    const size = typeof bytes === 'string' ? Buffer.byteLength(bytes) : bytes.length;
    let last = this.ops[this.ops.length - 1];
    if (!last || last.kind !== 'data') {
      last = { kind: 'data', parts: [], sizes: [], bytes: 0, written: [] };
      this.ops.push(last);
    }
    if (written) last.written.push(written);
    last.parts.push(bytes);
    last.sizes.push(size);
    last.bytes += size;
    this.fileSize += size;
    this.recordsInFile += records;
    this.records += records;
    this.schedule();
  }

  /** What is queued from now on goes to a new file at the path; the current one is renamed to `renameTo` (if given). */
  switchTo(renameTo: string | null): void {
    if (renameTo) this.reserved.add(renameTo);
    this.ops.push({ kind: 'switch', renameTo });
    this.writer?.switchFile();
    this.schedule();
    this.switchPending++;
    this.fileSize = 0;
    this.recordsInFile = 0;
    this.switches++;
  }

  /** Everything queued so far is written and fsynced when this resolves. */
  async flush(): Promise<void> {
    if (this.failure) throw this.failure;
    if (this.writer) await this.drainWriter();
    if (this.failure) throw this.failure;
    this.syncWanted = true;
    await new Promise<void>((r) => {
      this.waiters.push(r);
      this.schedule();
    });
    if (this.failure) throw this.failure;
  }

  /** Writes and fsyncs what is queued (unless the file failed), then closes; rejects with the failure. */
  async close(): Promise<void> {
    clearInterval(this.timer);
    if (!this.failure) {
      try {
        await this.flush();
      } catch {
        /* reported below */
      }
    } else {
      await this.idle();
    }
    clearInterval(this.watch);
    this.writer?.close();
    await this.fh.close().catch(() => {});
    if (this.failure) throw this.failure;
  }

  /* ---------- the writing side (async, one operation at a time) ---------- */

  private schedule(): void {
    if (this.scheduled || this.pumping) return;
    this.scheduled = true;
    setImmediate(() => void this.pump());
  }

  private async pump(): Promise<void> {
    this.scheduled = false;
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (!this.failure) {
        const op = this.ops.shift();
        if (op) {
          if (op.kind === 'data') {
            try {
              await this.writeData(op);
            } finally {
              for (const fn of op.written) fn();
            }
          } else await this.switchFile(op);
          continue;
        }
        if (this.syncWanted) {
          this.syncWanted = false;
          if (this.unsynced) {
            this.unsynced = false;
            this.syncs++;
            if (this.writer) this.syncedBytes = this.writer.state().writtenBytes;
            await this.fh.sync();
          }
          continue;
        }
        break;
      }
    } catch (err) {
      this.fail(err);
    } finally {
      this.pumping = false;
    }
    if (this.ops.length && !this.failure) this.schedule();
    else this.wake();
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const r of w) r();
  }

  private idle(): Promise<void> {
    if (!this.pumping && !this.scheduled) return Promise.resolve();
    return new Promise((r) => this.waiters.push(r));
  }

  private async writeData(op: DataOp): Promise<void> {
    // strings from the chain are joined; Buffers (the addon's chained lines, protobuf records)
    // are written as they are, with one writev: copying them again would only feed the GC
    const bufs = op.parts.every((p) => typeof p === 'string')
      ? [Buffer.from(op.parts.join(''))]
      : op.parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : p));
    const total = op.bytes;
    let off = 0;
    try {
      while (off < total) {
        this.writes++;
        const { bytesWritten } = await this.fh.writev(bufs.length === 1 ? [bufs[0]!.subarray(off)] : fromOffset(bufs, off));
        if (bytesWritten <= 0) throw Object.assign(new Error('EIO: write wrote nothing, write'), { code: 'EIO' });
        off += bytesWritten;
      }
    } catch (err) {
      // keep the complete records this batch got onto disk, drop the partial one
      let keep = 0;
      if (this.o.format === 'jsonl') keep = lastLineEnd(bufs, off); // records are lines
      else {
        for (const s of op.sizes) {
          if (keep + s > off) break;
          keep += s;
        }
      }
      if (keep < off) {
        try {
          await this.fh.truncate(this.durableSize + keep);
        } catch (terr) {
          throw new AuditLogError(
            `writing audit log ${this.path} failed: ${describeFsError(err)}, and truncating its partial record failed: ${describeFsError(terr)}`,
            errCode(err),
          );
        }
      }
      this.durableSize += keep;
      throw err;
    }
    this.durableSize += total;
    this.bytes += total;
    if (!this.unsynced) this.unsyncedSince = performance.now();
    this.unsynced = true;
    if (this.o.fsync === 'always') {
      this.unsynced = false;
      this.syncs++;
      await this.fh.sync();
    }
  }

  private async switchFile(op: SwitchOp): Promise<void> {
    if (this.writer) await this.writerAtSwitch();
    this.switchPending--;
    this.syncs++;
    // the writer waits at the switch: everything it wrote is in this file, synced below
    if (this.writer) this.syncedBytes = this.writer.state().writtenBytes;
    await this.fh.sync();
    this.unsynced = false;
    await this.fh.close();
    if (op.renameTo) {
      await rename(this.path, op.renameTo);
      this.reserved.delete(op.renameTo);
    }
    await this.openFile(true);
    if (op.renameTo) await this.prune();
  }

  /** Deletes the oldest rotated files beyond `keep`. */
  private async prune(): Promise<void> {
    if (this.o.keep <= 0) return;
    const dir = dirname(this.path);
    const base = basename(this.path);
    const names = (await readdir(dir)).filter((n) => isRotatedName(base, n)).sort();
    for (const n of names.slice(0, Math.max(0, names.length - this.o.keep))) {
      await unlink(join(dir, n)).catch(() => {});
    }
  }

  /**
   * The writer's news: its failure (the file failed: true), or bytes written since the last
   * fsync (unsynced from now on).
   */
  private checkWriter(): boolean {
    if (!this.writer || this.failure) return !!this.failure;
    const s = this.writer.state();
    if (s.errno) {
      const err = errnoError(s.errno, 'write');
      this.fail(
        s.truncateErrno
          ? new AuditLogError(
              `writing audit log ${this.path} failed: ${describeFsError(err)}, and truncating its partial record failed: ${describeFsError(errnoError(s.truncateErrno, 'ftruncate'))}`,
              errCode(err),
            )
          : err,
      );
      return true;
    }
    // (with fsync 'always' the writer fsyncs after each of its writes)
    if (s.writtenBytes > this.syncedBytes && !this.unsynced && this.o.fsync !== 'always') {
      this.unsynced = true;
      this.unsyncedSince = performance.now();
    }
    return false;
  }

  /** Until the writer has written everything sealed so far (a switch on the way is the pump's), or failed. */
  private async drainWriter(): Promise<void> {
    for (;;) {
      if (this.checkWriter()) return;
      this.writer!.flush();
      if (this.writer!.state().idle) return;
      await sleep(WRITER_POLL_MS);
    }
  }

  /** Until the writer waits at the switch this pump is making (everything for the old file written). */
  private async writerAtSwitch(): Promise<void> {
    while (!this.writer!.atSwitch()) {
      if (this.checkWriter()) throw this.failure;
      this.writer!.flush();
      await sleep(WRITER_POLL_MS);
    }
  }

  private fail(err: unknown): void {
    if (this.failure) return;
    const e =
      err instanceof AuditLogError
        ? err
        : new AuditLogError(
            `writing audit log ${this.path} failed: ${describeFsError(err)}; the log ends at its last complete record`,
            errCode(err),
          );
    this.failure = e;
    this.ops = [];
    clearInterval(this.timer);
    clearInterval(this.watch);
    // (a writer that failed itself has stopped already; one waiting at a switch stops at once)
    this.writer?.close();
    if (this.running) this.onFailure(e);
  }
}
