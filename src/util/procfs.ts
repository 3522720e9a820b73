/**
 * Reading a process from /proc. Best effort by nature: a process can exit
 * between any two reads, so every reader returns null instead of throwing.
 */
import { closeSync, openSync, readdirSync, readlinkSync, readSync, statSync } from 'node:fs';
import { decodeBytes } from './bytes.js';

/** Where procfs is mounted. */
export const PROC = '/proc';

export function listPids(proc = PROC): number[] {
  const pids: number[] = [];
  for (const name of readdirSync(proc)) {
    const c = name.charCodeAt(0);
    if (c >= 48 && c <= 57) pids.push(Number(name));
  }
  return pids;
}

/**
 * One buffer shared by every /proc read. /proc files report size 0, so readFileSync
 * fstat()s, allocates and reads in steps; open + one read into a reused buffer + close is
 * three syscalls and no garbage, which is what keeps a walk over every process cheap
 * (see test/inventory.bench.test.ts).
 */
let shared = Buffer.allocUnsafe(16 * 1024);

/** The bytes of a /proc file, valid until the next call; null when it cannot be read. */
export function readProcBytes(path: string): Buffer | null {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return null;
  }
  try {
    let len = 0;
    for (;;) {
      if (len === shared.length) {
        const bigger = Buffer.allocUnsafe(shared.length * 2);
        shared.copy(bigger, 0, 0, len);
        shared = bigger;
      }
      const n = readSync(fd, shared, len, shared.length - len, null);
      if (n === 0) break;
      len += n;
    }
    return shared.subarray(0, len);
  } catch {
    return null;
  } finally {
    closeSync(fd);
  }
}

function read(path: string): string | null {
  const b = readProcBytes(path);
  return b === null ? null : b.toString('utf8');
}

export interface ProcStatus {
  name: string;
  tgid: number;
  ppid: number;
  uid: number;
  gid: number;
  /** pids from the outermost to the innermost namespace */
  nspid: number[];
}

export function parseStatus(text: string): ProcStatus {
  const out: ProcStatus = { name: '', tgid: 0, ppid: 0, uid: 0, gid: 0, nspid: [] };
  const nums = (s: string) => s.split(/\s+/).filter(Boolean).map(Number);
  // one pass over the lines: this runs for every container process at start
  for (let at = 0; at < text.length; ) {
    let end = text.indexOf('\n', at);
    if (end < 0) end = text.length;
    const colon = text.indexOf(':', at);
    if (colon > at && colon < end) {
      const key = text.slice(at, colon);
      const value = text.slice(colon + 1, end).trim();
      if (key === 'Name') out.name = value;
      else if (key === 'Tgid') out.tgid = Number(value);
      else if (key === 'PPid') out.ppid = Number(value);
      else if (key === 'Uid') out.uid = nums(value)[0] ?? 0;
      else if (key === 'Gid') out.gid = nums(value)[0] ?? 0;
      else if (key === 'NSpid') out.nspid = nums(value);
    }
    at = end + 1;
  }
  return out;
}

export function readStatus(pid: number): ProcStatus | null {
  const t = read(`${PROC}/${pid}/status`);
  return t === null ? null : parseStatus(t);
}

export function readCgroupText(pid: number): string | null {
  return read(`${PROC}/${pid}/cgroup`);
}

export function readCmdline(pid: number): string[] | null {
  const b = readProcBytes(`${PROC}/${pid}/cmdline`);
  return b === null ? null : splitNul(b);
}

/** NUL-separated strings (a trailing NUL ends the last one, it does not start an empty one). */
export function splitNul(b: Buffer): string[] {
  const parts: string[] = [];
  let start = 0;
  for (let i = 0; i < b.length; i++) {
    if (b[i] === 0) {
      parts.push(decodeBytes(b, start, i));
      start = i + 1;
    }
  }
  if (start < b.length) parts.push(decodeBytes(b, start, b.length));
  return parts;
}

/** USER_HZ: the unit of /proc/PID/stat times. 100 on every Linux architecture node runs on. */
export const CLK_TCK = 100;

export interface ProcStat {
  comm: string;
  state: string;
  ppid: number;
  /** start time after boot in clock ticks (CLK_TCK): with the pid, what names one process for good */
  startTicks: number;
}

/** Parse /proc/PID/stat. comm is between the first "(" and the last ")": it may hold spaces and parentheses. */
export function parseStat(text: string): ProcStat | null {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) return null;
  // after ") ": state(3) ppid(4) pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt
  // utime stime cutime cstime priority nice num_threads itrealvalue starttime(22)
  const f = text.slice(close + 2).split(' ');
  const ppid = Number(f[1]);
  const startTicks = Number(f[19]);
  if (!Number.isFinite(ppid) || !Number.isFinite(startTicks)) return null;
  return { comm: text.slice(open + 1, close), state: f[0] ?? '', ppid, startTicks };
}

export function readStat(pid: number): ProcStat | null {
  const t = read(`${PROC}/${pid}/stat`);
  return t === null ? null : parseStat(t);
}

export type NsKind = 'pid' | 'mnt' | 'cgroup' | 'net' | 'uts' | 'ipc' | 'user';

export function nsInode(pid: number, ns: NsKind): number | null {
  try {
    return statSync(`${PROC}/${pid}/ns/${ns}`).ino;
  } catch {
    return null;
  }
}

export interface Namespaces {
  pid: number | null;
  mnt: number | null;
  net: number | null;
  cgroup: number | null;
}

export function readNamespaces(pid: number): Namespaces {
  return { pid: nsInode(pid, 'pid'), mnt: nsInode(pid, 'mnt'), net: nsInode(pid, 'net'), cgroup: nsInode(pid, 'cgroup') };
}

/** Path of the executable as the process sees it (inside its mount namespace); " (deleted)" is kept. */
export function readExe(pid: number): string | null {
  try {
    return readlinkSync(`${PROC}/${pid}/exe`);
  } catch {
    return null;
  }
}

/** The host path of a process's binary is resolved in src/enrich/binary.ts (map_files + OCI rootfs). */
