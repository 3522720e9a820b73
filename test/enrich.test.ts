/** Enrichment without privileges: OCI state parsing, state lookup over a fake /run, the container cache. */
import { mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findExeMapping, resolveBinary } from '../src/enrich/binary.js';
import { ContainerCatalog } from '../src/enrich/containers.js';
import {
  namesFromAnnotations,
  parseCrunStatus,
  parseDockerConfig,
  parseOciConfig,
  parseRuncState,
  resolveRootfs,
} from '../src/enrich/oci.js';
import { lookupContainer, lookupContainerSync, safeId, type StateRoots } from '../src/enrich/state.js';
import type { ContainerInfo } from '../src/events/event.js';
import { repoRoot } from './helpers/ctrace-cli.js';

const fixture = (name: string) => readFileSync(resolve(repoRoot, 'test/testdata/oci', name), 'utf8');
const RUNC_ID = '13488bf32a7e141bfeb88adaa6f68f478d75a9b6e34ac88faa3a1aede72a0feb';

describe('OCI state parsing (fixtures captured from runc 1.1.5 on this machine)', () => {
  it("runc's state.json: bundle from the labels, every annotation, absolute rootfs", () => {
    const s = parseRuncState(fixture('runc-state.json'));
    expect(s).toEqual({
      id: RUNC_ID,
      kind: 'runc',
      pid: 8277,
      bundle: '/tmp/inv-bundle',
      rootfs: '/tmp/inv-bundle/rootfs',
      annotations: {
        'io.kubernetes.pod.name': 'mypod',
        'io.kubernetes.pod.namespace': 'ns1',
        'io.kubernetes.cri.container-name': 'ctr',
        'io.kubernetes.cri.image-name': 'busybox:latest',
      },
      created: '2026-11-23T03:20:29.825102127Z',
      cgroupsPath: `/docker/${RUNC_ID}`,
    });
  });

  it("a bundle's config.json: root.path relative to the bundle, annotations", () => {
    const c = parseOciConfig(fixture('runc-bundle-config.json'));
    expect(c.rootPath).toBe('rootfs');
    expect(c.annotations['io.kubernetes.cri.container-name']).toBe('ctr');
    expect(resolveRootfs('/b', c.rootPath)).toBe('/b/rootfs');
    expect(resolveRootfs('/b', '/abs/root')).toBe('/abs/root');
    expect(resolveRootfs(null, 'rootfs')).toBeNull();
  });

  it("crun's status (captured from crun 1.8.1): pid, bundle, rootfs, cgroup path; no annotations of its own", () => {
    const s = parseCrunStatus(fixture('crun-status.json'), 'abc');
    expect(s).toMatchObject({
      id: 'abc',
      kind: 'crun',
      pid: 26732,
      bundle: '/tmp/ctrace-bundle-26717-72fNpn',
      rootfs: '/tmp/ctrace-rootfs-26717-mnJtdh',
      annotations: null,
      created: '2026-11-23T03:44:07.959739Z',
    });
    expect(s.cgroupsPath).toMatch(/^\/machine\.slice\/libpod-[0-9a-f]{64}\.scope\/container$/);
    // a relative rootfs (crun writes the spec's root.path as given) is the bundle's
    const rel = parseCrunStatus(JSON.stringify({ ...JSON.parse(fixture('crun-status.json')), rootfs: 'rootfs' }), 'abc');
    expect(rel.rootfs).toBe('/tmp/ctrace-bundle-26717-72fNpn/rootfs');
    expect(parseOciConfig(fixture('crun-config.json')).annotations).toEqual({ 'io.kubernetes.pod.name': 'p1' });
  });

  it("dockerd's config.v2.json: name without the slash, the image asked for", () => {
    expect(parseDockerConfig(fixture('docker-config.v2.json'))).toEqual({ name: 'web-1', image: 'busybox:1.36' });
  });

  it('names from annotations, most specific key first, empty values skipped', () => {
    expect(
      namesFromAnnotations({
        'io.kubernetes.container.name': 'kubelet-name',
        'io.kubernetes.cri.container-name': 'cri-name',
        'io.kubernetes.cri.image-name': '',
        'io.kubernetes.cri-o.ImageName': 'quay.io/x:1',
        'io.kubernetes.cri.sandbox-name': 'pod-a',
        'io.kubernetes.cri.sandbox-namespace': 'ns-a',
      }),
    ).toEqual({ name: 'cri-name', image: 'quay.io/x:1', podName: 'pod-a', podNamespace: 'ns-a' });
    expect(namesFromAnnotations({ 'nerdctl/name': 'n1' }).name).toBe('n1');
    expect(namesFromAnnotations(null)).toEqual({ name: null, image: null, podName: null, podNamespace: null });
  });

  it('rejects text that is not JSON (a state file being rewritten)', () => {
    expect(() => parseRuncState('{"id": "x", "conf')).toThrow();
  });
});

