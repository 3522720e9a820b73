/**
 * The library API as a user imports it (`import { Tracer } from 'ctrace-ebpf'`, the
 * package's own exports): the README's alert-on-shell example, for real.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { Tracer, type ExecEvent, type TraceEvent } from 'ctrace-ebpf';
import { privileged } from './helpers/privileges.js';
import { cleanupAllContainers, dockerId, runContainerToExit } from './helpers/runc.js';

describe.runIf(privileged())('library: import { Tracer } from "ctrace-ebpf"', () => {
  afterAll(async () => {
    await cleanupAllContainers();
  });

  it('yields typed events to for-await, and close() ends the loop after the last one', async () => {
    const tracer = new Tracer({ events: ['exec'] });
    const id = dockerId();
    const shells: ExecEvent[] = [];
    const seen: TraceEvent[] = [];
    const loop = (async () => {
      for await (const ev of tracer) {
        seen.push(ev);
        if (ev.type === 'exec' && ev.container && /\/(ba|da|z|)sh$/.test(ev.exec.filename)) shells.push(ev);
        if (shells.some((s) => s.container?.id === id && s.exec.argv.includes('echo alert'))) void tracer.close();
      }
      return 'ended';
    })();
    const run = await runContainerToExit({ id, cgroupsPath: `/docker/${id}`, args: ['/bin/sh', '-c', 'echo alert'] });
    expect(run.code).toBe(0);
    await expect(loop).resolves.toBe('ended');
    const shell = shells.find((s) => s.container?.id === id)!;
    expect(shell.exec.argv).toEqual(['/bin/sh', '-c', 'echo alert']);
    expect(shell.exec.argc).toBe(3);
    expect(shell.container).toMatchObject({ id, runtime: 'docker' });
    expect(seen.every((e) => e.type === 'exec' && e.scope !== 'host')).toBe(true);
    const stats = tracer.stats();
    expect(stats.events.exec).toBe(seen.length);
    expect(stats.events.exit).toBe(0);
    expect(stats.lost).toBe(0);
  });
});
