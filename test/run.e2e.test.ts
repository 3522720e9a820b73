/**
 * `ctrace run` end to end: the real BPF program in this kernel, real runc
 * containers, the real CLI's JSON output.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ctraceBin, repoRoot, startCtrace, type CtraceRun, type JsonEvent } from './helpers/ctrace-cli.js';
import { runUnsharePidns } from './helpers/hostproc.js';
import { privileged } from './helpers/privileges.js';
import { buildRootfs } from './helpers/rootfs.js';
import { cleanupAllContainers, dockerId, k8sSystemdPath, podUid, runContainer, runContainerToExit } from './helpers/runc.js';

const of = (events: JsonEvent[], id: string, type?: string) =>
  events.filter((e) => e.container?.id === id && (!type || e.type === type));
/** The exit of the container's own process (runc's helpers exit in its cgroup before it runs). */
const exitOf = (events: JsonEvent[], id: string, pid: number) => of(events, id, 'exit').find((e) => e.pid === pid);

/** The id of the pid_verdicts map a process holds (an LRU hash of 65,536 u32 → 16-byte values). */
function pidVerdictMapOf(pid: number): number {
  for (const fd of readdirSync(`/proc/${pid}/fdinfo`)) {
    let info: string;
    try {
      info = readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8');
    } catch {
      continue;
    }
    const field = (k: string) => new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(info)?.[1];
    if (field('map_type') === '9' && field('key_size') === '4' && field('value_size') === '16' && field('max_entries') === '65536')
      return Number(field('map_id'));
  }
  throw new Error(`process ${pid} holds no pid_verdicts map`);
}

/** The verdict the kernel map holds for a PID, or null (bpftool exits non-zero for a missing key). */
function lookupPidVerdict(mapId: number, pid: number): { verdict: number } | null {
  const key = [0, 1, 2, 3].map((i) => String((pid >> (8 * i)) & 0xff));
  const r = spawnSync('bpftool', ['-j', 'map', 'lookup', 'id', String(mapId), 'key', ...key], { encoding: 'utf8' });
  if (r.status !== 0) return null;
  const value: string[] = JSON.parse(r.stdout).value;
  return { verdict: Number(value[8]) };
}

