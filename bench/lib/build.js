/**
 * What the harness builds or installs before it measures: the static C workloads
 * (cc -static into bench/.build/), the busybox-static container root file system,
 * and the peer tracers from Debian (libbpf-tools, bpftrace) when missing.
 */
import { copyFileSync, existsSync, mkdirSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runSync, which } from './util.js';

export const BENCH_DIR = dirname(dirname(fileURLToPath(import.meta.url)));
export const REPO_ROOT = dirname(BENCH_DIR);
export const BUILD_DIR = join(BENCH_DIR, '.build');
export const ROOTFS = join(BUILD_DIR, 'rootfs');

const WORKLOADS = ['execstorm', 'mountstorm', 'cgholders', 'bpfstats'];

/** cc -static every workload whose binary is older than its source. Returns {name: path}. */
export function buildWorkloads(log) {
  mkdirSync(BUILD_DIR, { recursive: true });
  const out = {};
  for (const name of WORKLOADS) {
    const src = join(BENCH_DIR, 'workloads', `${name}.c`);
    const bin = join(BUILD_DIR, name);
    if (!existsSync(bin) || statSync(bin).mtimeMs < statSync(src).mtimeMs) {
      log(`cc -static ${name}`);
      const r = runSync('cc', ['-O2', '-static', '-Wall', '-Wextra', '-o', bin, src]);
      if (r.code !== 0) throw new Error(`building ${name} failed:\n${r.stderr}`);
    }
    out[name] = bin;
  }
  return out;
}

const APPLETS = ['sh', 'true', 'false', 'mount', 'umount', 'mkdir', 'ls', 'cat', 'sleep', 'echo', 'env'];

/**
 * A minimal root file system: busybox-static and its applets as symlinks in /bin, the
 * workloads in /bench, mount points for runc. Rebuilt when a workload is newer.
 */
export function buildRootfs(workloads, log) {
  const busybox = ['/bin/busybox', '/usr/bin/busybox'].find((p) => existsSync(p));
  if (!busybox) throw new Error('busybox-static is not installed (apt-get install busybox-static)');
  const file = runSync('file', ['-L', busybox]).stdout;
  if (file && !/statically linked|static-pie/.test(file)) throw new Error(`${busybox} is not static: install busybox-static`);
  const stamp = join(ROOTFS, '.stamp');
  const fresh =
    existsSync(stamp) && Object.values(workloads).every((w) => statSync(w).mtimeMs <= statSync(stamp).mtimeMs);
  if (fresh) return ROOTFS;
  log(`rootfs ${ROOTFS}`);
  rmSync(ROOTFS, { recursive: true, force: true });
  for (const d of ['bin', 'bench', 'proc', 'dev', 'sys', 'tmp', 'mnt', 'etc', 'root']) mkdirSync(join(ROOTFS, d), { recursive: true });
  copyFileSync(busybox, join(ROOTFS, 'bin', 'busybox'));
  runSync('chmod', ['0755', join(ROOTFS, 'bin', 'busybox')]);
  for (const a of APPLETS) symlinkSync('busybox', join(ROOTFS, 'bin', a));
  for (const [name, bin] of Object.entries(workloads)) {
    copyFileSync(bin, join(ROOTFS, 'bench', name));
    runSync('chmod', ['0755', join(ROOTFS, 'bench', name)]);
  }
  writeFileSync(join(ROOTFS, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
  writeFileSync(stamp, '');
  return ROOTFS;
}

/** Peers from Debian: binary paths, installing the packages when a binary is missing. */
export function ensurePeers(log, { install = true } = {}) {
  const want = { execsnoop: 'libbpf-tools', exitsnoop: 'libbpf-tools', mountsnoop: 'libbpf-tools', bpftrace: 'bpftrace' };
  const find = (name) =>
    which(name) ?? [`/usr/sbin/${name}`, `/usr/sbin/${name}-bpfcc`, `/usr/bin/${name}`].find((p) => existsSync(p)) ?? null;
  const missing = [...new Set(Object.keys(want).filter((n) => !find(n)).map((n) => want[n]))];
  const notes = {};
  if (missing.length && install) {
    log(`apt-get install -y ${missing.join(' ')}`);
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    let r = runSync('apt-get', ['install', '-y', '-qq', ...missing], { env });
    if (r.code !== 0) {
      log('apt-get update');
      runSync('apt-get', ['update', '-qq'], { env });
      r = runSync('apt-get', ['install', '-y', '-qq', ...missing], { env });
    }
    if (r.code !== 0) for (const p of missing) notes[p] = `apt-get install ${p} failed: ${r.stderr.trim().split('\n').pop()}`;
  }
  const bins = {};
  for (const [name, pkg] of Object.entries(want)) {
    bins[name] = find(name);
    if (!bins[name]) notes[name] = notes[pkg] ?? `${name} not found (package ${pkg})`;
  }
  // the floor is a bpftrace one-liner (tracers.js peerCommand)
  bins.floor = bins.bpftrace;
  if (notes.bpftrace) notes.floor = notes.bpftrace;
  return { bins, notes };
}

/** Leftover bundles of an interrupted run. */
export function cleanBundles() {
  const dir = join(BUILD_DIR, 'bundles');
  if (!existsSync(dir)) return;
  for (const d of readdirSync(dir)) rmSync(join(dir, d), { recursive: true, force: true });
}
