/**
 * The TypeScript mirror of bpf/ctrace.h: offsets, sizes and the one decoder
 * that turns the addon's raw record batches into JavaScript values.
 * test/abi.test.ts compiles the header and checks these numbers against it.
 */
import { decodeBytes, decodeCString } from '../util/bytes.js';

export const ABI_VERSION = 3;

export const COMM_LEN = 16;
export const CG_LEVELS = 6;
export const CG_NAME_LEN = 160;
export const CG_AREA = CG_LEVELS * CG_NAME_LEN;
export const FILENAME_LEN = 4096;
export const ARGV_LEN = 32768;
export const ARGV_DEFAULT = 4096;
export const PATH_LEN = 256;
export const MAX_ANCESTORS = 16;
export const ANC_AREA = 1024;
export const TTY_LEN = 32;
export const FSTYPE_LEN = 32;

export const EV_EXEC = 1;
export const EV_EXIT = 2;
export const EV_MOUNT = 3;
/** not an event: a cgroup was removed (bpf/ctrace.bpf.c cgroup_rmdir reports every one) */
export const EV_CGROUP_GONE = 4;

export const F_ARGV_TRUNC = 1 << 0;
export const F_CG_TRUNC = 1 << 1;
export const F_CG_V1 = 1 << 2;
export const F_FILENAME_TRUNC = 1 << 3;
export const F_HOST_PIDNS = 1 << 4;
export const F_ISOLATED = 1 << 5;
/** the record leaves out the cgroup's names: the kernel decided by a verdict userland wrote for its key */
export const F_CG_KNOWN = 1 << 6;

/** enum ctrace_exec_flags */
export const XF_OVERLAY = 1 << 0;
export const XF_UPPER = 1 << 1;
export const XF_MEMFD = 1 << 2;
export const XF_DELETED = 1 << 3;
export const XF_CWD_TRUNC = 1 << 4;
export const XF_ANC_MORE = 1 << 5;
export const XF_NO_CWD = 1 << 6;
export const XF_NO_AUDIT = 1 << 7;

/** enum ctrace_mount_flags */
export const MF_ARGS_CHANGED = 1 << 0;
export const MF_ARGS_UNVERIFIED = 1 << 1;
export const MF_SOURCE_TRUNC = 1 << 2;
export const MF_TARGET_TRUNC = 1 << 3;
export const MF_FSTYPE_TRUNC = 1 << 4;
export const MF_KERNEL_VIEW = 1 << 5;

export const VERDICT_UNKNOWN = 0;
export const VERDICT_HOST = 1;
export const VERDICT_CONTAINER = 2;
export const VERDICT_UNCLASSIFIED = 3;

export const MOUNT_OP_MOUNT = 1;
export const MOUNT_OP_MOVE_MOUNT = 2;

export const CGKEY_V1 = 1n << 63n;

/** enum ctrace_stat */
export const STAT = {
  EMITTED: 0,
  LOST: 1,
  MAP_ERR: 2,
  DROPPED_HOST: 3,
  READ_ERR: 5,
  MAX: 8,
} as const;

/** Field offsets, bytes from the start of a record. */
export const OFF = {
  hdr: { type: 0, flags: 2, size: 4, ktime: 8 },
  task: {
    pid: 16,
    tgid: 20,
    ppid: 24,
    nspid: 28,
    uid: 32,
    gid: 36,
    pidnsIno: 40,
    mntnsIno: 44,
    cgroupKey: 48,
    startNs: 56,
    parentStartNs: 64,
    verdict: 72,
    cgDepth: 73,
    comm: 80,
  },
  exec: {
    exeIno: 96,
    exeSize: 104,
    exeCtimeNs: 112,
    exeDev: 120,
    xflags: 124,
    capEffective: 128,
    loginuid: 136,
    sessionid: 140,
    usernsIno: 144,
    usernsLevel: 148,
    nAncestors: 152,
    execSeq: 156,
    tty: 160,
    argc: 192,
    argvLen: 196,
    filenameLen: 200,
    cwdLen: 204,
    /** n_ancestors struct ctrace_ancestor, task.cg_depth cgroup names, the filename and the cwd with their NULs, then argv */
    data: 208,
  },
  /** struct ctrace_ancestor, from its start */
  ancestor: { startNs: 0, cgroupKey: 8, tgid: 16, nspid: 20, pidnsIno: 24, comm: 32 },
  /** cgroupNames: sent only when task.cg_depth > 0, else the record ends there */
  exit: { exitCode: 96, startNs: 104, cgroupNames: 112 },
  mount: { ret: 96, flags: 104, op: 112, mflags: 116, source: 120, target: 376, fstype: 632, cgroupNames: 664 },
} as const;

