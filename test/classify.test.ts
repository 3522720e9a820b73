import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  classifyCgroupPath,
  parseProcCgroup,
  pickCgroupPath,
  RULES,
  splitCgroupPath,
  TRUNCATION_MARK,
  type Classification,
} from '../src/classify/classify.js';
import { RUNTIMES, type ContainerInfo, type Scope } from '../src/events/event.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
// the team's shared vectors sit beside the checkout (../shared); a clone elsewhere (a CI or
// check-out directory in /tmp) finds them through CTRACE_SHARED_DIR or at the workspace's /work/shared
const SHARED_VECTORS = [process.env.CTRACE_SHARED_DIR, path.resolve(repoRoot, '../shared'), '/work/shared']
  .filter((d): d is string => !!d)
  .map((d) => path.join(d, 'testdata/cgroup-paths.tsv'))
  .find((f) => existsSync(f)) ?? path.resolve(repoRoot, '../shared/testdata/cgroup-paths.tsv');
const EXTRA_VECTORS = path.resolve(repoRoot, 'test/testdata/cgroup-paths-extra.tsv');

const COLUMNS = ['path', 'runtime', 'container_id', 'pod_uid', 'qos'];
const QOS = ['guaranteed', 'burstable', 'besteffort'];

interface Vector {
  file: string;
  line: number;
  path: string;
  scope: Scope;
  container: ContainerInfo | null;
}

/**
 * Read a vector file: a header row (COLUMNS), then one path a row, tab-separated; '#' lines
 * are comments. runtime 'host' / 'unknown' mean that scope with no container. A missing or
 * malformed file throws, so the suite fails rather than skips.
 */
function loadVectors(file: string): Vector[] {
  const text = readFileSync(file, 'utf8');
  const rows: Vector[] = [];
  let header: string[] | null = null;
  text.split('\n').forEach((raw, index) => {
    const line = index + 1;
    if (raw.trim() === '' || raw.startsWith('#')) return;
    const cells = raw.split('\t');
    if (header === null) {
      header = cells;
      if (header.join('\t') !== COLUMNS.join('\t')) throw new Error(`${file}:${line}: header is not ${COLUMNS.join(', ')}`);
      return;
    }
    if (cells.length > COLUMNS.length) throw new Error(`${file}:${line}: more than ${COLUMNS.length} columns`);
    const [p = '', runtime = '', id = '', podUid = '', qos = ''] = cells;
    const where = `${path.basename(file)}:${line}`;
    if (runtime === 'host' || runtime === 'unknown') {
      if (id || podUid || qos) throw new Error(`${where}: a ${runtime} row has container columns`);
      rows.push({ file: where, line, path: p, scope: runtime, container: null });
      return;
    }
    if (!(RUNTIMES as readonly string[]).includes(runtime)) throw new Error(`${where}: unknown runtime '${runtime}'`);
    if (!id) throw new Error(`${where}: container row without an id`);
    if (qos && !QOS.includes(qos)) throw new Error(`${where}: unknown qos '${qos}'`);
    rows.push({
      file: where,
      line,
      path: p,
      scope: 'container',
      container: {
        id,
        runtime: runtime as ContainerInfo['runtime'],
        podUid: podUid || null,
        qos: (qos || null) as ContainerInfo['qos'],
      },
    });
  });
  if (rows.length === 0) throw new Error(`${file}: no vectors`);
  return rows;
}

const shared = loadVectors(SHARED_VECTORS);
const extra = loadVectors(EXTRA_VECTORS);
const all = [...shared, ...extra];

const RULE_NAMES = new Set([...RULES.map((r) => r.name), 'unknown']);

/** The container without the nested container's outer one (the vectors have no column for it). */
function inner(c: ContainerInfo | null): ContainerInfo | null {
  if (!c) return c;
  const { outerId: _i, outerRuntime: _r, ...rest } = c;
  return rest;
}

function expectVector(v: Vector, got: Classification): void {
  expect({ scope: got.scope, container: inner(got.container) }, `${v.file} ${v.path}`).toStrictEqual({
    scope: v.scope,
    container: v.container,
  });
  expect(RULE_NAMES.has(got.rule), `rule '${got.rule}' is a row of RULES`).toBe(true);
}

/** The same path as the kernel would hand it over when it keeps only the last `keep` components. */
function cut(p: string, keep: number): string | null {
  const { parts, rooted } = splitCgroupPath(p);
  if (!rooted || parts.length <= keep) return null;
  return `${TRUNCATION_MARK}/${parts.slice(-keep).join('/')}`;
}

