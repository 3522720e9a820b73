/**
 * The root filesystem every test container runs in: the host's static busybox at
 * /bin/busybox with a symlink for each applet, the directories a runtime mounts onto,
 * and an /etc/passwd with root. Built once per process in a temp dir, shared read-write
 * by all containers of the process (each has its own tmpfs /tmp and /dev). Removed by
 * removeRootfs() (cleanupAllContainers() calls it) or at a normal exit; vitest ends its
 * workers with SIGTERM, which runs no exit handler, so a build also sweeps the rootfs
 * left by processes that are gone.
 */
import { execFileSync } from 'node:child_process';
import {
  closeSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Where Debian's busybox-static puts it (/bin is /usr/bin on a merged-/usr host). */
const BUSYBOX_CANDIDATES = ['/bin/busybox', '/usr/bin/busybox'];

/** Applets the suites use; all of `busybox --list` is linked, these must be among them. */
const REQUIRED_APPLETS = ['sh', 'true', 'false', 'echo', 'cat', 'sleep', 'mount', 'umount', 'ls', 'mkdir', 'ps', 'id', 'env', 'sync', 'seq', 'usleep'];

const PREFIX = 'ctrace-rootfs-';

interface Build {
  promise: Promise<string>;
  dir?: string;
}
let built: Build | undefined;

/** The rootfs directory (absolute). The first call builds it; later calls share it (until removeRootfs()). */
export function buildRootfs(): Promise<string> {
  if (built?.dir && !existsSync(built.dir)) built = undefined;
  if (!built) {
    const b: Build = { promise: Promise.resolve().then(build) };
    void b.promise.then((dir) => (b.dir = dir), () => {});
    built = b;
  }
  return built.promise;
}

/** Removes this process's rootfs; the next buildRootfs() builds a new one. Only while no container uses it. */
export async function removeRootfs(): Promise<void> {
  const b = built;
  built = undefined;
  if (b) rmSync(await b.promise, { recursive: true, force: true });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The rootfs of test processes that are gone (ctrace-rootfs-<pid>-XXXXXX). */
function sweepStale(): void {
  for (const name of readdirSync(tmpdir())) {
    const m = new RegExp(`^${PREFIX}(\\d+)-`).exec(name);
    if (m && !alive(Number(m[1]))) rmSync(join(tmpdir(), name), { recursive: true, force: true });
  }
}

/** True when the ELF file has no PT_INTERP program header, i.e. needs no dynamic loader. */
function isStaticElf(path: string): boolean {
  const fd = openSync(path, 'r');
  try {
    const head = Buffer.alloc(64);
    readSync(fd, head, 0, 64, 0);
    if (head.readUInt32BE(0) !== 0x7f454c46 || head[4] !== 2 /* ELFCLASS64 */ || head[5] !== 1 /* little-endian */) return false;
    const phoff = Number(head.readBigUInt64LE(32));
    const phentsize = head.readUInt16LE(54);
    const phnum = head.readUInt16LE(56);
    const ph = Buffer.alloc(phentsize * phnum);
    readSync(fd, ph, 0, ph.length, phoff);
    for (let i = 0; i < phnum; i++) if (ph.readUInt32LE(i * phentsize) === 3 /* PT_INTERP */) return false;
    return true;
  } finally {
    closeSync(fd);
  }
}

function findStaticBusybox(): string {
  for (const p of BUSYBOX_CANDIDATES) {
    try {
      if (isStaticElf(p)) return p;
    } catch {
      // not there, or not readable: try the next one
    }
  }
  throw new Error(`no static busybox at ${BUSYBOX_CANDIDATES.join(' or ')} (apt-get install busybox-static)`);
}

function build(): string {
  const busybox = findStaticBusybox();
  const applets = execFileSync(busybox, ['--list'], { encoding: 'utf8' }).split('\n').filter((a) => a && a !== 'busybox');
  const missing = REQUIRED_APPLETS.filter((a) => !applets.includes(a));
  if (missing.length) throw new Error(`${busybox} lacks applets the tests need: ${missing.join(', ')}`);

  sweepStale();
  const root = mkdtempSync(join(tmpdir(), `${PREFIX}${process.pid}-`));
  process.once('exit', () => rmSync(root, { recursive: true, force: true }));
  for (const d of ['bin', 'proc', 'sys', 'dev', 'tmp', 'etc', 'mnt', 'root']) mkdirSync(join(root, d), { mode: 0o755 });
  copyFileSync(busybox, join(root, 'bin', 'busybox'));
  for (const a of applets) symlinkSync('busybox', join(root, 'bin', a));
  writeFileSync(join(root, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
  writeFileSync(join(root, 'etc', 'group'), 'root:x:0:\n');
  return root;
}
