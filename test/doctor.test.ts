/**
 * `ctrace doctor`: the verdict over host facts (pure, every branch on fixtures: hosts this
 * machine is not), then the real command on this host as root, as nobody with the documented
 * capabilities, and as nobody without CAP_DAC_READ_SEARCH.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CAP } from '../src/util/capabilities.js';
import { parseCgroupMounts } from '../src/decode/cgroupfs.js';
import { cgroupMode, kernelVersion, runChecks, type Check } from '../src/doctor/checks.js';
import { HOOKS, parseMemlock, type HostFacts } from '../src/doctor/facts.js';
import { readableCliCopy, type CliCopy } from './helpers/cli-copy.js';
import { ctraceBin, repoRoot } from './helpers/ctrace-cli.js';
import { privileged } from './helpers/privileges.js';
import { cleanupAllContainers, dockerId, runContainer } from './helpers/runc.js';

const caps = (...names: (keyof typeof CAP)[]) => names.reduce((a, n) => a | (1n << CAP[n]), 0n);
const ROOT_CAPS = (1n << 41n) - 1n;

const HYBRID_MOUNTINFO = [
  '30 25 0:26 / /sys/fs/cgroup/memory rw,relatime shared:9 - cgroup cgroup rw,memory',
  '31 25 0:27 / /sys/fs/cgroup/pids rw,relatime shared:10 - cgroup cgroup rw,pids',
  '32 25 0:28 / /sys/fs/cgroup/unified rw,relatime shared:11 - cgroup2 cgroup2 rw',
].join('\n');
const V2_MOUNTINFO = '29 23 0:26 / /sys/fs/cgroup rw,nosuid shared:4 - cgroup2 cgroup2 rw,nsdelegate';
const V1_MOUNTINFO = HYBRID_MOUNTINFO.split('\n').slice(0, 2).join('\n');

function facts(over: Partial<HostFacts> = {}): HostFacts {
  return {
    kernel: '6.1.0-18-amd64',
    uid: 0,
    caps: ROOT_CAPS,
    btf: { present: true, readable: true, bytes: 5 << 20, text: null },
    tracefs: { path: '/sys/kernel/tracing', mounted: true, mode: 0o700, accessError: null },
    hooks: Object.fromEntries(HOOKS.map((h) => [h.name, true])),
    memlock: 8 << 20,
    cgroups: parseCgroupMounts(V2_MOUNTINFO),
    runtimes: { stateDirs: ['/run/runc'], binaries: ['runc'] },
    containers: { docker: 2 },
    addon: { path: '/x/ctrace.node', error: null },
    ...over,
  };
}
const byName = (checks: Check[], name: string) => checks.find((c) => c.name === name)!;
const failed = (checks: Check[]) => checks.filter((c) => c.status === 'fail').map((c) => c.name);

describe('doctor verdict', () => {
  it('a good host: no failure', () => {
    const checks = runChecks(facts());
    expect(failed(checks)).toEqual([]);
    expect(byName(checks, 'containers').detail).toBe('2 running (2 docker)');
    expect(byName(checks, 'cgroups').detail).toBe('v2 (cgroup2 at /sys/fs/cgroup)');
  });

  it('cgroup mode: v1, v2, hybrid, none', () => {
    expect(cgroupMode({ cgroups: parseCgroupMounts(V1_MOUNTINFO) })).toBe('v1');
    expect(cgroupMode({ cgroups: parseCgroupMounts(V2_MOUNTINFO) })).toBe('v2');
    expect(cgroupMode({ cgroups: parseCgroupMounts(HYBRID_MOUNTINFO) })).toBe('hybrid');
    expect(cgroupMode({ cgroups: parseCgroupMounts('') })).toBe('none');
    expect(failed(runChecks(facts({ cgroups: parseCgroupMounts('') })))).toEqual(['cgroups']);
  });

  it('an old kernel without BTF: kernel, BTF, ring buffer and memlock fail', () => {
    const checks = runChecks(
      facts({ kernel: '5.4.0-150-generic', btf: { present: false, readable: false, bytes: 0, text: null }, memlock: 64 << 10, caps: caps('CAP_SYS_ADMIN', 'CAP_DAC_READ_SEARCH') }),
    );
    expect(failed(checks)).toEqual(['kernel', 'BTF', 'ring buffer', 'memlock']);
    expect(byName(checks, 'BTF').detail).toMatch(/CONFIG_DEBUG_INFO_BTF=y/);
    expect(byName(checks, 'memlock').detail).toMatch(/raise it to 16 MiB/);
    // 5.8 to 5.10: memlock still counts; enough of it (or unlimited) passes
    expect(byName(runChecks(facts({ kernel: '5.10.0', memlock: null, caps: caps('CAP_SYS_ADMIN') })), 'memlock').status).toBe('ok');
    // with CAP_SYS_RESOURCE libbpf raises the limit itself
    expect(byName(runChecks(facts({ kernel: '5.10.0', memlock: 64 << 10 })), 'memlock').status).toBe('ok');
    expect(kernelVersion('6.18.44-fc')).toEqual([6, 18]);
  });

  it('tracefs mounted but 0700 for a user without CAP_DAC_READ_SEARCH: fail naming the set', () => {
    const checks = runChecks(
      facts({ uid: 1000, caps: caps('CAP_BPF', 'CAP_PERFMON'), tracefs: { path: '/sys/kernel/tracing', mounted: true, mode: 0o700, accessError: 'EACCES' } }),
    );
    expect(byName(checks, 'tracefs')).toEqual({
      name: 'tracefs',
      status: 'fail',
      detail: '/sys/kernel/tracing is mounted (mode 0700) but this user may not read it: run as root, or with CAP_BPF, CAP_PERFMON and CAP_DAC_READ_SEARCH',
    });
    expect(byName(checks, 'privileges').detail).toBe('uid 1000, without CAP_DAC_READ_SEARCH');
  });

  it('tracefs not mounted: ctrace mounts it with CAP_SYS_ADMIN, otherwise says how', () => {
    const unmounted = { path: '/sys/kernel/tracing', mounted: false, mode: 0o755, accessError: 'ENOENT' };
    expect(byName(runChecks(facts({ tracefs: unmounted })), 'tracefs').status).toBe('warn');
    const c = byName(runChecks(facts({ uid: 1000, caps: caps('CAP_BPF', 'CAP_PERFMON', 'CAP_DAC_READ_SEARCH'), tracefs: unmounted })), 'tracefs');
    expect(c).toMatchObject({ status: 'fail', detail: 'not mounted at /sys/kernel/tracing: mount -t tracefs nodev /sys/kernel/tracing (as root)' });
  });

  it('no capabilities: privileges fail; a missing required hook fails, an optional one warns', () => {
    expect(failed(runChecks(facts({ uid: 1000, caps: 0n })))).toContain('privileges');
    const checks = runChecks(facts({ hooks: { ...facts().hooks, sys_exit_mount: false, sys_exit_fsopen: false } }));
    expect(failed(checks)).toEqual(['hook sys_exit_mount']);
    expect(byName(checks, 'hook sys_exit_fsopen').status).toBe('warn');
  });

  it('checks the hooks the BPF program has, the addon\'s required ones required', () => {
    const bpf = readFileSync(join(repoRoot, 'bpf/ctrace.bpf.c'), 'utf8');
    const sections = [...bpf.matchAll(/^SEC\("(tp[^"]*)"\)/gm)].map((m) => m[1]);
    expect(HOOKS.map((h) => h.section)).toEqual(sections);
    const program = readFileSync(join(repoRoot, 'native/program.cc'), 'utf8');
    const required = /bool Program::IsRequired[\s\S]*?return ([^;]+);/.exec(program)![1]!;
    expect(HOOKS.filter((h) => h.required).map((h) => h.name)).toEqual([...required.matchAll(/"(\w+)"/g)].map((m) => m[1]));
  });

  it('reads RLIMIT_MEMLOCK from /proc/self/limits', () => {
    expect(parseMemlock('Max locked memory         8388608              8388608              bytes\n')).toBe(8 << 20);
    expect(parseMemlock('Max locked memory         unlimited            unlimited            bytes\n')).toBeNull();
  });
});

// nobody cannot reach a clone under a 0700 directory (/root/ctrace): it runs a readable copy
let cli: CliCopy | undefined;
afterAll(() => cli?.remove());

function doctor(args: string[], prefix: string[] = []) {
  const cmd = prefix.length ? prefix : [process.execPath];
  const bin = prefix.length ? (cli ??= readableCliCopy()).bin : ctraceBin;
  const r = spawnSync(cmd[0]!, [...cmd.slice(1), ...(prefix.length ? [process.execPath] : []), bin, 'doctor', ...args], { encoding: 'utf8', timeout: 30_000 });
  return r;
}
const nobody = (set: string) => ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', `--inh-caps=-all,${set}`, `--ambient-caps=-all,${set}`, `--bounding-set=-all,${set}`];

describe.runIf(privileged())('ctrace doctor on this host', () => {
  afterAll(() => cleanupAllContainers());

  it('as root: exit 0, one screen, the facts of this host in -o json', async () => {
    const id = dockerId();
    const c = await runContainer({ id, cgroupsPath: `/docker/${id}`, args: ['/bin/sh', '-c', 'sleep 30'] });
    try {
      const table = doctor([]);
      expect(table.status, table.stdout + table.stderr).toBe(0);
      expect(table.stdout).toMatch(/\nctrace can trace on this host\n$/);
      expect(table.stdout.split('\n').length).toBeLessThan(25);

      const r = doctor(['-o', 'json']);
      expect(r.status).toBe(0);
      const out = JSON.parse(r.stdout);
      expect(out.ok).toBe(true);
      const mounts = parseCgroupMounts(readFileSync('/proc/self/mountinfo', 'utf8'));
      expect(out.cgroupMode).toBe(cgroupMode({ cgroups: mounts }));
      expect(out.tracefs).toEqual({ path: '/sys/kernel/tracing', mounted: true, mode: 0o700, accessError: null });
      expect(out.hooks).toEqual(Object.fromEntries(HOOKS.map((h) => [h.name, true])));
      expect(out.runtimes.binaries).toEqual(expect.arrayContaining(['runc', 'crun']));
      expect(out.runtimes.stateDirs).toContain('/run/runc');
      expect(out.containers.docker).toBeGreaterThanOrEqual(1);
      expect(out.checks.map((c: Check) => c.name)).toEqual(expect.arrayContaining(['kernel', 'BTF', 'tracefs', 'memlock', 'cgroups', 'runtimes', 'containers']));
    } finally {
      await c.remove();
    }
  });

  it('as nobody with CAP_BPF, CAP_PERFMON and CAP_DAC_READ_SEARCH: exit 0', () => {
    const r = doctor(['-o', 'json'], nobody('+bpf,+perfmon,+dac_read_search'));
    expect(r.status, r.stdout).toBe(0);
    expect(JSON.parse(r.stdout).uid).toBe(65534);
  });

  it('as nobody without CAP_DAC_READ_SEARCH: exit 1, tracefs named as the cause', () => {
    const r = doctor([], nobody('+bpf,+perfmon'));
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/^fail +tracefs +\/sys\/kernel\/tracing is mounted \(mode 0700\) but this user may not read it: run as root, or with CAP_BPF, CAP_PERFMON and CAP_DAC_READ_SEARCH$/m);
    expect(r.stdout).toMatch(/\nctrace cannot trace on this host: tracefs, hook sys_exit_mount \(above\)\n$/);
  });

  it('bad usage: one line, exit 2', () => {
    const r = doctor(['-o', 'yaml']);
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });
});
