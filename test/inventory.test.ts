/**
 * The start-up inventory and the process table, without privileges: the cgroup the kernel
 * keys a process by (over a fake cgroup tree), the walk over the real /proc, the table's
 * updates from events.
 */
import { mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CGKEY_V1, VERDICT_CONTAINER, VERDICT_HOST, VERDICT_UNCLASSIFIED } from '../src/decode/abi.js';
import type { CgroupMounts } from '../src/decode/cgroupfs.js';
import { CgroupResolver, preloadVerdicts, scanProcesses, type ProcInfo } from '../src/classify/inventory.js';
import { parseStat, parseStatus, splitNul } from '../src/util/procfs.js';
import { ProcessTable } from '../src/classify/proctable.js';
import { dockerContainer, execEvent, exitEvent, mountEvent, podContainer } from './helpers/events.js';
import type { ExecEvent } from '../src/events/event.js';

const A = 'a'.repeat(64);
const B = 'b'.repeat(64);

const lines = (...l: string[]) => l.join('\n') + '\n';

describe('the kernel cgroup of a process (CgroupResolver over a fake hybrid tree)', () => {
  let dir: string;
  let mounts: CgroupMounts;
  const ino = (p: string) => BigInt(statSync(join(dir, p)).ino);

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'ctrace-cg-'));
    for (const p of [`unified/docker/${A}`, `pids/docker/${B}`, 'memory/docker/' + B, 'pids/system.slice/foo.service']) {
      mkdirSync(join(dir, p), { recursive: true });
    }
    mounts = {
      v2: { mountpoint: join(dir, 'unified'), root: '/' },
      v1: new Map([
        ['pids', { mountpoint: join(dir, 'pids'), root: '/' }],
        ['memory', { mountpoint: join(dir, 'memory'), root: '/' }],
      ]),
    };
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('the unified hierarchy when its cgroup is not the root: v2 id, cgroupV1 false', () => {
    const r = new CgroupResolver(mounts, 'pids').resolve(lines(`8:pids:/docker/${B}`, `0::/docker/${A}`));
    expect(r).toMatchObject({ key: ino(`unified/docker/${A}`), path: `/docker/${A}`, v1: false, hierarchy: 'unified' });
    expect(r.classification.container).toMatchObject({ id: A, runtime: 'docker' });
  });

  it('the chosen v1 controller when the v2 cgroup is the root: v1 id | marker, cgroupV1 true', () => {
    const r = new CgroupResolver(mounts, 'pids').resolve(lines(`4:memory:/elsewhere`, `8:pids:/docker/${B}`, '0::/'));
    expect(r).toMatchObject({ key: ino(`pids/docker/${B}`) | CGKEY_V1, path: `/docker/${B}`, v1: true, hierarchy: 'pids' });
    expect(r.classification.container).toMatchObject({ id: B, runtime: 'docker' });
  });

  it('the same hierarchy as the kernel, not whichever names a container: pids:/ is host even in memory:/docker/<id>', () => {
    const r = new CgroupResolver(mounts, 'pids').resolve(lines(`4:memory:/docker/${B}`, '8:pids:/', '0::/'));
    expect(r).toMatchObject({ key: ino('pids') | CGKEY_V1, path: '/', v1: true });
    expect(r.classification).toMatchObject({ scope: 'host', rule: 'host-root' });
  });

  it('a v2-only host (no v1 controller): the v2 root', () => {
    const r = new CgroupResolver(mounts, null).resolve(lines('0::/'));
    expect(r).toMatchObject({ key: ino('unified'), path: '/', v1: false });
  });

  it('a cgroup that is gone: no key, classified from the file', () => {
    const r = new CgroupResolver(mounts, 'pids').resolve(lines(`8:pids:/docker/${A}`, `0::/docker/${B}`));
    expect(r.key).toBeNull();
    expect(r.classification.container?.id).toBe(B);
  });

  it('remembers each distinct text and each cgroup once', () => {
    const res = new CgroupResolver(mounts, 'pids');
    const t = lines(`8:pids:/system.slice/foo.service`, '0::/');
    expect(res.resolve(t)).toBe(res.resolve(t));
    res.resolve(lines(`8:pids:/docker/${B}`, '0::/'));
    expect([...res.cgroups().values()].map((c) => c.rule).sort()).toEqual(['docker-cgroupfs', 'host-system']);
  });
});

