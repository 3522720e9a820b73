/**
 * The Containerfile, built and run with podman, no registry: the base image is made here from
 * this host's node and npm (helpers/image.ts, standing in for an official node image), the
 * context is the `npm pack` tarball alone, the build runs with no network. The image then runs
 * as the README shows (--privileged --pid=host with the host's cgroup, BTF and tracefs mounts)
 * and as the DaemonSet runs it (no privilege: exactly CAP_BPF, CAP_PERFMON, CAP_DAC_READ_SEARCH,
 * seccomp unconfined, read-only root, a private cgroup namespace), and each time reports runc
 * containers started here.
 */
import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCgroupMounts } from '../src/decode/cgroupfs.js';
import { cgroupMode } from '../src/doctor/checks.js';
import { repoRoot, startCtrace, type CtraceRun } from './helpers/ctrace-cli.js';
import { importNodeBase, podman, PODMAN, PODMAN_ULIMITS } from './helpers/image.js';
import { npmPack } from './helpers/pack.js';
import { privileged } from './helpers/privileges.js';
import { cleanupAllContainers, createContainer, dockerId, runContainer } from './helpers/runc.js';

const tag = `${process.pid}-${randomBytes(3).toString('hex')}`;
const base = `localhost/ctrace-test-node:${tag}`;
const image = `localhost/ctrace-test:${tag}`;
/**
 * The host paths the DaemonSet mounts, read-only at the same paths; the runc containers of
 * helpers/runc.ts keep their bundles (config.json: names, image) under the temp directory,
 * where containerd keeps them under /run/containerd/io.containerd.runtime.v2.task.
 */
const HOST_MOUNTS = ['/sys/fs/cgroup', '/sys/kernel/btf', '/sys/kernel/tracing', '/run/runc', tmpdir()].flatMap((p) => ['-v', `${p}:${p}:ro`]);

/**
 * deploy/kubernetes's securityContext in podman's words, in a cgroup namespace of its own as
 * Kubernetes gives every pod on cgroup v2 (/proc/PID/cgroup of the host's processes then reads
 * `/../..`: ctrace attributes by what the kernel captures, not by those paths)
 */
const DAEMONSET_SECURITY = [
  '--cgroupns=private',
  '--cap-drop=all',
  '--cap-add=CAP_BPF,CAP_PERFMON,CAP_DAC_READ_SEARCH',
  '--security-opt',
  'seccomp=unconfined',
  '--security-opt',
  'no-new-privileges',
  '--read-only',
];

