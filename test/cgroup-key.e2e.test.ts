/**
 * The kernel's cgroup key on this hybrid host (v1 controllers + cgroup2 at
 * /sys/fs/cgroup/unified): the unified hierarchy's cgroup when it is not the root,
 * otherwise the cgroup of the chosen v1 controller (src/util/host.ts: pids here). A process
 * placed only in v1 cgroups must still be attributed, through v1; one placed only in the
 * unified hierarchy through v2. And the pre-load at start must key a process exactly as
 * the kernel does (same cgroup id), or its verdict would never be found.
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CGKEY_V1 } from '../src/decode/abi.js';
import type { TraceEvent } from '../src/events/event.js';
import { v1SubsysId } from '../src/util/host.js';
import { Tracer } from '../src/tracer/tracer.js';
import { CGROUP_ROOT, makeCgroup, mountedHierarchies, type TestCgroup } from './helpers/cgroups.js';
import { ctraceBin } from './helpers/ctrace-cli.js';
import { privileged } from './helpers/privileges.js';

const hex64 = () => randomBytes(32).toString('hex');

/** Runs `script` with sh in a private mount namespace after moving the shell into `cg`; resolves with its pid and exit code. */
function runIn(cg: TestCgroup, script: string): Promise<{ pid: number; code: number | null }> {
  // the shell joins the cgroups, then execs: that exec is its first event in there
  const child = spawn('unshare', ['-m', '/bin/sh', '-c', `${cg.joinScript()} && exec /bin/sh -c '${script}'`], { stdio: 'ignore' });
  return new Promise((resolve) => child.on('exit', (code) => resolve({ pid: child.pid!, code })));
}

