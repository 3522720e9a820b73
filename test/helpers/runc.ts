/**
 * Real containers for the privileged suites: runc (or crun) runs a process from the
 * busybox rootfs (./rootfs.ts) with a config.json generated here, in the cgroup path a
 * container engine would have asked for (`/docker/<id>`, a kubelet slice, ...).
 *
 * How a container is held before its process runs: the config carries a createRuntime
 * hook, a host shell that saves the OCI state (with the init's host pid) in the bundle
 * and then blocks on a FIFO. At that point the init is already in its namespaces and its
 * cgroups but has not exec'd the user's process; `start()` writes to the FIFO and the
 * runtime goes on. The runtime itself runs in the foreground (`runc run`), so its stdout,
 * stderr and exit status are the container's.
 *
 * On this hybrid host (v1 controllers, cgroup2 at /sys/fs/cgroup/unified) runc 1.1 puts
 * the init in `<hierarchy><cgroupsPath>` in every v1 hierarchy and in the unified one,
 * creating missing parents, and removes only the leaf when the container ends. crun 1.8
 * refuses a hybrid host whose cgroup2 has a controller (here hugetlb): it is run in a
 * private mount namespace where /sys/fs/cgroup/unified/cgroup.controllers reads empty, and
 * then lays cgroups out exactly as runc does. Parents created for a container (/docker,
 * /kubepods.slice/...) are removed here when no longer used.
 *
 * What a tracer sees of these containers:
 * - runc: `runc:[0:PARENT]` and `runc:[1:CHILD]` join the container's cgroups and exit
 *   (code 0) before the init execs, and the init (comm `runc:[2:INIT]`) mounts the rootfs,
 *   /proc, /dev, ... in there. Wait for the exit of `pid`, not for any exit in the container.
 *   crun: no intermediate processes; the init's comm is `crun` until it execs.
 * - busybox sh runs an applet named without a path (`mount`, `true`) by exec'ing
 *   /proc/self/exe (filename `/proc/self/exe`, comm `exe`, argv[0] the applet); write
 *   `/bin/true` for an exec whose filename is `/bin/true`.
 * - On the host, in this process's cgroups: mkfifo, `runc run`/`runc init`, the hold's
 *   `/bin/sh -c ...`, and for crun `unshare`, `sh`, `mount --bind` (a mount event in a
 *   private mount namespace).
 */
import { execFile, execFileSync, spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import {
  closeSync,
  constants,
  existsSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmdirSync,
  rmSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CGROUP_ROOT, mountedHierarchies } from './cgroups.js';
import { buildRootfs, removeRootfs } from './rootfs.js';

export type Runtime = 'runc' | 'crun';

export interface ContainerSpec {
  /** default: dockerId() */
  id?: string;
  /** absolute cgroupfs-style path, e.g. `/docker/<id>` or k8sSystemdPath(...) */
  cgroupsPath: string;
  /** the container's process, e.g. ['/bin/sh', '-c', 'echo hi; exit 7'] */
  args: string[];
  /** default true; false shares the host PID namespace (docker --pid=host) */
  pidNamespace?: boolean;
  /** default false; true gives the container its own cgroup namespace (its /proc/self/cgroup then reads `/`) */
  cgroupNamespace?: boolean;
  /** default 'runc' */
  runtime?: Runtime;
  /** added to PATH=... */
  env?: string[];
  /** written into config.json `annotations` */
  annotations?: Record<string, string>;
  /** added to docker's default capability set, e.g. ['CAP_SYS_ADMIN'] for `mount` inside */
  capAdd?: string[];
  /** the root file system (default: the shared busybox rootfs), e.g. an overlayfs merged dir */
  rootfs?: string;
}

export interface ContainerExit {
  /** the runtime's exit status: the container process's exit code, or 128+N when signal N killed it */
  code: number | null;
  /** the signal that killed the runtime process itself (null unless something signalled runc/crun) */
  signal: string | null;
  /** the container's stdout; stderr also carries the runtime's own error messages */
  stdout: string;
  stderr: string;
}

export interface RunningContainer {
  id: string;
  runtime: Runtime;
  bundle: string;
  cgroupsPath: string;
  /** host pid of the container's init: the pid of the user's process once it has exec'd */
  pid: number;
  /** settles when the runtime has exited (never rejects) */
  exited: Promise<ContainerExit>;
  /** signal the init (default KILL: a shell as PID 1 ignores TERM) */
  kill(signal?: string): Promise<void>;
  /** kill everything in it, delete it, remove its cgroups and bundle; idempotent */
  remove(): Promise<void>;
}

export interface CreatedContainer extends RunningContainer {
  /** lets the init exec the user's process (until then it sits in its cgroups and namespaces); resolves once it has */
  start(): Promise<void>;
}

/** Docker's default capability set. */
const DEFAULT_CAPS = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_FSETID',
  'CAP_FOWNER',
  'CAP_MKNOD',
  'CAP_NET_RAW',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETFCAP',
  'CAP_SETPCAP',
  'CAP_NET_BIND_SERVICE',
  'CAP_SYS_CHROOT',
  'CAP_KILL',
  'CAP_AUDIT_WRITE',
];

