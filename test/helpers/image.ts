/**
 * Container images for the image test, with no registry: a base made here from this host's
 * node binary, the shared libraries it needs, npm, a static busybox for /bin/sh and coreutils'
 * env — what an official node image (Debian) holds for our purpose — imported into podman.
 * podman runs with the flags this VM needs (cgroupfs manager, runc, explicit ulimits).
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, cpSync, mkdirSync, realpathSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

export const PODMAN = ['podman', '--cgroup-manager=cgroupfs', '--runtime', 'runc'];
export const PODMAN_ULIMITS = ['--ulimit', 'nofile=10000:10000', '--ulimit', 'nproc=1000:1000'];

export function podman(args: string[], timeoutMs = 300_000): string {
  return execFileSync(PODMAN[0]!, [...PODMAN.slice(1), ...args], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: timeoutMs,
    maxBuffer: 64 << 20,
  });
}

/** The shared libraries a binary loads (ldd), as absolute paths, the loader included. */
function sharedLibraries(bin: string): string[] {
  const out = execFileSync('ldd', [bin], { encoding: 'utf8' });
  const libs: string[] = [];
  for (const line of out.split('\n')) {
    const m = /=>\s+(\/\S+)/.exec(line) ?? /^\s*(\/\S+)\s+\(/.exec(line);
    if (m) libs.push(m[1]!);
  }
  return libs;
}

function copyFile(src: string, root: string, dest = src) {
  mkdirSync(dirname(join(root, dest)), { recursive: true });
  cpSync(realpathSync(src), join(root, dest));
}

/**
 * Lays out a minimal root in `root` and imports it as image `name`: node in /usr/local/bin with
 * its libraries (and zlib, which the addon links), npm, /bin/sh from busybox-static.
 */
export function importNodeBase(root: string, name: string): void {
  const node = process.execPath;
  copyFile(node, root, '/usr/local/bin/node');
  for (const lib of [...sharedLibraries(node), '/lib/x86_64-linux-gnu/libz.so.1']) copyFile(lib, root);
  const npmDir = dirname(dirname(realpathSync(execFileSync('sh', ['-c', 'command -v npm'], { encoding: 'utf8' }).trim())));
  cpSync(npmDir, join(root, 'usr/local/lib/node_modules/npm'), { recursive: true });
  symlinkSync('../lib/node_modules/npm/bin/npm-cli.js', join(root, 'usr/local/bin/npm'));
  copyFile('/bin/busybox', root);
  symlinkSync('busybox', join(root, 'bin/sh'));
  // npm's scripts start with #!/usr/bin/env node, ctrace's with #!/usr/bin/env -S node <flags>:
  // coreutils' env, as Debian's node images have (busybox's has no -S); it needs only libc
  copyFile('/usr/bin/env', root);
  for (const d of ['tmp', 'root', 'etc']) mkdirSync(join(root, d), { recursive: true });
  chmodSync(join(root, 'tmp'), 0o1777);
  writeFileSync(join(root, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n');
  writeFileSync(join(root, 'etc/group'), 'root:x:0:\nnogroup:x:65534:\n');
  const tar = join(dirname(root), 'base.tar');
  execFileSync('tar', ['-C', root, '-cf', tar, '.']);
  podman(['import', '--change', 'ENV=PATH=/usr/local/bin:/usr/bin:/bin', '--change', 'ENV=HOME=/root', tar, name]);
}