function collect(tracer: Tracer) {
  const events: TraceEvent[] = [];
  tracer.onEvent((e) => events.push(e));
  return {
    events,
    async waitFor(pred: (evs: TraceEvent[]) => boolean, what: string, ms = 10_000) {
      const end = Date.now() + ms;
      while (!pred(events)) {
        if (Date.now() > end) throw new Error(`timed out waiting for ${what}; saw ${events.length} events`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
  };
}

describe.runIf(privileged())('cgroup key on a hybrid host', () => {
  const hierarchies = mountedHierarchies();
  const v1 = hierarchies.filter((h) => h !== 'unified');
  const keyController = v1SubsysId().name;
  let tracer: Tracer;
  let seen: ReturnType<typeof collect>;
  let mnt: string;
  const made: TestCgroup[] = [];

  beforeAll(() => {
    expect(hierarchies).toContain('unified');
    expect(keyController).toBe('pids');
    mnt = mkdtempSync(join(tmpdir(), 'ctrace-mnt-'));
    tracer = new Tracer({ statsIntervalMs: 60_000 });
    seen = collect(tracer);
  });
  afterAll(async () => {
    await tracer?.close();
    for (const cg of made) await cg.remove();
    rmSync(mnt, { recursive: true, force: true });
  });

  it('a process only in v1 cgroups (/docker/<id> in every v1 hierarchy, unified left at the root) is that docker container, through v1', async () => {
    const id = hex64();
    const cg = makeCgroup(`/docker/${id}`, v1);
    made.push(cg);
    const run = await runIn(cg, `mount -t tmpfs none ${mnt}; exit 3`);
    expect(run.code).toBe(3);
    await seen.waitFor((evs) => evs.some((e) => e.type === 'exit' && e.pid === run.pid), `exit of ${run.pid}`);

    const mine = seen.events.filter((e) => e.container?.id === id);
    const types = new Set(mine.map((e) => e.type));
    expect(types).toEqual(new Set(['exec', 'mount', 'exit']));
    const pidsIno = statSync(join(CGROUP_ROOT, 'pids', 'docker', id)).ino;
    for (const e of mine) {
      expect(e.container).toMatchObject({ id, runtime: 'docker', podUid: null });
      expect(e.cgroupV1).toBe(true);
      expect(e.cgroupPath).toBe(`/docker/${id}`);
      expect(e.cgroupId).toBe(pidsIno);
    }
    const mount = mine.find((e) => e.type === 'mount');
    expect(mount).toMatchObject({ mount: { fstype: 'tmpfs', target: mnt, ret: 0 } });
    expect(mine.find((e) => e.type === 'exit' && e.pid === run.pid)).toMatchObject({ exit: { code: 3 } });
  });

  it('a process only in the unified hierarchy (/docker/<id>, v1 left at the roots) is that docker container, through v2', async () => {
    const id = hex64();
    const cg = makeCgroup(`/docker/${id}`, ['unified']);
    made.push(cg);
    const run = await runIn(cg, 'exit 4');
    expect(run.code).toBe(4);
    await seen.waitFor((evs) => evs.some((e) => e.type === 'exit' && e.pid === run.pid), `exit of ${run.pid}`);
    const mine = seen.events.filter((e) => e.container?.id === id);
    expect(mine.map((e) => e.type).sort()).toEqual(['exec', 'exit']);
    for (const e of mine) {
      expect(e.cgroupV1).toBe(false);
      expect(e.cgroupPath).toBe(`/docker/${id}`);
      expect(e.cgroupId).toBe(statSync(join(CGROUP_ROOT, 'unified', 'docker', id)).ino);
    }
  });

  it('a v1-only process that ran before the tracer: pre-loaded under the key the kernel uses, its exit attributed', async () => {
    const id = hex64();
    const cg = makeCgroup(`/docker/${id}`, ['pids', 'memory']);
    made.push(cg);
    const fifo = join(mnt, '..', `ctrace-fifo-${id.slice(0, 8)}`);
    spawnSync('mkfifo', [fifo]);
    const child = spawn('/bin/sh', ['-c', `${cg.joinScript()} && exec /bin/sh -c 'read x < ${fifo}; exit 6'`], { stdio: 'ignore' });
    const exited = new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
    try {
      // wait until the shell has moved itself and exec'd
      for (let i = 0; i < 100 && !cgProcs(cg, 'pids').includes(child.pid!); i++) await new Promise((r) => setTimeout(r, 20));
      const late = new Tracer({ statsIntervalMs: 60_000 });
      const lateSeen = collect(late);
      try {
        const known = late.process(child.pid!);
        expect(known?.container).toMatchObject({ id, runtime: 'docker' });
        expect(known!.cgroupKey).toBe(BigInt(statSync(join(CGROUP_ROOT, 'pids', 'docker', id)).ino) | CGKEY_V1);
        spawnSync('/bin/sh', ['-c', `echo go > ${fifo}`]);
        expect(await exited).toBe(6);
        await lateSeen.waitFor((evs) => evs.some((e) => e.type === 'exit' && e.pid === child.pid), `exit of ${child.pid}`);
        const exit = lateSeen.events.find((e) => e.type === 'exit' && e.pid === child.pid)!;
        expect(exit).toMatchObject({ cgroupV1: true, container: { id, runtime: 'docker' }, exit: { code: 6 } });
        expect(BigInt(exit.cgroupId) | CGKEY_V1).toBe(known!.cgroupKey);
        expect(late.process(child.pid!)).toBeUndefined(); // the exit took it out of the table
      } finally {
        await late.close();
      }
    } finally {
      child.kill('SIGKILL');
      rmSync(fifo, { force: true });
    }
  });

  it('ctrace inspect says which hierarchy named the process', async () => {
    const id = hex64();
    const cg = makeCgroup(`/docker/${id}`, ['pids']);
    made.push(cg);
    const child = spawn('/bin/sh', ['-c', `${cg.joinScript()} && exec sleep 30`], { stdio: 'ignore' });
    try {
      for (let i = 0; i < 100 && !cgProcs(cg, 'pids').includes(child.pid!); i++) await new Promise((r) => setTimeout(r, 20));
      const r = spawnSync(process.execPath, [ctraceBin, 'inspect', String(child.pid), '--output', 'json'], { encoding: 'utf8' });
      expect(r.status).toBe(0);
      const out = JSON.parse(r.stdout);
      expect(out).toMatchObject({
        scope: 'container',
        rule: 'docker-cgroupfs',
        cgroupPath: `/docker/${id}`,
        cgroupHierarchy: 'pids',
        cgroupV1: true,
        cgroupId: statSync(join(CGROUP_ROOT, 'pids', 'docker', id)).ino,
        container: { id, runtime: 'docker' },
      });
      expect(out.reason).toContain('cgroup v1 pids hierarchy');
    } finally {
      child.kill('SIGKILL');
    }
  });
});

function cgProcs(cg: TestCgroup, h: string): number[] {
  const r = spawnSync('cat', [join(cg.dir(h), 'cgroup.procs')], { encoding: 'utf8' });
  return r.stdout.split('\n').filter(Boolean).map(Number);
}
