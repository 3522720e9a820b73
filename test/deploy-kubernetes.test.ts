/**
 * deploy/kubernetes and the Helm chart deploy/helm/ctrace, checked as objects: the real helm
 * (from an npm package: see helpers/helm.ts) lints and renders the chart, a YAML parser reads
 * what it renders and the plain manifest. No Kubernetes cluster can run on this machine: the
 * pod spec's runtime behaviour is checked by the podman test instead (test/image.e2e.test.ts
 * runs the image with this spec's capabilities, seccomp and mounts), and here the points a
 * cluster would act on: hostPID, the capability set, the host mounts, the probes on the
 * --metrics port, the resources, and the --nats/--otlp values.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { CAPABILITIES } from '../src/util/capabilities.js';
import { repoRoot } from './helpers/ctrace-cli.js';
import { helmBin, helmTemplate } from './helpers/helm.js';

const chart = join(repoRoot, 'deploy/helm/ctrace');
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Obj = Record<string, any>;

const docs = (text: string): Obj[] => parseAllDocuments(text).map((d) => d.toJS() as Obj).filter(Boolean);
const daemonSet = (objs: Obj[]) => objs.find((o) => o.kind === 'DaemonSet')!;
const container = (ds: Obj) => ds.spec.template.spec.containers[0];
const argAfter = (args: string[], flag: string) => (args.includes(flag) ? args[args.indexOf(flag) + 1] : undefined);

/** The host paths the pod needs, each mounted read-only at the same path. */
const HOST_MOUNTS = [
  '/sys/kernel/btf',
  '/sys/kernel/tracing',
  '/sys/fs/cgroup',
  '/run/containerd/runc',
  '/run/containerd/io.containerd.runtime.v2.task',
  '/run/runc',
  '/run/crun',
  '/run/containers/storage',
];

function checkPodSpec(ds: Obj) {
  const pod = ds.spec.template.spec;
  const c = container(ds);
  // the host PID namespace: ctrace's /proc is the node's, its PID-namespace screen is the host's
  expect(pod.hostPID).toBe(true);
  expect(pod.automountServiceAccountToken).toBe(false);
  expect(pod.tolerations).toEqual([{ operator: 'Exists' }]);

  const volumes = new Map<string, string>(pod.volumes.map((v: Obj) => [v.name, v.hostPath?.path]));
  for (const path of HOST_MOUNTS) {
    const m = c.volumeMounts.find((vm: Obj) => vm.mountPath === path);
    expect(m, path).toBeDefined();
    expect(m.readOnly, path).toBe(true);
    expect(volumes.get(m.name), path).toBe(path);
  }
  expect(volumes.get(c.volumeMounts.find((vm: Obj) => vm.mountPath === '/var/log/ctrace').name)).toBe('/var/log/ctrace');
  // never the runtime's API socket
  expect(pod.volumes.filter((v: Obj) => /^\/run\/containerd\/?$|\.sock$/.test(v.hostPath?.path ?? ''))).toEqual([]);

  // probes on the port ctrace serves its metrics on, reachable from the kubelet
  const port = c.ports.find((p: Obj) => p.name === 'metrics').containerPort;
  expect(argAfter(c.args, '--metrics')).toBe(`0.0.0.0:${port}`);
  expect(c.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'metrics' });
  expect(c.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'metrics' });

  // bench: peak RSS about 75 MB under storms
  expect(c.resources.requests.memory).toBe('100Mi');
  expect(c.resources.limits.memory).toBe('200Mi');
  expect(c.args[0]).toBe('run');
  expect(argAfter(c.args, '--log')).toBe('/var/log/ctrace/ctrace.log');
}

describe('Helm chart deploy/helm/ctrace', () => {
  it('helm lint --strict passes', () => {
    const r = spawnSync(helmBin(), ['lint', '--strict', chart], { encoding: 'utf8' });
    expect(r.stdout + r.stderr).toMatch(/1 chart\(s\) linted, 0 chart\(s\) failed/);
    expect(r.status).toBe(0);
  });

  it('default values: hostPID, exactly the capability set, host mounts, probes, resources', () => {
    const objs = docs(helmTemplate(chart));
    expect(objs.map((o) => o.kind).sort()).toEqual(['DaemonSet', 'ServiceAccount']);
    const ds = daemonSet(objs);
    checkPodSpec(ds);
    const sc = container(ds).securityContext;
    expect(sc.privileged).toBe(false);
    expect(sc.allowPrivilegeEscalation).toBe(false);
    expect(sc.capabilities).toEqual({ drop: ['ALL'], add: CAPABILITIES.map((c) => c.replace(/^CAP_/, '')) });
    expect(sc.seccompProfile).toEqual({ type: 'Unconfined' });
    expect(container(ds).args).toContain('--quiet');
    expect(container(ds).args).not.toContain('--nats');
    expect(container(ds).args).not.toContain('--otlp');
  });

  it('privileged=true: privileged, no capability list', () => {
    const sc = container(daemonSet(docs(helmTemplate(chart, { privileged: 'true' })))).securityContext;
    expect(sc.privileged).toBe(true);
    expect(sc.capabilities).toBeUndefined();
  });

  it('NATS and OTLP values become --nats/--otlp arguments, the spool a host directory', () => {
    const ds = daemonSet(
      docs(
        helmTemplate(chart, {
          'nats.servers': '{nats://a:4222,nats://b:4222}',
          'nats.format': 'protobuf',
          'otlp.endpoint': 'http://collector:4318',
          output: 'json',
        }),
      ),
    );
    checkPodSpec(ds);
    const args: string[] = container(ds).args;
    expect(argAfter(args, '--nats')).toBe('nats://a:4222,nats://b:4222');
    expect(argAfter(args, '--nats-stream')).toBe('CTRACE');
    expect(argAfter(args, '--nats-format')).toBe('protobuf');
    expect(argAfter(args, '--nats-spool')).toBe('/var/lib/ctrace/nats-spool');
    expect(argAfter(args, '--otlp')).toBe('http://collector:4318');
    expect(argAfter(args, '--output')).toBe('json');
    expect(args).not.toContain('--quiet');
    const spool = container(ds).volumeMounts.find((m: Obj) => m.mountPath === '/var/lib/ctrace/nats-spool');
    expect(ds.spec.template.spec.volumes.find((v: Obj) => v.name === spool.name).hostPath.path).toBe('/var/lib/ctrace/nats-spool');
  });
});

describe('plain manifest deploy/kubernetes/ctrace.yaml', () => {
  const objs = docs(readFileSync(join(repoRoot, 'deploy/kubernetes/ctrace.yaml'), 'utf8'));

  it('a Namespace at the privileged Pod Security level, a ServiceAccount, the DaemonSet', () => {
    expect(objs.map((o) => o.kind)).toEqual(['Namespace', 'ServiceAccount', 'DaemonSet']);
    expect(objs[0]!.metadata.labels['pod-security.kubernetes.io/enforce']).toBe('privileged');
    checkPodSpec(daemonSet(objs));
  });

  it('has the pod spec the chart renders by default (the two cannot drift)', () => {
    expect(daemonSet(objs).spec.template.spec).toEqual(daemonSet(docs(helmTemplate(chart))).spec.template.spec);
  });
});
