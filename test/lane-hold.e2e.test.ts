/**
 * Lines for a consumer that writes them to a file (ctrace run -q --log): the reader holds the
 * lane's lines and hands them over together, at most kHoldMs (250 ms) late or at 1 MiB
 * (native/ring_reader.cc), so JavaScript is woken a few times a second however many events
 * flow, each batch in ring order; the reader itself drains every 50 ms instead of every poll.
 * Real runc container, real BPF.
 *
 * A container's first records may still come as objects (onEvent): the lane takes a cgroup's
 * records only once JavaScript has classified it, and the kernel marks those of the container's
 * first moments isolated until its verdict is written (they go raw). A consumer that writes JSON
 * lines (ctrace run --log) writes both, in the order they come, and so does this one.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { toJsonLine } from '../src/format/json.js';
import { Tracer } from '../src/tracer/tracer.js';
import { privileged } from './helpers/privileges.js';
import { cleanupAllContainers, dockerId, runContainerToExit } from './helpers/runc.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const EXECS = 120;

describe.runIf(privileged())('held lines', () => {
  afterAll(async () => {
    await cleanupAllContainers();
  });

  it('reach a holding consumer in a few batches a second, every line once and in order, none held long', async () => {
    const tracer = new Tracer({ events: ['exec', 'exit'], jsonLane: true, jsonLaneHold: true });
    // onLines is called per chunk of lines (held lines are one); onBatchDone per batch JavaScript was woken for
    const batches: Array<{ at: number; lines: string[] }> = [];
    // what a log of both keeps: the objects' lines and the lane's, in the order they came
    const record: string[] = [];
    tracer.onEvent((ev) => record.push(toJsonLine(ev)));
    tracer.onLines((b) => {
      const lines = b.toString('utf8').split('\n').filter(Boolean);
      batches.push({ at: Date.now(), lines });
      record.push(...lines);
    });
    const wakes: number[] = [];
    tracer.onBatchDone(() => wakes.push(Date.now()));
    try {
      const id = dockerId();
      const wakeups0 = tracer.readerWakeups();
      const t0 = Date.now();
      // a trickle (an exec every 20-odd ms: most reader cycles find none), well under 1 MiB a second
      const loop = `i=0; while [ $i -lt ${EXECS} ]; do /bin/true hold-test $i; usleep 20000; i=$((i+1)); done`;
      const r = await runContainerToExit({ id, cgroupsPath: `/docker/${id}`, args: ['/bin/sh', '-c', loop] });
      expect(r.code).toBe(0);
      // the reader's own timer while only held lines flow: every 50 ms, not every poll (10 ms),
      // which here would be about five times as many wakeups as this
      const readerWakeups = tracer.readerWakeups() - wakeups0;
      expect(readerWakeups).toBeLessThanOrEqual(Math.ceil(((Date.now() - t0) / 50) * 1.3) + 10);
      const mine = (l: string) => l.startsWith('{"type":"exec"') && l.includes(`"id":"${id}"`) && l.includes('"hold-test"');
      const counters = () => record.filter(mine).map((l) => Number(JSON.parse(l).exec.argv[2]));
      for (const end = Date.now() + 15_000; Date.now() < end && counters().length < EXECS; ) await sleep(50);
      // every exec once, in ring order, whichever way it came
      expect(counters()).toEqual(Array.from({ length: EXECS }, (_, i) => i));
      // and the lane carried the loop: objects are for the container's first moments only
      const laneExecs = batches.flatMap((b) => b.lines.filter(mine)).length;
      expect(EXECS - laneExecs).toBeLessThan(EXECS / 4);

      const withMine = batches.filter((b) => b.lines.some(mine));
      const first = withMine[0]!.at;
      const last = withMine.at(-1)!.at;
      expect(last - first).toBeGreaterThan(1000); // the loop takes 120 x >= 20 ms
      // JavaScript woken for the loop's lines: a batch per reader cycle would be a hundred a
      // second, one per gap between two execs about as many; 250 ms holds, four
      const during = wakes.filter((t) => t >= first && t <= last).length;
      expect(during).toBeLessThanOrEqual(Math.ceil((last - first) / 250) + 3);
      // and a batch's held lines come as one chunk, which the log seals and writes at once: a
      // chunk per reader cycle held would be about one per exec here
      const chunks = batches.filter((b) => b.at >= first && b.at <= last).length;
      expect(chunks).toBeLessThanOrEqual(during + 2);
      // none waited much past the hold: a line's kernel time to its batch's arrival
      let late = 0;
      for (const b of withMine) {
        for (const l of b.lines.filter(mine)) late = Math.max(late, b.at - Date.parse(JSON.parse(l).time as string));
      }
      expect(late).toBeLessThan(1500);
      expect(late).toBeGreaterThan(0);
    } finally {
      await tracer.close();
    }
  });
});