export const SIZE = {
  hdr: 16,
  task: 64 + COMM_LEN,
  ancestor: 48,
  exec: 16 + 80 + 64 + TTY_LEN + 16 + ANC_AREA + CG_AREA + FILENAME_LEN + PATH_LEN + ARGV_LEN,
  exit: 16 + 80 + 16 + CG_AREA,
  mount: 16 + 80 + 24 + 2 * PATH_LEN + FSTYPE_LEN + CG_AREA,
  pidVerdict: 16,
  cgroupGone: 24,
} as const;

export interface RawTask {
  tid: number;
  tgid: number;
  ppid: number;
  nspid: number;
  uid: number;
  gid: number;
  pidnsIno: number;
  mntnsIno: number;
  cgroupKey: bigint;
  /** the process's start, ns since boot (start_boottime): its identity with the pid */
  startNs: bigint;
  /** its real parent's start, ns since boot */
  parentStartNs: bigint;
  /** the kernfs id without the v1 marker bit */
  cgroupId: number;
  cgroupV1: boolean;
  verdict: number;
  /** "/a/b/c" when complete, "…/d/e/f" when the kernel captured only the last levels */
  cgroupPath: string;
  comm: string;
}

interface RawBase {
  flags: number;
  ktimeNs: bigint;
  task: RawTask;
}
/** One ancestor as the kernel saw it at the exec, nearest first. */
export interface RawAncestor {
  pid: number;
  nspid: number;
  startNs: bigint;
  cgroupKey: bigint;
  pidnsIno: number;
  comm: string;
}

/** The rest of an exec the kernel captured: the binary's inode, the caller's ids, its chain. */
export interface RawExecFacts {
  exeDev: number;
  exeIno: bigint;
  exeSize: number;
  exeCtimeNs: bigint;
  /** enum ctrace_exec_flags */
  xflags: number;
  capEffective: bigint;
  loginuid: number;
  sessionid: number;
  usernsIno: number;
  usernsLevel: number;
  /** the task's exec count after this exec: with the process's identity, this exec's */
  execSeq: number;
  tty: string;
  cwd: string;
  ancestors: RawAncestor[];
}

export interface RawExec extends RawBase {
  type: 'exec';
  facts: RawExecFacts;
  argc: number;
  filename: string;
  argv: string[];
  argvTruncated: boolean;
  filenameTruncated: boolean;
}
export interface RawExit extends RawBase {
  type: 'exit';
  /** raw wait status */
  status: number;
  startNs: bigint;
}
export interface RawMount extends RawBase {
  type: 'mount';
  op: 'mount' | 'move_mount';
  ret: number;
  flags64: number;
  source: string;
  target: string;
  fstype: string;
  /** enum ctrace_mount_flags */
  mflags: number;
}
export type RawRecord = RawExec | RawExit | RawMount;

/** The cgroupPath of a record whose cgroup names were left out and are nowhere to be found. */
export const CGROUP_PATH_UNKNOWN = '';

/** How many cgroup paths are remembered: more than the kernel's cgroup map holds verdicts for. */
export const CG_PATHS_MAX = 32768;
/** How many removed cgroups' paths are kept for records still in the ring. */
const CG_GONE_MAX = 4096;

