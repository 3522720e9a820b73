/**
 * Synthetic TraceEvents, as the tracer would produce them for real containers:
 * for testing sinks, formats and the audit log without BPF.
 */
import type { RawExec, RawExecFacts, RawTask } from '../../src/decode/abi.js';
import type { ContainerInfo, ExecEvent, ExitEvent, MountEvent, TraceEvent } from '../../src/events/event.js';
import { isoNs } from '../../src/util/clock.js';

const T0 = 1_795_000_000_000_000_000n; // 2026-11-18, wall ns
const K0 = 5_000_000_000_000n; // monotonic ns

export const DOCKER_ID = 'a'.repeat(12) + '0123456789abcdef'.repeat(3) + '0123';
export const POD_UID = '0b4b0ec6-2f7c-4b0e-9d55-6a1e2c3d4f5a';

export const dockerContainer: ContainerInfo = {
  id: DOCKER_ID,
  runtime: 'docker',
  podUid: null,
  qos: null,
  name: null,
  image: null,
  podName: null,
  podNamespace: null,
};

export const podContainer: ContainerInfo = {
  id: 'f'.repeat(64),
  runtime: 'containerd',
  podUid: POD_UID,
  qos: 'burstable',
  name: 'web',
  image: 'nginx:1.27',
  podName: 'web-7d9c',
  podNamespace: 'prod',
};

function base(i: number, container: ContainerInfo | null) {
  const ktime = K0 + BigInt(i) * 1_234_567n;
  return {
    time: isoNs(T0 + ktime - K0 + 123n),
    ktimeNs: ktime,
    pid: 40000 + i,
    tid: 40000 + i,
    ppid: 39999 + i,
    nspid: (i % 50) + 1,
    uid: i % 3 === 0 ? 0 : 1000,
    gid: i % 3 === 0 ? 0 : 1000,
    comm: 'sh',
    cgroupId: 5120 + (i % 4),
    cgroupPath: container
      ? container.runtime === 'docker'
        ? `/docker/${container.id}`
        : `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${POD_UID.replace(/-/g, '_')}.slice/cri-containerd-${container.id}.scope`
      : '/user.slice/user-0.slice/session-1.scope',
    cgroupV1: false,
    pidNs: container ? 4026532178 : 4026531836,
    mntNs: container ? 4026532177 : 4026531841,
    scope: container ? ('container' as const) : ('host' as const),
    container,
    reason: null as string | null,
    processId: `3c8400f7897f45c19104388a2c527b9a:${2_000_000_000n + BigInt(i) * 1000n}:${40000 + i}` as string | null,
    parentProcessId: `3c8400f7897f45c19104388a2c527b9a:1500000000:${39999 + i}` as string | null,
  };
}