const PATH_ENV = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
/** runc and crun kill a hook that runs longer: the most a created container can be held */
const HOLD_LIMIT_S = 300;
/** The init's comm until it execs the user's process: runc's `runc:[2:INIT]`, crun's `crun` */
const RUNTIME_INIT_COMM = /^(runc:\[\d:INIT\]|crun)$/;
const UNIFIED_CONTROLLERS = join(CGROUP_ROOT, 'unified', 'cgroup.controllers');

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function dockerId(): string {
  return randomBytes(32).toString('hex');
}

export function podUid(): string {
  return randomUUID();
}

export type QosClass = 'guaranteed' | 'burstable' | 'besteffort';

/** The kubelet's systemd-driver layout; the pod UID's '-' become '_' in slice names. */
export function k8sSystemdPath(opts: { qos: QosClass; podUid: string; scope: string }): string {
  const uid = opts.podUid.replaceAll('-', '_');
  const pod = opts.qos === 'guaranteed' ? `kubepods-pod${uid}.slice` : `kubepods-${opts.qos}.slice/kubepods-${opts.qos}-pod${uid}.slice`;
  return `/kubepods.slice/${pod}/${opts.scope}`;
}

/** The kubelet's cgroupfs-driver layout: /kubepods[/<qos>]/pod<uid>/<container id>. */
export function k8sCgroupfsPath(opts: { qos: QosClass; podUid: string; id: string }): string {
  const qos = opts.qos === 'guaranteed' ? '' : `/${opts.qos}`;
  return `/kubepods${qos}/pod${opts.podUid}/${opts.id}`;
}

/** The cgroup directory of `cgroupsPath` in each mounted hierarchy ('unified', 'pids', 'systemd', ...). */
export function cgroupDirs(cgroupsPath: string): Record<string, string> {
  return Object.fromEntries(mountedHierarchies().map((h) => [h, join(CGROUP_ROOT, h, cgroupsPath)]));
}

/** `runc state <id>` / `crun state <id>`: the OCI state the runtime keeps in /run/runc or /run/crun. */
export async function ociState(id: string, runtime: Runtime = 'runc'): Promise<{ id: string; pid: number; status: string; bundle: string } & Record<string, unknown>> {
  const { stdout } = await run(runtime, ['state', id]);
  return JSON.parse(stdout);
}

// ---- the runtime command line ----

let crunNeedsMask: boolean | undefined;

/** crun refuses a hybrid host with any controller on cgroup2: hide them from it (only from it). */
function runtimeCommand(runtime: Runtime, args: string[]): [string, string[]] {
  if (runtime === 'runc') return ['runc', args];
  crunNeedsMask ??= existsSync(UNIFIED_CONTROLLERS) && readFileSync(UNIFIED_CONTROLLERS, 'utf8').trim() !== '';
  if (!crunNeedsMask) return ['crun', args];
  const script = `mount --bind /dev/null ${UNIFIED_CONTROLLERS} && exec "$@"`;
  return ['unshare', ['--mount', '--propagation', 'private', '--', '/bin/sh', '-c', script, 'crun-hybrid', 'crun', ...args]];
}

function run(runtime: Runtime, args: string[]): Promise<{ stdout: string; stderr: string }> {
  const [cmd, argv] = runtimeCommand(runtime, args);
  return new Promise((resolve, reject) => {
    execFile(cmd, argv, { encoding: 'utf8', timeout: 20_000 }, (err, stdout, stderr) =>
      err ? reject(Object.assign(err, { stderr })) : resolve({ stdout, stderr }),
    );
  });
}