/**
 * A cgroup's path by its key, when a record leaves out the names and none is remembered (the
 * cgroup filesystem is searched); null when it is not found.
 */
export type CgroupPathLookup = (key: bigint) => string | null;

/**
 * Cgroup paths by cgroup key: reconstructed from the kernfs names a record carries, and
 * remembered, since the kernel leaves the names out of the records of a cgroup it has a
 * verdict for (F_CG_KNOWN): userland wrote that verdict after reading them. A removed cgroup's
 * path stays a while for the records the ring still holds; a key missing all the same (more
 * cgroups than the bound) is looked up.
 */
export class CgroupPathCache {
  private readonly paths = new Map<bigint, string>();
  private readonly gone = new Map<bigint, string>();
  /** keys searched for in vain: a cgroup that was not there when its record was read is gone for good */
  private readonly missing = new Set<bigint>();
  /** records whose cgroup path was nowhere to be found (their cgroupPath is CGROUP_PATH_UNKNOWN) */
  unnamed = 0;

  constructor(
    private readonly lookup: CgroupPathLookup = () => null,
    private readonly max = CG_PATHS_MAX,
  ) {}

  /** A removed cgroup. */
  forget(key: bigint): void {
    const path = this.paths.get(key);
    if (path === undefined) return;
    this.paths.delete(key);
    if (this.gone.size >= CG_GONE_MAX) this.gone.delete(this.gone.keys().next().value!);
    this.gone.set(key, path);
  }

  /** A path found without a record (the /proc walk at start). */
  remember(key: bigint, path: string): void {
    if (this.paths.size >= this.max && !this.paths.has(key)) this.paths.delete(this.paths.keys().next().value!);
    this.paths.set(key, path);
  }

  /** The path of a record's cgroup; its names (`depth` of them) are at `namesAt`. */
  get(buf: Buffer, namesAt: number, depth: number, key: bigint, flags: number): string {
    const hit = this.paths.get(key);
    if (hit !== undefined) return hit;
    let path: string | null;
    if (flags & F_CG_KNOWN) {
      path = this.gone.get(key) ?? (this.missing.has(key) ? null : this.lookup(key));
      if (path === null) {
        if (this.missing.size >= CG_GONE_MAX) this.missing.clear();
        this.missing.add(key);
        this.unnamed++;
        return CGROUP_PATH_UNKNOWN;
      }
    } else {
      path = readCgroupPath(buf, namesAt, depth, flags);
    }
    this.remember(key, path);
    return path;
  }
}

/** "/a/b/c" from `depth` kernfs names stored leaf first at `at`; "…/" leads a cut path. */
export function readCgroupPath(buf: Buffer, at: number, depth: number, flags: number): string {
  const names: string[] = new Array(depth);
  for (let i = 0; i < depth; i++) {
    names[depth - 1 - i] = decodeCString(buf, at + i * CG_NAME_LEN, CG_NAME_LEN);
  }
  const prefix = flags & F_CG_TRUNC ? '…/' : '/';
  return prefix + names.join('/');
}

/**
 * The task of the record at `o`, whose cgroup names (if sent) start `namesAt` bytes into it and
 * may take `room` bytes.
 */
function readTask(buf: Buffer, dv: DataView, o: number, flags: number, paths: CgroupPathCache, namesAt: number, room: number): RawTask {
  const key = dv.getBigUint64(o + OFF.task.cgroupKey, true);
  const depth = Math.min(buf[o + OFF.task.cgDepth]!, CG_LEVELS, Math.floor(room / CG_NAME_LEN));
  return {
    tid: dv.getUint32(o + OFF.task.pid, true),
    tgid: dv.getUint32(o + OFF.task.tgid, true),
    ppid: dv.getUint32(o + OFF.task.ppid, true),
    nspid: dv.getUint32(o + OFF.task.nspid, true),
    uid: dv.getUint32(o + OFF.task.uid, true),
    gid: dv.getUint32(o + OFF.task.gid, true),
    pidnsIno: dv.getUint32(o + OFF.task.pidnsIno, true),
    mntnsIno: dv.getUint32(o + OFF.task.mntnsIno, true),
    cgroupKey: key,
    startNs: dv.getBigUint64(o + OFF.task.startNs, true),
    parentStartNs: dv.getBigUint64(o + OFF.task.parentStartNs, true),
    cgroupId: Number(key & ~CGKEY_V1),
    cgroupV1: (flags & F_CG_V1) !== 0,
    verdict: buf[o + OFF.task.verdict]!,
    cgroupPath: paths.get(buf, o + namesAt, depth, key, flags),
    comm: decodeCString(buf, o + OFF.task.comm, COMM_LEN),
  };
}

