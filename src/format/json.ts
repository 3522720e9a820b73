/**
 * The JSON form of DESIGN.md: one object per event, camelCase, absent data is null.
 * Used by stdout (`--output json`) and the JSONL audit log.
 */
import type { ContainerInfo, EventType, ExecDetail, TraceEvent } from '../event.js';

/** A container's keys in the JSON form (a nested container's outer one is not among them yet). */
export type ContainerJson = Required<Omit<ContainerInfo, 'outerId' | 'outerRuntime'>>;

/** A container in the JSON form: every key present, absent data null. */
export function containerJsonObject(c: ContainerInfo): ContainerJson {
  return {
    id: c.id,
    runtime: c.runtime,
    podUid: c.podUid,
    qos: c.qos,
    name: c.name ?? null,
    image: c.image ?? null,
    podName: c.podName ?? null,
    podNamespace: c.podNamespace ?? null,
  };
}

/** The plain object for one event, in the documented key order. */
export function toJsonObject(ev: TraceEvent): Record<string, unknown> {
  const base: Record<string, unknown> = {
    type: ev.type,
    time: ev.time,
    pid: ev.pid,
    tid: ev.tid,
    ppid: ev.ppid,
    nspid: ev.nspid,
    uid: ev.uid,
    gid: ev.gid,
    comm: ev.comm,
    cgroupId: ev.cgroupId,
    pidNs: ev.pidNs,
    mntNs: ev.mntNs,
    container: ev.container ? containerJsonObject(ev.container) : null,
    scope: ev.scope,
    cgroupPath: ev.cgroupPath,
    cgroupV1: ev.cgroupV1,
    reason: ev.reason ?? null,
    processId: ev.processId ?? null,
    parentProcessId: ev.parentProcessId ?? null,
  };
  switch (ev.type) {
    case 'exec':
      base.exec = execJsonObject(ev.exec);
      break;
    case 'exit':
      base.exit = {
        code: ev.exit.code,
        signal: ev.exit.signal,
        coreDumped: ev.exit.coreDumped,
        durationNs: ev.exit.durationNs,
      };
      break;
    case 'mount':
      base.mount = {
        op: ev.mount.op,
        source: ev.mount.source,
        target: ev.mount.target,
        fstype: ev.mount.fstype,
        flags: ev.mount.flags,
        ret: ev.mount.ret,
        sourceTruncated: ev.mount.sourceTruncated ?? false,
        targetTruncated: ev.mount.targetTruncated ?? false,
        fstypeTruncated: ev.mount.fstypeTruncated ?? false,
        argsChanged: ev.mount.argsChanged ?? false,
        argsUnverified: ev.mount.argsUnverified ?? false,
        kernelView: ev.mount.kernelView ?? false,
      };
      break;
  }
  return base;
}

/** An exec's detail in the JSON form: who did it and what ran, every key present. */
export function execJsonObject(x: ExecDetail): Record<string, unknown> {
  const b = x.binary;
  return {
    filename: x.filename,
    argv: x.argv,
    argvTruncated: x.argvTruncated,
    filenameTruncated: x.filenameTruncated ?? false,
    execId: x.execId ?? null,
    entry: x.entry ?? false,
    ancestors: (x.ancestors ?? []).map((a) => ({
      processId: a.processId,
      pid: a.pid,
      comm: a.comm,
      filename: a.filename,
      outside: a.outside,
    })),
    ancestorsTruncated: x.ancestorsTruncated ?? false,
    cwd: x.cwd ?? null,
    cwdTruncated: x.cwdTruncated ?? false,
    tty: x.tty ?? null,
    loginUid: x.loginUid ?? null,
    sessionId: x.sessionId ?? null,
    capEffective: x.capEffective ?? null,
    capabilities: x.capabilities ?? [],
    userNs: x.userNs ?? null,
    hostRoot: x.hostRoot ?? null,
    binary: b
      ? {
          hostPath: b.hostPath,
          sha256: b.sha256,
          hashError: b.hashError,
          size: b.size,
          upperLayer: b.upperLayer,
          memfd: b.memfd,
          deleted: b.deleted,
        }
      : null,
  };
}

const q = JSON.stringify;

/** A string field: JSON.stringify escapes it exactly as the generic path would. */
function str(s: string | null | undefined): string {
  return s == null ? 'null' : q(s);
}

