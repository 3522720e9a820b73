/**
 * The kernel leaves a cgroup's kernfs names out of its records once it has the cgroup's
 * verdict (bpf/ctrace.bpf.c names_wanted): userland wrote that verdict after reading them, and
 * keeps them by key. Every event must still name its cgroup: a container classified from its
 * first exec, one already running when ctrace starts (its verdict pre-loaded from /proc, so not
 * one of its records has names), and a cgroup userland never saw (searched for by its key).
 * Real runc containers, real cgroups.
 */
import { statSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { CGKEY_V1 } from '../src/decode/abi.js';
import { findCgroupPath, readCgroupMounts } from '../src/decode/cgroupfs.js';
import type { ExecEvent, TraceEvent } from '../src/events/event.js';
import { Tracer } from '../src/tracer/tracer.js';
import { v1SubsysId } from '../src/util/host.js';
import { CGROUP_ROOT, makeCgroup } from './helpers/cgroups.js';
import { openGate, WAIT_AT_GATE } from './helpers/fifo-gate.js';
import { privileged } from './helpers/privileges.js';
import { cleanupAllContainers, dockerId, runContainer, runContainerToExit } from './helpers/runc.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits at the gate, then runs /bin/true `n` times with a tag and exits. */
const waitThenExec = (n: number, tag: string) =>
  `${WAIT_AT_GATE}i=0; while [ $i -lt ${n} ]; do /bin/true ${tag} $i; i=$((i+1)); done`;

const tagged = (events: TraceEvent[], tag: string) =>
  events.filter((e): e is ExecEvent => e.type === 'exec' && e.exec.argv[1] === tag);

describe.runIf(privileged())('records without cgroup names', () => {
  afterAll(async () => {
    await cleanupAllContainers();
  });

  it('every event of a container names its cgroup, its first exec\'s and all that follow', async () => {
    const tracer = new Tracer({ events: ['exec', 'exit'] });
    const events: TraceEvent[] = [];
    tracer.onEvent((ev) => events.push(ev));
    try {
      const id = dockerId();
      const tag = `names-${id.slice(0, 8)}`;
      const r = await runContainerToExit({ id, cgroupsPath: `/docker/${id}`, args: ['/bin/sh', '-c', `i=0; while [ $i -lt 30 ]; do /bin/true ${tag} $i; i=$((i+1)); done`] });
      expect(r.code).toBe(0);
      for (const end = Date.now() + 10_000; Date.now() < end && tagged(events, tag).length < 30; ) await sleep(50);
      const execs = tagged(events, tag);
      expect(execs).toHaveLength(30);
      const mine = events.filter((e) => e.container?.id === id);
      // 30 execs of /bin/true, their 30 exits, the shell's exec and exit at least
      expect(mine.length).toBeGreaterThanOrEqual(62);
      expect(new Set(mine.map((e) => e.cgroupPath))).toEqual(new Set([`/docker/${id}`]));
      expect(mine.every((e) => e.scope === 'container')).toBe(true);
    } finally {
      await tracer.close();
    }
  });

  it('a container already running when tracing starts: its pre-loaded verdict leaves every record nameless, its events name its cgroup', async () => {
    const id = dockerId();
    const tag = `preloaded-${id.slice(0, 8)}`;
    const c = await runContainer({ id, cgroupsPath: `/docker/${id}`, args: ['/bin/sh', '-c', waitThenExec(20, tag)] });
    const tracer = new Tracer({ events: ['exec', 'exit'] });
    const events: TraceEvent[] = [];
    tracer.onEvent((ev) => events.push(ev));
    try {
      // the start-up walk found it: its verdict is in the kernel before its first record
      expect(tracer.startup?.containerProcesses).toBeGreaterThanOrEqual(1);
      await openGate(c);
      const done = await c.exited;
      expect(done.code).toBe(0);
      for (const end = Date.now() + 10_000; Date.now() < end && tagged(events, tag).length < 20; ) await sleep(50);
      const execs = tagged(events, tag);
      expect(execs).toHaveLength(20);
      for (const e of execs) expect({ path: e.cgroupPath, id: e.container?.id, scope: e.scope }).toEqual({ path: `/docker/${id}`, id, scope: 'container' });
    } finally {
      await tracer.close();
      await c.remove();
    }
  });

  it('finds a cgroup by its key in the mounted hierarchies, and nothing for a key that names none', async () => {
    const path = `/ctrace-find-${process.pid}/inner`;
    const cg = makeCgroup(path, ['unified', 'pids']);
    try {
      const mounts = readCgroupMounts();
      const v2 = BigInt(statSync(`${CGROUP_ROOT}/unified${path}`).ino);
      const v1 = BigInt(statSync(`${CGROUP_ROOT}/pids${path}`).ino) | CGKEY_V1;
      expect(findCgroupPath(mounts, 'pids', v2)).toBe(path);
      expect(findCgroupPath(mounts, 'pids', v1)).toBe(path);
      expect(findCgroupPath(mounts, null, v1)).toBeNull();
      expect(findCgroupPath(mounts, v1SubsysId().name, (1n << 40n) + 12345n)).toBeNull();
    } finally {
      await cg.remove();
    }
  });
});
