/**
 * Reading a process from /proc. Best effort by nature: a process can exit
 * between any two reads, so every reader returns null instead of throwing.
 */
import { readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { decodeBytes } from './bytes.js';

export function listPids(): number[] {
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    const c = name.charCodeAt(0);
    if (c >= 48 && c <= 57) pids.push(Number(name));
  }
  return pids;
}

function read(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
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
  const get = (key: string) => {
    const m = new RegExp(`^${key}:\\s*(.*)$`, 'm').exec(text);
    return m ? m[1]! : '';
  };
  const nums = (s: string) => s.split(/\s+/).filter(Boolean).map(Number);
  return {
    name: get('Name'),
    tgid: Number(get('Tgid')),
    ppid: Number(get('PPid')),
    uid: nums(get('Uid'))[0] ?? 0,
    gid: nums(get('Gid'))[0] ?? 0,
    nspid: nums(get('NSpid')),
  };
}

export function readStatus(pid: number): ProcStatus | null {
  const t = read(`/proc/${pid}/status`);
  return t === null ? null : parseStatus(t);
}

export function readCgroupText(pid: number): string | null {
  return read(`/proc/${pid}/cgroup`);
}

export function readCmdline(pid: number): string[] | null {
  try {
    const b = readFileSync(`/proc/${pid}/cmdline`);
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
  } catch {
    return null;
  }
}

export function nsInode(pid: number, ns: 'pid' | 'mnt' | 'cgroup' | 'net'): number | null {
  try {
    return statSync(`/proc/${pid}/ns/${ns}`).ino;
  } catch {
    return null;
  }
}

/** Path of the executable as the process sees it (inside its mount namespace). */
export function readExe(pid: number): string | null {
  try {
    return readlinkSync(`/proc/${pid}/exe`);
  } catch {
    return null;
  }
}

/**
 * The host path of a process's binary. /proc/PID/exe names a path inside the
 * container; /proc/PID/map_files/<range> of the executable's mapping is a link
 * whose target resolves through the process's root, and /proc/PID/root/<exe>
 * names the same file from the host.
 */
export function hostBinaryPath(pid: number): string | null {
  const exe = readExe(pid);
  if (!exe) return null;
  const clean = exe.replace(/ \(deleted\)$/, '');
  try {
    const maps = readFileSync(`/proc/${pid}/maps`, 'utf8');
    const line = maps.split('\n').find((l) => l.endsWith(' ' + clean));
    if (line) {
      const range = line.slice(0, line.indexOf(' '));
      // readable from the host as long as the process lives, even if the path is gone from its root
      statSync(`/proc/${pid}/map_files/${range}`);
      return `/proc/${pid}/root${clean}`;
    }
  } catch {
    // fall through
  }
  return `/proc/${pid}/root${clean}`;
}