/** argv block: NUL-separated strings, every one the capture holds (the kernel bounds the total). */
export function splitArgv(buf: Buffer, off: number, len: number): string[] {
  const argv: string[] = [];
  let p = off;
  const end = off + len;
  while (p < end) {
    let z = buf.indexOf(0, p);
    if (z < 0 || z > end) z = end;
    argv.push(decodeBytes(buf, p, z));
    p = z + 1;
  }
  return argv;
}

function readAncestors(buf: Buffer, dv: DataView, o: number): RawAncestor[] {
  const n = Math.min(buf[o + OFF.exec.nAncestors]!, MAX_ANCESTORS);
  const out: RawAncestor[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const a = o + OFF.exec.data + i * SIZE.ancestor;
    out[i] = {
      pid: dv.getUint32(a + OFF.ancestor.tgid, true),
      nspid: dv.getUint32(a + OFF.ancestor.nspid, true),
      startNs: dv.getBigUint64(a + OFF.ancestor.startNs, true),
      cgroupKey: dv.getBigUint64(a + OFF.ancestor.cgroupKey, true),
      pidnsIno: dv.getUint32(a + OFF.ancestor.pidnsIno, true),
      comm: decodeCString(buf, a + OFF.ancestor.comm, COMM_LEN),
    };
  }
  return out;
}

function readExecFacts(buf: Buffer, dv: DataView, o: number, cwd: string): RawExecFacts {
  return {
    exeDev: dv.getUint32(o + OFF.exec.exeDev, true),
    exeIno: dv.getBigUint64(o + OFF.exec.exeIno, true),
    exeSize: Number(dv.getBigUint64(o + OFF.exec.exeSize, true)),
    exeCtimeNs: dv.getBigUint64(o + OFF.exec.exeCtimeNs, true),
    xflags: dv.getUint32(o + OFF.exec.xflags, true),
    capEffective: dv.getBigUint64(o + OFF.exec.capEffective, true),
    loginuid: dv.getUint32(o + OFF.exec.loginuid, true),
    sessionid: dv.getUint32(o + OFF.exec.sessionid, true),
    usernsIno: dv.getUint32(o + OFF.exec.usernsIno, true),
    usernsLevel: dv.getUint32(o + OFF.exec.usernsLevel, true),
    execSeq: dv.getUint32(o + OFF.exec.execSeq, true),
    tty: decodeCString(buf, o + OFF.exec.tty, TTY_LEN),
    cwd,
    ancestors: readAncestors(buf, dv, o),
  };
}

/**
 * Decode one batch: concatenated records, each `hdr.size` bytes, in order. A record of an
 * unknown type is skipped by its size (newer kernel side, older userland); a
 * malformed size ends the batch with an error rather than misreading memory. `gone` receives
 * the keys of removed cgroups the batch reports (records that are no events), after every
 * record before them was decoded.
 */