describe('the walk over /proc', () => {
  it('finds this process, keyed and with a verdict', () => {
    const inv = scanProcesses({ details: 'all' });
    const i = inv.pids.indexOf(process.pid);
    expect(i).toBeGreaterThanOrEqual(0);
    expect([VERDICT_HOST, VERDICT_CONTAINER, VERDICT_UNCLASSIFIED]).toContain(inv.verdicts[i]);
    expect(inv.cgroups.has(inv.keys[i]!)).toBe(true);
    const me = inv.processes.find((p) => p.pid === process.pid)!;
    expect(me.ppid).toBe(process.ppid);
    expect(me.argv.length).toBeGreaterThan(0);
    expect(me.comm.length).toBeGreaterThan(0);
    expect(inv.scanned).toBeGreaterThanOrEqual(inv.pids.length);
  });

  it('pre-loads one verdict per cgroup and all PID verdicts in one batch', () => {
    const inv = scanProcesses({ details: 'none' });
    const calls: string[] = [];
    preloadVerdicts(
      {
        setVerdicts: (p, v, k) => calls.push(`pids:${p.length}:${v.length}:${k.length}`),
        setCgroupVerdict: (key, v) => calls.push(`cg:${key}:${v}`),
      },
      inv,
    );
    expect(calls.filter((c) => c.startsWith('cg:'))).toHaveLength(inv.cgroups.size);
    expect(calls.at(-1)).toBe(`pids:${inv.pids.length}:${inv.pids.length}:${inv.pids.length}`);
  });
});

describe('procfs parsers', () => {
  it('stat: a comm with spaces and parentheses, ppid and start time', () => {
    const text = '4242 (a (b) c) S 4200 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 123456 1000 200 18446744073709551615';
    expect(parseStat(text)).toEqual({ comm: 'a (b) c', state: 'S', ppid: 4200, startTicks: 123456 });
  });
  it('status: NSpid outermost first, uid/gid real ids', () => {
    const s = parseStatus('Name:\tsh\nTgid:\t8277\nPPid:\t8260\nUid:\t1000\t1000\t1000\t1000\nGid:\t5\t5\t5\t5\nNSpid:\t8277\t12\t1\n');
    expect(s).toEqual({ name: 'sh', tgid: 8277, ppid: 8260, uid: 1000, gid: 5, nspid: [8277, 12, 1] });
  });
  it('cmdline: NUL-separated, invalid UTF-8 escaped', () => {
    expect(splitNul(Buffer.from('sh\0-c\0\xff\0', 'latin1'))).toEqual(['sh', '-c', '\udcff']);
  });
});