// ---- config.json ----

function ociConfig(spec: ContainerSpec, id: string, rootfs: string, gate: string, stateFile: string): object {
  const caps = [...new Set([...DEFAULT_CAPS, ...(spec.capAdd ?? [])])];
  const namespaces = [
    ...(spec.pidNamespace === false ? [] : [{ type: 'pid' }]),
    { type: 'network' },
    { type: 'ipc' },
    { type: 'uts' },
    { type: 'mount' },
    ...(spec.cgroupNamespace ? [{ type: 'cgroup' }] : []),
  ];
  // The hold: save the state from stdin (one JSON line, no newline), then block on the gate.
  // The gate is opened read-write first, so it has a reader by the time the state exists.
  const hold = 'exec 3<>"$1"; IFS= read -r s; printf "%s\\n" "$s" > "$2"; read -r go <&3';
  return {
    ociVersion: '1.0.2',
    process: {
      terminal: false,
      user: { uid: 0, gid: 0 },
      args: spec.args,
      env: [PATH_ENV, `HOSTNAME=${id.slice(0, 12)}`, ...(spec.env ?? [])],
      cwd: '/',
      capabilities: { bounding: caps, effective: caps, permitted: caps },
      noNewPrivileges: false,
    },
    root: { path: rootfs, readonly: false },
    hostname: id.slice(0, 12),
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
      { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
      {
        destination: '/dev/pts',
        type: 'devpts',
        source: 'devpts',
        options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'],
      },
      { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
      { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
      { destination: '/tmp', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'mode=1777', 'size=65536k'] },
    ],
    hooks: {
      createRuntime: [{ path: '/bin/sh', args: ['sh', '-c', hold, 'ctrace-hold', gate, stateFile], timeout: HOLD_LIMIT_S }],
    },
    annotations: spec.annotations ?? {},
    linux: {
      cgroupsPath: spec.cgroupsPath,
      namespaces,
      resources: { devices: [{ allow: false, access: 'rwm' }] },
    },
  };
}

// ---- cgroup directories ----

/** Parent cgroups (every hierarchy) this process caused to exist: removed once empty. */
const createdParents = new Set<string>();

function ancestors(cgroupsPath: string): string[] {
  const parts = cgroupsPath.split('/').filter(Boolean);
  return parts.slice(0, -1).map((_, i) => '/' + parts.slice(0, i + 1).join('/'));
}

function noteMissingParents(cgroupsPath: string): void {
  for (const h of mountedHierarchies()) {
    for (const a of ancestors(cgroupsPath)) {
      const d = join(CGROUP_ROOT, h, a);
      if (!existsSync(d)) createdParents.add(d);
    }
  }
}

function pidsIn(dir: string): number[] {
  try {
    return readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

function killQuietly(pid: number, signal: NodeJS.Signals | number): void {
  try {
    process.kill(pid, signal);
  } catch {
    // gone already
  }
}

/** rmdir the leaf in every hierarchy (killing what is left in it), then the parents we created that are now empty. */
async function removeCgroups(cgroupsPath: string): Promise<string[]> {
  const left: string[] = [];
  for (const dir of Object.values(cgroupDirs(cgroupsPath))) {
    for (let i = 0; existsSync(dir); i++) {
      for (const pid of pidsIn(dir)) killQuietly(pid, 'SIGKILL');
      try {
        rmdirSync(dir);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'ENOENT') break;
        if (i >= 100) {
          left.push(dir);
          break;
        }
        await sleep(20); // the last processes are still being reaped
      }
    }
  }
  removeEmptyParents(cgroupsPath);
  return left;
}

function removeEmptyParents(cgroupsPath?: string): void {
  const candidates = [...createdParents]
    .filter((d) => !cgroupsPath || Object.values(cgroupDirs(cgroupsPath)).some((leaf) => leaf.startsWith(d + '/')))
    .sort((a, b) => b.length - a.length);
  for (const d of candidates) {
    try {
      rmdirSync(d);
      createdParents.delete(d);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') createdParents.delete(d);
      // EBUSY/ENOTEMPTY: another container still uses it; the last one out removes it
    }
  }
}

// ---- containers ----

const BUNDLE_PREFIX = 'ctrace-bundle-';
let swept = false;

/** Bundles of test processes that are gone (vitest ends its workers with SIGTERM: no cleanup runs). */
function sweepStaleBundles(): void {
  if (swept) return;
  swept = true;
  for (const name of readdirSync(tmpdir())) {
    const m = new RegExp(`^${BUNDLE_PREFIX}(\\d+)-`).exec(name);
    if (!m) continue;
    try {
      process.kill(Number(m[1]), 0);
    } catch {
      rmSync(join(tmpdir(), name), { recursive: true, force: true });
    }
  }
}

interface Tracked {
  pid: number;
  gate: string;
  started: boolean;
  remove(): Promise<void>;
}
const live = new Map<string, Tracked>();

/** Open the gate without blocking (ENXIO: the hold has no reader, i.e. it is gone) and let the hook go. */
function openGate(gate: string): void {
  const fd = openSync(gate, constants.O_WRONLY | constants.O_NONBLOCK);
  try {
    writeSync(fd, 'go\n');
  } finally {
    closeSync(fd);
  }
}

let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Last resort when a suite forgot cleanupAllContainers(): kill the inits and let held
  // runtimes go on, so they see the init gone and tear the containers down themselves.
  process.once('exit', () => {
    for (const c of live.values()) {
      killQuietly(c.pid, 'SIGKILL');
      try {
        if (!c.started) openGate(c.gate);
      } catch {
        // the hold is gone already
      }
    }
  });
}

/**
 * Creates the container and holds it before its process runs: resolves with the init's
 * host pid once the init is in its cgroups and namespaces. Call `start()` to let it exec.
 */
export async function createContainer(spec: ContainerSpec): Promise<CreatedContainer> {
  const id = spec.id ?? dockerId();
  if (!/^[\w.+-]+$/.test(id)) throw new Error(`bad container id ${JSON.stringify(id)}`);
  if (!spec.cgroupsPath.startsWith('/')) throw new Error(`cgroupsPath must be absolute: ${spec.cgroupsPath}`);
  if (live.has(id)) throw new Error(`container ${id} already exists`);
  const runtime = spec.runtime ?? 'runc';
  const rootfs = spec.rootfs ?? (await buildRootfs());
  sweepStaleBundles();
  const bundle = mkdtempSync(join(tmpdir(), `${BUNDLE_PREFIX}${process.pid}-`));
  const gate = join(bundle, 'gate');
  const stateFile = join(bundle, 'state.json');
  execFileSync('mkfifo', ['-m', '600', gate]);
  writeFileSync(join(bundle, 'config.json'), JSON.stringify(ociConfig(spec, id, rootfs, gate, stateFile), null, 2));
  noteMissingParents(spec.cgroupsPath);
  installExitHook();

  const [cmd, argv] = runtimeCommand(runtime, ['run', '--bundle', bundle, id]);
  const child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  let done = false;
  const exited = new Promise<ContainerExit>((resolve) => {
    let exit: { code: number | null; signal: string | null } | undefined;
    const finish = () => {
      done = true;
      resolve({ ...exit!, stdout, stderr });
    };
    child.on('error', (e) => {
      stderr += `${cmd}: ${e.message}\n`;
      exit ??= { code: null, signal: null };
      finish();
    });
    child.on('exit', (code, signal) => {
      exit = { code, signal };
      // stdout closes when the last process holding it is gone; one left behind in the
      // host PID namespace may hold it for ever, so do not wait long for it
      setTimeout(() => !done && finish(), 2000).unref();
    });
    child.on('close', () => !done && finish());
  });

  // the hold saves the state: then the init's pid is known and it has not exec'd yet
  let pid = 0;
  for (const deadline = Date.now() + 20_000; !pid; ) {
    try {
      pid = (JSON.parse(readFileSync(stateFile, 'utf8')) as { pid: number }).pid;
      break;
    } catch {
      // not written yet
    }
    if (done || Date.now() > deadline) {
      child.kill('SIGKILL');
      const r = await exited;
      await removeCgroups(spec.cgroupsPath);
      rmSync(bundle, { recursive: true, force: true });
      throw new Error(`${runtime} did not create ${id} (exit ${r.code ?? r.signal}): ${r.stderr.trim() || r.stdout.trim()}`);
    }
    await sleep(5);
  }

  let started = false;
  let removing: Promise<void> | undefined;
  const tracked: Tracked = { pid, gate, started, remove: () => container.remove() };

  const container: CreatedContainer = {
    id,
    runtime,
    bundle,
    cgroupsPath: spec.cgroupsPath,
    pid,
    exited,
    async start() {
      if (started) return;
      started = tracked.started = true;
      try {
        openGate(gate);
      } catch (e) {
        throw new Error(`cannot start ${id}: its hold is gone (${(e as Error).message}); runtime stderr: ${stderr}`);
      }
      // until the init has exec'd the user's process (or is gone): the runtime is then done starting it
      for (const deadline = Date.now() + 10_000; !done && Date.now() < deadline; await sleep(2)) {
        let comm: string;
        try {
          comm = readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
        } catch {
          return; // exited and reaped
        }
        if (!RUNTIME_INIT_COMM.test(comm)) return;
      }
    },
    async kill(signal = 'KILL') {
      if (done) return;
      const name = signal.replace(/^SIG/, '');
      const sig = /^\d+$/.test(name) ? Number(name) : (`SIG${name}` as NodeJS.Signals);
      if (!started) {
        // no OCI state yet (the runtime writes it after the hooks): signal the init itself, then let the runtime go on
        killQuietly(pid, sig);
        await container.start().catch(() => {});
        return;
      }
      try {
        await run(runtime, ['kill', id, name]);
      } catch {
        killQuietly(pid, sig);
      }
    },
    remove() {
      removing ??= (async () => {
        if (!done) {
          killQuietly(pid, 'SIGKILL');
          for (const p of Object.values(cgroupDirs(spec.cgroupsPath)).flatMap(pidsIn)) killQuietly(p, 'SIGKILL');
          if (!started) await container.start().catch(() => {});
          const timeout = sleep(10_000).then(() => 'timeout' as const);
          if ((await Promise.race([exited, timeout])) === 'timeout') child.kill('SIGKILL');
          await exited;
        }
        // `run` deletes the container when its init exits; this is for a runtime that died first
        if (existsSync(join('/run', runtime, id))) await run(runtime, ['delete', '--force', id]).catch(() => {});
        const left = await removeCgroups(spec.cgroupsPath);
        rmSync(bundle, { recursive: true, force: true });
        live.delete(id);
        if (left.length) throw new Error(`cgroups of ${id} still in use: ${left.join(' ')}`);
      })();
      return removing;
    },
  };
  live.set(id, tracked);
  return container;
}

/** Creates and starts a container; resolves once its process runs (its exec done), with the init's host pid. */
export async function runContainer(spec: ContainerSpec): Promise<RunningContainer> {
  const c = await createContainer(spec);
  try {
    await c.start();
  } catch (e) {
    await c.remove().catch(() => {});
    throw e;
  }
  const { start: _start, ...running } = c;
  return running;
}

/** Runs a container to its end (killing it after `timeoutMs`), deletes it, and resolves with its exit code and output. */
export async function runContainerToExit(
  spec: ContainerSpec,
  timeoutMs = 30_000,
): Promise<{ id: string; pid: number; code: number | null; stdout: string; stderr: string }> {
  const c = await runContainer(spec);
  try {
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), timeoutMs)));
    const r = await Promise.race([c.exited, timedOut]);
    clearTimeout(timer);
    if (r === 'timeout') {
      await c.kill('KILL');
      const late = await c.exited;
      throw new Error(`container ${c.id} still running after ${timeoutMs} ms; stdout: ${late.stdout}\nstderr: ${late.stderr}`);
    }
    return { id: c.id, pid: c.pid, code: r.code, stdout: r.stdout, stderr: r.stderr };
  } finally {
    await c.remove();
  }
}

/**
 * Kills and deletes every container this process created, the parent cgroups it caused to
 * exist and the rootfs (rebuilt if a container is made later). Call in afterAll.
 */
export async function cleanupAllContainers(): Promise<void> {
  const results = await Promise.allSettled([...live.values()].map((c) => c.remove()));
  removeEmptyParents();
  if (live.size === 0) await removeRootfs();
  const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed.length) throw new Error(failed.map((f) => String(f.reason)).join('\n'));
}
