/**
 * The JSON form of DESIGN.md: one object per event, camelCase, absent data is null.
 * Used by stdout (`--output json`) and the JSONL audit log.
 */
import type { TraceEvent } from '../event.js';

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
    container: ev.container
      ? {
          id: ev.container.id,
          runtime: ev.container.runtime,
          podUid: ev.container.podUid,
          qos: ev.container.qos,
          name: ev.container.name ?? null,
          image: ev.container.image ?? null,
          podName: ev.container.podName ?? null,
          podNamespace: ev.container.podNamespace ?? null,
        }
      : null,
    scope: ev.scope,
    cgroupPath: ev.cgroupPath,
    cgroupV1: ev.cgroupV1,
  };
  switch (ev.type) {
    case 'exec':
      base.exec = { filename: ev.exec.filename, argv: ev.exec.argv, argvTruncated: ev.exec.argvTruncated };
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
      };
      break;
  }
  return base;
}

/** One JSON line (no trailing newline). Strings are already valid UTF-8 (see src/bytes.ts). */
export function toJsonLine(ev: TraceEvent): string {
  return JSON.stringify(toJsonObject(ev));
}
