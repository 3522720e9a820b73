/**
 * Real runc containers for the in-container workloads: an OCI bundle over the shared
 * busybox-static rootfs, docker-style cgroupsPath /docker/<64 hex>, its own PID, mount,
 * IPC, UTS and network namespaces. runc keeps its state under its own --root so the
 * test suites' clean-ups never touch a bench container (and the other way round).
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BUILD_DIR, REPO_ROOT } from './build.js';
import { run, runSync } from './util.js';

// one runc state directory per clone: a bench starting in one clone clears what an
// interrupted run left there, and must not delete the containers of a bench running in another
export const RUNC_ROOT = `/run/ctrace-bench-runc-${createHash('sha256').update(REPO_ROOT).digest('hex').slice(0, 8)}`;

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
  const cgroupsPath = `/docker/${id}`;
  const bundle = writeBundle(id, ociConfig({ rootfs, args, cgroupsPath, capAdd }));
  const timer = setTimeout(() => runSync('runc', ['--root', RUNC_ROOT, 'kill', id, 'KILL']), timeoutMs);
  try {
    const t0 = process.hrtime.bigint();
    const r = await run('runc', ['--root', RUNC_ROOT, 'run', '--bundle', bundle, id]);
    // `runc run` to its exit: the container's whole life, runc's set-up and tear-down included
    const lifeNs = Number(process.hrtime.bigint() - t0);
    return { id, cgroupsPath, lifeNs, ...r };
  } finally {
    clearTimeout(timer);
    removeContainer(id, bundle);
  }
}

/** The container's bundle (its config.json) under bench/.build/bundles, and runc's state directory. */
function writeBundle(id, config) {
  const bundle = join(BUILD_DIR, 'bundles', id.slice(0, 12));
  mkdirSync(bundle, { recursive: true });
  writeFileSync(join(bundle, 'config.json'), JSON.stringify(config, null, 1));
  mkdirSync(RUNC_ROOT, { recursive: true });
  return bundle;
}

/** The container, whatever state it is in, and its bundle. */
function removeContainer(id, bundle) {
  runSync('runc', ['--root', RUNC_ROOT, 'delete', '--force', id]);
  rmSync(bundle, { recursive: true, force: true });
}

/** Containers a killed harness left behind. */
export function cleanupContainers() {
  const r = runSync('runc', ['--root', RUNC_ROOT, 'list', '-q']);
  if (r.code !== 0) return;
  for (const id of r.stdout.split('\n').filter(Boolean)) runSync('runc', ['--root', RUNC_ROOT, 'delete', '--force', id]);
}

/**
 * Starts a container in the background (`runc run --detach`) and resolves once runc has
 * started it; `runc delete --force` (or cleanupContainers) ends it. For the scale phase's
 * live containers: a sleeping init each.
 */
export async function startDetached({ rootfs, args, id = dockerId() }) {
  const bundle = writeBundle(id, ociConfig({ rootfs, args, cgroupsPath: `/docker/${id}` }));
  // no pipes: the container's init inherits runc's stdio and would hold them open
  const r = await run('runc', ['--root', RUNC_ROOT, 'run', '--detach', '--bundle', bundle, id], { stdio: 'ignore' });
  if (r.code !== 0) {
    removeContainer(id, bundle);
    throw new Error(`runc run --detach failed (${r.code})`);
  }
  return {
    id,
    remove: () => removeContainer(id, bundle),
  };
}
