/**
 * OCSF end to end, with the real BPF program and a real runc container shaped
 * like a Kubernetes pod's: `--output ocsf` and `--log-format ocsf` write records
 * that the OCSF 1.7.0 schema files accept, every one of them (the validator in
 * test/helpers reads ../shared/ocsf/), with the container's exec, mount, failed
 * mount and exit mapped as the README's table says; the OCSF log holds the same
 * events as stdout, and `ctrace verify` checks its chain and finds an edit.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ctraceBin, startCtrace, type JsonEvent } from './helpers/ctrace-cli.js';
import { OcsfSchema } from './helpers/ocsf-schema.js';
import { privileged } from './helpers/privileges.js';
import { openGate, WAIT_AT_GATE } from './helpers/fifo-gate.js';
import { cleanupAllContainers, dockerId, k8sSystemdPath, podUid, runContainer } from './helpers/runc.js';

const ANNOTATIONS = {
  'io.kubernetes.pod.name': 'api-0',
  'io.kubernetes.pod.namespace': 'payments',
  'io.kubernetes.cri.container-name': 'worker',
  'io.kubernetes.cri.image-name': 'docker.io/library/busybox:1.36',
};

const withoutChain = (o: JsonEvent): JsonEvent => {
  const { seq: _s, hash: _h, prev: _p, ...unmapped } = o.unmapped;
  return { ...o, unmapped };
};

describe.runIf(privileged())('OCSF output and OCSF audit log with a real container', () => {
  let dir: string;
  const schema = new OcsfSchema();
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'ctrace-ocsf-e2e-'));
  });
  afterAll(async () => {
    await cleanupAllContainers();
    rmSync(dir, { recursive: true, force: true });
  });

  it('every record is valid OCSF 1.7.0, the container is mapped as documented, and verify checks the log', async () => {
    const logPath = join(dir, 'ctrace.ocsf');
    const id = dockerId();
    const pod = podUid();
    // running (its names in its runtime state) before ctrace starts; the workload waits at a gate
    const c = await runContainer({
      id,
      cgroupsPath: k8sSystemdPath({ qos: 'besteffort', podUid: pod, scope: `cri-containerd-${id}.scope` }),
      args: ['/bin/sh', '-c', `${WAIT_AT_GATE}/bin/echo one two; mount -t tmpfs none /mnt; mount -t tmpfs none /nonexistent; exit 5`],
      capAdd: ['CAP_SYS_ADMIN'],
      annotations: ANNOTATIONS,
    });
    const ct = await startCtrace(['--output', 'ocsf', '--log', logPath, '--log-format', 'ocsf']);
    await openGate(c);
    const exited = await c.exited;
    await c.remove();
    expect(exited.code).toBe(5);
    const run = { pid: c.pid };
    const mine = (evs: JsonEvent[]) => evs.filter((e) => e.process?.container?.uid === id || e.actor?.process?.container?.uid === id);
    await ct.waitFor((evs) => mine(evs).some((e) => e.class_uid === 1007 && e.activity_id === 2 && e.process.pid === run.pid), 15_000, `exit of ${id}`);
    const { code, stderr } = await ct.stop('SIGTERM');
    expect(code).toBe(0);

    // every record on stdout is valid against the schema files
    expect(ct.events.length).toBeGreaterThan(5);
    for (const o of ct.events) expect(schema.validate(o), JSON.stringify(o)).toEqual([]);

    const ours = mine(ct.events);
    const launch = ours.find((e) => e.class_uid === 1007 && e.activity_id === 1 && e.process.file.path === '/bin/echo');
    expect(launch).toMatchObject({
      type_uid: 100701,
      category_uid: 1,
      severity_id: 1,
      status_id: 1,
      metadata: { version: '1.7.0', profiles: ['container', 'datetime'], product: { name: 'ctrace' } },
      process: {
        cmd_line: '/bin/echo one two',
        file: { name: 'echo', path: '/bin/echo' },
        container: { uid: id, name: 'worker', runtime: 'containerd', pod_uuid: pod, orchestrator: 'Kubernetes' },
      },
      unmapped: { type: 'exec', container: { podName: 'api-0', podNamespace: 'payments', image: 'docker.io/library/busybox:1.36' } },
    });
    expect(launch!.process.parent_process.pid).toBe(launch!.actor.process.pid);
    expect(launch!.device.hostname).toBeTruthy();
    const mounts = ours.filter((e) => e.class_uid === 1001 && e.activity_id === 12 && e.unmapped.mount.fstype === 'tmpfs');
    expect(mounts.find((e) => e.file.path === '/mnt')).toMatchObject({ type_uid: 100112, status_id: 1, file: { name: 'mnt', type_id: 2 } });
    expect(mounts.find((e) => e.file.path === '/nonexistent')).toMatchObject({ status_id: 2, status: 'Failure', status_detail: 'ENOENT', status_code: '-2' });
    expect(ours.find((e) => e.class_uid === 1007 && e.activity_id === 2 && e.process.pid === run.pid)).toMatchObject({
      type_uid: 100702,
      exit_code: 5,
      process: { container: { uid: id, name: 'worker', pod_uuid: pod } },
      unmapped: { type: 'exit', container: { podName: 'api-0', podNamespace: 'payments', image: 'docker.io/library/busybox:1.36' } },
    });

    // the log: start first, stop last, every line valid, the same events as stdout
    const lines = readFileSync(logPath, 'utf8').trimEnd().split('\n');
    const recs = lines.map((l) => JSON.parse(l) as JsonEvent);
    for (const r of recs) expect(schema.validate(r), JSON.stringify(r)).toEqual([]);
    expect(recs[0]).toMatchObject({ class_uid: 1008, activity_id: 6, unmapped: { type: 'start', seq: 0, options: { logFormat: 'ocsf', output: 'ocsf' } } });
    expect(recs.at(-1)).toMatchObject({ class_uid: 1008, activity_id: 7, unmapped: { type: 'stop', reason: 'SIGTERM' } });
    const logged = recs.filter((r) => ['exec', 'exit', 'mount'].includes(r.unmapped.type)).map(withoutChain);
    expect(logged).toEqual(ct.events);

    // ctrace verify: the chain holds, its head is the one printed at stop; an edit is found
    const ok = spawnSync(process.execPath, [ctraceBin, 'verify', logPath], { encoding: 'utf8' });
    expect(ok.status, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/^ok: 1 file, /);
    const head = /hash ([0-9a-f]{64})/.exec(stderr)![1]!;
    expect(recs.at(-1)!.unmapped.hash).toBe(head);
    const i = lines.findIndex((l) => l.includes('"/bin/echo one two"'));
    const edited = [...lines];
    edited[i] = edited[i]!.replace('"/bin/echo one two"', '"/bin/echo one too"');
    const bad = join(dir, 'edited.ocsf');
    writeFileSync(bad, edited.join('\n') + '\n');
    const no = spawnSync(process.execPath, [ctraceBin, 'verify', bad], { encoding: 'utf8' });
    expect(no.status).toBe(1);
    expect(no.stderr + no.stdout).toContain(`${bad}:${i + 1}: altered`);
  });
});
