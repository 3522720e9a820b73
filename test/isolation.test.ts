/**
 * IsolatedTasks: which container a PID namespace belongs to, and when that ends. The exit of
 * the namespace's PID 1 ends it; when that exit was lost (a full ring), the namespace's inode
 * may come back as another container's, which must not be reported as the first one's.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { F_HOST_PIDNS, F_ISOLATED, type RawRecord } from '../src/decode/abi.js';
import { IsolatedTasks, REASON_ISOLATED, REASON_MOVED } from '../src/classify/isolation.js';
import type { Classification } from '../src/classify/classify.js';

const NS = 4026532181;
const A = { id: 'a'.repeat(64), runtime: 'docker', podUid: null, qos: null } as unknown as NonNullable<Classification['container']>;
const inA: Classification = { scope: 'container', container: A, rule: 'docker-cgroupfs' };
const host: Classification = { scope: 'host', container: null, rule: 'host-root' };
const rec = (type: string, tgid: number, nspid: number, flags = 0) =>
  ({ type, flags, task: { tgid, tid: tgid, nspid, pidnsIno: NS, startNs: BigInt(tgid) * 1000n }, facts: { ancestors: [] } }) as unknown as RawRecord;
/** an exec whose parent is `ppid` (started at `ppid * 1000`) and whose ancestors are `chain` (pid, start) */
const child = (tgid: number, ppid: number, chain: [number, bigint][] = []) => {
  const r = rec('exec', tgid, tgid - 98, F_ISOLATED) as unknown as { task: Record<string, unknown>; facts: unknown };
  r.task.ppid = ppid;
  r.task.parentStartNs = BigInt(ppid) * 1000n;
  r.facts = { ancestors: chain.map(([pid, startNs]) => ({ pid, startNs, pidnsIno: NS })) };
  return r as unknown as RawRecord;
};

let lost = 0;

describe('IsolatedTasks', () => {
  beforeEach(() => {
    lost = 0;
  });

  it('names the container a moved process came from while its namespace lives', () => {
    const alive = new Set([100]);
    const iso = new IsolatedTasks((pid, ns) => ns === NS && alive.has(pid), () => lost);
    iso.remember(rec('exec', 100, 1), inA); // the container's PID 1
    iso.remember(rec('exec', 101, 2), inA);
    expect(iso.attribute(rec('exec', 102, 3, F_ISOLATED), host)).toEqual({ container: A, reason: REASON_MOVED });
    // not isolated, or not classified host: nothing to say
    expect(iso.attribute(rec('exec', 102, 3), host)).toBeNull();
    expect(iso.attribute(rec('exec', 102, 3, F_ISOLATED), inA)).toBeNull();
  });

  it('ends with the exit of PID 1', () => {
    const iso = new IsolatedTasks(() => true, () => lost);
    iso.remember(rec('exec', 100, 1), inA);
    iso.ended(rec('exit', 100, 1));
    expect(iso.attribute(rec('exec', 200, 1, F_ISOLATED), host)).toEqual({ container: null, reason: REASON_ISOLATED });
  });

  it('ends when PID 1 is gone from the namespace although its exit never came (lost)', () => {
    const alive = new Set([100]);
    const iso = new IsolatedTasks((pid, ns) => ns === NS && alive.has(pid), () => lost);
    iso.remember(rec('exec', 100, 1), inA);
    alive.delete(100); // died; its exit record lost; the inode is reused by a new namespace
    // nothing lost since: the exit is still to come (PID 1 died after the record was made)
    expect(iso.attribute(rec('exec', 200, 2, F_ISOLATED), host)).toEqual({ container: A, reason: REASON_MOVED });
    lost = 3;
    expect(iso.attribute(rec('exec', 200, 1, F_ISOLATED), host)).toEqual({ container: null, reason: REASON_ISOLATED });
    // and stays ended
    alive.add(100);
    expect(iso.attribute(rec('exec', 201, 2, F_ISOLATED), host)).toEqual({ container: null, reason: REASON_ISOLATED });
  });

  it('believes a record that names PID 1 as its parent or ancestor, though PID 1 is gone and records were lost', () => {
    // the shell (PID 1) runs a child and exits before the child's record is read
    const iso = new IsolatedTasks(() => false, () => lost);
    iso.remember(rec('exec', 100, 1), inA);
    lost = 5;
    expect(iso.attribute(child(150, 100), host)).toEqual({ container: A, reason: REASON_MOVED });
    expect(iso.attribute(child(151, 140, [[140, 140_000n], [100, 100_000n]]), host)).toEqual({ container: A, reason: REASON_MOVED });
    // the same pid started at another time is another process: the look decides, and ends it
    expect(iso.attribute(child(152, 140, [[140, 140_000n], [100, 7n]]), host)).toEqual({ container: null, reason: REASON_ISOLATED });
    expect(iso.attribute(child(153, 100), host)).toEqual({ container: null, reason: REASON_ISOLATED });
  });

  it('keeps an association whose PID 1 it never saw, and learns nothing from the host namespace', () => {
    const iso = new IsolatedTasks(() => false, () => lost);
    iso.remember(rec('exec', 101, 2), inA);
    expect(iso.attribute(rec('exec', 102, 3, F_ISOLATED), host)).toEqual({ container: A, reason: REASON_MOVED });
    const iso2 = new IsolatedTasks(() => true, () => lost);
    iso2.remember(rec('exec', 101, 2, F_HOST_PIDNS), inA);
    expect(iso2.attribute(rec('exec', 102, 3, F_ISOLATED), host)).toEqual({ container: null, reason: REASON_ISOLATED });
  });
});

describe('IsolatedTasks and PID 1 itself', () => {
  it('attributes PID 1\'s own exit, read after it is gone', () => {
    lost = 1;
    const iso = new IsolatedTasks(() => false, () => lost);
    iso.remember(rec('exec', 100, 1), inA);
    lost = 2;
    expect(iso.attribute(rec('exit', 100, 1, F_ISOLATED), host)).toEqual({ container: A, reason: REASON_MOVED });
  });
});
