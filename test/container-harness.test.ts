/**
 * Self-test of the container helpers (test/helpers/runc.ts, rootfs.ts, hostproc.ts) on
 * this host: real runc and crun containers from the busybox rootfs land in the cgroups
 * asked for, in every hierarchy, report what they print and their exit code, and leave
 * no cgroup, bundle or runtime state behind.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CGROUP_ROOT, mountedHierarchies } from './helpers/cgroups.js';
import { runInCgroup, runUnsharePidns } from './helpers/hostproc.js';
import { privileged } from './helpers/privileges.js';
import { buildRootfs } from './helpers/rootfs.js';
import {
  cgroupDirs,
  cleanupAllContainers,
  createContainer,
  dockerId,
  k8sCgroupfsPath,
  k8sSystemdPath,
  ociState,
  podUid,
  runContainer,
  runContainerToExit,
  type Runtime,
} from './helpers/runc.js';

const RUNTIMES: Runtime[] = ['runc', 'crun'];
const SCRIPT = 'echo $$; cat /proc/self/cgroup; exit 7';

/** `/proc/self/cgroup` lines by hierarchy: 'pids' -> '/docker/<id>', '' (the 0:: line) -> ... */
function cgroupLines(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^\d+:([^:]*):(.*)$/.exec(line);
    if (m) for (const c of m[1]!.split(',')) out.set(c.replace(/^name=/, ''), m[2]!);
  }
  return out;
}

/** What the hierarchies under /sys/fs/cgroup are called in /proc/self/cgroup ('unified' is the 0:: line). */
const procName = (h: string) => (h === 'unified' ? '' : h);

