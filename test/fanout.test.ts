/** The tracer's fan-out (src/tracer/fanout.ts): listeners and iterators get every event, in order; end() ends iterators after what they hold. */
import { describe, expect, it } from 'vitest';
import type { TraceEvent } from '../src/events/event.js';
import { Fanout } from '../src/tracer/fanout.js';

const ev = (pid: number) => ({ type: 'exit', pid }) as unknown as TraceEvent;

describe('Fanout', () => {
  it('hands each event to every listener and iterator, in order', async () => {
    const f = new Fanout();
    const seen: number[] = [];
    f.events.push((e) => seen.push(e.pid));
    const it1 = f.iterator(false);
    const it2 = f.iterator(false);
    const pending = it1.next();
    f.event(ev(1));
    f.event(ev(2));
    expect(seen).toEqual([1, 2]);
    expect((await pending).value.pid).toBe(1);
    expect((await it1.next()).value.pid).toBe(2);
    expect((await it2.next()).value.pid).toBe(1);
    f.end();
    // what an iterator holds is still delivered after end()
    expect((await it2.next()).value.pid).toBe(2);
    expect((await it2.next()).done).toBe(true);
    expect((await it1.next()).done).toBe(true);
  });

  it('ends a waiting iterator, and one made after the end at once', async () => {
    const f = new Fanout();
    const it = f.iterator(false);
    const waiting = it.next();
    f.end();
    expect((await waiting).done).toBe(true);
    expect((await f.iterator(true).next()).done).toBe(true);
  });

  it('stops feeding an iterator that returned', async () => {
    const f = new Fanout();
    const it = f.iterator(false);
    await it.return!();
    f.event(ev(3));
    expect((await it.next()).done).toBe(true);
  });

  it('reports errors, losses, lines and batch timings to their listeners', () => {
    const f = new Fanout();
    const got: string[] = [];
    f.errors.push((e) => got.push(`error ${e.message}`));
    f.lost.push((r) => got.push(`lost ${r.lost}/${r.total}`));
    f.lines.push((b) => got.push(`lines ${b.toString().trim()}`));
    f.batches.push((n) => got.push(`batch ${n}`));
    f.error(new Error('x'));
    f.lostReport({ lost: 2, total: 5 });
    f.linesOf(Buffer.from('{}\n'));
    f.batchDone(64, 0.001);
    expect(got).toEqual(['error x', 'lost 2/5', 'lines {}', 'batch 64']);
  });
});
