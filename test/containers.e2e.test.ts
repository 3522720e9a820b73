/**
 * Knowing every container, end to end with the real CLI: `ctrace ps`, `ctrace inspect`
 * and `ctrace run` against real runc/crun containers in a docker cgroupfs layout, a podman
 * layout (crun, `libpod-<id>.scope/container`) and a Kubernetes systemd-driver pod with
 * CRI annotations — all three started before ctrace, so their later mount and exit must
 * be attributed through the start-up pre-load. Then the run filters, and host processes
 * that only look like containers.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readlinkSync, statSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ctraceBin, startCtrace, type JsonEvent } from './helpers/ctrace-cli.js';
import { makeCgroup, type TestCgroup } from './helpers/cgroups.js';
import { openGate, WAIT_AT_GATE } from './helpers/fifo-gate.js';
import { runInCgroup, runUnsharePidns } from './helpers/hostproc.js';
import { privileged } from './helpers/privileges.js';
import {
  cleanupAllContainers,
  dockerId,
  k8sSystemdPath,
  podUid,
  runContainer,
  runContainerToExit,
  type RunningContainer,
} from './helpers/runc.js';

function ctrace(...args: string[]) {
  const r = spawnSync(process.execPath, [ctraceBin, ...args], { encoding: 'utf8', timeout: 30_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}
const of = (events: JsonEvent[], id: string, type?: string) => events.filter((e) => e.container?.id === id && (!type || e.type === type));

/** The container waits at the gate, then mounts a tmpfs and exits 4. */
const WAIT_THEN_MOUNT = `${WAIT_AT_GATE}/bin/mount -t tmpfs none /mnt && exit 4`;

const POD_ANNOTATIONS = {
  'io.kubernetes.pod.name': 'web-0',
  'io.kubernetes.pod.namespace': 'shop',
  'io.kubernetes.cri.container-name': 'nginx',
  'io.kubernetes.cri.image-name': 'docker.io/library/busybox:1.36',
};