describe('shared vectors (/work/shared/testdata/cgroup-paths.tsv)', () => {
  it('are there', () => {
    expect(shared.length).toBeGreaterThanOrEqual(16);
  });
  it.each(shared)('$file $path', (v) => {
    expectVector(v, classifyCgroupPath(v.path));
  });
});

describe('extra vectors (test/testdata/cgroup-paths-extra.tsv)', () => {
  it('are there', () => {
    expect(extra.length).toBeGreaterThanOrEqual(100);
  });
  it.each(extra)('$file $path', (v) => {
    expectVector(v, classifyCgroupPath(v.path));
  });
});

describe('properties over every vector', () => {
  it('a trailing "/" changes nothing', () => {
    for (const v of all) expect(classifyCgroupPath(`${v.path}/`), v.path).toStrictEqual(classifyCgroupPath(v.path));
  });

  it('a path cut at the top is never host, and a container it still finds is the same one', () => {
    let checked = 0;
    for (const v of all) {
      for (let keep = 0; keep <= 6; keep++) {
        const c = cut(v.path, keep);
        if (c === null) continue;
        checked++;
        const got = classifyCgroupPath(c);
        expect(got.scope, c).not.toBe('host');
        if (got.container) {
          expect(v.container, c).not.toBeNull();
          expect({ id: got.container.id, runtime: got.container.runtime }, c).toStrictEqual({
            id: v.container?.id,
            runtime: v.container?.runtime,
          });
        }
      }
    }
    expect(checked).toBeGreaterThan(100);
  });

  it('every runtime and every table row that can decide on its own is exercised', () => {
    const runtimes = new Set(all.flatMap((v) => (v.container ? [v.container.runtime] : [])));
    expect([...runtimes].sort()).toStrictEqual([...RUNTIMES].sort());
    const rules = new Set(all.map((v) => classifyCgroupPath(v.path).rule));
    for (const r of RULES) expect(rules.has(r.name), `row ${r.name}`).toBe(true);
  });
});