describe.runIf(privileged())('ctrace run with real containers', () => {
  let ct: CtraceRun;

  beforeAll(async () => {
    ct = await startCtrace();
  });
  afterAll(async () => {
    await ct?.stop('SIGTERM');
    await cleanupAllContainers();
  });

  /** Runs `sh -c script` in a docker-layout container to its end, then waits for ctrace to report its exit. */
  async function runDockerScript(script: string, capAdd: string[] = []) {
    const id = dockerId();
    const run = await runContainerToExit({ id, cgroupsPath: `/docker/${id}`, args: ['/bin/sh', '-c', script], capAdd });
    await ct.waitFor((ev) => !!exitOf(ev, id, run.pid), 10_000, `exit of ${id}`);
    return { id, run };
  }

  it('reports a docker container: init exec with argv and nspid 1, its tmpfs mount, its exact exit code', async () => {
    const script = '/bin/mount -t tmpfs none /mnt && exit 7';
    const { id, run } = await runDockerScript(script, ['CAP_SYS_ADMIN']);
    expect(run.code).toBe(7);

    const execs = of(ct.events, id, 'exec');
    const init = execs.find((e) => e.exec.filename === '/bin/sh');
    expect(init).toBeDefined();
    expect(init!.exec.argv).toEqual(['/bin/sh', '-c', script]);
    expect(init!.exec.argc).toBe(3);
    expect(init!.nspid).toBe(1);
    expect(init!.pid).toBe(run.pid);
    expect(init!.container).toMatchObject({ id, runtime: 'docker', podUid: null, qos: null });
    expect(init!.pidNs).not.toBe(0);
    expect(typeof init!.time).toBe('string');
    expect(init!.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/);

    const mounts = of(ct.events, id, 'mount').filter((e) => e.mount.target === '/mnt');
    expect(mounts).toHaveLength(1);
    expect(mounts[0]!.mount).toMatchObject({ source: 'none', fstype: 'tmpfs', ret: 0, op: 'mount' });
    expect(mounts[0]!.comm).toBe('mount');

    const exits = of(ct.events, id, 'exit').filter((e) => e.pid === run.pid);
    expect(exits).toHaveLength(1);
    expect(exits[0]!.exit).toMatchObject({ code: 7, signal: 0 });
    expect(exits[0]!.exit.durationNs).toBeGreaterThan(0);
    expect(exits[0]!.nspid).toBe(1);
  });

  it('reports a Kubernetes pod container under the systemd cgroup layout', async () => {
    const id = dockerId();
    const uid = podUid();
    const cgroupsPath = k8sSystemdPath({ qos: 'burstable', podUid: uid, scope: `cri-containerd-${id}.scope` });
    const run = await runContainerToExit({ id, cgroupsPath, args: ['/bin/sh', '-c', 'exit 3'] });
    expect(run.code).toBe(3);
    await ct.waitFor((ev) => !!exitOf(ev, id, run.pid), 10_000, `exit of ${id}`);
    const exec = of(ct.events, id, 'exec').find((e) => e.pid === run.pid)!;
    expect(exec.container).toMatchObject({ id, runtime: 'containerd', podUid: uid, qos: 'burstable' });
    expect(exec.nspid).toBe(1);
    expect(exitOf(ct.events, id, run.pid)!.exit.code).toBe(3);
  });

  it('reports mount(2) arguments, flags and the errno of a failed mount, read from the syscall registers', async () => {
    // a read-only nosuid tmpfs, then a mount on a directory that does not exist (ENOENT)
    const script = '/bin/mount -r -o nosuid -t tmpfs ctrace-ro-src /mnt; /bin/mount -t tmpfs ctrace-bad-src /nonexistent; exit 0';
    const { id, run } = await runDockerScript(script, ['CAP_SYS_ADMIN']);
    expect(run.code).toBe(0);
    const mounts = of(ct.events, id, 'mount');
    const ro = mounts.find((e) => e.mount.source === 'ctrace-ro-src');
    expect(ro?.mount).toMatchObject({ op: 'mount', target: '/mnt', fstype: 'tmpfs', ret: 0 });
    const MS_RDONLY = 1;
    const MS_NOSUID = 2;
    expect(ro!.mount.flags & (MS_RDONLY | MS_NOSUID)).toBe(MS_RDONLY | MS_NOSUID);
    const bad = mounts.filter((e) => e.mount.source === 'ctrace-bad-src');
    expect(bad.length).toBeGreaterThanOrEqual(1); // busybox may retry with other flags
    for (const e of bad) expect(e.mount).toMatchObject({ target: '/nonexistent', fstype: 'tmpfs', ret: -2 });
  });

  it('writes no PID verdict for an exec the kernel decided by its cgroup verdict', async () => {
    const mapId = pidVerdictMapOf(ct.child.pid!);
    // the start-up pre-load gave every process a verdict: PID 1 is the host's
    expect(lookupPidVerdict(mapId, 1)).toEqual({ verdict: 1 }); // VERDICT_HOST
    const id = dockerId();
    // `sleep 3` comes half a second after the cgroup's first events, through the lane, and is
    // forked (not the shell's last command, which sh would exec in place of itself)
    const c = await runContainer({ id, cgroupsPath: `/docker/${id}`, args: ['/bin/sh', '-c', '/bin/sleep 0.5; /bin/sleep 3; exit 0'] });
    try {
      const sleeper = (ev: JsonEvent[]) => of(ev, id, 'exec').find((e) => e.exec.argv.join(' ') === '/bin/sleep 3');
      await ct.waitFor((ev) => !!sleeper(ev), 10_000, `exec of sleep 3 in ${id}`);
      expect(sleeper(ct.events)!.container?.id).toBe(id);
      expect(lookupPidVerdict(mapId, sleeper(ct.events)!.pid)).toBeNull();
    } finally {
      await c.remove();
    }
  });

  it('reports a mount made with the new mount API as move_mount, with fstype and source', async () => {
    const rootfs = await buildRootfs();
    execFileSync('cc', ['-static', '-O2', '-o', join(rootfs, 'bin/newmount'), join(repoRoot, 'test/fixtures/newmount.c')]);
    const id = dockerId();
    const run = await runContainerToExit({
      id,
      cgroupsPath: `/docker/${id}`,
      args: ['/bin/newmount', '/mnt', 'ctrace-newapi-src'],
      capAdd: ['CAP_SYS_ADMIN'],
    });
    expect(run.code).toBe(0);
    await ct.waitFor((ev) => !!exitOf(ev, id, run.pid), 10_000, `exit of ${id}`);
    const moves = of(ct.events, id, 'mount').filter((e) => e.mount.op === 'move_mount');
    expect(moves).toHaveLength(1);
    expect(moves[0]!.mount).toMatchObject({ target: '/mnt', fstype: 'tmpfs', source: 'ctrace-newapi-src', ret: 0 });
    expect(moves[0]!.pid).toBe(run.pid);
  });

  it('attributes a process that execs and exits within a millisecond', async () => {
    const id = dockerId();
    // the container's only process: exec of a static true, gone before userland could read /proc
    const run = await runContainerToExit({ id, cgroupsPath: `/docker/${id}`, args: ['/bin/true'] });
    expect(run.code).toBe(0);
    await ct.waitFor((ev) => !!exitOf(ev, id, run.pid), 10_000, `exit of ${id}`);
    const exec = of(ct.events, id, 'exec').find((e) => e.exec.filename === '/bin/true');
    const exit = of(ct.events, id, 'exit').find((e) => e.pid === run.pid);
    expect(exec?.container.runtime).toBe('docker');
    expect(exit?.exit.code).toBe(0);
    expect(exit?.exit.durationNs).toBeLessThan(1e9);
  });

  it('reports nothing for a host process in a new PID namespace (unshare -p -f)', async () => {
    const marker = `ctrace-unshare-${process.pid}-${Date.now()}`;
    const r = await runUnsharePidns(['/bin/sh', '-c', `/bin/echo ${marker}; /bin/true ${marker}`]);
    expect(r.stdout).toContain(marker);
    // barrier: a container started afterwards; its events arrive after anything the unshare produced
    const id = dockerId();
    const run = await runContainerToExit({ id, cgroupsPath: `/docker/${id}`, args: ['/bin/true'] });
    await ct.waitFor((ev) => !!exitOf(ev, id, run.pid), 10_000, `exit of ${id}`);
    const leaked = ct.events.filter((e) => JSON.stringify(e).includes(marker));
    expect(leaked).toEqual([]);
  });

  it('attributes a container that shares the host PID namespace', async () => {
    const id = dockerId();
    const run = await runContainerToExit({
      id,
      cgroupsPath: `/docker/${id}`,
      args: ['/bin/sh', '-c', 'exit 5'],
      pidNamespace: false,
    });
    expect(run.code).toBe(5);
    await ct.waitFor((ev) => !!exitOf(ev, id, run.pid), 10_000, `exit of ${id}`);
    const exec = of(ct.events, id, 'exec').find((e) => e.pid === run.pid)!;
    expect(exec.container.id).toBe(id);
    expect(exec.nspid).toBe(exec.pid); // same namespace as the host
    expect(exitOf(ct.events, id, run.pid)!.exit.code).toBe(5);
  });

  it('delivers all 500 execs of a 500-exec loop in one container', async () => {
    const id = dockerId();
    const loop = 'i=0; while [ $i -lt 500 ]; do /bin/true; i=$((i+1)); done; exit 0';
    const run = await runContainerToExit({ id, cgroupsPath: `/docker/${id}`, args: ['/bin/sh', '-c', loop] }, 60_000);
    expect(run.code).toBe(0);
    await ct.waitFor((ev) => of(ev, id, 'exit').some((e) => e.pid === run.pid), 20_000, `exit of ${id}`);
    const trues = of(ct.events, id, 'exec').filter((e) => e.exec.filename === '/bin/true');
    expect(trues).toHaveLength(500);
    expect(new Set(trues.map((e) => e.pid)).size).toBe(500);
    expect(of(ct.events, id, 'exit').filter((e) => e.comm === 'true')).toHaveLength(500);
    // in ring order although the addon writes most of these lines and JavaScript the first ones:
    // each process's exec comes before its exit
    const lines = ct.events.filter((e) => e.container?.id === id);
    const firstExec = new Map<number, number>();
    lines.forEach((e, i) => e.type === 'exec' && !firstExec.has(e.pid) && firstExec.set(e.pid, i));
    for (const [i, e] of lines.entries()) if (e.type === 'exit' && firstExec.has(e.pid)) expect(firstExec.get(e.pid)!).toBeLessThan(i);
  });

  it('stops on SIGTERM with a summary of events by type and losses', async () => {
    const own = await startCtrace();
    const id = dockerId();
    const run = await runContainerToExit({ id, cgroupsPath: `/docker/${id}`, args: ['/bin/sh', '-c', 'exit 0'] });
    await own.waitFor((ev) => !!exitOf(ev, id, run.pid), 10_000, `exit of ${id}`);
    const { code, stderr } = await own.stop('SIGTERM');
    expect(code).toBe(0);
    const summary = stderr.split('\n').find((l) => l.includes('stopped (SIGTERM)'));
    expect(summary).toBeDefined();
    const m = /(\d+) events \(exec (\d+), exit (\d+), mount (\d+)\), (\d+) lost/.exec(summary!);
    expect(m).not.toBeNull();
    expect(Number(m![2])).toBeGreaterThanOrEqual(1);
    expect(Number(m![3])).toBeGreaterThanOrEqual(1);
    expect(Number(m![5])).toBe(0);
    expect(Number(m![1])).toBe(own.events.length);
  });

  it('loads under node --cpu-prof (SIGPROF every millisecond would make the verifier give up with EAGAIN)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ctrace-cpuprof-'));
    try {
      const own = await startCtrace([], 60_000, [process.execPath, '--cpu-prof', '--cpu-prof-dir', dir, ctraceBin]);
      const id = dockerId();
      const run = await runContainerToExit({ id, cgroupsPath: `/docker/${id}`, args: ['/bin/sh', '-c', 'exit 0'] });
      await own.waitFor((ev) => !!exitOf(ev, id, run.pid), 10_000, `exit of ${id}`);
      expect((await own.stop('SIGINT')).code).toBe(0);
      expect(readdirSync(dir).filter((f) => f.endsWith('.cpuprofile')).length).toBe(1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe.runIf(privileged())('ctrace run options', () => {
  afterAll(async () => {
    await cleanupAllContainers();
  });

  it('--all also reports host processes, with container null', async () => {
    const ct = await startCtrace(['--all', '--events', 'exec']);
    try {
      const marker = `ctrace-host-${process.pid}-${Date.now()}`;
      spawnSync('/bin/sh', ['-c', `/bin/echo ${marker} > /dev/null`]);
      await ct.waitFor((ev) => ev.some((e) => e.exec?.argv?.includes(marker)), 10_000, 'host exec');
      const ev = ct.events.find((e) => e.exec?.argv?.includes(marker))!;
      expect(ev.container).toBeNull();
      expect(ev.scope).toBe('host');
      expect(ev.exec.filename).toBe('/bin/echo');
      expect(ct.events.every((e) => e.type === 'exec')).toBe(true);
    } finally {
      await ct.stop();
    }
  });

  it('--pidns-only drops a container in the host PID namespace and keeps one in its own', async () => {
    const ct = await startCtrace(['--pidns-only']);
    try {
      const shared = dockerId();
      const own = dockerId();
      await runContainerToExit({ id: shared, cgroupsPath: `/docker/${shared}`, args: ['/bin/true'], pidNamespace: false });
      const run = await runContainerToExit({ id: own, cgroupsPath: `/docker/${own}`, args: ['/bin/true'] });
      await ct.waitFor((ev) => !!exitOf(ev, own, run.pid), 10_000, `exit of ${own}`);
      expect(of(ct.events, shared)).toEqual([]);
      expect(of(ct.events, own, 'exec').length).toBeGreaterThan(0);
    } finally {
      await ct.stop();
    }
  });

  it('exits cleanly with a summary when stdout is closed (ctrace run | head)', async () => {
    const ct = await startCtrace(['--all', '--events', 'exec']);
    ct.child.stdout!.destroy();
    // make events until ctrace notices its stdout is gone
    for (let i = 0; i < 50 && ct.child.exitCode === null; i++) {
      spawnSync('/bin/true');
      await new Promise((r) => setTimeout(r, 50));
    }
    const { code, stderr } = await ct.stop();
    expect(code).toBe(0);
    expect(stderr).toMatch(/stopped \(stdout closed\)/);
  });
});