describe.runIf(privileged())('container helpers on this host', () => {
  const hierarchies = mountedHierarchies();
  /** top-level cgroups that existed before: the ones not to expect gone afterwards */
  let preexisting: Set<string>;

  beforeAll(() => {
    preexisting = new Set(
      hierarchies.flatMap((h) => ['docker', 'kubepods.slice', 'kubepods', 'system.slice'].map((top) => join(CGROUP_ROOT, h, top))).filter((d) => existsSync(d)),
    );
  });
  afterAll(async () => {
    await cleanupAllContainers();
  });

  const expectGone = (cgroupsPath: string) => {
    for (const dir of Object.values(cgroupDirs(cgroupsPath))) expect(existsSync(dir), dir).toBe(false);
    const top = cgroupsPath.split('/')[1]!;
    for (const h of hierarchies) {
      const d = join(CGROUP_ROOT, h, top);
      if (!preexisting.has(d)) expect(existsSync(d), d).toBe(false);
    }
  };

  it('builds a rootfs around the static busybox', async () => {
    const root = await buildRootfs();
    expect(await buildRootfs()).toBe(root);
    expect(statSync(join(root, 'bin', 'busybox')).isFile()).toBe(true);
    for (const a of ['sh', 'true', 'mount', 'seq', 'sleep']) expect(existsSync(join(root, 'bin', a)), a).toBe(true);
    expect(readFileSync(join(root, 'etc', 'passwd'), 'utf8')).toMatch(/^root:x:0:0:/);
  });

  for (const runtime of RUNTIMES) {
    describe(runtime, () => {
      it('/docker/<id>: nspid 1, exit 7, the path in every hierarchy including the unified one', async () => {
        const id = dockerId();
        const cgroupsPath = `/docker/${id}`;
        const r = await runContainerToExit({ id, cgroupsPath, args: ['/bin/sh', '-c', SCRIPT], runtime });
        expect(r.code, r.stderr).toBe(7);
        expect(r.id).toBe(id);
        expect(r.pid).toBeGreaterThan(1);
        const [nspid, ...rest] = r.stdout.trim().split('\n');
        expect(nspid).toBe('1');
        const lines = cgroupLines(rest.join('\n'));
        for (const h of hierarchies) expect(lines.get(procName(h)), h).toBe(cgroupsPath);
        expect(lines.get('pids')).toBe(cgroupsPath);
        expect(lines.get('')).toBe(cgroupsPath);
        expectGone(cgroupsPath);
        expect(existsSync(`/run/${runtime}/${id}`)).toBe(false);
      });

      it('createContainer holds the init in its cgroups and namespaces until start()', async () => {
        const id = dockerId();
        const cgroupsPath = `/docker/${id}`;
        const c = await createContainer({
          id,
          cgroupsPath,
          args: ['/bin/sh', '-c', 'echo started $$; exit 3'],
          annotations: { 'io.ctrace.test': 'yes' },
          runtime,
        });
        // held: in the container's cgroups (v1 and v2) and PID namespace, not yet running the user's process
        const held = cgroupLines(readFileSync(`/proc/${c.pid}/cgroup`, 'utf8'));
        expect(held.get('pids')).toBe(cgroupsPath);
        expect(held.get('')).toBe(cgroupsPath);
        expect(readFileSync(`/proc/${c.pid}/status`, 'utf8')).toMatch(new RegExp(`^NSpid:\\s+${c.pid}\\s+1$`, 'm'));
        expect(readFileSync(`/proc/${c.pid}/comm`, 'utf8').trim()).toBe(runtime === 'runc' ? 'runc:[2:INIT]' : 'crun');
        const config = JSON.parse(readFileSync(join(c.bundle, 'config.json'), 'utf8'));
        expect(config.annotations).toEqual({ 'io.ctrace.test': 'yes' });
        expect(config.linux.cgroupsPath).toBe(cgroupsPath);

        await c.start();
        const r = await c.exited;
        expect(r.code, r.stderr).toBe(3);
        expect(r.stdout).toBe('started 1\n');
        await c.remove();
        expectGone(cgroupsPath);
        expect(existsSync(c.bundle)).toBe(false);
      });

      it(`runContainer: running once it resolves, OCI state in /run/${runtime}; kill() ends it with 128+9`, async () => {
        const id = dockerId();
        const c = await runContainer({ id, cgroupsPath: `/docker/${id}`, args: ['/bin/sleep', '30'], runtime });
        expect(readFileSync(`/proc/${c.pid}/comm`, 'utf8').trim()).toBe('sleep');
        expect(await ociState(id, runtime)).toMatchObject({ id, pid: c.pid, status: 'running' });
        await c.kill();
        expect((await c.exited).code).toBe(137);
        await c.remove();
        expectGone(`/docker/${id}`);
      });
    });
  }

  it('a Kubernetes pod container under the systemd driver layout', async () => {
    const id = dockerId();
    const uid = podUid();
    const underscored = uid.replaceAll('-', '_');
    const cgroupsPath = k8sSystemdPath({ qos: 'burstable', podUid: uid, scope: `cri-containerd-${id}.scope` });
    expect(cgroupsPath).toBe(`/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${underscored}.slice/cri-containerd-${id}.scope`);
    expect(k8sSystemdPath({ qos: 'guaranteed', podUid: uid, scope: 's.scope' })).toBe(`/kubepods.slice/kubepods-pod${underscored}.slice/s.scope`);
    expect(k8sCgroupfsPath({ qos: 'besteffort', podUid: uid, id })).toBe(`/kubepods/besteffort/pod${uid}/${id}`);

    const r = await runContainerToExit({ id, cgroupsPath, args: ['/bin/sh', '-c', SCRIPT] });
    expect(r.code, r.stderr).toBe(7);
    const [nspid, ...rest] = r.stdout.trim().split('\n');
    expect(nspid).toBe('1');
    const lines = cgroupLines(rest.join('\n'));
    expect(lines.get('pids')).toBe(cgroupsPath);
    expect(lines.get('systemd')).toBe(cgroupsPath);
    expect(lines.get('')).toBe(cgroupsPath);
    expectGone(cgroupsPath);
  });

  it('pidNamespace: false shares the host PID namespace: $$ is the host pid', async () => {
    const id = dockerId();
    const r = await runContainerToExit({ id, cgroupsPath: `/docker/${id}`, args: ['/bin/sh', '-c', 'echo $$'], pidNamespace: false });
    expect(r.code, r.stderr).toBe(0);
    expect(Number(r.stdout.trim())).toBe(r.pid);
    expect(r.pid).not.toBe(1);
  });

  it('cgroupNamespace: the container reads / for its cgroups; env reaches the process; /dev/null works', async () => {
    const id = dockerId();
    const script = 'echo "$FOO" > /dev/null && echo "$FOO"; cat /proc/self/cgroup';
    const r = await runContainerToExit({ id, cgroupsPath: `/docker/${id}`, args: ['/bin/sh', '-c', script], cgroupNamespace: true, env: ['FOO=bar'] });
    expect(r.code, r.stderr).toBe(0);
    const [foo, ...rest] = r.stdout.trim().split('\n');
    expect(foo).toBe('bar');
    const lines = cgroupLines(rest.join('\n'));
    expect(lines.get('pids')).toBe('/');
    expect(lines.get('')).toBe('/');
  });

  it('capAdd CAP_SYS_ADMIN lets the container mount; without it mount fails', async () => {
    const args = ['/bin/sh', '-c', 'mount -t tmpfs none /mnt && echo mounted'];
    const id = dockerId();
    const ok = await runContainerToExit({ id, cgroupsPath: `/docker/${id}`, args, capAdd: ['CAP_SYS_ADMIN'] });
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toBe('mounted\n');
    const id2 = dockerId();
    const denied = await runContainerToExit({ id: id2, cgroupsPath: `/docker/${id2}`, args });
    expect(denied.code).not.toBe(0);
    expect(denied.stdout).toBe('');
  });

  it('cleanupAllContainers kills and removes containers still held or running', async () => {
    const a = dockerId();
    const b = dockerId();
    const held = await createContainer({ id: a, cgroupsPath: `/docker/${a}`, args: ['/bin/true'] });
    const running = await runContainer({ id: b, cgroupsPath: `/docker/${b}`, args: ['/bin/sleep', '30'], runtime: 'crun' });
    await cleanupAllContainers();
    expect((await held.exited).code).not.toBe(0);
    expect((await running.exited).code).toBe(137);
    expectGone(`/docker/${a}`);
    expectGone(`/docker/${b}`);
    expect(existsSync(held.bundle) || existsSync(running.bundle)).toBe(false);
  });

  it('runUnsharePidns: PID 1 of a new PID namespace, in this process cgroups', async () => {
    const r = await runUnsharePidns(['/bin/sh', '-c', 'echo $$; cat /proc/self/cgroup']);
    expect(r.code, r.stderr).toBe(0);
    const [nspid, ...rest] = r.stdout.trim().split('\n');
    expect(nspid).toBe('1');
    expect(cgroupLines(rest.join('\n'))).toEqual(cgroupLines(readFileSync('/proc/self/cgroup', 'utf8')));
  });

  it('runInCgroup: a host process in /system.slice/<name>.service (name=systemd, pids, unified)', async () => {
    const path = `/system.slice/ctrace-test-${process.pid}.service`;
    const r = await runInCgroup(path, ['/bin/sh', '-c', 'echo $$; cat /proc/self/cgroup']);
    expect(r.code, r.stderr).toBe(0);
    const [pid, ...rest] = r.stdout.trim().split('\n');
    expect(Number(pid)).toBe(r.pid);
    const lines = cgroupLines(rest.join('\n'));
    expect(lines.get('pids')).toBe(path);
    expect(lines.get('systemd')).toBe(path);
    expect(lines.get('')).toBe(path);
    expect(lines.get('memory')).toBe(cgroupLines(readFileSync('/proc/self/cgroup', 'utf8')).get('memory'));
    expectGone(path);
  });
});