export function decodeBatch(buf: Buffer, paths: CgroupPathCache, out: RawRecord[] = [], gone?: bigint[]): RawRecord[] {
  // DataView reads are the cheapest way to little-endian integers here (no per-call checks)
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let o = 0;
  while (o + SIZE.hdr <= buf.length) {
    const type = dv.getUint16(o + OFF.hdr.type, true);
    const flags = dv.getUint16(o + OFF.hdr.flags, true);
    const size = dv.getUint32(o + OFF.hdr.size, true);
    if (size < SIZE.hdr || o + size > buf.length) {
      throw new Error(`corrupt record batch: record at ${o} claims ${size} bytes of ${buf.length - o}`);
    }
    const ktimeNs = dv.getBigUint64(o + OFF.hdr.ktime, true);
    const ancBytes = type === EV_EXEC && size > OFF.exec.data ? Math.min(buf[o + OFF.exec.nAncestors]!, MAX_ANCESTORS) * SIZE.ancestor : 0;
    const namesAt = OFF.exec.data + ancBytes;
    const namesBytes = type === EV_EXEC && size > OFF.exec.data ? Math.min(buf[o + OFF.task.cgDepth]!, CG_LEVELS) * CG_NAME_LEN : 0;
    if (type === EV_EXEC && size > namesAt + namesBytes) {
      // data: the ancestors, the cgroup's names, the filename and the cwd with their NULs, then argv
      const fileAt = namesAt + namesBytes;
      const filenameLen = Math.min(dv.getUint32(o + OFF.exec.filenameLen, true), size - fileAt - 1);
      const cwdAt = fileAt + filenameLen + 1;
      const rest = size - cwdAt;
      const cwdLen = rest === 0 ? 0 : Math.min(dv.getUint32(o + OFF.exec.cwdLen, true), rest - 1);
      const argvAt = rest === 0 ? size : cwdAt + cwdLen + 1;
      const argvLen = Math.min(dv.getUint32(o + OFF.exec.argvLen, true), size - argvAt);
      const argv = splitArgv(buf, o + argvAt, argvLen);
      const argc = dv.getUint32(o + OFF.exec.argc, true);
      out.push({
        type: 'exec',
        flags,
        ktimeNs,
        task: readTask(buf, dv, o, flags, paths, namesAt, namesBytes),
        facts: readExecFacts(buf, dv, o, decodeCString(buf, o + cwdAt, cwdLen)),
        argc,
        filename: decodeBytes(buf, o + fileAt, o + fileAt + filenameLen),
        argv,
        argvTruncated: (flags & F_ARGV_TRUNC) !== 0 || argc > argv.length,
        filenameTruncated: (flags & F_FILENAME_TRUNC) !== 0,
      });
    } else if (type === EV_EXIT && size >= OFF.exit.cgroupNames) {
      out.push({
        type: 'exit',
        flags,
        ktimeNs,
        task: readTask(buf, dv, o, flags, paths, OFF.exit.cgroupNames, size - OFF.exit.cgroupNames),
        status: dv.getUint32(o + OFF.exit.exitCode, true),
        startNs: dv.getBigUint64(o + OFF.exit.startNs, true),
      });
    } else if (type === EV_CGROUP_GONE && size >= SIZE.cgroupGone) {
      gone?.push(dv.getBigUint64(o + SIZE.hdr, true));
    } else if (type === EV_MOUNT && size >= OFF.mount.cgroupNames) {
      out.push({
        type: 'mount',
        flags,
        ktimeNs,
        task: readTask(buf, dv, o, flags, paths, OFF.mount.cgroupNames, size - OFF.mount.cgroupNames),
        op: dv.getUint32(o + OFF.mount.op, true) === MOUNT_OP_MOVE_MOUNT ? 'move_mount' : 'mount',
        ret: Number(dv.getBigInt64(o + OFF.mount.ret, true)),
        flags64: Number(dv.getBigUint64(o + OFF.mount.flags, true)),
        source: decodeCString(buf, o + OFF.mount.source, PATH_LEN),
        target: decodeCString(buf, o + OFF.mount.target, PATH_LEN),
        fstype: decodeCString(buf, o + OFF.mount.fstype, FSTYPE_LEN),
        mflags: dv.getUint32(o + OFF.mount.mflags, true),
      });
    }
    o += size;
  }
  return out;
}
