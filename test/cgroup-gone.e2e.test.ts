/**
 * Container churn: what ctrace holds per cgroup follows the live cgroups. When a classified
 * cgroup is removed (a container ends), the kernel drops its verdict and tells userland
 * (bpf/ctrace.bpf.c cgroup_rmdir), which forgets its classification, its lane entry and its
 * path, after the container's last events; and the process table forgets the processes it
 * learnt there, whose exits `ctrace run` (no noted records) never sees once the addon's lane
 * writes the cgroup's lines. Real runc containers, each in its own cgroup.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { Tracer } from '../src/tracer/tracer.js';
import type { ExecEvent, TraceEvent } from '../src/events/event.js';
import { privileged } from './helpers/privileges.js';
import { cleanupAllContainers, dockerId, runContainerToExit } from './helpers/runc.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Whether container `id`'s exec with `tag` in its argv came, as an event or as a lane line. */
const execSeen = (events: TraceEvent[], lines: string[], id: string, tag: string) =>
  events.some((e) => e.type === 'exec' && e.container?.id === id && (e as ExecEvent).exec.argv.includes(tag)) ||
  lines.some((l) => l.includes(`"id":"${id}"`) && l.includes(`"${tag}"`));

describe.runIf(privileged())('removed cgroups are forgotten', () => {
  afterAll(async () => {
    await cleanupAllContainers();
  });

  it('a container that ended and was removed leaves no classification behind, and its events all arrived first', async () => {
    const tracer = new Tracer({ events: ['exec', 'exit'], jsonLane: true });
    const events: TraceEvent[] = [];
    tracer.onEvent((ev) => events.push(ev));
    const lines: string[] = [];
    tracer.onLines((b) => lines.push(...b.toString('utf8').split('\n').filter(Boolean)));
    try {
      const before = tracer.cgroupScopes().container;
      const ids = Array.from({ length: 5 }, () => dockerId());
      for (const id of ids) {
        // two execs: the second may take the lane, so both paths end before the cgroup goes
        const r = await runContainerToExit({ id, cgroupsPath: `/docker/${id}`, args: ['/bin/sh', '-c', '/bin/true gone-test'] });
        expect(r.code).toBe(0);
      }
      const seen = (id: string) => execSeen(events, lines, id, 'gone-test');
      let scopes = tracer.cgroupScopes().container;
      for (const end = Date.now() + 15_000; Date.now() < end; await sleep(50)) {
        scopes = tracer.cgroupScopes().container;
        if (ids.every(seen) && scopes <= before) break;
      }
      expect(ids.filter((id) => !seen(id))).toEqual([]);
      // every container was classified on its first event, and forgotten when its cgroup went
      expect(scopes).toBeLessThanOrEqual(before);
    } finally {
      await tracer.close();
    }
  });

  it('as ctrace run traces (no copy of the lane\'s records), the removed containers leave no process behind', async () => {
    const tracer = new Tracer({ events: ['exec', 'exit'], jsonLane: true, processTable: false });
    const lines: string[] = [];
    tracer.onLines((b) => lines.push(...b.toString('utf8').split('\n').filter(Boolean)));
    const events: TraceEvent[] = [];
    tracer.onEvent((ev) => events.push(ev));
    try {
      const ids = Array.from({ length: 5 }, () => dockerId());
      for (const id of ids) {
        const r = await runContainerToExit({ id, cgroupsPath: `/docker/${id}`, args: ['/bin/sh', '-c', '/bin/true table-test'] });
        expect(r.code).toBe(0);
      }
      const held = () => tracer.processes().filter((p) => ids.includes(p.container.id));
      const seen = (id: string) => execSeen(events, lines, id, 'table-test');
      for (const end = Date.now() + 15_000; Date.now() < end && !(ids.every(seen) && held().length === 0); ) await sleep(50);
      expect(ids.filter((id) => !seen(id))).toEqual([]);
      // the first exec of each container reached JavaScript as an object and was learnt
      expect(events.filter((e) => e.type === 'exec' && ids.includes(e.container?.id ?? '')).length).toBeGreaterThanOrEqual(ids.length);
      expect(held().map((p) => `${p.container.id.slice(0, 12)} ${p.pid} ${p.argv.join(' ')}`)).toEqual([]);
    } finally {
      await tracer.close();
    }
  });
});
