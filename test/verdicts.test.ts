/**
 * The verdict cache (src/classify/verdicts.ts): what it tells the kernel and its one bound. The map
 * writes are recorded by an object with the addon's two methods; the real maps are exercised
 * through the tracer in test/native.test.ts and the e2e tests.
 */
import { describe, expect, it } from 'vitest';
import { CGROUP_PATH_UNKNOWN, VERDICT_CONTAINER, VERDICT_HOST } from '../src/decode/abi.js';
import { CGROUP_VERDICTS_MAX, Verdicts, type VerdictMaps } from '../src/classify/verdicts.js';

function recorder() {
  const cgroup: Array<[bigint, number]> = [];
  const deleted: bigint[] = [];
  const pids: Array<[number, number, bigint]> = [];
  const maps: VerdictMaps = {
    setCgroupVerdict: (k, v) => void cgroup.push([k, v]),
    deleteCgroupVerdict: (k) => void deleted.push(k),
    setVerdicts: (p, v, k) => p.forEach((pid, i) => pids.push([pid, v[i]!, k[i]!])),
  };
  return { maps, cgroup, deleted, pids };
}

const DOCKER = '/docker/' + 'a'.repeat(64);

describe('Verdicts', () => {
  it('classifies a cgroup once and writes its verdict once', () => {
    const r = recorder();
    const v = new Verdicts(r.maps);
    expect(v.classify(7n, DOCKER).scope).toBe('container');
    expect(v.classify(7n, DOCKER).scope).toBe('container');
    expect(v.classify(8n, '/user.slice/user-0.slice/session-1.scope').scope).toBe('host');
    expect(r.cgroup).toEqual([
      [7n, VERDICT_CONTAINER],
      [8n, VERDICT_HOST],
    ]);
    expect(v.scopes()).toEqual({ container: 1, host: 1, unknown: 0 });
  });

  it('forgets a removed cgroup: its classification, and the verdict written for it (none for a cgroup it never held, none once closed)', () => {
    const r = recorder();
    const v = new Verdicts(r.maps);
    v.classify(7n, DOCKER);
    v.classify(9n, DOCKER);
    v.forget(7n);
    v.forget(8n);
    v.forget(9n, true);
    expect(r.deleted).toEqual([7n]);
    expect(v.scopes()).toEqual({ container: 0, host: 0, unknown: 0 });
    // classified again, and written again, on a next event
    v.classify(7n, DOCKER);
    expect(r.cgroup.filter(([k]) => k === 7n)).toHaveLength(2);
  });

  it('a cgroup whose path is nowhere to be found is unclassified, never host, and the kernel is made to send its names again', () => {
    const r = recorder();
    const v = new Verdicts(r.maps);
    expect(v.classify(5n, CGROUP_PATH_UNKNOWN)).toMatchObject({ scope: 'unknown', container: null });
    v.classify(6n, CGROUP_PATH_UNKNOWN, true);
    // its verdict goes (the kernel left the names out because it had one); none is written or held
    expect(r.deleted).toEqual([5n]);
    expect(r.cgroup).toEqual([]);
    expect(v.scopes()).toEqual({ container: 0, host: 0, unknown: 0 });
    // with its names again, it is classified as any other
    expect(v.classify(5n, DOCKER).scope).toBe('container');
    // one already classified keeps its classification without a path
    expect(v.classify(5n, CGROUP_PATH_UNKNOWN).scope).toBe('container');
  });

  it('writes the PID verdicts of a batch in one update, none once closed', () => {
    const r = recorder();
    const v = new Verdicts(r.maps);
    const cls = v.classify(7n, DOCKER);
    v.notePid(100, cls, 7n);
    v.notePid(101, cls, 7n);
    v.flush();
    v.flush();
    expect(r.pids).toEqual([
      [100, VERDICT_CONTAINER, 7n],
      [101, VERDICT_CONTAINER, 7n],
    ]);
    v.notePid(102, cls, 7n);
    v.flush(true);
    expect(r.pids).toHaveLength(2);
  });

  it('never holds more cgroups than the kernel map; reaching the bound forgets them all, and the lane with them', () => {
    const r = recorder();
    let forgotten = 0;
    const v = new Verdicts(r.maps, () => forgotten++);
    for (let i = 0; i < CGROUP_VERDICTS_MAX; i++) v.classify(BigInt(i), DOCKER);
    expect(forgotten).toBe(0);
    v.classify(0n, DOCKER); // known: nothing forgotten
    expect(forgotten).toBe(0);
    v.classify(BigInt(CGROUP_VERDICTS_MAX), DOCKER);
    expect(forgotten).toBe(1);
    expect(v.scopes().container).toBe(1);
    // a forgotten cgroup is classified (and its verdict written) again
    const writes = r.cgroup.length;
    v.classify(0n, DOCKER);
    expect(r.cgroup.length).toBe(writes + 1);
  });
});