describe('classifyCgroupPath', () => {
  const A = '554ab6bff12a08fe0168634d72313f67249e62da6ba80fd437694a1e6f85ec03';
  const C = '053a3d33cd7657a69f850f76d17b88a07e6d1a62d76f10e138d598b5cc497632';
  const F = 'e1d2af0d092844b555cfd6d6567e4908fb075053c9348f86ea4d4affc30a2acf';
  const UID = 'ac3557c0-dcc3-5163-8205-dc690501a047';

  it('reads "" and runs of "/" as the root', () => {
    for (const p of ['', '/', '//', '/./']) {
      expect(classifyCgroupPath(p), JSON.stringify(p)).toStrictEqual({ scope: 'host', container: null, rule: 'host-root' });
    }
  });

  it('ignores trailing and doubled slashes', () => {
    expect(classifyCgroupPath(`//docker//${A}///`)).toStrictEqual(classifyCgroupPath(`/docker/${A}`));
    expect(classifyCgroupPath('/system.slice/sshd.service/').rule).toBe('host-system');
  });

  it('names the row that decided', () => {
    expect(classifyCgroupPath(`/docker/${A}`).rule).toBe('docker-cgroupfs');
    expect(classifyCgroupPath(`/system.slice/docker-${A}.scope`).rule).toBe('docker-systemd');
    expect(classifyCgroupPath('/init.scope').rule).toBe('host-init');
    expect(classifyCgroupPath('/user.slice/user-1000.slice/session-3.scope').rule).toBe('host-user');
    expect(classifyCgroupPath('/kubepods.slice').rule).toBe('host-kubepods');
    expect(classifyCgroupPath('/srv/thing').rule).toBe('unknown');
  });

  it('reports the innermost of nested containers', () => {
    const got = classifyCgroupPath(`/docker/${A}/docker/${C}`);
    expect(got.container?.id).toBe(C);
    expect(got.rule).toBe('docker-cgroupfs');
  });

  it('takes a runtime monitor for host, but only on a complete path outside any container', () => {
    const conmon = `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UID.replaceAll('-', '_')}.slice/crio-conmon-${F}.scope`;
    expect(classifyCgroupPath(conmon)).toStrictEqual({ scope: 'host', container: null, rule: 'crio-conmon' });
    expect(classifyCgroupPath(`${TRUNCATION_MARK}/crio-conmon-${F}.scope`)).toStrictEqual({
      scope: 'unknown',
      container: null,
      rule: 'crio-conmon',
    });
    expect(classifyCgroupPath(`/docker/${A}${conmon}`).container?.id).toBe(A);
    expect(classifyCgroupPath('/machine.slice/systemd-nspawn@build01.service/supervisor').rule).toBe('nspawn-supervisor');
    expect(classifyCgroupPath('/lxc.monitor.web01').rule).toBe('lxc-monitor');
  });

  it('reports a path that stops at a pod as unknown, naming the pod row', () => {
    expect(classifyCgroupPath(`/kubepods/burstable/pod${UID}`)).toStrictEqual({
      scope: 'unknown',
      container: null,
      rule: 'kube-pod-cgroupfs',
    });
    expect(classifyCgroupPath(`/kubepods.slice/kubepods-pod${UID.replaceAll('-', '_')}.slice`).rule).toBe('kube-pod-systemd');
  });

  it('never proves host from a cut path, nor from one seen from outside a cgroup namespace', () => {
    for (const p of ['…/', '…', '…/system.slice', '…/init.scope', '/../system.slice/sshd.service', '/..']) {
      expect(classifyCgroupPath(p).scope, p).toBe('unknown');
    }
    expect(classifyCgroupPath(`/../docker/${A}`).container?.id).toBe(A);
  });

  it('takes the kernel’s six last components of a deep path', () => {
    const deep = `/docker/${A}/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-burstable.slice/kubelet-kubepods-burstable-pod${UID.replaceAll('-', '_')}.slice/cri-containerd-${C}.scope`;
    const kernel = cut(deep, 6);
    expect(kernel).not.toBeNull();
    expect(inner(classifyCgroupPath(kernel ?? '').container)).toStrictEqual(inner(classifyCgroupPath(deep).container));
    // the whole path shows the docker container the kind node runs in; the kernel's cut does not
    expect(classifyCgroupPath(deep).container).toStrictEqual({
      id: C,
      runtime: 'containerd',
      podUid: UID,
      qos: 'burstable',
      outerId: A,
      outerRuntime: 'docker',
    });
  });

  it('records the outer container of a nested one, and none for a container that is not nested', () => {
    expect(classifyCgroupPath(`/docker/${A}/docker/${C}`).container).toMatchObject({ id: C, runtime: 'docker', outerId: A, outerRuntime: 'docker' });
    expect(classifyCgroupPath(`/ci/${A}/kubepods/besteffort/pod${UID}/${C}`).container).toMatchObject({
      id: C,
      runtime: 'cri',
      outerId: A,
      outerRuntime: 'docker',
    });
    expect(classifyCgroupPath(`/docker/${C}`).container).toStrictEqual({ id: C, runtime: 'docker', podUid: null, qos: null });
  });

  it('is a pure function', () => {
    const p = `/kubepods/besteffort/pod${UID}/${C}`;
    const first = classifyCgroupPath(p);
    for (let i = 0; i < 3; i++) expect(classifyCgroupPath(p)).toStrictEqual(first);
    expect(first.container).not.toBe(classifyCgroupPath(p).container);
  });
});

describe('RULES', () => {
  it('is one table whose rows are well formed', () => {
    for (const r of RULES) {
      expect(r.name).toMatch(/^[a-z0-9-]+$/);
      if (r.kind === 'container') {
        expect(r.leaf.source, r.name).toContain('(?<id>');
        expect(RUNTIMES, r.name).toContain(r.runtime);
      }
      if (r.kind === 'pod') expect(r.leaf.source, r.name).toContain('(?<pod>');
      if (r.kind === 'host') expect(r.path.source, r.name).toMatch(/^\^/);
    }
  });
});

