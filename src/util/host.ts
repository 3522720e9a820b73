/**
 * Facts about the host the BPF program is configured with: which PID
 * namespace is "the host's", and which v1 hierarchy names a task's cgroup when
 * its v2 cgroup is the root (v1-only and hybrid hosts).
 */
import { readFileSync, statSync } from 'node:fs';
import { canLoadBpf, CAPABILITY_TEXT, effectiveCaps } from './capabilities.js';

/** The PID namespace ctrace itself runs in is the host's. */
export function hostPidnsIno(): number {
  return statSync('/proc/self/ns/pid').ino;
}

/** Controllers runtimes always join, in the order we prefer them for the cgroup key. */
export const V1_PREFERENCE = ['pids', 'memory', 'devices', 'freezer', 'cpu', 'cpuacct', 'blkio', 'cpuset'];

/**
 * The cgroup_subsys_id of the preferred v1 controller that is mounted, from
 * /proc/cgroups (listed in subsystem-id order), or -1 when none is (v2-only).
 */
export function pickV1SubsysId(procCgroups: string, preference = V1_PREFERENCE): { id: number; name: string | null } {
  const rows = procCgroups
    .split('\n')
    .filter((l) => l && !l.startsWith('#'))
    .map((l, id) => {
      const [name = '', hierarchy = '0', , enabled = '0'] = l.split(/\s+/);
      return { name, id, mounted: hierarchy !== '0' && enabled === '1' };
    });
  for (const want of preference) {
    const row = rows.find((r) => r.name === want && r.mounted);
    if (row) return { id: row.id, name: row.name };
  }
  return { id: -1, name: null };
}

export function v1SubsysId(): { id: number; name: string | null } {
  try {
    return pickV1SubsysId(readFileSync('/proc/cgroups', 'utf8'));
  } catch {
    return { id: -1, name: null };
  }
}

export { effectiveCaps } from './capabilities.js';

export class PreflightError extends Error {
  readonly step = 'preflight';
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
  }
}

/**
 * What must hold before loading BPF, checked first so the user gets the real
 * reason in one line rather than whichever libbpf step happens to fail.
 */
export function preflight(paths = { btf: '/sys/kernel/btf/vmlinux', status: '/proc/self/status' }): void {
  let caps = 0n;
  try {
    caps = effectiveCaps(readFileSync(paths.status, 'utf8'));
  } catch {
    // unknown: let the load itself say what is wrong
    caps = -1n;
  }
  if (caps !== -1n && !canLoadBpf(caps)) {
    throw new PreflightError(`tracing needs root, or ${CAPABILITY_TEXT}: run ctrace with sudo`, 'EPERM');
  }
  try {
    statSync(paths.btf);
  } catch {
    throw new PreflightError(
      `kernel has no BTF (${paths.btf} is missing): ctrace needs Linux >= 5.8 built with CONFIG_DEBUG_INFO_BTF=y`,
      'ENOENT',
    );
  }
}
