/**
 * The audit log: every event and record, hash-chained (src/audit/chain.ts),
 * appended to a file that is only ever appended to.
 *
 * Durability, chosen on purpose (like pino's sonic-boom):
 *  - records are queued in memory and written with one write() per batch (all
 *    records that arrived in one tick, or while the previous write was in flight);
 *  - fsync every `fsync.intervalMs` (default 1 s) when something was written,
 *    after every batch with 'always', only at rotation and close with 'never';
 *  - close() writes the stop record, everything queued, then fsyncs.
 * A failed or short write (ENOSPC, EIO, ...) truncates the file back to the end of
 * the last complete record it wrote, so the log never ends in half a record;
 * the log then stops (onError) and close() rejects with the error.
 *
 * Files: created 0600 (the directory 0700 if ctrace creates it), opened
 * O_APPEND|O_NOFOLLOW, never truncated except to drop its own half-written batch.
 * Rotation when the file reaches `maxSize`: the file ends with a `rotate` record,
 * is renamed `<path>.<UTC time>`, and a new file begins with a `continuation`
 * record linked to it; only the newest `keep` rotated files are kept. reopen()
 * (SIGHUP) does the same for a file an external tool renamed. Starting on an
 * existing log continues its chain (the start record links to its last record);
 * an existing log that ends in an incomplete record (a crash) is moved aside
 * untouched, and a new chain begins.
 */