/** Containers are shared by all events of a container: serialise each once. */
const containerJsonCache = new WeakMap<ContainerInfo, string>();
function containerJson(c: ContainerInfo): string {
  let j = containerJsonCache.get(c);
  if (j === undefined) {
    j =
      '{"id":' + q(c.id) + ',"runtime":' + q(c.runtime) + ',"podUid":' + str(c.podUid) + ',"qos":' + str(c.qos) +
      ',"name":' + str(c.name) + ',"image":' + str(c.image) + ',"podName":' + str(c.podName) +
      ',"podNamespace":' + str(c.podNamespace) + '}';
    containerJsonCache.set(c, j);
  }
  return j;
}

/** The event type of a line this module (or the addon's lane) wrote: its first key is `{"type":"exec"…`. */
export function lineType(line: string): EventType {
  return line.charCodeAt(9) === 0x6d ? 'mount' : line.charCodeAt(11) === 0x65 ? 'exec' : 'exit';
}

/**
 * The part of a line that depends only on the cgroup: `,"container":…,"scope":…,"cgroupPath":…,"cgroupV1":…,"reason":…`.
 * The addon's JSON-lines lane (native/json_lines.cc) writes the rest of the line around it.
 */
export function attributionJson(
  container: ContainerInfo | null,
  scope: string,
  cgroupPath: string,
  cgroupV1: boolean,
  reason: string | null = null,
): string {
  return (
    ',"container":' + (container ? containerJson(container) : 'null') + ',"scope":"' + scope + '","cgroupPath":' +
    q(cgroupPath) + ',"cgroupV1":' + cgroupV1 + ',"reason":' + str(reason)
  );
}

/**
 * One JSON line (no trailing newline): byte for byte `JSON.stringify(toJsonObject(ev))`
 * (test/json.test.ts holds it to that), built directly because this runs for every event
 * and the generic path costs about three times as much. Events are not changed once emitted.
 */
let lastEvent: TraceEvent | null = null;
let lastLine = '';

export function toJsonLine(ev: TraceEvent): string {
  // stdout and the audit log serialise the same event one after the other: do it once
  if (ev === lastEvent) return lastLine;
  let s =
    '{"type":"' + ev.type + '","time":"' + ev.time + '","pid":' + ev.pid + ',"tid":' + ev.tid + ',"ppid":' + ev.ppid +
    ',"nspid":' + ev.nspid + ',"uid":' + ev.uid + ',"gid":' + ev.gid + ',"comm":' + q(ev.comm) +
    ',"cgroupId":' + ev.cgroupId + ',"pidNs":' + ev.pidNs + ',"mntNs":' + ev.mntNs +
    attributionJson(ev.container, ev.scope, ev.cgroupPath, ev.cgroupV1, ev.reason ?? null) +
    ',"processId":' + str(ev.processId) + ',"parentProcessId":' + str(ev.parentProcessId);
  switch (ev.type) {
    case 'exec':
      s += ',"exec":' + q(execJsonObject(ev.exec)) + '}';
      break;
    case 'exit':
      s += ',"exit":{"code":' + ev.exit.code + ',"signal":' + ev.exit.signal + ',"coreDumped":' + ev.exit.coreDumped +
        ',"durationNs":' + ev.exit.durationNs + '}}';
      break;
    case 'mount':
      s += ',"mount":{"op":"' + ev.mount.op + '","source":' + str(ev.mount.source) + ',"target":' +
        str(ev.mount.target) + ',"fstype":' + str(ev.mount.fstype) + ',"flags":' + ev.mount.flags + ',"ret":' +
        ev.mount.ret + ',"sourceTruncated":' + (ev.mount.sourceTruncated ?? false) + ',"targetTruncated":' +
        (ev.mount.targetTruncated ?? false) + ',"fstypeTruncated":' + (ev.mount.fstypeTruncated ?? false) +
        ',"argsChanged":' + (ev.mount.argsChanged ?? false) + ',"argsUnverified":' + (ev.mount.argsUnverified ?? false) +
        ',"kernelView":' + (ev.mount.kernelView ?? false) + '}}';
      break;
  }
  lastEvent = ev;
  lastLine = s;
  return s;
}
