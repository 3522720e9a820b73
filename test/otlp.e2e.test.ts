/**
 * `--otlp` end to end, with the real BPF program and a real runc container shaped
 * like a Kubernetes pod's. No OpenTelemetry Collector can be installed on this
 * machine: the receiver (test/helpers/otlp-receiver.ts) is a stand-in for one,
 * an OTLP/HTTP endpoint on loopback that decodes every request with the
 * OpenTelemetry protobuf definitions. Every event ctrace printed must arrive as
 * one log record, in order, with exactly the attributes the semantic conventions
 * (and the README's table) give it; a collector that is down is loss, counted at stop.
 */
import { hostname } from 'node:os';
import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCtrace, type JsonEvent } from './helpers/ctrace-cli.js';
import { startOtlpReceiver, type AttrValue, type OtlpReceiver } from './helpers/otlp-receiver.js';
import { privileged } from './helpers/privileges.js';
import { openGate, WAIT_AT_GATE } from './helpers/fifo-gate.js';
import { cleanupAllContainers, dockerId, k8sSystemdPath, podUid, runContainer, runContainerToExit } from './helpers/runc.js';

const ANNOTATIONS = {
  'io.kubernetes.pod.name': 'api-0',
  'io.kubernetes.pod.namespace': 'payments',
  'io.kubernetes.cri.container-name': 'worker',
  'io.kubernetes.cri.image-name': 'docker.io/library/busybox:1.36',
};

/** What the README promises for one event of the JSON form, written out here independently of src/sinks/otlp.ts. */
function expectedAttributes(e: JsonEvent): Record<string, AttrValue> {
  const a: Record<string, AttrValue> = {
    'ctrace.event.type': e.type,
    'process.pid': e.pid,
    'process.parent_pid': e.ppid,
    'process.vpid': e.nspid,
    'process.user.id': e.uid,
    'process.linux.cgroup': e.cgroupPath,
    'thread.id': e.tid,
    'thread.name': e.comm,
    'ctrace.process.gid': e.gid,
    'ctrace.scope': e.scope,
    'ctrace.cgroup.id': e.cgroupId,
    'ctrace.cgroup.v1': e.cgroupV1,
    'ctrace.pid_ns': e.pidNs,
    'ctrace.mnt_ns': e.mntNs,
  };
  const c = e.container;
  if (c) {
    a['container.id'] = c.id;
    a['container.runtime.name'] = c.runtime;
    if (c.name) a['container.name'] = c.name;
    if (c.image) a['container.image.name'] = c.image;
    if (c.podUid) a['k8s.pod.uid'] = c.podUid;
    if (c.podName) a['k8s.pod.name'] = c.podName;
    if (c.podNamespace) a['k8s.namespace.name'] = c.podNamespace;
    if (c.qos) a['ctrace.k8s.qos'] = c.qos;
  }
  if (e.type === 'exec') {
    a['process.executable.path'] = e.exec.filename;
    a['process.executable.name'] = e.exec.filename.split('/').pop();
    if (e.exec.argv.length) a['process.command'] = e.exec.argv[0];
    a['process.command_args'] = e.exec.argv;
    a['ctrace.exec.argv_truncated'] = e.exec.argvTruncated;
  } else if (e.type === 'exit') {
    a['process.exit.code'] = e.exit.code;
    a['ctrace.exit.signal'] = e.exit.signal;
    a['ctrace.exit.core_dumped'] = e.exit.coreDumped;
    a['ctrace.exit.duration_ns'] = e.exit.durationNs;
  } else {
    a['ctrace.mount.op'] = e.mount.op;
    if (e.mount.source !== null) a['ctrace.mount.source'] = e.mount.source;
    if (e.mount.target !== null) a['ctrace.mount.target'] = e.mount.target;
    if (e.mount.fstype !== null) a['ctrace.mount.fstype'] = e.mount.fstype;
    a['ctrace.mount.flags'] = e.mount.flags;
    a['ctrace.mount.ret'] = e.mount.ret;
  }
  return a;
}