describe('finding a container\'s state', () => {
  let dir: string;
  let roots: StateRoots;
  const runcId = 'a'.repeat(64);
  const ctrId = 'b'.repeat(64);
  const crunId = 'c'.repeat(64);
  const dockerId = 'd'.repeat(64);

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'ctrace-state-'));
    const put = (p: string, text: string) => {
      mkdirSync(join(dir, p, '..'), { recursive: true });
      writeFileSync(join(dir, p), text);
    };
    const state = JSON.parse(fixture('runc-state.json'));
    state.id = runcId;
    put(`runc/${runcId}/state.json`, JSON.stringify(state));
    // containerd's runc root, one directory per namespace; a state without annotation labels
    const bare = JSON.parse(fixture('runc-state.json'));
    bare.id = ctrId;
    bare.config.labels = [`bundle=${join(dir, 'bundles', ctrId)}`];
    bare.config.rootfs = join(dir, 'bundles', ctrId, 'rootfs');
    put(`containerd/k8s.io/${ctrId}/state.json`, JSON.stringify(bare));
    put(`bundles/${ctrId}/config.json`, fixture('runc-bundle-config.json'));
    // an empty labels list means "no annotations", not "look in the bundle"
    const crun = JSON.parse(fixture('crun-status.json'));
    crun.bundle = join(dir, 'bundles', crunId);
    put(`crun/${crunId}/status`, JSON.stringify(crun));
    put(`crun/${crunId}/config.json`, JSON.stringify({ root: { path: 'rootfs' }, annotations: { 'nerdctl/name': 'from-crun' } }));
    put(`docker/${dockerId}/config.v2.json`, fixture('docker-config.v2.json'));
    put(`runc/${dockerId}/state.json`, JSON.stringify({ ...state, id: dockerId, config: { ...state.config, labels: ['bundle=/x'] } }));
    roots = { runc: [join(dir, 'runc'), join(dir, 'containerd/*')], crun: [join(dir, 'crun')], docker: join(dir, 'docker') };
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('runc: names from state.json labels alone', () => {
    const m = lookupContainerSync(runcId, 'docker', roots)!;
    expect(m).toMatchObject({ id: runcId, kind: 'runc', name: 'ctr', image: 'busybox:latest', podName: 'mypod', podNamespace: 'ns1' });
    expect(m.stateFile).toBe(join(dir, 'runc', runcId, 'state.json'));
    expect(m.rootfs).toBe('/tmp/inv-bundle/rootfs');
  });

  it("containerd's per-namespace runc roots; annotations from the bundle when the state has none", () => {
    const m = lookupContainerSync(ctrId, 'containerd', roots)!;
    expect(m.stateFile).toBe(join(dir, 'containerd/k8s.io', ctrId, 'state.json'));
    expect(m.bundle).toBe(join(dir, 'bundles', ctrId));
    // labels held only the bundle: an empty annotation set, as runc wrote it
    expect(m.annotations).toEqual({});
  });

  it('crun: status + the spec copy beside it', () => {
    const m = lookupContainerSync(crunId, 'podman', roots)!;
    expect(m).toMatchObject({ kind: 'crun', name: 'from-crun', pid: 26732, rootfs: '/tmp/ctrace-rootfs-26717-mnJtdh' });
  });

  it("docker: names from dockerd's config.v2.json when the spec has none", () => {
    expect(lookupContainerSync(dockerId, 'docker', roots)).toMatchObject({ name: 'web-1', image: 'busybox:1.36' });
    // not for another runtime's container
    expect(lookupContainerSync(dockerId, 'cri-o', roots)).toMatchObject({ name: null });
  });

  it('unknown ids and ids that would leave the root find nothing', async () => {
    expect(lookupContainerSync('e'.repeat(64), 'docker', roots)).toBeNull();
    expect(lookupContainerSync('../runc', null, roots)).toBeNull();
    expect(safeId('..')).toBe(false);
    expect(safeId('a/b')).toBe(false);
    expect(safeId('lxc-name_1.2')).toBe(true);
    expect(await lookupContainer(runcId, 'docker', roots)).toEqual(lookupContainerSync(runcId, 'docker', roots));
  });

  it('a synchronous lookup is cheap enough to run on a container\'s first event (< 1 ms)', () => {
    const n = 500;
    let t = performance.now();
    for (let i = 0; i < n; i++) lookupContainerSync(runcId, 'docker', roots);
    const hit = (performance.now() - t) / n;
    t = performance.now();
    for (let i = 0; i < n; i++) lookupContainerSync('e'.repeat(64), 'docker', roots);
    const miss = (performance.now() - t) / n;
    console.log(`state lookup: ${(hit * 1000).toFixed(0)} µs found, ${(miss * 1000).toFixed(0)} µs not found`);
    expect(hit).toBeLessThan(1);
    expect(miss).toBeLessThan(1);
  });

  describe('ContainerCatalog', () => {
    const info = (id: string): ContainerInfo => ({ id, runtime: 'docker', podUid: null, qos: null });

    it('sync: the first event already carries the names; the same object comes back while nothing changes', () => {
      const cat = new ContainerCatalog({ roots });
      const src = info(runcId);
      const a = cat.enrich(src);
      expect(a).toMatchObject({ id: runcId, runtime: 'docker', name: 'ctr', image: 'busybox:latest', podName: 'mypod', podNamespace: 'ns1' });
      expect(cat.enrich(src)).toBe(a);
      expect(src.name).toBeUndefined(); // the classification's object is not modified
    });

    it('async: the first event goes out as it is, later ones carry the names', async () => {
      const cat = new ContainerCatalog({ roots, lookup: 'async' });
      const src = info(runcId);
      expect(cat.enrich(src)).toBe(src);
      await cat.settle(runcId);
      expect(cat.enrich(src).name).toBe('ctr');
    });

    it('a container without state is looked up again after 5, 10, 20 ms..., then at most every retryMs', () => {
      let now = 1_000;
      const id = 'f'.repeat(64);
      const cat = new ContainerCatalog({ roots, now: () => now, retryMs: 2_000 });
      expect(cat.enrich(info(id))).toEqual(info(id));
      // no state for a long while: the retries back off to retryMs
      for (let i = 0; i < 12; i++) {
        now += 2_000;
        cat.enrich(info(id));
      }
      const statePath = join(dir, 'runc', id, 'state.json');
      mkdirSync(join(statePath, '..'), { recursive: true });
      writeFileSync(statePath, fixture('runc-state.json'));
      now += 1_000;
      expect(cat.enrich(info(id)).name).toBeUndefined();
      now += 1_500;
      expect(cat.enrich(info(id)).name).toBe('ctr');
      rmSync(join(statePath, '..'), { recursive: true });
    });

    it('a new container whose state appears a few ms after its first event still gets its name', () => {
      let now = 1_000;
      const id = '3c'.repeat(32);
      const cat = new ContainerCatalog({ roots, now: () => now, retryMs: 2_000 });
      expect(cat.enrich(info(id)).name).toBeUndefined(); // the runtime's init, before runc create wrote the state
      const statePath = join(dir, 'runc', id, 'state.json');
      mkdirSync(join(statePath, '..'), { recursive: true });
      writeFileSync(statePath, fixture('runc-state.json'));
      now += 2;
      expect(cat.enrich(info(id)).name).toBeUndefined(); // not yet due
      now += 5;
      expect(cat.enrich(info(id)).name).toBe('ctr');
      rmSync(join(statePath, '..'), { recursive: true });
    });

    it('an exec looks again at once (its process runs after runc start), a few times at most', () => {
      let now = 1_000;
      const id = '1a'.repeat(32);
      const cat = new ContainerCatalog({ roots, now: () => now, retryMs: 2_000 });
      expect(cat.enrich(info(id)).name).toBeUndefined();
      const statePath = join(dir, 'runc', id, 'state.json');
      mkdirSync(join(statePath, '..'), { recursive: true });
      writeFileSync(statePath, fixture('runc-state.json'));
      expect(cat.enrich(info(id)).name).toBeUndefined(); // not an exec, not due
      expect(cat.enrich(info(id), true).name).toBe('ctr');
      rmSync(join(statePath, '..'), { recursive: true });
      // a container that never has state: execs stop triggering lookups after a few
      const none = '2b'.repeat(32);
      for (let i = 0; i < 20; i++) cat.enrich(info(none), true);
      const late = join(dir, 'runc', none, 'state.json');
      mkdirSync(join(late, '..'), { recursive: true });
      writeFileSync(late, fixture('runc-state.json'));
      expect(cat.enrich(info(none), true).name).toBeUndefined();
      now += 2_000;
      expect(cat.enrich(info(none), true).name).toBe('ctr');
      rmSync(join(late, '..'), { recursive: true });
    });

    it('keeps a removed container ~30 s so late events resolve, then forgets it', () => {
      let now = 0;
      const id = '9'.repeat(64);
      const statePath = join(dir, 'runc', id, 'state.json');
      mkdirSync(join(statePath, '..'), { recursive: true });
      writeFileSync(statePath, fixture('runc-state.json'));
      const cat = new ContainerCatalog({ roots, now: () => now, retainMs: 30_000 });
      expect(cat.enrich(info(id)).name).toBe('ctr');
      rmSync(join(statePath, '..'), { recursive: true }); // runc delete
      now = 1_000;
      cat.sweep(); // noticed gone
      now = 25_000;
      cat.sweep();
      expect(cat.enrich(info(id)).name).toBe('ctr'); // a late exit event
      now = 32_000;
      cat.sweep();
      expect(cat.peek(id)).toBeNull();
      expect(cat.enrich(info(id)).name).toBeUndefined();
    });
  });
});