describe.runIf(privileged())('every container on the host: ps, inspect, run', () => {
  const uid = podUid();
  const ids = { docker: dockerId(), podman: dockerId(), pod: dockerId() };
  const paths = {
    docker: `/docker/${ids.docker}`,
    podman: `/machine.slice/libpod-${ids.podman}.scope/container`,
    pod: k8sSystemdPath({ qos: 'besteffort', podUid: uid, scope: `cri-containerd-${ids.pod}.scope` }),
  };
  /** The pod container as every output names it (from its cgroup path and its CRI annotations). */
  const podContainer = {
    id: ids.pod,
    runtime: 'containerd',
    podUid: uid,
    qos: 'besteffort',
    name: 'nginx',
    image: 'docker.io/library/busybox:1.36',
    podName: 'web-0',
    podNamespace: 'shop',
  };
  let docker: RunningContainer;
  let podman: RunningContainer;
  let pod: RunningContainer;

  beforeAll(async () => {
    // started before any ctrace: attribution of what they do later relies on the /proc walk at start
    [docker, podman, pod] = await Promise.all([
      runContainer({
        id: ids.docker,
        cgroupsPath: paths.docker,
        args: ['/bin/sh', '-c', WAIT_THEN_MOUNT],
        capAdd: ['CAP_SYS_ADMIN'],
        annotations: { 'nerdctl/name': 'pre-docker' },
      }),
      runContainer({ id: ids.podman, runtime: 'crun', cgroupsPath: paths.podman, args: ['/bin/sh', '-c', WAIT_THEN_MOUNT], capAdd: ['CAP_SYS_ADMIN'] }),
      runContainer({ id: ids.pod, cgroupsPath: paths.pod, args: ['/bin/sh', '-c', WAIT_THEN_MOUNT], capAdd: ['CAP_SYS_ADMIN'], annotations: POD_ANNOTATIONS }),
    ]);
  });
  afterAll(async () => {
    await cleanupAllContainers();
  });

  it('ctrace ps lists each container with its processes: host PID, PID inside, PPID, command, id, runtime, pod', () => {
    const r = ctrace('ps', '--output', 'json');
    expect(r.code).toBe(0);
    const all = JSON.parse(r.stdout) as Array<Record<string, any>>;
    const byId = new Map(all.map((c) => [c.id, c]));
    const expectInit = (c: Record<string, any>, pid: number) => {
      const init = c.processes.find((p: any) => p.pid === pid);
      expect(init).toMatchObject({ nspid: 1, argv: ['/bin/sh', '-c', WAIT_THEN_MOUNT], comm: 'sh', uid: 0 });
      expect(init.ppid).toBeGreaterThan(0);
      expect(init.ppid).not.toBe(pid);
    };
    expect(byId.get(ids.docker)).toMatchObject({ runtime: 'docker', podUid: null, name: 'pre-docker', cgroupPath: paths.docker, cgroupV1: false });
    expectInit(byId.get(ids.docker)!, docker.pid);
    expect(byId.get(ids.podman)).toMatchObject({ runtime: 'podman', cgroupPath: paths.podman });
    expectInit(byId.get(ids.podman)!, podman.pid);
    const { id: _podId, ...podFields } = podContainer;
    expect(byId.get(ids.pod)).toMatchObject(podFields);
    expectInit(byId.get(ids.pod)!, pod.pid);
    // nothing that is not a container
    expect(all.every((c) => typeof c.id === 'string' && c.processes.length > 0)).toBe(true);

    const table = ctrace('ps');
    expect(table.code).toBe(0);
    const lines = table.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^CONTAINER\s+RUNTIME\s+NAME\s+POD\s+IMAGE\s+STARTED\s+PID\s+NSPID\s+PPID\s+UID\s+COMMAND$/);
    const podLine = lines.find((l) => l.startsWith(ids.pod.slice(0, 12)))!;
    expect(podLine).toMatch(new RegExp(`containerd\\s+nginx\\s+shop/web-0\\s+\\S+\\s+\\d+[smhd] ago\\s+${pod.pid}\\s+1\\s+`));
  });

  it('ctrace ps --container <prefix> shows that container only; an unknown one is a note, not an error', () => {
    const r = ctrace('ps', '--output', 'json', '--container', ids.podman.slice(0, 10));
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).map((c: any) => c.id)).toEqual([ids.podman]);
    const byName = ctrace('ps', '--output', 'json', '--container', 'pre-docker');
    expect(JSON.parse(byName.stdout).map((c: any) => c.id)).toEqual([ids.docker]);
    const none = ctrace('ps', '--output', 'json', '--container', 'ffffffffffffff0');
    expect(none.code).toBe(0);
    expect(none.stdout).toBe('[]\n');
    expect(none.stderr).toBe('ctrace: note: no running container matches --container ffffffffffffff0\n');
  });

  it('ctrace inspect <pid> says which container and why, the PID inside, the binary on the host, the namespaces', () => {
    const cases: Array<[RunningContainer, string, string, string, string]> = [
      [docker, ids.docker, 'docker', 'docker-cgroupfs', `/run/runc/${ids.docker}/state.json`],
      [podman, ids.podman, 'podman', 'podman-systemd', `/run/crun/${ids.podman}/status`],
      [pod, ids.pod, 'containerd', 'containerd-cri-systemd', `/run/runc/${ids.pod}/state.json`],
    ];
    const hostPidNs = statSync('/proc/self/ns/pid').ino;
    for (const [c, id, runtime, rule, stateFile] of cases) {
      const r = ctrace('inspect', String(c.pid), '--output', 'json');
      expect(r.code, r.stderr).toBe(0);
      const out = JSON.parse(r.stdout);
      expect(out).toMatchObject({
        pid: c.pid,
        nspid: 1,
        scope: 'container',
        rule,
        cgroupPath: c.cgroupsPath,
        cgroupHierarchy: 'unified', // runc and crun put containers in the unified hierarchy too: the key is v2
        cgroupV1: false,
        container: { id, runtime },
        runtimeState: { stateFile },
      });
      expect(out.cgroupId).toBe(statSync(`/sys/fs/cgroup/unified${c.cgroupsPath}`).ino);
      expect(out.reason).toContain(rule);
      expect(out.nspids).toEqual([c.pid, 1]);
      // the binary: /bin/busybox inside; on the host, the rootfs's file, same inode
      expect(out.binary).toMatchObject({ exe: '/bin/busybox', via: 'rootfs', deleted: false });
      expect(out.binary.hostPath).toBe(`${out.runtimeState.rootfs}/bin/busybox`);
      expect(statSync(out.binary.hostPath).ino).toBe(statSync(`/proc/${c.pid}/exe`).ino);
      expect(out.namespaces.pid).toBe(statSync(`/proc/${c.pid}/ns/pid`).ino);
      expect(out.namespaces.pid).not.toBe(hostPidNs);
      expect(out.namespaces).toMatchObject({
        hostPidNs: false,
        mnt: statSync(`/proc/${c.pid}/ns/mnt`).ino,
        net: statSync(`/proc/${c.pid}/ns/net`).ino,
        cgroup: statSync(`/proc/${c.pid}/ns/cgroup`).ino,
      });
    }
    const k8s = JSON.parse(ctrace('inspect', String(pod.pid), '--output', 'json').stdout);
    expect(k8s.container).toEqual(podContainer);

    const text = ctrace('inspect', String(pod.pid));
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^why: +cgroup \/kubepods\.slice\/.* matches rule containerd-cri-systemd/m);
    expect(text.stdout).toMatch(/^pid in container: +1 /m);
    expect(text.stdout).toMatch(/^pod: +shop\/web-0$/m);
  });

  it('ctrace inspect of a PID that does not exist: one line, exit 1', () => {
    const r = ctrace('inspect', '4194304');
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('ctrace: no process with PID 4194304\n');
    expect(r.stdout).toBe('');
    const bad = ctrace('inspect', '12abc');
    expect(bad.code).toBe(2);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('containers started before ctrace: their later mount and exit carry the container id, runtime and names', async () => {
    const ct = await startCtrace();
    try {
      await Promise.all([openGate(docker), openGate(podman), openGate(pod)]);
      const exits = await Promise.all([docker.exited, podman.exited, pod.exited]);
      expect(exits.map((e) => e.code)).toEqual([4, 4, 4]);
      for (const [c, id] of [
        [docker, ids.docker],
        [podman, ids.podman],
        [pod, ids.pod],
      ] as const) {
        await ct.waitFor((ev) => of(ev, id, 'exit').some((e) => e.pid === c.pid), 10_000, `exit of ${id}`);
      }
      const check = (id: string, pid: number, container: Record<string, unknown>) => {
        const mount = of(ct.events, id, 'mount').find((e) => e.mount.target === '/mnt');
        expect(mount, `mount in ${id}`).toBeDefined();
        expect(mount!.mount).toMatchObject({ source: 'none', fstype: 'tmpfs', ret: 0 });
        expect(mount!.container).toMatchObject(container);
        expect(mount!.ppid).toBe(pid); // the shell that was running before ctrace started
        const exit = of(ct.events, id, 'exit').find((e) => e.pid === pid)!;
        expect(exit.exit).toMatchObject({ code: 4, signal: 0 });
        expect(exit.nspid).toBe(1);
        expect(exit.container).toMatchObject(container);
        // the shell's exec happened before ctrace: no exec of it, only its end
        expect(of(ct.events, id, 'exec').some((e) => e.pid === pid && e.exec.filename === '/bin/sh')).toBe(false);
      };
      check(ids.docker, docker.pid, { id: ids.docker, runtime: 'docker', name: 'pre-docker' });
      check(ids.podman, podman.pid, { id: ids.podman, runtime: 'podman' });
      check(ids.pod, pod.pid, podContainer);
    } finally {
      const { code } = await ct.stop('SIGTERM');
      expect(code).toBe(0);
    }
  });

  it('ctrace run --container, --runtime and --pod each pass their containers only', async () => {
    const want = dockerId();
    const [byContainer, byRuntime, byPod] = await Promise.all([
      startCtrace(['--container', want.slice(0, 12)]),
      startCtrace(['--runtime', 'podman']),
      startCtrace(['--pod', uid.slice(0, 8)]),
    ]);
    const instances = [byContainer, byRuntime, byPod];
    try {
      // a container of each kind, and another docker one
      const d = await runContainerToExit({ id: want, cgroupsPath: `/docker/${want}`, args: ['/bin/sh', '-c', 'exit 1'] });
      const other = dockerId();
      await runContainerToExit({ id: other, cgroupsPath: `/docker/${other}`, args: ['/bin/sh', '-c', 'exit 2'] });
      const pm = dockerId();
      const p = await runContainerToExit({ id: pm, cgroupsPath: `/machine.slice/libpod-${pm}.scope`, args: ['/bin/sh', '-c', 'exit 3'] });
      const k = dockerId();
      const kp = await runContainerToExit({
        id: k,
        cgroupsPath: k8sSystemdPath({ qos: 'besteffort', podUid: uid, scope: `cri-containerd-${k}.scope` }),
        args: ['/bin/sh', '-c', 'exit 5'],
      });
      await byContainer.waitFor((ev) => of(ev, want, 'exit').some((e) => e.pid === d.pid), 10_000, 'docker exit');
      await byRuntime.waitFor((ev) => of(ev, pm, 'exit').some((e) => e.pid === p.pid), 10_000, 'podman exit');
      await byPod.waitFor((ev) => of(ev, k, 'exit').some((e) => e.pid === kp.pid), 10_000, 'pod exit');
      // the other instances had the same events to filter: let them drain what they read
      await new Promise((r) => setTimeout(r, 300));
    } finally {
      for (const i of instances) await i.stop('SIGTERM');
    }
    expect(byContainer.events.length).toBeGreaterThan(0);
    expect(byContainer.events.every((e) => e.container?.id === want)).toBe(true);
    expect(byRuntime.events.length).toBeGreaterThan(0);
    expect(byRuntime.events.every((e) => e.container?.runtime === 'podman')).toBe(true);
    expect(byPod.events.length).toBeGreaterThan(0);
    expect(byPod.events.every((e) => e.container?.podUid === uid)).toBe(true);
  });
});

