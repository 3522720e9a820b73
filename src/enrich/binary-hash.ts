/**
 * The binary an exec ran: its host path, its SHA-256 and what kind of file it is. The kernel
 * captured the file's device, inode, change time and size at the exec, and whether it is a
 * memfd, unlinked, or in an overlayfs upper directory. The hash is read through
 * /proc/PID/exe (the very file the process runs, even unlinked or a memfd) or, when the process
 * is already gone, through the root of an ancestor in the same container (the path it named);
 * either is checked to be that inode, and the hash is cached by device + inode + change time: a
 * binary is read once however often it runs, and a cached hash is known even after the process
 * is gone. An exec whose binary could be reached by neither gets no hash and the reason why.
 *
 * Hashing reads the whole file on the JavaScript thread, so the bytes read are budgeted per
 * second: a container that execs new large binaries in a loop (copies, memfds: each a new
 * inode) would otherwise hold the thread reading while its events back up into the ring. Past
 * the budget an exec gets no hash and says why; it is not cached, so a later exec of that
 * binary is hashed once the budget allows.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { XF_DELETED, XF_MEMFD, XF_UPPER, type RawExec, type RawExecFacts } from '../decode/abi.js';
import { PROC } from '../util/procfs.js';
import { resolveBinary } from './binary.js';

export interface BinaryDetail {
  /** a host path naming the file (an overlayfs layer's file, the container's rootfs + path, or /proc/PID/root + path) */
  hostPath: string | null;
  sha256: string | null;
  /** why sha256 is null; null when it is not */
  hashError: string | null;
  size: number;
  /** the file lives in (or was copied up to) an overlayfs upper directory: written after the container started */
  upperLayer: boolean;
  /** a memfd: the program never was a file on disk */
  memfd: boolean;
  /** no link left to the file (unlinked after the exec, or a memfd) */
  deleted: boolean;
}

export interface BinaryHasherOptions {
  /** files larger than this are not hashed (hashError says so); default 64 MiB */
  maxBytes?: number;
  /** cached hashes; default 4096 */
  cacheEntries?: number;
  /** resolve a host path for the binary (a few /proc reads per new binary); default true */
  hostPaths?: boolean;
  /** compute hashes; false: sha256 is null, hashError says hashing is off (default true) */
  hash?: boolean;
  /** bytes of binaries hashed per second at most, a second's worth saved up; 0: no limit (default 64 MiB) */
  budgetBytesPerSec?: number;
  /** ms clock for the budget (tests); default performance.now */
  now?: () => number;
  /** told what is cached for a binary each time an exec of it is described (the addon's lane remembers it) */
  onCached?: (facts: RawExecFacts, c: Cached) => void;
}

export interface Cached {
  sha256: string | null;
  hashError: string | null;
  hostPath: string | null;
}

/** Bytes of binaries hashed per second at most, by default: a few new images' worth, a small share of one core. */
export const DEFAULT_HASH_BUDGET = 64 * 1024 * 1024;

function sizeText(bytes: number): string {
  return bytes % (1024 * 1024) === 0 ? `${bytes / (1024 * 1024)} MiB` : bytes % 1024 === 0 ? `${bytes / 1024} KiB` : `${bytes} bytes`;
}

/** An absolute name of a file, not a descriptor (/dev/fd/N, /proc/self/exe, /proc/PID/fd/N): only such a name can be looked up again. */
function pathOnDisk(filename: string): boolean {
  return filename.startsWith('/') && !filename.startsWith('/proc/') && !filename.startsWith('/dev/fd/');
}

/** The kernel's dev_t (MAJOR << 20 | MINOR) as stat(2) reports it (new_encode_dev). */
export function userDev(kdev: number): number {
  const major = kdev >>> 20;
  const minor = kdev & 0xfffff;
  return (minor & 0xff) | (major << 8) | ((minor & ~0xff) << 12);
}

/** An exec's binary from what is known of the file (cached or just read) and the record (the addon's lane writes the same). */
export function binaryDetail(rec: RawExec, c: Cached): BinaryDetail {
  const f = rec.facts;
  const memfd = (f.xflags & XF_MEMFD) !== 0;
  return {
    // without a lasting host path: the process's root, valid while it lives
    hostPath: c.hostPath ?? (memfd || !pathOnDisk(rec.filename) ? null : `${PROC}/${rec.task.tgid}/root${rec.filename}`),
    sha256: c.sha256,
    hashError: c.hashError,
    size: f.exeSize,
    upperLayer: (f.xflags & XF_UPPER) !== 0,
    memfd,
    deleted: (f.xflags & XF_DELETED) !== 0,
  };
}