describe.runIf(privileged())('the container image (Containerfile, podman)', () => {
  let dir: string;
  const names: string[] = [];
  let ct: CtraceRun | undefined;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'ctrace-image-'));
    const context = join(dir, 'context');
    const { tarball } = npmPack(join(dir, 'pack'));
    mkdirSync(context);
    copyFileSync(tarball, join(context, basename(tarball)));
    copyFileSync(join(repoRoot, '.containerignore'), join(context, '.containerignore'));
    importNodeBase(join(dir, 'base'), base);
    podman(['build', '--network=none', '--build-arg', `NODE_IMAGE=${base}`, '-t', image, '-f', join(repoRoot, 'Containerfile'), context], 600_000);
  }, 900_000);

  afterAll(async () => {
    await ct?.stop('SIGTERM');
    for (const n of names) {
      try {
        podman(['rm', '-f', n]);
      } catch {
        // gone with --rm
      }
    }
    for (const i of [image, base]) {
      try {
        podman(['rmi', '-f', i]);
      } catch {
        // not built
      }
    }
    await cleanupAllContainers();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('holds ctrace on PATH as its entrypoint, and no compiler', () => {
    const config = JSON.parse(podman(['image', 'inspect', image]))[0].Config;
    expect(config.Entrypoint).toEqual(['ctrace']);
    const out = podman(['run', '--rm', ...PODMAN_ULIMITS, '--entrypoint', '/bin/sh', image, '-c', 'command -v ctrace; command -v cc clang cmake make || echo no-compiler']);
    expect(out).toBe('/usr/local/bin/ctrace\nno-compiler\n');
  });

  async function tracesRuncContainers(podmanArgs: string[]) {
    const name = `ctrace-test-${tag}-${names.length}`;
    names.push(name);
    // one running before ctrace starts (its names come from the runtime's state, read through
    // the mounts at start), one created and held until ctrace runs (its init's exec is seen)
    const running = dockerId();
    const annotations = { 'io.kubernetes.cri.container-name': 'probe', 'io.kubernetes.cri.image-name': 'busybox:1' };
    const r = await runContainer({
      id: running,
      cgroupsPath: `/docker/${running}`,
      args: ['/bin/sh', '-c', "trap '/bin/true; exit 6' USR1; while :; do sleep 0.1; done"],
      annotations,
    });
    const fresh = dockerId();
    const f = await createContainer({ id: fresh, cgroupsPath: `/docker/${fresh}`, args: ['/bin/sh', '-c', 'exit 7'] });
    ct = await startCtrace([], 60_000, [...PODMAN, 'run', '--rm', '--name', name, ...PODMAN_ULIMITS, '--pid=host', ...HOST_MOUNTS, ...podmanArgs, image]);

    await r.kill('USR1');
    expect((await r.exited).code).toBe(6);
    await f.start();
    expect((await f.exited).code).toBe(7);
    await ct.waitFor((ev) => ev.filter((e) => e.type === 'exit' && (e.pid === r.pid || e.pid === f.pid)).length === 2, 20_000, 'both exits');

    const named = { id: running, runtime: 'docker', name: 'probe', image: 'busybox:1' };
    const ofRunning = ct.events.filter((e) => e.container?.id === running);
    expect(ofRunning.find((e) => e.type === 'exec' && e.exec.filename === '/bin/true')).toMatchObject({ container: named });
    expect(ofRunning.find((e) => e.type === 'exit' && e.pid === r.pid)).toMatchObject({ exit: { code: 6 }, nspid: 1, container: named });
    const ofFresh = ct.events.filter((e) => e.container?.id === fresh);
    expect(ofFresh.find((e) => e.type === 'exec' && e.pid === f.pid)).toMatchObject({ exec: { filename: '/bin/sh', argv: ['/bin/sh', '-c', 'exit 7'] }, nspid: 1, container: { id: fresh, runtime: 'docker' } });
    expect(ofFresh.find((e) => e.type === 'exit' && e.pid === f.pid)).toMatchObject({ exit: { code: 7 } });
    const { code, stderr } = await ct.stop('SIGINT');
    ct = undefined;
    expect(code, stderr).toBe(0);
  }

  it('--privileged --pid=host with the host mounts: events of runc containers, named from the runtime state', async () => {
    await tracesRuncContainers(['--privileged']);
  });

  it('ctrace doctor in the image, run as the DaemonSet runs it: exit 0, tracefs readable, the host\'s cgroup mode', () => {
    const out = podman(['run', '--rm', ...PODMAN_ULIMITS, '--pid=host', ...HOST_MOUNTS, ...DAEMONSET_SECURITY, image, 'doctor', '-o', 'json']);
    const report = JSON.parse(out);
    expect(report.ok).toBe(true);
    expect(report.tracefs).toMatchObject({ path: '/sys/kernel/tracing', accessError: null });
    expect(report.runtimes.stateDirs).toContain('/run/runc');
    expect(report.cgroupMode).toBe(cgroupMode({ cgroups: parseCgroupMounts(readFileSync('/proc/self/mountinfo', 'utf8')) }));
  });

  it('as the DaemonSet runs it: no privilege, exactly CAP_BPF, CAP_PERFMON, CAP_DAC_READ_SEARCH, read-only root', async () => {
    await tracesRuncContainers(DAEMONSET_SECURITY);
  });
});
