/**
 * A new container's first records. The addon's lane writes a cgroup's lines only once
 * JavaScript has classified it; the records behind the first one (runc's mounts, the first
 * execs of a loop) would follow it raw into JavaScript, the slow path, for as long as
 * JavaScript took to answer. The reader instead waits for the answer (native/ring_reader.cc
 * AwaitAnswer), a few times per cgroup, so the burst takes the lane. Real runc containers.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Tracer } from '../src/tracer/tracer.js';
import type { ExecEvent, TraceEvent } from '../src/events/event.js';
import { repoRoot } from './helpers/ctrace-cli.js';
import { privileged } from './helpers/privileges.js';
import { buildRootfs } from './helpers/rootfs.js';
import { cleanupAllContainers, dockerId, runContainerToExit } from './helpers/runc.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const EXECS = 300;

describe.runIf(privileged())('a new container\'s first records take the lane', () => {
  afterAll(async () => {
    await cleanupAllContainers();
  });

  it('sends only a container\'s first few records through JavaScript, and every record once', async () => {
    const tracer = new Tracer({ jsonLane: true });
    const events: TraceEvent[] = [];
    tracer.onEvent((ev) => events.push(ev));
    const lines: string[] = [];
    tracer.onLines((b) => lines.push(...b.toString('utf8').split('\n').filter(Boolean)));
    try {
      const ids = [dockerId(), dockerId()];
      for (const id of ids) {
        const loop = `i=0; while [ $i -lt ${EXECS} ]; do /bin/true ask-test $i; i=$((i+1)); done`;
        const r = await runContainerToExit({ id, cgroupsPath: `/docker/${id}`, args: ['/bin/sh', '-c', loop] });
        expect(r.code).toBe(0);
      }
      // the loop's execs of each container, by either path: their loop counters
      const loopExecs = (id: string): number[] => {
        const out: number[] = [];
        for (const e of events) {
          const argv = e.type === 'exec' && e.container?.id === id ? (e as ExecEvent).exec.argv : [];
          if (argv[1] === 'ask-test') out.push(Number(argv[2]));
        }
        for (const l of lines) {
          if (!l.startsWith('{"type":"exec"') || !l.includes(`"id":"${id}"`) || !l.includes('"ask-test"')) continue;
          out.push(Number(JSON.parse(l).exec.argv[2]));
        }
        return out.sort((a, b) => a - b);
      };
      for (const end = Date.now() + 15_000; Date.now() < end; await sleep(50)) {
        if (ids.every((id) => loopExecs(id).length >= EXECS)) break;
      }
      for (const id of ids) {
        // every exec of the loop exactly once, whichever path it took
        expect(loopExecs(id)).toEqual(Array.from({ length: EXECS }, (_, i) => i));
        // through JavaScript: the records it had to answer for (runc's first exits, the first
        // mount, the shell's exec), not the loop's first execs behind them (a dozen without the asks)
        const viaJs = events.filter((e) => e.container?.id === id);
        const viaLane = lines.filter((l) => l.includes(`"id":"${id}"`));
        expect(viaJs.length).toBeLessThanOrEqual(10);
        const loopViaJs = viaJs.filter((e) => e.type === 'exec' && (e as ExecEvent).exec.argv[1] === 'ask-test');
        expect(loopViaJs.length).toBeLessThanOrEqual(5);
        // and the lane wrote the rest: runc's mounts among them
        expect(viaLane.filter((l) => l.startsWith('{"type":"mount"')).length).toBeGreaterThanOrEqual(5);
      }
      // the reader waited for an answer, a bounded number of times per container
      const asks = tracer.readerAsks();
      expect(asks).toBeGreaterThanOrEqual(ids.length);
      // (runc's processes may pass through the cgroups of more than one hierarchy)
      expect(asks).toBeLessThanOrEqual(12 * ids.length);
    } finally {
      await tracer.close();
    }
  });

  it('stops waiting once the ring fills: a new container\'s mount burst while JavaScript is slow loses nothing', async () => {
    // JavaScript slow to answer (a loaded machine; here it spins 10 ms on each of the
    // container's first records), and the container mounting as fast as it can: had the reader sat out
    // every ask's wait, the burst would overflow the ring (it did under a loaded CI: records
    // lost, counted). It stops waiting once the ring is a quarter full.
    const MOUNTS = 6000;
    const rootfs = await buildRootfs();
    execFileSync('cc', ['-static', '-O2', '-pthread', '-o', join(rootfs, 'bin/mountrace'), join(repoRoot, 'test/fixtures/mountrace.c')]);
    const tracer = new Tracer({ jsonLane: true, ringBytes: 4 << 20 });
    const id = dockerId();
    let viaJs = 0;
    let slow = 0;
    tracer.onEvent((ev) => {
      if (ev.container?.id !== id) return;
      if (slow++ < 12) for (const end = performance.now() + 10; performance.now() < end; );
      if (ev.type === 'mount' && ev.comm === 'mountrace') viaJs++;
    });
    let viaLane = 0;
    tracer.onLines((b) => {
      for (const l of b.toString('utf8').split('\n')) if (l.startsWith('{"type":"mount"') && l.includes('"comm":"mountrace"')) viaLane++;
    });
    try {
      const r = await runContainerToExit({ id, cgroupsPath: `/docker/${id}`, args: ['/bin/mountrace', String(MOUNTS)], capAdd: ['CAP_SYS_ADMIN'] });
      expect(r.code).toBe(0);
      for (const end = Date.now() + 15_000; Date.now() < end && viaJs + viaLane < MOUNTS; ) await sleep(50);
      expect(tracer.stats().lost).toBe(0);
      expect(viaJs + viaLane).toBe(MOUNTS);
    } finally {
      await tracer.close();
    }
  });
});