export class BinaryHasher {
  private readonly cache = new Map<string, Cached>();
  private readonly maxBytes: number;
  private readonly maxEntries: number;
  private readonly hostPaths: boolean;
  private readonly hash: boolean;
  private readonly chunk = Buffer.allocUnsafe(1 << 16);
  private readonly onCached: BinaryHasherOptions['onCached'];
  private readonly budget: number;
  private readonly now: () => number;
  /** bytes that may be hashed now; below zero after a file larger than what was left (paid back over time) */
  private allowance: number;
  private refilledAt: number;
  /** execs left without a hash because the budget was spent */
  overBudget = 0;

  constructor(opts: BinaryHasherOptions = {}) {
    this.maxBytes = opts.maxBytes ?? 64 * 1024 * 1024;
    this.maxEntries = opts.cacheEntries ?? 4096;
    this.hostPaths = opts.hostPaths ?? true;
    this.hash = opts.hash ?? true;
    this.onCached = opts.onCached;
    this.budget = opts.budgetBytesPerSec ?? DEFAULT_HASH_BUDGET;
    this.now = opts.now ?? (() => performance.now());
    this.allowance = this.budget;
    this.refilledAt = this.now();
  }

  /** Whether `bytes` may be read now, taking them from the budget if so. Any file may be read while the allowance is positive. */
  private spend(bytes: number): boolean {
    if (this.budget <= 0) return true;
    const t = this.now();
    this.allowance = Math.min(this.budget, this.allowance + ((t - this.refilledAt) * this.budget) / 1000);
    this.refilledAt = t;
    if (this.allowance <= 0) return false;
    this.allowance -= bytes;
    return true;
  }

  /** `via`: pids of live processes in the same mount namespace (its ancestors inside the container). */
  describe(rec: RawExec, rootfs: string | null = null, via: number[] = []): BinaryDetail {
    const f = rec.facts;
    const memfd = (f.xflags & XF_MEMFD) !== 0;
    const key = `${f.exeDev}:${f.exeIno}:${f.exeCtimeNs}`;
    let c = this.cache.get(key);
    let cached = c !== undefined;
    if (!c) {
      c = this.read(rec, memfd, rootfs, via);
      // a transient failure (the process was gone) is not remembered: the next exec may read it
      if (c.sha256 !== null || c.hashError?.startsWith('larger') === true || !this.hash) {
        if (this.cache.size >= this.maxEntries) this.cache.delete(this.cache.keys().next().value!);
        this.cache.set(key, c);
        cached = true;
      }
    }
    if (cached) this.onCached?.(f, c);
    return binaryDetail(rec, c);
  }

  private read(rec: RawExec, memfd: boolean, rootfs: string | null, via: number[]): Cached {
    const f = rec.facts;
    const pid = rec.task.tgid;
    let hostPath: string | null = null;
    if (this.hostPaths && !memfd) {
      const info = resolveBinary(pid, rootfs);
      // a path that names the file only while this process lives is not worth caching
      if (info && info.via !== 'proc-root' && info.ino === Number(f.exeIno)) hostPath = info.hostPath;
    }
    if (!this.hash) return { sha256: null, hashError: 'hashing is off', hostPath };
    if (f.exeSize > this.maxBytes) return { sha256: null, hashError: `larger than the ${this.maxBytes}-byte hash limit`, hostPath };
    const paths = [`${PROC}/${pid}/exe`];
    if (!memfd && pathOnDisk(rec.filename)) for (const p of via) paths.push(`${PROC}/${p}/root${rec.filename}`);
    let other = false;
    let denied = false;
    for (const path of paths) {
      let fd: number;
      try {
        fd = openSync(path, 'r');
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'EACCES' || code === 'EPERM') denied = true;
        continue;
      }
      try {
        const st = fstatSync(fd, { bigint: true });
        if (st.ino !== f.exeIno || Number(st.dev) !== userDev(f.exeDev)) {
          other = true;
          continue;
        }
        if (!this.spend(Number(st.size))) {
          this.overBudget++;
          return { sha256: null, hashError: `not hashed: more than ${sizeText(this.budget)} of new binaries a second (the hash budget)`, hostPath };
        }
        return { sha256: this.digest(fd), hashError: null, hostPath };
      } catch (err) {
        return { sha256: null, hashError: `unreadable: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, hostPath };
      } finally {
        closeSync(fd);
      }
    }
    return {
      sha256: null,
      hashError: other
        ? 'the file was replaced before it was read'
        : denied
          ? "no permission to read another user's binary through /proc (it takes CAP_SYS_PTRACE)"
          : 'the process exited before its binary was read',
      hostPath,
    };
  }

  private digest(fd: number): string {
    const h = createHash('sha256');
    for (;;) {
      const n = readSync(fd, this.chunk, 0, this.chunk.length, null);
      if (n <= 0) break;
      h.update(this.chunk.subarray(0, n));
    }
    return h.digest('hex');
  }
}