describe('ProcessTable', () => {
  const proc = (pid: number, container = dockerContainer): ProcInfo => ({
    pid,
    ppid: 1,
    nspid: pid - 1000,
    uid: 0,
    gid: 0,
    comm: 'sleep',
    argv: ['sleep', '60'],
    startTicks: 777,
    cgroup: { key: 5120n, path: `/docker/${container.id}`, v1: false, hierarchy: 'unified', classification: { scope: 'container', container, rule: 'docker-cgroupfs' } },
    scope: 'container',
    container,
  });
  const exec = (pid: number, container = podContainer): ExecEvent => ({
    ...execEvent(0, { container, argv: ['nginx', '-g', 'daemon off;'] }),
    pid,
  });

  it('loads container processes found at start, not host ones', () => {
    const t = new ProcessTable();
    t.load([proc(1001), { ...proc(1002), container: null, scope: 'host' }]);
    expect(t.size).toBe(1);
    expect(t.get(1001)).toMatchObject({ pid: 1001, nspid: 1, argv: ['sleep', '60'], startTicks: 777, cgroupKey: 5120n, container: dockerContainer });
  });

  it('exec adds or replaces (same process, new program), exit removes, mount changes nothing', () => {
    const t = new ProcessTable();
    t.load([proc(1001)]);
    t.update(exec(1001, dockerContainer), 5120n);
    expect(t.get(1001)).toMatchObject({ argv: ['nginx', '-g', 'daemon off;'], startTicks: 777, filename: expect.any(String) });
    t.update(exec(2002), 9n);
    expect(t.list(podContainer.id).map((e) => e.pid)).toEqual([2002]);
    t.update({ ...mountEvent(0, { container: podContainer }), pid: 2002 });
    expect(t.size).toBe(2);
    t.update({ ...exitEvent(0), pid: 1001 });
    expect(t.get(1001)).toBeUndefined();
    t.update({ ...exec(2002), container: null, scope: 'host' } as ExecEvent);
    expect(t.size).toBe(0);
  });

  it("the lane's execs and exits, learnt in bulk out of order: an older exec, an exec after its exit and an earlier process's exit change nothing", () => {
    const t = new ProcessTable();
    const seen = (pid: number, filename: string, ktimeNs: bigint) =>
      ({ pid, ppid: 1, nspid: 2, uid: 0, comm: 'x', argv: [filename], filename, time: 't', ktimeNs, container: dockerContainer });
    t.exec(seen(10, '/bin/newer', 200n), 5120n, 1000n);
    t.exec(seen(10, '/bin/older', 100n), 5120n, 1000n);
    expect(t.get(10)?.filename).toBe('/bin/newer');
    t.exec(seen(10, '/bin/later', 300n), 5120n, 1000n);
    expect(t.get(10)?.filename).toBe('/bin/later');
    // an exit of an earlier process of pid 10 keeps this one; its own exit removes it
    t.exit(10, 500n);
    expect(t.get(10)).toBeDefined();
    t.exit(10, 1000n);
    expect(t.get(10)).toBeUndefined();
    // its exec, learnt after that exit, does not bring it back; a new process of the pid does come in
    t.exec(seen(10, '/bin/late', 250n), 5120n, 1000n);
    expect(t.get(10)).toBeUndefined();
    t.exec(seen(10, '/bin/reused', 400n), 5120n, 2000n);
    expect(t.get(10)?.filename).toBe('/bin/reused');
  });

  it('stays bounded, dropping the oldest', () => {
    const t = new ProcessTable(3);
    t.load([proc(1), proc(2), proc(3), proc(4)]);
    expect(t.list().map((e) => e.pid)).toEqual([2, 3, 4]);
  });

  it('forgets the processes of a removed cgroup, and only those', () => {
    const t = new ProcessTable();
    const seen = (pid: number) => ({ pid, ppid: 1, nspid: 2, uid: 0, comm: 'x', argv: ['x'], filename: '/bin/x', time: 't', container: dockerContainer });
    t.exec(seen(10), 5120n, 1000n);
    t.exec(seen(11), 5120n, 1100n);
    t.exec(seen(12), 6144n, 1200n);
    // pid 11 execs again after moving to another cgroup: the old cgroup's removal leaves it
    t.exec(seen(11), 6144n, 1100n);
    t.forgetCgroup(5120n);
    expect(t.list().map((e) => e.pid)).toEqual([12, 11]);
    // an exit, then the cgroup's removal: nothing left to forget, nothing else goes
    t.exit(12, 1200n);
    t.forgetCgroup(6144n);
    expect(t.size).toBe(0);
    t.exec(seen(13), 6144n, 1300n);
    expect(t.get(13)?.cgroupKey).toBe(6144n);
  });
});