export function execEvent(i = 0, o: Partial<ExecEvent['exec']> & { container?: ContainerInfo | null } = {}): ExecEvent {
  const { container = dockerContainer, ...exec } = o;
  return {
    ...base(i, container),
    type: 'exec',
    exec: {
      filename: '/bin/sh',
      argv: ['sh', '-c', `echo ${i} > /tmp/x`],
      argvTruncated: false,
      filenameTruncated: false,
      argc: 3,
      execId: `3c8400f7897f45c19104388a2c527b9a:${2_000_000_000n + BigInt(i) * 1000n}:${40000 + i}:${K0 + BigInt(i) * 1_234_567n}`,
      entry: false,
      ancestors: [{ processId: `3c8400f7897f45c19104388a2c527b9a:1500000000:${39999 + i}`, pid: 39999 + i, comm: 'sh', filename: '/bin/sh', outside: false }],
      ancestorsTruncated: false,
      cwd: '/',
      cwdTruncated: false,
      tty: null,
      loginUid: null,
      sessionId: null,
      capEffective: '00000000a80425fb',
      capabilities: ['CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FOWNER', 'CAP_FSETID', 'CAP_KILL', 'CAP_SETGID', 'CAP_SETUID', 'CAP_SETPCAP', 'CAP_NET_BIND_SERVICE', 'CAP_NET_RAW', 'CAP_SYS_CHROOT', 'CAP_MKNOD', 'CAP_AUDIT_WRITE', 'CAP_SETFCAP'],
      userNs: 4026531837,
      hostRoot: i % 3 === 0,
      binary: { hostPath: null, sha256: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855', hashError: null, size: 1024, upperLayer: false, memfd: false, deleted: false },
      ...exec,
    },
  };
}

export function exitEvent(i = 0, o: Partial<ExitEvent['exit']> & { container?: ContainerInfo | null } = {}): ExitEvent {
  const { container = dockerContainer, ...exit } = o;
  return {
    ...base(i, container),
    type: 'exit',
    exit: { code: i % 256, signal: 0, coreDumped: false, durationNs: 1_834_000 + i, ...exit },
  };
}

export function mountEvent(i = 0, o: Partial<MountEvent['mount']> & { container?: ContainerInfo | null } = {}): MountEvent {
  const { container = podContainer, ...mount } = o;
  return {
    ...base(i, container),
    comm: 'mount',
    type: 'mount',
    mount: {
      op: 'mount',
      source: 'none',
      target: '/mnt',
      fstype: 'tmpfs',
      flags: 0,
      ret: 0,
      sourceTruncated: false,
      targetTruncated: false,
      fstypeTruncated: false,
      argsChanged: false,
      argsUnverified: false,
      kernelView: true,
      ...mount,
    },
  };
}

/**
 * `n` events cycling through the shapes the tracer produces: docker and pod
 * containers, host, every event type, nulls, odd strings (escaped invalid
 * UTF-8, quotes, newlines, non-ASCII), a killed process, a failed mount,
 * large flags and ids.
 */
export function sampleEvents(n: number): TraceEvent[] {
  const out: TraceEvent[] = [];
  for (let i = 0; i < n; i++) {
    switch (i % 8) {
      case 0:
        out.push(execEvent(i));
        break;
      case 1:
        out.push(execEvent(i, { container: podContainer, filename: '/usr/bin/curl', argv: ['curl', '-s', 'http://10.0.0.1/"x"\n'] }));
        break;
      case 2:
        out.push(exitEvent(i));
        break;
      case 3:
        out.push(exitEvent(i, { code: 0, signal: 9, coreDumped: true, container: podContainer }));
        break;
      case 4:
        out.push(mountEvent(i));
        break;
      case 5:
        out.push(
          mountEvent(i, {
            op: 'move_mount',
            source: null,
            target: '/proc/sys',
            fstype: null,
            flags: 2 ** 40 + 7,
            ret: -1,
            targetTruncated: true,
            argsChanged: true,
            argsUnverified: true,
            kernelView: false,
            container: dockerContainer,
          }),
        );
        break;
      case 6:
        out.push(
          execEvent(i, {
            container: null,
            filename: '/usr/bin/\\xff\\xfeodd',
            argv: ['odd', 'ünïcödé ✓', '\\x80', ''],
            argvTruncated: true,
          }),
        );
        break;
      default:
        out.push({ ...exitEvent(i, { container: null }), scope: 'unknown', cgroupPath: '/weird/layout', cgroupId: 2 ** 40 });
    }
  }
  return out;
}

/** A raw exec record as src/decode/abi.ts decodes it: a container's `/bin/sh`, every field given, the parts in `o` replaced. */
export function rawExec(o: { task?: Partial<RawTask>; facts?: Partial<RawExecFacts> } & Partial<Omit<RawExec, 'task' | 'facts'>> = {}): RawExec {
  const { task, facts, ...rest } = o;
  return {
    type: 'exec',
    flags: 0,
    ktimeNs: 99n,
    task: {
      tid: 500,
      tgid: 500,
      ppid: 0,
      nspid: 1,
      uid: 0,
      gid: 0,
      pidnsIno: 4026532200,
      mntnsIno: 1,
      cgroupKey: 5000n,
      startNs: 500_000n,
      parentStartNs: 0n,
      cgroupId: 5000,
      cgroupV1: false,
      verdict: 0,
      cgroupPath: '/docker/x',
      comm: 'sh',
      ...task,
    },
    facts: {
      exeDev: 0,
      exeIno: 0n,
      exeSize: 0,
      exeCtimeNs: 0n,
      xflags: 0,
      capEffective: 0n,
      loginuid: 0,
      sessionid: 0,
      usernsIno: 0,
      usernsLevel: 0,
      execSeq: 1,
      tty: '',
      cwd: '/',
      ancestors: [],
      ...facts,
    },
    argc: 1,
    filename: '/bin/sh',
    argv: ['sh'],
    argvTruncated: false,
    filenameTruncated: false,
    ...rest,
  };
}