import { closeSync, constants as C, createReadStream, fstatSync, openSync, readSync, statSync } from 'node:fs';
import { chmod, lstat, mkdir, open, readdir, rename, unlink, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import type { EventType, Sink, TraceEvent } from '../event.js';
import type { LostReport } from '../event.js';
import { protobufCodec, parseProtobufRecord } from '../format/protobuf.js';
import { ocsfCodec } from '../format/ocsf-log.js';
import { lineType } from '../format/json.js';
import { Chain, jsonlCodec, newSeed, parseJsonlRecord, type ChainCodec, type LogFormat } from './chain.js';
import { damagedPath, isRotatedName, rotatedPath } from './files.js';
import { detectFormat, rawRecords } from './reader.js';
import { nowIso, RecordTally, startRecord, type Entry, type LossSource, type StartOptions } from './records.js';

export type FsyncPolicy = 'always' | 'never' | { intervalMs: number };

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

/** What close(reason) writes in the stop record. */
export type StopReason = string;

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

interface DataOp {
  kind: 'data';
  parts: Array<string | Buffer>;
  /** byte length of each record, to truncate back to a record boundary */
  sizes: number[];
  bytes: number;
}
interface SwitchOp {
  kind: 'switch';
  /** rename the current file to this before opening a new one (ctrace's own rotation) */
  renameTo: string | null;
}
type Op = DataOp | SwitchOp;

export class AuditLogError extends Error {
  constructor(
    message: string,
    readonly code: string | undefined,
  ) {
    super(message);
  }
}

/**
 * "no space left on device (ENOSPC)" from a Node fs or net error
 * (`ENOSPC: no space left on device, write`, `listen EACCES: permission denied /x`).
 */
export function describeFsError(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  const msg = e?.message ?? String(err);
  const m = /(?:^|\s)([A-Z][A-Z0-9]+): (.+?)(?:, [a-z_]+(?: '.*')?| \/.*)?$/.exec(msg);
  if (m) return `${m[2]} (${m[1]})`;
  return e?.code && !msg.includes(e.code) ? `${msg} (${e.code})` : msg;
}

const DEFAULT_MAX_SIZE = 100 * 1024 * 1024;

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

export class AuditLog implements Sink {
  readonly path: string;
  readonly format: LogFormat;
  private readonly codec: ChainCodec;
  private readonly maxSize: number;
  private readonly keep: number;
  private readonly fsync: FsyncPolicy;
  private readonly onError: (err: Error) => void;
  private readonly onWarning: (message: string) => void;
  private readonly allowUnsafe: boolean;

  private fh!: FileHandle;
  private ino = 0;
  private dev = 0;
  /** bytes of the current file on disk after the last complete write */
  private durableSize = 0;
  /** bytes of the current file once everything queued is written */
  private fileSize = 0;
  private recordsInFile = 0;
  private rotateDue = false;
  private switchPending = 0;
  private readonly reserved = new Set<string>();

  private chain!: Chain;
  private ops: Op[] = [];
  private pumping = false;
  private scheduled = false;
  private syncWanted = false;
  private unsynced = false;
  private unsyncedSince = 0;
  private bytesWritten = 0;
  private waiters: Array<() => void> = [];
  private timer: NodeJS.Timeout | undefined;

  private readonly tally = new RecordTally();
  private records = 0;
  private dropped = 0;
  private rotations = 0;
  private writes = 0;
  private syncs = 0;
  private failure: Error | null = null;
  /** open() has resolved: failures from now on go to onError (before, open() rejects) */
  private opened = false;
  private closing: Promise<void> | null = null;

  private constructor(opts: AuditLogOptions) {
    this.path = resolve(opts.path);
    this.format = opts.format ?? 'jsonl';
    this.codec = this.format === 'protobuf' ? protobufCodec : this.format === 'ocsf' ? ocsfCodec : jsonlCodec;
    this.maxSize = opts.maxSize ?? DEFAULT_MAX_SIZE;
    this.keep = opts.keep ?? 10;
    this.fsync = opts.fsync ?? { intervalMs: 1000 };
    this.onError = opts.onError ?? (() => {});
    this.onWarning = opts.onWarning ?? (() => {});
    this.allowUnsafe = opts.allowUnsafe ?? false;
  }

  /**
   * Opens (or creates) the log and writes its start record to disk; rejects with
   * a one-line reason when the path cannot be written.
   */
  static async open(opts: AuditLogOptions): Promise<AuditLog> {
    const log = new AuditLog(opts);
    try {
      await log.init(opts.start);
    } catch (err) {
      if (err instanceof AuditLogError) throw err;
      throw new AuditLogError(`cannot open audit log ${log.path}: ${describeFsError(err)}`, code(err));
    }
    return log;
  }

  private async init(start: StartOptions): Promise<void> {
    const what = `audit log ${this.path}`;
    try {
      await ensureDir(dirname(this.path));
    } catch (err) {
      throw new AuditLogError(`cannot create the directory of ${what}: ${describeFsError(err)}`, code(err));
    }
    let link: { seq: number; hash: string } | null = null;
    let existing: Awaited<ReturnType<typeof lstat>> | null = null;
    try {
      existing = await lstat(this.path);
    } catch (err) {
      if (code(err) !== 'ENOENT') throw new AuditLogError(`cannot open ${what}: ${describeFsError(err)}`, code(err));
    }
    await this.checkDir(what);
    if (existing) {
      if (existing.isSymbolicLink()) throw new AuditLogError(`${what} is a symbolic link; refusing to follow it`, 'ELOOP');
      if (!existing.isFile()) throw new AuditLogError(`${what} is not a regular file; refusing to write to it`, 'EINVAL');
      await this.checkSafe(existing, what);
      if (existing.size > 0) {
        const tail = await scanTail(this.path, this.format);
        if (tail.state === 'foreign') {
          throw new AuditLogError(`${what} exists and is not a ctrace ${this.format} log (${tail.why}); choose another path`, 'EINVAL');
        }
        if (tail.state === 'damaged') {
          // kept whatever --log-keep says (a crash, or tampering: evidence either way); the chain
          // goes on from its last complete record, so verify passes over it and names it
          const aside = damagedPath(this.path, new Date());
          await rename(this.path, aside);
          link = tail.link;
          this.onWarning(
            `${what} ends in an incomplete record (${tail.why}); moved it aside, untouched, to ${aside}; ` +
              (link ? `the chain continues from its last complete record (seq ${link.seq})` : 'a new chain begins'),
          );
        } else {
          link = { seq: tail.seq, hash: tail.hash };
          if (this.maxSize > 0 && existing.size >= this.maxSize) {
            await rename(this.path, rotatedPath(this.path, new Date(), this.reserved));
            await this.prune();
          }
        }
      }
    }
    try {
      await this.openFile();
    } catch (err) {
      throw new AuditLogError(`cannot open ${what}: ${describeFsError(err)}`, code(err));
    }
    this.chain = link ? new Chain(link.seq + 1, link.hash) : new Chain(0, newSeed());
    this.append(startRecord(start));
    try {
      await this.flush();
    } catch (err) {
      await this.fh.close().catch(() => {});
      throw err;
    }
    this.opened = true;
    if (typeof this.fsync === 'object') {
      this.timer = setInterval(() => {
        if (this.unsynced) {
          this.syncWanted = true;
          this.schedule();
        }
      }, this.fsync.intervalMs);
      this.timer.unref();
    }
  }

  /**
   * Opens `path` for append, creating it 0600; records what rotation and truncation need. At a
   * switch (rotation, SIGHUP) the records queued for the new file since rotate() are already
   * counted in fileSize and recordsInFile: what the file holds is added, not put in their place
   * (that lost them, and a file could outgrow maxSize).
   */
  private async openFile(switching = false): Promise<void> {
    let fh: FileHandle;
    let created = true;
    // non-blocking: a FIFO planted at the path must not hang the open (its type is refused below)
    const flags = C.O_WRONLY | C.O_APPEND | C.O_NOFOLLOW | C.O_NONBLOCK | C.O_NOCTTY;
    try {
      fh = await open(this.path, flags | C.O_CREAT | C.O_EXCL, 0o600);
    } catch (err) {
      if (code(err) !== 'EEXIST') throw err;
      created = false;
      try {
        fh = await open(this.path, flags);
      } catch (err2) {
        throw refusal(this.path, err2);
      }
    }
    const st = await fh.stat();
    try {
      if (!st.isFile()) throw new AuditLogError(`audit log ${this.path} is not a regular file; refusing to write to it`, 'EINVAL');
      if (created) await fh.chmod(0o600); // whatever the umask
      else await this.checkSafe(st, `audit log ${this.path}`, fh);
      await this.checkDir(`audit log ${this.path}`);
    } catch (err) {
      await fh.close().catch(() => {});
      throw err;
    }
    this.fh = fh;
    this.ino = st.ino;
    this.dev = st.dev;
    this.durableSize = st.size;
    if (switching) this.fileSize += st.size;
    else {
      this.fileSize = st.size;
      this.recordsInFile = 0;
    }
  }

  /**
   * An existing log must be ours and ours only: owned by another user it could have been
   * prepared, or be rewritten, by them (refused unless allowUnsafe); readable or writable by
   * group/others it is tightened to 0600 (with fh; without, the caller is about to move it).
   */
  private async checkSafe(st: { uid: number; mode: number }, what: string, fh?: FileHandle): Promise<void> {
    const me = process.getuid?.() ?? 0;
    if (st.uid !== me && !this.allowUnsafe) {
      throw new AuditLogError(`${what} is owned by uid ${st.uid}, not by this user (${me}); refusing to append to it (--log-allow-unsafe to accept)`, 'EPERM');
    }
    if (fh && st.mode & 0o077) {
      await fh.chmod(0o600);
      this.onWarning(`${what} was accessible to group/others (mode ${(st.mode & 0o777).toString(8)}); tightened to 600`);
    }
  }

  /** Others who can write the log's directory can replace the log: refused unless allowUnsafe. */
  private async checkDir(what: string): Promise<void> {
    if (this.allowUnsafe) return;
    const dir = dirname(this.path);
    const st = await lstat(dir);
    const me = process.getuid?.() ?? 0;
    // a sticky directory (/tmp) lets others add files but not replace ours
    const othersWrite = (st.mode & 0o022) !== 0 && (st.mode & 0o1000) === 0;
    if (othersWrite || (st.uid !== me && st.uid !== 0)) {
      throw new AuditLogError(
        `${what}: its directory ${dir} can be written by ${othersWrite ? `group/others (mode ${(st.mode & 0o7777).toString(8)})` : `uid ${st.uid}`}, who could replace the log; refusing (--log-allow-unsafe to accept)`,
        'EPERM',
      );
    }
  }

  /* ---------- the Sink side (synchronous, never blocks the tracer) ---------- */

  write(event: TraceEvent): void {
    if (!this.accepting()) return;
    this.tally.event(event);
    this.append(event);
  }

  /**
   * Events as JSON lines, each ended by a newline (the tracer's JSON-lines lane); each is
   * chained as the same event written through write() would be. JSONL logs only.
   */
  writeLines(lines: Buffer): void {
    if (!this.accepting()) return;
    if (this.codec.format !== 'jsonl') throw new Error('JSON lines go to a JSONL log only');
    // a batch that cannot fill the file is chained whole, in Buffers; one that may is chained
    // line by line, so the file rotates after the very line that fills it
    if (!this.rotateDue && (this.maxSize === 0 || this.fileSize + lines.length * 2 < this.maxSize)) {
      const { bytes, records } = this.chain.appendEventLines(lines, (type) => this.tally.count(type));
      if (records) this.queueBytes(bytes, records);
      return;
    }
    // each line is chained (src/audit/chain.ts) as the same event written through write() would be
    const text = lines.toString('utf8');
    let start = 0;
    for (let nl = text.indexOf('\n'); nl >= 0; nl = text.indexOf('\n', start)) {
      const line = text.slice(start, nl);
      start = nl + 1;
      this.tally.count(lineType(line));
      this.append(line);
    }
  }

  /** The kernel dropped events: a `lost` record. */
  noteLost(report: LostReport, source: LossSource = 'kernel'): void {
    if (!this.accepting()) return;
    this.append(this.tally.lostRecord(report, source));
  }

  /**
   * SIGHUP: if the file at `path` is no longer the one being written (an external
   * tool renamed it), end the old file with a rotate record and continue in a
   * new file at `path`. Does nothing when the file is still in place.
   */
  reopen(): void {
    if (this.failure || this.closing || this.switchPending > 0) return;
    let same = false;
    try {
      const st = statSync(this.path);
      same = st.ino === this.ino && st.dev === this.dev;
    } catch {
      same = false;
    }
    if (same) return;
    this.rotate('SIGHUP', null);
  }

  /** Everything appended so far is written and fsynced when this resolves. */
  async flush(): Promise<void> {
    if (this.failure) throw this.failure;
    this.syncWanted = true;
    await new Promise<void>((r) => {
      this.waiters.push(r);
      this.schedule();
    });
    if (this.failure) throw this.failure;
  }

  /**
   * Writes the stop record (with `reason`), everything queued, fsyncs and closes.
   * Rejects with the write error if the log failed. Idempotent.
   */
  close(reason: StopReason = 'closed'): Promise<void> {
    this.closing ??= this.doClose(reason);
    return this.closing;
  }

  private async doClose(reason: string): Promise<void> {
    clearInterval(this.timer);
    if (!this.failure) {
      this.append(this.tally.stopRecord(reason));
      try {
        await this.flush();
      } catch {
        /* reported below */
      }
    } else {
      await this.idle();
    }
    await this.fh.close().catch(() => {});
    if (this.failure) throw this.failure;
  }

  /** The chain head: seq of the next record and hash of the last one (hex). */
  head(): { seq: number; hash: string } {
    return { seq: this.chain.seq, hash: this.chain.head };
  }

  /** Counters: records appended, events by type, kernel losses noted, records dropped after a failure, rotations, write and fsync calls. */
  stats(): AuditLogStats {
    return {
      records: this.records,
      events: { ...this.tally.events },
      lost: this.tally.lost,
      dropped: this.dropped,
      rotations: this.rotations,
      writes: this.writes,
      syncs: this.syncs,
      bytes: this.bytesWritten,
      fsyncLagMs: this.unsynced ? performance.now() - this.unsyncedSince : 0,
    };
  }

  get failed(): Error | null {
    return this.failure;
  }

  private accepting(): boolean {
    if (this.failure || this.closing) {
      this.dropped++;
      return false;
    }
    return true;
  }

  /** Chains and queues one record (a string: an event's JSON line); rotates first when the file is full. */
  private append(entry: Entry | string): void {
    if (this.rotateDue && (typeof entry === 'string' || entry.type !== 'stop'))
      this.rotate('size', rotatedPath(this.path, new Date(), this.reserved));
    this.queue(entry);
    if (this.maxSize > 0 && this.fileSize >= this.maxSize && this.recordsInFile > 1) this.rotateDue = true;
  }

  private queue(entry: Entry | string): void {
    this.queueBytes(typeof entry === 'string' ? this.chain.appendEventLine(entry) : this.chain.append(this.codec, entry), 1);
  }

  /** Queues chained bytes holding `records` records. */
  private queueBytes(bytes: string | Buffer, records: number): void {
    const size = typeof bytes === 'string' ? Buffer.byteLength(bytes) : bytes.length;
    let last = this.ops[this.ops.length - 1];
    if (!last || last.kind !== 'data') {
      last = { kind: 'data', parts: [], sizes: [], bytes: 0 };
      this.ops.push(last);
    }
    last.parts.push(bytes);
    last.sizes.push(size);
    last.bytes += size;
    this.fileSize += size;
    this.recordsInFile += records;
    this.records += records;
    this.schedule();
  }

  private rotate(reason: 'size' | 'SIGHUP', renameTo: string | null): void {
    this.rotateDue = false;
    this.queue({ type: 'rotate', time: nowIso(), reason });
    if (renameTo) this.reserved.add(renameTo);
    this.ops.push({ kind: 'switch', renameTo });
    this.switchPending++;
    this.fileSize = 0;
    this.recordsInFile = 0;
    this.rotations++;
    this.queue({ type: 'continuation', time: nowIso(), previousFile: renameTo ? basename(renameTo) : null });
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
          if (op.kind === 'data') await this.writeData(op);
          else await this.switchFile(op);
          continue;
        }
        if (this.syncWanted) {
          this.syncWanted = false;
          if (this.unsynced) {
            this.unsynced = false;
            this.syncs++;
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
    // strings from this chain are joined; Buffers (the addon's chained lines, protobuf records)
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
      if (this.format === 'jsonl') keep = lastLineEnd(bufs, off); // records are lines
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
            code(err),
          );
        }
      }
      this.durableSize += keep;
      throw err;
    }
    this.durableSize += total;
    this.bytesWritten += total;
    if (!this.unsynced) this.unsyncedSince = performance.now();
    this.unsynced = true;
    if (this.fsync === 'always') {
      this.unsynced = false;
      this.syncs++;
      await this.fh.sync();
    }
  }

  private async switchFile(op: SwitchOp): Promise<void> {
    this.switchPending--;
    this.syncs++;
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
    if (this.keep <= 0) return;
    const dir = dirname(this.path);
    const base = basename(this.path);
    const names = (await readdir(dir)).filter((n) => isRotatedName(base, n)).sort();
    for (const n of names.slice(0, Math.max(0, names.length - this.keep))) {
      await unlink(join(dir, n)).catch(() => {});
    }
  }

  private fail(err: unknown): void {
    if (this.failure) return;
    const e =
      err instanceof AuditLogError
        ? err
        : new AuditLogError(
            `writing audit log ${this.path} failed: ${describeFsError(err)}; the log ends at its last complete record`,
            code(err),
          );
    this.failure = e;
    this.ops = [];
    clearInterval(this.timer);
    if (this.opened) this.onError(e);
  }
}

