/**
 * A decoded kernel record plus what userland decided about it (time,
 * attribution) becomes a TraceEvent here, and only here: the tracer and the
 * userland benchmark share it.
 */
import {
  MF_ARGS_CHANGED,
  MF_ARGS_UNVERIFIED,
  MF_FSTYPE_TRUNC,
  MF_KERNEL_VIEW,
  MF_SOURCE_TRUNC,
  MF_TARGET_TRUNC,
  XF_CWD_TRUNC,
  XF_NO_AUDIT,
  XF_NO_CWD,
  type RawRecord,
} from '../decode/abi.js';
import type { AncestorInfo, BinaryInfo, ContainerInfo, ExecEvent, ExitEvent, MountEvent, Scope, TraceEvent } from './event.js';
import { int64 } from './wire.js';
import { bootId, capabilityHex, capabilityNames, execId, processId } from './identity.js';

/** What userland adds to an exec from what it knows (src/enrich/lineage.ts, binary-hash.ts). */
export interface ExecEnrichment {
  ancestors: AncestorInfo[];
  ancestorsTruncated: boolean;
  entry: boolean;
  binary: BinaryInfo | null;
}

export interface Attribution {
  /** ISO wall-clock time (see src/util/clock.ts) */
  time: string;
  scope: Scope;
  container: ContainerInfo | null;
  /** the pid inside its namespace: the kernel's value, or a fallback from /proc */
  nspid: number;
  /** why the scope differs from what the cgroup says; null when it does not */
  reason?: string | null;
  /** an exec's lineage and binary; absent: none known */
  exec?: ExecEnrichment;
  /** the boot id identities are made of (default: this host's) */
  bootId?: string;
}

const UNSET = 0xffffffff;

/** The fields every event has, in the order of the JSON form; the detail is added by buildEvent. */
function common(rec: RawRecord, a: Attribution) {
  const t = rec.task;
  return {
    type: rec.type,
    time: a.time,
    ktimeNs: rec.ktimeNs,
    pid: t.tgid,
    tid: t.tid,
    ppid: t.ppid,
    nspid: a.nspid,
    uid: t.uid,
    gid: t.gid,
    comm: t.comm,
    processId: processId(t.tgid, t.startNs, a.bootId ?? bootId()),
    parentProcessId: processId(t.ppid, t.parentStartNs, a.bootId ?? bootId()),
    cgroupId: t.cgroupId,
    cgroupPath: t.cgroupPath,
    cgroupV1: t.cgroupV1,
    pidNs: t.pidnsIno,
    mntNs: t.mntnsIno,
    scope: a.scope,
    container: a.container,
    reason: a.reason ?? null,
  };
}

/** Built without object spread: this runs for every event, and a spread copies every field again. */
export function buildEvent(rec: RawRecord, a: Attribution): TraceEvent {
  const ev = common(rec, a) as unknown as TraceEvent;
  switch (rec.type) {
    case 'exec': {
      const f = rec.facts;
      const x = a.exec;
      (ev as ExecEvent).exec = {
        filename: rec.filename,
        argv: rec.argv,
        argvTruncated: rec.argvTruncated,
        filenameTruncated: rec.filenameTruncated,
        argc: rec.argc,
        execId: execId(ev.processId ?? null, f.execSeq),
        entry: x?.entry ?? false,
        ancestors: x?.ancestors ?? [],
        ancestorsTruncated: x?.ancestorsTruncated ?? false,
        cwd: f.xflags & XF_NO_CWD ? null : f.cwd,
        cwdTruncated: (f.xflags & XF_CWD_TRUNC) !== 0,
        tty: f.tty || null,
        loginUid: f.xflags & XF_NO_AUDIT || f.loginuid === UNSET ? null : f.loginuid,
        sessionId: f.xflags & XF_NO_AUDIT || f.sessionid === UNSET ? null : f.sessionid,
        capEffective: capabilityHex(f.capEffective),
        // shared with every exec of the same mask, frozen (events are not changed once emitted)
        capabilities: capabilityNames(f.capEffective) as string[],
        userNs: f.usernsIno,
        hostRoot: f.usernsLevel === 0 && rec.task.uid === 0,
        binary: x?.binary ?? null,
      };
      break;
    }
    case 'exit': {
      // a wait status: exit code in bits 8-15, or the signal in 0-6 and a core flag in 7
      const signal = rec.status & 0x7f;
      (ev as ExitEvent).exit = {
        code: signal ? 0 : (rec.status >> 8) & 0xff,
        signal,
        coreDumped: (rec.status & 0x80) !== 0,
        durationNs: rec.startNs > 0n && rec.ktimeNs > rec.startNs ? int64(rec.ktimeNs - rec.startNs) : 0,
      };
      break;
    }
    case 'mount':
      (ev as MountEvent).mount = {
        op: rec.op,
        source: rec.source || null,
        target: rec.target || null,
        fstype: rec.fstype || null,
        flags: rec.flags64,
        ret: rec.ret,
        sourceTruncated: (rec.mflags & MF_SOURCE_TRUNC) !== 0,
        targetTruncated: (rec.mflags & MF_TARGET_TRUNC) !== 0,
        fstypeTruncated: (rec.mflags & MF_FSTYPE_TRUNC) !== 0,
        argsChanged: (rec.mflags & MF_ARGS_CHANGED) !== 0,
        argsUnverified: (rec.mflags & MF_ARGS_UNVERIFIED) !== 0,
        kernelView: (rec.mflags & MF_KERNEL_VIEW) !== 0,
      };
      break;
  }
  return ev;
}