describe('parseProcCgroup', () => {
  const A = '554ab6bff12a08fe0168634d72313f67249e62da6ba80fd437694a1e6f85ec03';
  const B = '1e26073efe4b5425092a5735ff047bbdd934600398a35de3120ef9a7cabc67e4';

  const hybridDocker = [
    `12:pids:/docker/${A}`,
    `11:hugetlb:/docker/${A}`,
    `10:net_cls,net_prio:/docker/${A}`,
    `9:memory:/docker/${A}`,
    `8:devices:/docker/${A}`,
    `7:freezer:/docker/${A}`,
    `6:cpu,cpuacct:/docker/${A}`,
    `5:blkio:/docker/${A}`,
    `4:cpuset:/docker/${A}`,
    `3:perf_event:/docker/${A}`,
    `2:rdma:/`,
    `1:name=systemd:/docker/${A}`,
    `0::/`,
    '',
  ].join('\n');

  it('reads a pure v2 file', () => {
    expect(parseProcCgroup(`0::/system.slice/docker-${B}.scope\n`)).toStrictEqual({
      v2: `/system.slice/docker-${B}.scope`,
      v1: [],
    });
  });

  it('reads a hybrid v1 + v2 file, with co-mounted and named hierarchies', () => {
    const parsed = parseProcCgroup(hybridDocker);
    expect(parsed.v2).toBe('/');
    expect(parsed.v1).toHaveLength(12);
    expect(parsed.v1[0]).toStrictEqual({ hierarchyId: 12, controllers: ['pids'], path: `/docker/${A}` });
    expect(parsed.v1.find((h) => h.hierarchyId === 6)?.controllers).toStrictEqual(['cpu', 'cpuacct']);
    expect(parsed.v1.find((h) => h.hierarchyId === 1)?.controllers).toStrictEqual(['name=systemd']);
    expect(parsed.v1.find((h) => h.hierarchyId === 2)?.path).toBe('/');
  });

  it('keeps ":" inside a path', () => {
    const p = `/system.slice/containerd.service/kubepods-burstable-pod1_2.slice:cri-containerd:${A}`;
    expect(parseProcCgroup(`0::${p}`).v2).toBe(p);
    expect(parseProcCgroup(`3:memory:${p}`).v1[0]?.path).toBe(p);
  });

  it('drops the " (deleted)" the kernel appends for a removed cgroup', () => {
    expect(parseProcCgroup(`0::/system.slice/docker-${B}.scope (deleted)\n`).v2).toBe(`/system.slice/docker-${B}.scope`);
  });

  it('skips lines that do not parse, and reads an empty file as nothing', () => {
    expect(parseProcCgroup('garbage\nx:y:/z\n\r\n0::/init.scope\r\n')).toStrictEqual({ v2: '/init.scope', v1: [] });
    expect(parseProcCgroup('')).toStrictEqual({ v2: null, v1: [] });
  });
});

describe('pickCgroupPath', () => {
  const A = '554ab6bff12a08fe0168634d72313f67249e62da6ba80fd437694a1e6f85ec03';
  const B = '1e26073efe4b5425092a5735ff047bbdd934600398a35de3120ef9a7cabc67e4';

  it('takes the v2 path when it is not the root', () => {
    const text = `1:name=systemd:/system.slice/docker-${B}.scope\n0::/system.slice/docker-${B}.scope\n`;
    expect(pickCgroupPath(parseProcCgroup(text))).toBe(`/system.slice/docker-${B}.scope`);
    expect(pickCgroupPath(parseProcCgroup(`12:pids:/docker/${A}\n0::/user.slice\n`))).toBe('/user.slice');
  });

  it('falls back to v1 when v2 is the root (hybrid, v1 runtime), preferring pids', () => {
    const text = `12:pids:/docker/${A}\n3:perf_event:/other\n1:name=systemd:/docker/${A}\n0::/\n`;
    const picked = pickCgroupPath(parseProcCgroup(text));
    expect(picked).toBe(`/docker/${A}`);
    expect(classifyCgroupPath(picked).container?.id).toBe(A);
  });

  it('orders v1 hierarchies by preference, not by file order', () => {
    const text = ['9:net_cls:/net', '8:cpuset:/cpuset', '7:memory:/memory', '6:pids:/', '1:name=systemd:/systemd', '0::/'].join('\n');
    expect(pickCgroupPath(parseProcCgroup(text))).toBe('/memory');
    expect(pickCgroupPath(parseProcCgroup('9:net_cls:/net\n1:name=systemd:/systemd\n'))).toBe('/systemd');
    expect(pickCgroupPath(parseProcCgroup('5:blkio:/\n6:cpu,cpuacct:/cpu\n'))).toBe('/cpu');
  });

  it('takes any non-root v1 path after the preferred ones, else "/"', () => {
    expect(pickCgroupPath(parseProcCgroup('9:net_cls,net_prio:/net\n12:pids:/\n0::/\n'))).toBe('/net');
    expect(pickCgroupPath(parseProcCgroup('12:pids:/\n1:name=systemd:/\n0::/\n'))).toBe('/');
    expect(pickCgroupPath(parseProcCgroup(''))).toBe('/');
    expect(pickCgroupPath({ v2: null, v1: [] })).toBe('/');
  });
});