/** The open of an existing path failed: say why as start-up does (a symbolic link, a FIFO with no reader). */
function refusal(path: string, err: unknown): unknown {
  if (code(err) === 'ELOOP') return new AuditLogError(`audit log ${path} is a symbolic link; refusing to follow it`, 'ELOOP');
  if (code(err) === 'ENXIO') return new AuditLogError(`audit log ${path} is not a regular file; refusing to write to it`, 'EINVAL');
  return err;
}

function code(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException)?.code;
}

/** mkdir -p; directories it creates get 0700 whatever the umask. */
export async function ensureDir(dir: string): Promise<void> {
  const first = await mkdir(dir, { recursive: true, mode: 0o700 });
  if (!first) return;
  // chmod every directory created, from the first one down to `dir`
  let d = resolve(dir);
  const created: string[] = [];
  while (d.length >= first.length) {
    created.push(d);
    if (d === first) break;
    d = dirname(d);
  }
  for (const c of created) await chmod(c, 0o700);
}

type Tail =
  | { state: 'ok'; seq: number; hash: string }
  | { state: 'damaged'; why: string; link: { seq: number; hash: string } | null }
  | { state: 'foreign'; why: string };

/** The chain position of the last complete line before a cut-short one, or null. */
function lastJsonlLink(tail: Buffer): { seq: number; hash: string } | null {
  const end = tail.lastIndexOf(0x0a);
  if (end < 0) return null;
  const start = tail.lastIndexOf(0x0a, end - 1) + 1;
  try {
    const r = parseJsonlRecord(tail.subarray(start, end));
    return r.hash && r.seq !== null ? { seq: r.seq, hash: r.hash } : null;
  } catch {
    return null;
  }
}

