/**
 * What `ctrace doctor` reads of this host, gathered in one object so the verdict
 * (./checks.ts) is a pure function of it. Reading never throws: what cannot be read is
 * recorded as such (null, or an errno name), since that is itself a finding.
 */
import { accessSync, constants, readdirSync, readFileSync, statSync } from 'node:fs';
import { release } from 'node:os';
import { delimiter, join } from 'node:path';
import { effectiveCaps } from '../util/capabilities.js';
import { parseCgroupMounts, type CgroupMounts } from '../decode/cgroupfs.js';
import { DEFAULT_STATE_ROOTS } from '../enrich/state.js';
import { scanProcesses } from '../classify/inventory.js';
import { addonPath, loadNative } from '../addon/native.js';

export const BTF_PATH = '/sys/kernel/btf/vmlinux';

/** The programs of bpf/ctrace.bpf.c by section; `required` ones must attach for `ctrace run` to start. */
export const HOOKS: readonly { name: string; section: string; required: boolean }[] = [
  { name: 'sched_process_exec', section: 'tp_btf/sched_process_exec', required: true },
  { name: 'sched_process_exit', section: 'tp_btf/sched_process_exit', required: true },
  // forgets removed cgroups: per-cgroup state follows the live cgroups under container churn
  { name: 'cgroup_rmdir', section: 'tp_btf/cgroup_rmdir', required: false },
  // the sys_enter_ hooks let a mount record be checked against the kernel's view; without them
  // mounts are still recorded, marked unverified
  { name: 'sys_enter_mount', section: 'tp/syscalls/sys_enter_mount', required: false },
  { name: 'sys_exit_mount', section: 'tp/syscalls/sys_exit_mount', required: true },
  { name: 'sys_enter_move_mount', section: 'tp/syscalls/sys_enter_move_mount', required: false },
  { name: 'sys_exit_move_mount', section: 'tp/syscalls/sys_exit_move_mount', required: false },
  { name: 'sys_exit_fsopen', section: 'tp/syscalls/sys_exit_fsopen', required: false },
  { name: 'sys_enter_fsconfig', section: 'tp/syscalls/sys_enter_fsconfig', required: false },
  { name: 'sys_exit_fsconfig', section: 'tp/syscalls/sys_exit_fsconfig', required: false },
];

export const RUNTIME_BINARIES = ['runc', 'crun', 'containerd', 'dockerd', 'podman', 'crio', 'lxc-start', 'systemd-nspawn'];

export interface HostFacts {
  kernel: string;
  uid: number;
  /** effective capabilities; -1n when /proc/self/status could not be read */
  caps: bigint;
  btf: { present: boolean; readable: boolean; bytes: number; text: string | null };
  tracefs: {
    path: string;
    mounted: boolean;
    /** permission bits, or null when the path is missing */
    mode: number | null;
    /** errno name of stat(<path>/events) by this process, or null when it succeeded */
    accessError: string | null;
  };
  /** per HOOKS entry: whether its tracepoint exists; null when that could not be checked */
  hooks: Record<string, boolean | null>;
  /** RLIMIT_MEMLOCK soft limit in bytes; null: unlimited */
  memlock: number | null;
  cgroups: CgroupMounts;
  /** state directories that exist, and runtime binaries on PATH */
  runtimes: { stateDirs: string[]; binaries: string[] };
  /** running containers by runtime, from one walk over /proc */
  containers: Record<string, number>;
  addon: { path: string; error: string | null };
}

function errnoOf(e: unknown): string {
  return (e as NodeJS.ErrnoException).code ?? String(e);
}

function readText(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}

/** Same rule as the addon's KernelFeatures::TracefsRoot() (libbpf's): debugfs's tracing when it exists. */
export function tracefsPath(): string {
  return statOk('/sys/kernel/debug/tracing') ? '/sys/kernel/debug/tracing' : '/sys/kernel/tracing';
}

/** RLIMIT_MEMLOCK's soft limit from /proc/self/limits text; null for unlimited. */
export function parseMemlock(limits: string): number | null {
  const m = /^Max locked memory\s+(\S+)/m.exec(limits);
  if (!m || m[1] === 'unlimited') return null;
  return Number(m[1]);
}

