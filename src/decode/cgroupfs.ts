/**
 * Where the cgroup hierarchies are mounted, and the cgroup key of a process
 * computed the way the BPF program computes it (the v2 cgroup's kernfs id
 * unless that cgroup is the root, else the chosen v1 hierarchy's, marked), so
 * verdicts pre-loaded from /proc match what the hooks look up.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { CGKEY_V1 } from './abi.js';

export interface CgroupMount {
  /** where it is mounted */
  mountpoint: string;
  /** the hierarchy path that is mounted there (not "/" inside a cgroup namespace) */
  root: string;
}

export interface CgroupMounts {
  v2: CgroupMount | null;
  /** v1 hierarchies by controller (and `name=systemd` style names) */
  v1: Map<string, CgroupMount>;
}

/** Parse /proc/self/mountinfo text for cgroup and cgroup2 mounts (first mount of each hierarchy wins). */
export function parseCgroupMounts(mountinfo: string): CgroupMounts {
  const out: CgroupMounts = { v2: null, v1: new Map() };
  for (const line of mountinfo.split('\n')) {
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const left = line.slice(0, sep).split(' ');
    const right = line.slice(sep + 3).split(' ');
    const fstype = right[0];
    const root = unescapeMount(left[3] ?? '/');
    const mountpoint = unescapeMount(left[4] ?? '');
    if (fstype === 'cgroup2') {
      out.v2 ??= { mountpoint, root };
    } else if (fstype === 'cgroup') {
      for (const opt of (right[2] ?? '').split(',')) {
        if (opt === 'rw' || opt === 'ro' || opt.startsWith('release_agent') || opt === 'clone_children') continue;
        if (!out.v1.has(opt)) out.v1.set(opt, { mountpoint, root });
      }
    }
  }
  return out;
}

function unescapeMount(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

export function readCgroupMounts(): CgroupMounts {
  return parseCgroupMounts(readFileSync('/proc/self/mountinfo', 'utf8'));
}

/** Host directory of a hierarchy path, or null when the path is outside the mounted root. */
export function cgroupDir(mount: CgroupMount, path: string): string | null {
  const root = mount.root === '/' ? '' : mount.root;
  if (root && path !== root && !path.startsWith(root + '/')) return null;
  return join(mount.mountpoint, path.slice(root.length));
}

export interface CgroupKey {
  key: bigint;
  /** the path the key names, relative to its hierarchy */
  path: string;
  v1: boolean;
}

/**
 * The key for a process whose /proc/PID/cgroup says `v2` (the "0::" path) and
 * `v1Path` (the chosen controller's path): mirrors task_cgroup_kn() in BPF.
 */
export function cgroupKeyOf(
  mounts: CgroupMounts,
  v2: string | null,
  v1Controller: string | null,
  v1Path: string | null,
): CgroupKey | null {
  try {
    if (v2 !== null && v2 !== '/' && mounts.v2) {
      const dir = cgroupDir(mounts.v2, v2);
      if (dir) return { key: BigInt(statSync(dir).ino), path: v2, v1: false };
    }
    if (v1Controller && v1Path !== null) {
      const m = mounts.v1.get(v1Controller);
      const dir = m && cgroupDir(m, v1Path);
      if (dir) return { key: BigInt(statSync(dir).ino) | CGKEY_V1, path: v1Path, v1: true };
    }
    if (v2 !== null && mounts.v2) {
      const dir = cgroupDir(mounts.v2, v2);
      if (dir) return { key: BigInt(statSync(dir).ino), path: v2, v1: false };
    }
  } catch {
    // the cgroup went away while we looked: the process is gone or moving
  }
  return null;
}

/**
 * The hierarchy path of the cgroup a key names, found by searching its mounted hierarchy (the
 * key's kernfs id is the directory's inode number); null when it is not there (removed, or not
 * mounted here). For the rare record whose cgroup names the kernel left out and userland no
 * longer remembers: a search visits every cgroup directory.
 */
export function findCgroupPath(mounts: CgroupMounts, v1Controller: string | null, key: bigint): string | null {
  const v1 = (key & CGKEY_V1) !== 0n;
  const mount = v1 ? (v1Controller ? mounts.v1.get(v1Controller) : undefined) : mounts.v2;
  if (!mount) return null;
  const ino = key & ~CGKEY_V1;
  const stack = [''];
  while (stack.length) {
    const rel = stack.pop()!;
    const dir = join(mount.mountpoint, rel);
    try {
      if (statSync(dir, { bigint: true }).ino === ino) {
        const root = mount.root === '/' ? '' : mount.root;
        return root + rel || '/';
      }
      for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) stack.push(`${rel}/${e.name}`);
    } catch {
      // removed while we looked
    }
  }
  return null;
}