describe('binary host path', () => {
  it('finds the executable mapping by its path; map_files names drop the zero padding', () => {
    const maps = [
      '00400000-00401000 r--p 00000000 fe:00 2147073                            /bin/busybox',
      '00401000-00585000 r-xp 00001000 fe:00 2147073                            /bin/busybox',
      '7f0000000000-7f0000001000 r--p 00000000 fe:00 12                         /lib/x.so',
    ].join('\n');
    expect(findExeMapping(maps, '/bin/busybox')).toBe('400000-401000');
    expect(findExeMapping(maps + '\n00600000-00601000 r--p 0 fe:00 9 /usr/bin/gone (deleted)', '/usr/bin/gone')).toBe('600000-601000');
    expect(findExeMapping(maps, '/bin/sh')).toBeNull();
  });

  it("resolves this process's own binary to a host path with the same inode", () => {
    const b = resolveBinary(process.pid);
    expect(b).not.toBeNull();
    expect(b!.exe).toBe(readlinkSync('/proc/self/exe'));
    expect(b!.hostPath).not.toBeNull();
    expect(statSync(b!.hostPath!).ino).toBe(statSync('/proc/self/exe').ino);
  });

  it('gives nothing for a process that is not the one the caller meant (start time differs)', () => {
    expect(resolveBinary(process.pid, null, -1)).toBeNull();
    expect(resolveBinary(2 ** 22 + 12345)).toBeNull();
  });
});