function mountedAt(mountinfo: string, fstype: string, path: string): boolean {
  return mountinfo.split('\n').some((line) => {
    const sep = line.indexOf(' - ');
    return sep >= 0 && line.slice(sep + 3).startsWith(fstype + ' ') && line.slice(0, sep).split(' ')[4] === path;
  });
}

function statOk(path: string): boolean {
  try {
    statSync(path);
    return true;
  } catch {
    return false;
  }
}

function onPath(name: string): boolean {
  const dirs = (process.env.PATH ?? '').split(delimiter).concat(['/usr/sbin', '/sbin', '/usr/local/sbin']);
  return dirs.some((d) => {
    try {
      accessSync(join(d, name), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

function stateDirs(): string[] {
  const roots = [...DEFAULT_STATE_ROOTS.runc, ...DEFAULT_STATE_ROOTS.crun, ...(DEFAULT_STATE_ROOTS.docker ? [DEFAULT_STATE_ROOTS.docker] : [])];
  const found: string[] = [];
  for (const root of roots) {
    if (root.endsWith('/*')) {
      const parent = root.slice(0, -2);
      try {
        for (const d of readdirSync(parent)) found.push(join(parent, d));
      } catch {
        // absent
      }
    } else if (statOk(root)) {
      found.push(root);
    }
  }
  return found;
}

function btfFacts(): HostFacts['btf'] {
  let bytes = 0;
  try {
    bytes = statSync(BTF_PATH).size;
  } catch {
    return { present: false, readable: false, bytes: 0, text: null };
  }
  try {
    // the string table holds every type name; btf_trace_<tp> names a BTF-enabled tracepoint
    return { present: true, readable: true, bytes, text: readFileSync(BTF_PATH).toString('latin1') };
  } catch {
    return { present: true, readable: false, bytes, text: null };
  }
}

export function gatherFacts(): HostFacts {
  const mountinfo = readText('/proc/self/mountinfo') ?? '';
  const status = readText('/proc/self/status');
  const btf = btfFacts();
  const path = tracefsPath();
  let mode: number | null = null;
  try {
    mode = statSync(path).mode & 0o7777;
  } catch {
    // missing
  }
  let accessError: string | null = null;
  try {
    statSync(join(path, 'events'));
  } catch (e) {
    accessError = errnoOf(e);
  }
  const mounted = mountedAt(mountinfo, 'tracefs', path) || (path.startsWith('/sys/kernel/debug/') && accessError === null);

  const hooks: Record<string, boolean | null> = {};
  for (const h of HOOKS) {
    if (h.section.startsWith('tp_btf/')) {
      const name = h.section.slice('tp_btf/'.length);
      hooks[h.name] = btf.text === null ? null : btf.text.includes(`\0btf_trace_${name}\0`);
    } else {
      const dir = join(path, 'events', h.section.replace(/^tp\//, ''));
      // stat, not access(2): access checks the real uid without capabilities (CAP_DAC_READ_SEARCH)
      hooks[h.name] = accessError !== null ? null : statOk(dir);
    }
  }

  const containers: Record<string, number> = {};
  const ids = new Set<string>();
  for (const p of scanProcesses({ details: 'containers' }).processes) {
    if (!p.container || ids.has(p.container.id)) continue;
    ids.add(p.container.id);
    containers[p.container.runtime] = (containers[p.container.runtime] ?? 0) + 1;
  }

  let addonError: string | null = null;
  try {
    loadNative();
  } catch (e) {
    addonError = (e as Error).message.split('\n')[0]!;
  }

  return {
    kernel: release(),
    uid: process.getuid?.() ?? -1,
    caps: status === null ? -1n : effectiveCaps(status),
    btf,
    tracefs: { path, mounted, mode, accessError },
    hooks,
    memlock: parseMemlock(readText('/proc/self/limits') ?? ''),
    cgroups: parseCgroupMounts(mountinfo),
    runtimes: { stateDirs: stateDirs(), binaries: RUNTIME_BINARIES.filter(onPath) },
    containers,
    addon: { path: addonPath(), error: addonError },
  };
}

