/**
 * Numbers a person reads as names: mount(2) and move_mount(2) flags (as mountsnoop prints
 * them), errno names for a failed syscall's return value, signal names, and durations.
 * Only the terminal form uses these; the JSON form keeps the numbers.
 */
import { constants } from 'node:os';

/** mount(2) MS_* flags, in bit order (include/uapi/linux/mount.h). */
const MS_FLAGS: Array<[number, string]> = [
  [0x1, 'MS_RDONLY'],
  [0x2, 'MS_NOSUID'],
  [0x4, 'MS_NODEV'],
  [0x8, 'MS_NOEXEC'],
  [0x10, 'MS_SYNCHRONOUS'],
  [0x20, 'MS_REMOUNT'],
  [0x40, 'MS_MANDLOCK'],
  [0x80, 'MS_DIRSYNC'],
  [0x100, 'MS_NOSYMFOLLOW'],
  [0x400, 'MS_NOATIME'],
  [0x800, 'MS_NODIRATIME'],
  [0x1000, 'MS_BIND'],
  [0x2000, 'MS_MOVE'],
  [0x4000, 'MS_REC'],
  [0x8000, 'MS_SILENT'],
  [0x10000, 'MS_POSIXACL'],
  [0x20000, 'MS_UNBINDABLE'],
  [0x40000, 'MS_PRIVATE'],
  [0x80000, 'MS_SLAVE'],
  [0x100000, 'MS_SHARED'],
  [0x200000, 'MS_RELATIME'],
  [0x400000, 'MS_KERNMOUNT'],
  [0x800000, 'MS_I_VERSION'],
  [0x1000000, 'MS_STRICTATIME'],
  [0x2000000, 'MS_LAZYTIME'],
  [0x8000000, 'MS_NOREMOTELOCK'],
  [0x10000000, 'MS_NOSEC'],
  [0x20000000, 'MS_BORN'],
  [0x40000000, 'MS_ACTIVE'],
  [0x80000000, 'MS_NOUSER'],
];

/** move_mount(2) MOVE_MOUNT_* flags. */
const MOVE_MOUNT_FLAGS: Array<[number, string]> = [
  [0x1, 'MOVE_MOUNT_F_SYMLINKS'],
  [0x2, 'MOVE_MOUNT_F_AUTOMOUNTS'],
  [0x4, 'MOVE_MOUNT_F_EMPTY_PATH'],
  [0x10, 'MOVE_MOUNT_T_SYMLINKS'],
  [0x20, 'MOVE_MOUNT_T_AUTOMOUNTS'],
  [0x40, 'MOVE_MOUNT_T_EMPTY_PATH'],
  [0x100, 'MOVE_MOUNT_SET_GROUP'],
  [0x200, 'MOVE_MOUNT_BENEATH'],
];

/** The magic old mount(2) callers put in the top 16 bits (MS_MGC_VAL); not a flag. */
const MS_MGC_MSK = 0xffff0000;
const MS_MGC_VAL = 0xc0ed0000;

/**
 * `MS_BIND|MS_REC`; bits without a name stay as hex (`MS_RDONLY|0x4000000`); 0 is `0`.
 * Flags are up to 64 bits: the part above 32 bits can only be hex.
 */
export function mountFlagNames(flags: number | bigint, op: 'mount' | 'move_mount' = 'mount'): string {
  const all = BigInt.asUintN(64, BigInt(flags));
  const high = Number(all >> 32n);
  let low = Number(all & 0xffffffffn) >>> 0;
  if (op === 'mount' && (low & MS_MGC_MSK) >>> 0 === MS_MGC_VAL) low = (low & ~MS_MGC_MSK) >>> 0;
  const names: string[] = [];
  for (const [bit, name] of op === 'mount' ? MS_FLAGS : MOVE_MOUNT_FLAGS) {
    if ((low & bit) !== 0) {
      names.push(name);
      low = (low & ~bit) >>> 0;
    }
  }
  const rest = (BigInt(high) << 32n) | BigInt(low);
  if (rest !== 0n) names.push(`0x${rest.toString(16)}`);
  return names.length ? names.join('|') : '0';
}

function invert(table: Record<string, number>, prefer: string[]): Map<number, string> {
  const m = new Map<number, string>();
  for (const name of prefer) if (table[name] !== undefined) m.set(table[name]!, name);
  for (const [name, n] of Object.entries(table)) if (!m.has(n)) m.set(n, name);
  return m;
}

const ERRNO = invert(constants.errno as Record<string, number>, ['EAGAIN', 'EDEADLK', 'ENOTSUP']);
const SIGNALS = invert(constants.signals as Record<string, number>, ['SIGABRT', 'SIGIO', 'SIGSYS']);

/** A negative syscall return as its errno name (-2 → ENOENT); an unknown one as `errno 200`. */
export function errnoName(ret: number): string {
  return ERRNO.get(-ret) ?? `errno ${-ret}`;
}

/** 9 → SIGKILL; a real-time signal as SIGRTMIN+n; an unknown one as `signal 70`. */
export function signalName(sig: number): string {
  const name = SIGNALS.get(sig);
  if (name) return name;
  if (sig >= 34 && sig <= 64) return sig === 34 ? 'SIGRTMIN' : `SIGRTMIN+${sig - 34}`;
  return `signal ${sig}`;
}

/** 834µs, 1.5ms, 2.00s, 3m12s, 1h02m, 2d03h: two units at most, as a person reads a lifetime. */
export function humanDuration(ns: number): string {
  if (ns < 1e3) return `${Math.round(ns)}ns`;
  if (ns < 1e6) return `${Math.round(ns / 1e3)}µs`;
  if (ns < 1e9) return `${(ns / 1e6).toFixed(1)}ms`;
  const s = ns / 1e9;
  if (s < 60) return `${s.toFixed(2)}s`;
  const two = (n: number) => String(n).padStart(2, '0');
  const total = Math.floor(s);
  if (total < 3600) return `${Math.floor(total / 60)}m${two(total % 60)}s`;
  if (total < 86400) return `${Math.floor(total / 3600)}h${two(Math.floor(total / 60) % 60)}m`;
  return `${Math.floor(total / 86400)}d${two(Math.floor(total / 3600) % 24)}h`;
}