describe.runIf(privileged())('filters by the names in OCI annotations (run)', () => {
  afterAll(async () => {
    await cleanupAllContainers();
  });

  it('run -c <name>, -p <namespace/pod>, -n <namespace> with -u, and repeated -c: after enrichment, with a note when nothing runs yet', async () => {
    const tag = dockerId().slice(0, 6);
    const name = `filt-web-${tag}`;
    const ns = `filt-ns-${tag}`;
    const podName = `api-${tag}`;
    const uidPod = podUid();
    const ids = { named: dockerId(), pod: dockerId(), other: dockerId() };
    const [byName, byPod, byNs, either] = await Promise.all([
      startCtrace(['-c', name]),
      startCtrace(['-p', `${ns}/${podName}`]),
      startCtrace(['-n', ns, '-u', '0', '-e', 'exec,exit', '--comm', 'sh']),
      startCtrace(['-c', name, '-c', ids.other.slice(0, 12)]),
    ]);
    const instances = [byName, byPod, byNs, either];
    let named, pod, other;
    try {
      // nothing of these runs yet: a one-line note, not an error
      expect(byName.stderr()).toContain(`ctrace: note: no running container matches --container ${name}; its events will show if one starts\n`);
      expect(byPod.stderr()).toContain(`note: no running container matches --pod ${ns}/${podName};`);
      named = await runContainerToExit({
        id: ids.named,
        cgroupsPath: `/docker/${ids.named}`,
        // names come from the runtime's state, written by `runc create`: a container deleted before
        // ctrace has read its events cannot be named, so these live a moment
        args: ['/bin/sh', '-c', 'sleep 1; exit 6'],
        annotations: { 'nerdctl/name': name },
      });
      pod = await runContainerToExit({
        id: ids.pod,
        cgroupsPath: k8sSystemdPath({ qos: 'besteffort', podUid: uidPod, scope: `cri-containerd-${ids.pod}.scope` }),
        args: ['/bin/sh', '-c', 'sleep 1; exit 7'],
        annotations: {
          'io.kubernetes.pod.name': podName,
          'io.kubernetes.pod.namespace': ns,
          'io.kubernetes.cri.container-name': 'app',
        },
      });
      other = await runContainerToExit({ id: ids.other, cgroupsPath: `/docker/${ids.other}`, args: ['/bin/sh', '-c', 'exit 8'] });
      await byName.waitFor((ev) => of(ev, ids.named, 'exit').some((e) => e.pid === named!.pid), 10_000, 'named exit');
      await byPod.waitFor((ev) => of(ev, ids.pod, 'exit').some((e) => e.pid === pod!.pid), 10_000, 'pod exit');
      await byNs.waitFor((ev) => of(ev, ids.pod, 'exit').some((e) => e.pid === pod!.pid), 10_000, 'namespace exit');
      await either.waitFor(
        (ev) => of(ev, ids.named, 'exit').some((e) => e.pid === named!.pid) && of(ev, ids.other, 'exit').some((e) => e.pid === other!.pid),
        10_000,
        'both exits',
      );
      await new Promise((r) => setTimeout(r, 300));
    } finally {
      for (const i of instances) await i.stop('SIGTERM');
    }
    // the container's own processes, from its first exec on (the runtime's init mounts come before its state exists)
    expect(byName.events.every((e) => e.container?.id === ids.named && e.container?.name === name)).toBe(true);
    // (`runc init`, runc's re-exec of its own copy as /dev/fd/N, comes first when its name was
    // known by then)
    const execs = of(byName.events, ids.named, 'exec').filter((e) => e.exec.argv.join(' ') !== 'runc init');
    expect(execs[0]?.exec.filename).toBe('/bin/sh');
    expect(execs.some((e) => e.exec.argv[0] === 'sleep')).toBe(true); // (busybox runs its applet through /proc/self/exe)
    expect(of(byName.events, ids.named, 'exit').some((e) => e.pid === named!.pid && e.exit.code === 6)).toBe(true);
    expect(byPod.events.length).toBeGreaterThan(1);
    expect(byPod.events.every((e) => e.container?.id === ids.pod && e.container?.podName === podName && e.container?.podNamespace === ns)).toBe(true);
    expect(byNs.events.length).toBeGreaterThan(0);
    expect(byNs.events.every((e) => e.container?.podNamespace === ns && e.uid === 0 && e.comm === 'sh' && e.type !== 'mount')).toBe(true);
    expect(new Set(either.events.map((e) => e.container?.id))).toEqual(new Set([ids.named, ids.other]));
  });
});

