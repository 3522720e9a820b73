/**
 * Real runc containers for the in-container workloads: an OCI bundle over the shared
 * busybox-static rootfs, docker-style cgroupsPath /docker/<64 hex>, its own PID, mount,
 * IPC, UTS and network namespaces. runc keeps its state under its own --root so the
 * test suites' clean-ups never touch a bench container (and the other way round).
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BUILD_DIR } from './build.js';
import { run, runSync } from './util.js';

export const RUNC_ROOT = '/run/ctrace-bench-runc';

export function dockerId() {
  return randomBytes(32).toString('hex');
}

const DEFAULT_CAPS = ['CAP_AUDIT_WRITE', 'CAP_KILL', 'CAP_NET_BIND_SERVICE'];

/** config.json as `runc spec` writes it, with our args, cgroup path and capabilities. */
export function ociConfig({ rootfs, args, cgroupsPath, capAdd = [] }) {
  const caps = [...DEFAULT_CAPS, ...capAdd];
  return {
    ociVersion: '1.0.2-dev',
    process: {
      terminal: false,
      user: { uid: 0, gid: 0 },
      args,
      env: ['PATH=/bin:/usr/bin', 'HOME=/root'],
      cwd: '/',
      capabilities: { bounding: caps, effective: caps, permitted: caps, ambient: caps },
      rlimits: [{ type: 'RLIMIT_NOFILE', hard: 1024, soft: 1024 }],
      noNewPrivileges: true,
    },
    root: { path: rootfs, readonly: false },
    hostname: 'bench',
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc' },
      { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
      { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620'] },
      { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
      { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
      { destination: '/tmp', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'mode=1777'] },
    ],
    linux: {
      cgroupsPath,
      resources: { devices: [{ allow: false, access: 'rwm' }] },
      namespaces: [{ type: 'pid' }, { type: 'network' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }],
      maskedPaths: ['/proc/kcore', '/proc/keys', '/proc/timer_list', '/sys/firmware'],
      readonlyPaths: ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'],
    },
  };
}

/**
 * Runs one container to its exit (`runc run`, foreground, no terminal) and resolves with
 * its exit code and output. The container is gone afterwards (runc run deletes it).
 */
export async function runContainer({ rootfs, args, capAdd, id = dockerId(), timeoutMs = 300_000 }) {
  const bundle = join(BUILD_DIR, 'bundles', id.slice(0, 12));
  mkdirSync(bundle, { recursive: true });
  const cgroupsPath = `/docker/${id}`;
  writeFileSync(join(bundle, 'config.json'), JSON.stringify(ociConfig({ rootfs, args, cgroupsPath, capAdd }), null, 1));
  mkdirSync(RUNC_ROOT, { recursive: true });
  const timer = setTimeout(() => runSync('runc', ['--root', RUNC_ROOT, 'kill', id, 'KILL']), timeoutMs);
  try {
    const r = await run('runc', ['--root', RUNC_ROOT, 'run', '--bundle', bundle, id]);
    return { id, cgroupsPath, ...r };
  } finally {
    clearTimeout(timer);
    runSync('runc', ['--root', RUNC_ROOT, 'delete', '--force', id]);
    rmSync(bundle, { recursive: true, force: true });
  }
}

/** Containers a killed harness left behind. */
export function cleanupContainers() {
  const r = runSync('runc', ['--root', RUNC_ROOT, 'list', '-q']);
  if (r.code !== 0) return;
  for (const id of r.stdout.split('\n').filter(Boolean)) runSync('runc', ['--root', RUNC_ROOT, 'delete', '--force', id]);
}
