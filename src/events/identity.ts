/**
 * Process identity that PID reuse cannot fake: the boot, the process's start time (ns since
 * boot, captured in kernel) and its pid. The same process has the same processId on its exec,
 * mount and exit events and as an ancestor of others; a later process that gets the same pid
 * starts later and so differs. execId adds the task's exec count (self_exec_id, read in kernel):
 * one per execve, and the same for every observer of that exec.
 */
import { readFileSync } from 'node:fs';

let bootIdCache: string | null = null;

/** This boot's id (/proc/sys/kernel/random/boot_id) without dashes; "unknown-boot" when unreadable. */
export function bootId(): string {
  if (bootIdCache === null) {
    try {
      bootIdCache = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim().replaceAll('-', '');
    } catch {
      bootIdCache = 'unknown-boot';
    }
  }
  return bootIdCache;
}

/** `<boot id>:<start ns since boot>:<pid>`; null when the kernel gave no start time. */
export function processId(pid: number, startNs: bigint, boot: string = bootId()): string | null {
  return pid > 0 && startNs > 0n ? `${boot}:${startNs}:${pid}` : null;
}

/** The exec's id: its process's id and the task's exec count after it. */
export function execId(procId: string | null, execSeq: number): string | null {
  return procId === null ? null : `${procId}:${execSeq}`;
}

/** Capability numbers as the kernel names them (include/uapi/linux/capability.h); the addon's lane gets this list. */
export const CAP_NAMES = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_DAC_READ_SEARCH', 'CAP_FOWNER', 'CAP_FSETID', 'CAP_KILL', 'CAP_SETGID',
  'CAP_SETUID', 'CAP_SETPCAP', 'CAP_LINUX_IMMUTABLE', 'CAP_NET_BIND_SERVICE', 'CAP_NET_BROADCAST', 'CAP_NET_ADMIN',
  'CAP_NET_RAW', 'CAP_IPC_LOCK', 'CAP_IPC_OWNER', 'CAP_SYS_MODULE', 'CAP_SYS_RAWIO', 'CAP_SYS_CHROOT',
  'CAP_SYS_PTRACE', 'CAP_SYS_PACCT', 'CAP_SYS_ADMIN', 'CAP_SYS_BOOT', 'CAP_SYS_NICE', 'CAP_SYS_RESOURCE',
  'CAP_SYS_TIME', 'CAP_SYS_TTY_CONFIG', 'CAP_MKNOD', 'CAP_LEASE', 'CAP_AUDIT_WRITE', 'CAP_AUDIT_CONTROL',
  'CAP_SETFCAP', 'CAP_MAC_OVERRIDE', 'CAP_MAC_ADMIN', 'CAP_SYSLOG', 'CAP_WAKE_ALARM', 'CAP_BLOCK_SUSPEND',
  'CAP_AUDIT_READ', 'CAP_PERFMON', 'CAP_BPF', 'CAP_CHECKPOINT_RESTORE',
] as const;

/** What an exec's capability mask is written as; one per mask, shared by every exec with it. */
interface CapabilityText {
  /** frozen: its JSON is made once (src/events/wire.ts jStrArray) */
  names: readonly string[];
  hex: string;
}

const capCache = new Map<bigint, CapabilityText>();

function capabilityText(mask: bigint): CapabilityText {
  let c = capCache.get(mask);
  if (c === undefined) {
    const names: string[] = [];
    for (let i = 0; i < 64; i++) if ((mask >> BigInt(i)) & 1n) names.push(CAP_NAMES[i] ?? `CAP_${i}`);
    if (capCache.size > 256) capCache.clear();
    capCache.set(mask, (c = { names: Object.freeze(names), hex: mask.toString(16).padStart(16, '0') }));
  }
  return c;
}

/** The names of the set bits (an unnamed bit as CAP_<n>), a frozen list shared by every event with the same mask. */
export function capabilityNames(mask: bigint): readonly string[] {
  return capabilityText(mask).names;
}

/** A 64-bit mask as 16 hex digits. */
export function capabilityHex(mask: bigint): string {
  return capabilityText(mask).hex;
}