describe.runIf(privileged())('host processes that look like containers are host', () => {
  afterAll(async () => {
    await cleanupAllContainers();
  });

  it('unshare -p -f and a /system.slice/foo.service process: no event by default, host with --all', async () => {
    const quiet = await startCtrace();
    const all = await startCtrace(['--all', '--events', 'exec']);
    try {
      const m1 = `ctrace-unshare-${process.pid}-${Date.now()}`;
      const m2 = `ctrace-service-${process.pid}-${Date.now()}`;
      const u = await runUnsharePidns(['/bin/sh', '-c', `/bin/echo ${m1}`]);
      expect(u.stdout).toContain(m1);
      const s = await runInCgroup('/system.slice/foo.service', ['/bin/sh', '-c', `/bin/echo ${m2}`]);
      expect(s.stdout).toContain(m2);
      await all.waitFor((ev) => ev.some((e) => e.exec?.argv?.includes(m1)) && ev.some((e) => e.exec?.argv?.includes(m2)), 10_000, 'host execs');
      // barrier for the quiet one: a container started afterwards
      const id = dockerId();
      const c = await runContainerToExit({ id, cgroupsPath: `/docker/${id}`, args: ['/bin/true'] });
      await quiet.waitFor((ev) => of(ev, id, 'exit').some((e) => e.pid === c.pid), 10_000, `exit of ${id}`);
      expect(quiet.events.filter((e) => JSON.stringify(e).includes(m1) || JSON.stringify(e).includes(m2))).toEqual([]);

      const unshared = all.events.find((e) => e.exec?.argv?.includes(m1))!;
      expect(unshared).toMatchObject({ scope: 'host', container: null });
      expect(unshared.pidNs).not.toBe(statSync('/proc/self/ns/pid').ino); // a new PID namespace, still host
      const service = all.events.find((e) => e.exec?.argv?.includes(m2))!;
      expect(service).toMatchObject({ scope: 'host', container: null, cgroupPath: '/system.slice/foo.service' });
    } finally {
      await quiet.stop();
      await all.stop();
    }
  });

  it('ctrace inspect and ps call them host', async () => {
    let unshare: ChildProcess | undefined;
    let service: ChildProcess | undefined;
    let cg: TestCgroup | undefined;
    try {
      unshare = spawn('unshare', ['--pid', '--fork', '--mount-proc', '--', 'sleep', '30'], { stdio: 'ignore' });
      cg = makeCgroup('/system.slice/foo.service', ['systemd', 'pids', 'unified']);
      service = spawn('/bin/sh', ['-c', `${cg.joinScript()} && exec sleep 30`], { stdio: 'ignore' });
      // unshare's child is PID 1 of the new namespace
      let inner = 0;
      for (let i = 0; i < 100 && !inner; i++) {
        await new Promise((r) => setTimeout(r, 20));
        const kids = spawnSync('cat', [`/proc/${unshare.pid}/task/${unshare.pid}/children`], { encoding: 'utf8' }).stdout.trim();
        if (kids && readlinkSync(`/proc/${kids.split(' ')[0]}/exe`).endsWith('sleep')) inner = Number(kids.split(' ')[0]);
      }
      for (let i = 0; i < 100 && !readlinkSync(`/proc/${service.pid}/exe`).endsWith('sleep'); i++) await new Promise((r) => setTimeout(r, 20));

      const u = JSON.parse(ctrace('inspect', String(inner), '--output', 'json').stdout);
      expect(u).toMatchObject({ scope: 'host', rule: 'host-root', container: null, nspid: 1 });
      expect(u.namespaces.hostPidNs).toBe(false);
      const s = JSON.parse(ctrace('inspect', String(service.pid), '--output', 'json').stdout);
      expect(s).toMatchObject({ scope: 'host', rule: 'host-system', cgroupPath: '/system.slice/foo.service', container: null });

      const ps = JSON.parse(ctrace('ps', '--output', 'json').stdout) as Array<Record<string, any>>;
      const pids = ps.flatMap((c) => c.processes.map((p: any) => p.pid));
      expect(pids).not.toContain(inner);
      expect(pids).not.toContain(service.pid);
    } finally {
      unshare?.kill('SIGKILL');
      service?.kill('SIGKILL');
      await cg?.remove();
    }
  });
});