/** The last record of an existing log: where a new run's chain links to. */
export async function scanTail(path: string, format: LogFormat): Promise<Tail> {
  const fd = openSync(path, 'r');
  let first: Buffer;
  let tail: Buffer;
  let size: number;
  try {
    size = fstatSync(fd).size;
    first = Buffer.alloc(Math.min(size, 2));
    readSync(fd, first, 0, first.length, 0);
    const n = Math.min(size, 1024 * 1024);
    tail = Buffer.alloc(n);
    readSync(fd, tail, 0, n, size - n);
  } finally {
    closeSync(fd);
  }
  const found = detectFormat(first);
  if (found !== (format === 'ocsf' ? 'jsonl' : format)) return { state: 'foreign', why: `it looks like ${found}` };
  if (format !== 'protobuf') {
    if (tail[tail.length - 1] !== 0x0a) return { state: 'damaged', why: 'no newline at the end', link: lastJsonlLink(tail) };
    const prevNl = tail.lastIndexOf(0x0a, tail.length - 2);
    if (prevNl < 0 && tail.length < size) return { state: 'foreign', why: 'its last line is longer than 1 MiB' };
    try {
      const r = parseJsonlRecord(tail.subarray(prevNl + 1, tail.length - 1));
      // OCSF and ctrace's own JSONL are both lines: one chain holds one of them
      const ocsf = typeof r.object.class_uid === 'number';
      if (ocsf !== (format === 'ocsf')) return { state: 'foreign', why: `it looks like ${ocsf ? 'ocsf' : 'jsonl'}` };
      if (r.hash && r.seq !== null) return { state: 'ok', seq: r.seq, hash: r.hash };
      return { state: 'foreign', why: 'its last line carries no chain hash' };
    } catch {
      return { state: 'foreign', why: 'its last line is not JSON' };
    }
  }
  // protobuf: frames can only be found from the start
  let last: Buffer | null = null;
  let incomplete = false;
  try {
    for await (const r of rawRecords(createReadStream(path), 'protobuf')) {
      if (r.complete) last = r.bytes;
      else incomplete = true;
    }
  } catch (err) {
    return { state: 'foreign', why: (err as Error).message };
  }
  if (incomplete) {
    let link: { seq: number; hash: string } | null = null;
    try {
      const r = last ? parseProtobufRecord(last) : null;
      if (r?.hash && r.seq !== null) link = { seq: r.seq ?? 0, hash: r.hash };
    } catch {
      /* a new chain */
    }
    return { state: 'damaged', why: 'its last record is cut short', link };
  }
  try {
    const r = last ? parseProtobufRecord(last) : null;
    if (r?.hash) return { state: 'ok', seq: r.seq ?? 0, hash: r.hash };
    return { state: 'foreign', why: 'its last record carries no chain hash' };
  } catch (err) {
    return { state: 'foreign', why: `its last record does not decode: ${(err as Error).message}` };
  }
}