/** Nanoseconds since the epoch of an ISO time with nanoseconds, exactly. */
function isoNs(iso: string): bigint {
  const m = /^(.*T\d\d:\d\d:\d\d)\.(\d{9})Z$/.exec(iso)!;
  return BigInt(Date.parse(m[1] + 'Z')) * 1_000_000n + BigInt(m[2]!);
}

describe.runIf(privileged())('--otlp with a real container (the receiver stands in for a collector)', () => {
  let rx: OtlpReceiver;
  beforeAll(async () => {
    rx = await startOtlpReceiver();
  });
  afterAll(async () => {
    await cleanupAllContainers();
    await rx?.close();
  });

  it('every event arrives as one log record, in order, with its semantic-convention attributes', async () => {
    // headers (a collector's token) come from the standard variable, as for any OpenTelemetry SDK
    const id = dockerId();
    const pod = podUid();
    // running (its names in its runtime state) before ctrace starts; the workload waits at a gate
    const c = await runContainer({
      id,
      cgroupsPath: k8sSystemdPath({ qos: 'burstable', podUid: pod, scope: `cri-containerd-${id}.scope` }),
      args: ['/bin/sh', '-c', `${WAIT_AT_GATE}/bin/echo one two; mount -t tmpfs none /mnt; /bin/true; exit 5`],
      capAdd: ['CAP_SYS_ADMIN'],
      annotations: ANNOTATIONS,
    });
    process.env.OTEL_EXPORTER_OTLP_HEADERS = 'authorization=Bearer fleet-token';
    const ct = await startCtrace(['--otlp', rx.url]).finally(() => delete process.env.OTEL_EXPORTER_OTLP_HEADERS);
    await openGate(c);
    const exited = await c.exited;
    await c.remove();
    expect(exited.code).toBe(5);
    const run = { pid: c.pid };
    const mine = (evs: JsonEvent[]) => evs.filter((e) => e.container?.id === id);
    await ct.waitFor((evs) => mine(evs).some((e) => e.type === 'exit' && e.pid === run.pid), 15_000, `exit of ${id}`);
    const { code, stderr } = await ct.stop('SIGTERM');
    expect(code).toBe(0);

    // the container did what we asked, and ctrace saw it (stdout: the JSON form)
    const ours = mine(ct.events);
    expect(ours.some((e) => e.type === 'exec' && e.exec.filename === '/bin/echo' && e.exec.argv.join(' ') === '/bin/echo one two')).toBe(true);
    expect(ours.some((e) => e.type === 'mount' && e.mount.fstype === 'tmpfs' && e.mount.target === '/mnt' && e.mount.ret === 0)).toBe(true);
    expect(ours.some((e) => e.type === 'exit' && e.pid === run.pid && e.exit.code === 5)).toBe(true);

    // the receiver got exactly the events ctrace printed (other tests' containers included), in order
    expect(rx.rejected).toEqual([]);
    expect(rx.authorization).toBe('Bearer fleet-token');
    expect(rx.encoding).toBeUndefined();
    const logs = rx.logs.filter((l) => l.attributes['ctrace.event.type'] !== 'lost');
    expect(logs.length).toBe(ct.events.length);
    for (let i = 0; i < logs.length; i++) {
      const e = ct.events[i]!;
      const l = logs[i]!;
      expect(l.attributes, `record ${i}: ${JSON.stringify(e)}`).toEqual(expectedAttributes(e));
      expect(l.timeUnixNano).toBe(isoNs(e.time));
      expect(l.observedTimeUnixNano).toBeGreaterThan(0n);
      expect(l).toMatchObject({ severityNumber: 9, severityText: 'INFO', eventName: `ctrace.${e.type}` });
      expect(typeof l.body).toBe('string');
    }
    // the kernel's loss reports, if any, came as WARN records
    for (const l of rx.logs.filter((x) => x.attributes['ctrace.event.type'] === 'lost')) expect(l.severityNumber).toBe(13);

    // our container's records carry the pod and container identity
    const identity = {
      'k8s.pod.uid': pod,
      'k8s.pod.name': 'api-0',
      'k8s.namespace.name': 'payments',
      'container.name': 'worker',
      'container.image.name': 'docker.io/library/busybox:1.36',
      'container.runtime.name': 'containerd',
    };
    const execEcho = logs.find((l) => l.attributes['container.id'] === id && l.attributes['process.executable.path'] === '/bin/echo')!;
    expect(execEcho.attributes).toMatchObject({ ...identity, 'process.command_args': ['/bin/echo', 'one', 'two'], 'process.command': '/bin/echo' });
    expect(execEcho.body).toBe('exec /bin/echo ["/bin/echo","one","two"]');
    const initExit = logs.find((l) => l.attributes['container.id'] === id && l.eventName === 'ctrace.exit' && l.attributes['process.pid'] === run.pid)!;
    expect(initExit.attributes).toMatchObject({ ...identity, 'process.exit.code': 5 });

    // one resource and scope for all: the agent on this host
    for (const l of rx.logs) {
      expect(l.resource).toMatchObject({ 'service.name': 'ctrace', 'host.name': hostname(), 'os.type': 'linux' });
      expect(l.scope.name).toBe('ctrace');
    }
    const m = new RegExp(`otlp ${rx.url}/v1/logs: (\\d+) of (\\d+) log records exported, 0 lost`).exec(stderr);
    expect(m, stderr).not.toBeNull();
    expect(Number(m![1])).toBe(rx.logs.length);
    expect(Number(m![2])).toBe(rx.logs.length);
  });

  it('a collector that answers 503 for a moment: the exporter retries and nothing is lost (gzip on)', async () => {
    const busy = await startOtlpReceiver({ unavailableFor: 2 });
    try {
      process.env.OTEL_EXPORTER_OTLP_COMPRESSION = 'gzip';
      const ct = await startCtrace(['--otlp', busy.url]).finally(() => delete process.env.OTEL_EXPORTER_OTLP_COMPRESSION);
      const id = dockerId();
      await runContainerToExit({ id, cgroupsPath: `/docker/${id}`, args: ['/bin/sh', '-c', '/bin/true; exit 0'] });
      await ct.waitFor((evs) => evs.some((e) => e.container?.id === id && e.type === 'exit'), 15_000, `exit of ${id}`);
      const { code, stderr } = await ct.stop('SIGTERM');
      expect(code).toBe(0);
      expect(busy.requests).toBeGreaterThanOrEqual(3); // two refused, then accepted
      expect(busy.rejected).toEqual([]);
      expect(busy.encoding).toBe('gzip');
      expect(busy.logs.filter((l) => l.attributes['ctrace.event.type'] !== 'lost').length).toBe(ct.events.length);
      expect(stderr).toMatch(new RegExp(`otlp ${busy.url}/v1/logs: (\\d+) of \\1 log records exported, 0 lost`));
      expect(stderr).not.toMatch(/otlp export to .* failed/);
    } finally {
      await busy.close();
    }
  });

  it('a collector that is down: the records are counted lost, said once while running and at stop', async () => {
    // a port that was free a moment ago: nothing listens there
    const port = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => resolve(p));
      });
    });
    const ct = await startCtrace(['--otlp', `http://127.0.0.1:${port}`]);
    const id = dockerId();
    await runContainerToExit({ id, cgroupsPath: `/docker/${id}`, args: ['/bin/sh', '-c', '/bin/true; exit 0'] });
    await ct.waitFor((evs) => evs.some((e) => e.container?.id === id && e.type === 'exit'), 15_000, `exit of ${id}`);
    const { code, stderr } = await ct.stop('SIGTERM');
    expect(code).toBe(0);
    const m = new RegExp(`otlp http://127.0.0.1:${port}/v1/logs: 0 of (\\d+) log records exported, (\\d+) lost`).exec(stderr);
    expect(m, stderr).not.toBeNull();
    expect(Number(m![1])).toBeGreaterThanOrEqual(ct.events.length);
    expect(Number(m![2])).toBe(Number(m![1]));
    const notes = stderr.split('\n').filter((l) => l.includes(`otlp export to http://127.0.0.1:${port}/v1/logs failed`));
    expect(notes.length, stderr).toBe(1);
    expect(notes[0]).toMatch(/records are being lost$/);
  }, 60_000);
});
