/**
 * The records an output carries besides events: `start` first, `stop` last,
 * `lost` whenever the kernel reports dropped events, and, in audit logs,
 * `rotate`/`continuation` at file boundaries. Same JSON conventions as events
 * (camelCase, absent data is null, never a missing key); proto/ctrace.proto
 * mirrors them.
 */
import { readFileSync } from 'node:fs';
import { hostname, release } from 'node:os';
import { isoNs } from '../clock.js';
import type { EventType, ExecDetail, TraceEvent } from '../event.js';
import { toJsonObject } from '../format/json.js';

/** The options a run was started with, as recorded in its start record. */
export interface StartOptions {
  events: EventType[];
  all: boolean;
  pidnsOnly: boolean;
  container: string | null;
  runtime: string | null;
  pod: string | null;
  /** stdout format; null with --quiet */
  output: string | null;
  log: string | null;
  logFormat: string | null;
  /** bytes; 0 = no rotation */
  logMaxSize: number;
  /** rotated files kept; 0 = all */
  logKeep: number;
  logFsync: string | null;
  socket: string | null;
}

export interface StartRecord {
  type: 'start';
  time: string;
  version: string;
  host: string;
  kernel: string;
  pid: number;
  options: StartOptions;
}

export interface StopRecord {
  type: 'stop';
  time: string;
  /** SIGINT, SIGTERM, stdout closed, error: ... */
  reason: string;
  /** events written to this output during the run */
  events: Record<EventType, number>;
  /** events the kernel reported dropped during the run */
  lost: number;
}

export interface LostRecord {
  type: 'lost';
  time: string;
  count: number;
  total: number;
  /** kernel: the ring buffer was full (no output has these events); stdout: stdout could not keep up (this output has them) */
  source: LossSource;
}

export type LossSource = 'kernel' | 'stdout';

/** Audit logs: the last record of a file that was rotated. */
export interface RotateRecord {
  type: 'rotate';
  time: string;
  reason: 'size' | 'SIGHUP';
}

/** Audit logs: the first record of a file that continues a rotated one. */
export interface ContinuationRecord {
  type: 'continuation';
  time: string;
  /** the previous file's base name, when ctrace rotated it itself */
  previousFile: string | null;
}

export type MetaRecord = StartRecord | StopRecord | LostRecord | RotateRecord | ContinuationRecord;
export type MetaType = MetaRecord['type'];
export const META_TYPES: readonly MetaType[] = ['start', 'stop', 'lost', 'rotate', 'continuation'];

/** Anything an output carries: an event or one of the records above. */
export type Entry = TraceEvent | MetaRecord;

/** Chain fields of an audit-log record (absent in stdout and socket streams). */
export interface ChainFields {
  seq: number;
  /** hex; only on head records (start, continuation) */
  prev?: string;
  /** hex */
  hash: string;
}

export function isEvent(e: Entry): e is TraceEvent {
  return e.type === 'exec' || e.type === 'exit' || e.type === 'mount';
}

/** Records that begin a chain segment and carry the chain value they link to. */
export function isHead(e: Entry): e is StartRecord | ContinuationRecord {
  return e.type === 'start' || e.type === 'continuation';
}

/** A lost record's source as read back (absent in logs older than the field's second value). */
export function lossSource(v: unknown): LossSource {
  return v === 'stdout' ? 'stdout' : 'kernel';
}

/** Now, as ISO-8601 UTC with nanoseconds (like event times). */
export function nowIso(): string {
  return isoNs(BigInt(Date.now()) * 1_000_000n);
}

/**
 * What an output has written in a run, for its `lost` and `stop` records: every
 * record-keeping sink (audit log, protobuf stream, socket) keeps one.
 */
export class RecordTally {
  readonly events: Record<EventType, number> = { exec: 0, exit: 0, mount: 0 };
  /** events the kernel reported dropped, as far as this output knows */
  lost = 0;

  event(ev: TraceEvent): void {
    this.events[ev.type]++;
  }

  /** An event that arrived as a JSON line. */
  count(type: EventType): void {
    this.events[type]++;
  }

  lostRecord(report: { lost: number; total: number }, source: LossSource = 'kernel'): LostRecord {
    // the stop record's `lost` counts what no output has: stdout's drops are in this one
    if (source === 'kernel') this.lost = Math.max(this.lost + report.lost, report.total);
    return { type: 'lost', time: nowIso(), count: report.lost, total: report.total, source };
  }

  stopRecord(reason: string): StopRecord {
    return { type: 'stop', time: nowIso(), reason, events: { ...this.events }, lost: this.lost };
  }
}

let version: string | undefined;
/** ctrace's version, from the shipped package.json. */
export function ctraceVersion(): string {
  if (version === undefined) {
    try {
      const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string };
      version = pkg.version ?? 'unknown';
    } catch {
      version = 'unknown';
    }
  }
  return version;
}

export function startRecord(options: StartOptions): StartRecord {
  return {
    type: 'start',
    time: nowIso(),
    version: ctraceVersion(),
    host: hostname(),
    kernel: release(),
    pid: process.pid,
    options,
  };
}

/** Defaults for a start record's options, for library users and tests. */
export function startOptions(o: Partial<StartOptions> = {}): StartOptions {
  return {
    events: ['exec', 'exit', 'mount'],
    all: false,
    pidnsOnly: false,
    container: null,
    runtime: null,
    pod: null,
    output: null,
    log: null,
    logFormat: null,
    logMaxSize: 0,
    logKeep: 0,
    logFsync: null,
    socket: null,
    ...o,
  };
}

/** The JSON object of a record, keys in documented order (chain fields are added by the log writer). */
export function metaToJsonObject(r: MetaRecord): Record<string, unknown> {
  switch (r.type) {
    case 'start':
      return {
        type: r.type,
        time: r.time,
        version: r.version,
        host: r.host,
        kernel: r.kernel,
        pid: r.pid,
        options: {
          events: r.options.events,
          all: r.options.all,
          pidnsOnly: r.options.pidnsOnly,
          container: r.options.container,
          runtime: r.options.runtime,
          pod: r.options.pod,
          output: r.options.output,
          log: r.options.log,
          logFormat: r.options.logFormat,
          logMaxSize: r.options.logMaxSize,
          logKeep: r.options.logKeep,
          logFsync: r.options.logFsync,
          socket: r.options.socket,
        },
      };
    case 'stop':
      return {
        type: r.type,
        time: r.time,
        reason: r.reason,
        events: { exec: r.events.exec, exit: r.events.exit, mount: r.events.mount },
        lost: r.lost,
      };
    case 'lost':
      return { type: r.type, time: r.time, count: r.count, total: r.total, source: r.source };
    case 'rotate':
      return { type: r.type, time: r.time, reason: r.reason };
    case 'continuation':
      return { type: r.type, time: r.time, previousFile: r.previousFile };
  }
}

/** The JSON object of any entry: the JSON form of DESIGN.md for events. */
export function entryToJsonObject(e: Entry): Record<string, unknown> {
  return isEvent(e) ? toJsonObject(e) : metaToJsonObject(e);
}

/* ---------- back from JSON (ctrace read) ---------- */

type Obj = Record<string, unknown>;

function str(o: Obj, k: string): string {
  const v = o[k];
  if (typeof v !== 'string') throw new Error(`field '${k}' is not a string`);
  return v;
}
function strOrNull(o: Obj, k: string): string | null {
  const v = o[k];
  if (v === null || v === undefined) return null;
  if (typeof v !== 'string') throw new Error(`field '${k}' is not a string`);
  return v;
}
function num(o: Obj, k: string): number {
  const v = o[k];
  if (typeof v !== 'number') throw new Error(`field '${k}' is not a number`);
  return v;
}
function bool(o: Obj, k: string): boolean {
  return o[k] === true;
}
function obj(o: Obj, k: string): Obj {
  const v = o[k];
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new Error(`field '${k}' is not an object`);
  return v as Obj;
}

function numOrNull(o: Obj, k: string): number | null {
  const v = o[k];
  if (v === null || v === undefined) return null;
  if (typeof v !== 'number') throw new Error(`field '${k}' is not a number`);
  return v;
}

/** Who did it and what ran (src/format/json.ts execJsonObject); a log written before these fields reads as unknown. */
function execExtrasFromJson(d: Obj): Partial<ExecDetail> {
  const anc = Array.isArray(d.ancestors) ? (d.ancestors as Obj[]) : [];
  const b = d.binary && typeof d.binary === 'object' ? (d.binary as Obj) : null;
  const caps = Array.isArray(d.capabilities) ? (d.capabilities as unknown[]).filter((c): c is string => typeof c === 'string') : [];
  return {
    execId: strOrNull(d, 'execId'),
    entry: bool(d, 'entry'),
    ancestors: anc.map((a) => ({
      processId: strOrNull(a, 'processId'),
      pid: num(a, 'pid'),
      comm: str(a, 'comm'),
      filename: strOrNull(a, 'filename'),
      outside: bool(a, 'outside'),
    })),
    ancestorsTruncated: bool(d, 'ancestorsTruncated'),
    cwd: strOrNull(d, 'cwd'),
    cwdTruncated: bool(d, 'cwdTruncated'),
    tty: strOrNull(d, 'tty'),
    loginUid: numOrNull(d, 'loginUid'),
    sessionId: numOrNull(d, 'sessionId'),
    ...(typeof d.capEffective === 'string' ? { capEffective: d.capEffective } : {}),
    capabilities: caps,
    ...(typeof d.userNs === 'number' ? { userNs: d.userNs } : {}),
    ...(typeof d.hostRoot === 'boolean' ? { hostRoot: d.hostRoot } : {}),
    binary: b
      ? {
          hostPath: strOrNull(b, 'hostPath'),
          sha256: strOrNull(b, 'sha256'),
          hashError: strOrNull(b, 'hashError'),
          size: numOrNull(b, 'size') ?? 0,
          upperLayer: bool(b, 'upperLayer'),
          memfd: bool(b, 'memfd'),
          deleted: bool(b, 'deleted'),
        }
      : null,
  };
}

/**
 * An entry from its JSON object (a line of a JSONL log or of `--output json`).
 * Fields the JSON form does not carry (ktimeNs, cgroupV1) get neutral values.
 * Throws on a line that is not a ctrace record.
 */
export function entryFromJsonObject(o: Obj): Entry {
  const type = o.type;
  switch (type) {
    case 'exec':
    case 'exit':
    case 'mount': {
      const c = o.container as Obj | null | undefined;
      const base = {
        time: str(o, 'time'),
        ktimeNs: 0n,
        pid: num(o, 'pid'),
        tid: num(o, 'tid'),
        ppid: num(o, 'ppid'),
        nspid: num(o, 'nspid'),
        uid: num(o, 'uid'),
        gid: num(o, 'gid'),
        comm: str(o, 'comm'),
        cgroupId: num(o, 'cgroupId'),
        cgroupPath: strOrNull(o, 'cgroupPath') ?? '',
        cgroupV1: o.cgroupV1 === true,
        pidNs: num(o, 'pidNs'),
        mntNs: num(o, 'mntNs'),
        scope: (strOrNull(o, 'scope') ?? (c ? 'container' : 'unknown')) as TraceEvent['scope'],
        container: c
          ? {
              id: str(c, 'id'),
              runtime: str(c, 'runtime') as NonNullable<TraceEvent['container']>['runtime'],
              podUid: strOrNull(c, 'podUid'),
              qos: strOrNull(c, 'qos') as NonNullable<TraceEvent['container']>['qos'],
              name: strOrNull(c, 'name'),
              image: strOrNull(c, 'image'),
              podName: strOrNull(c, 'podName'),
              podNamespace: strOrNull(c, 'podNamespace'),
            }
          : null,
        reason: strOrNull(o, 'reason'),
        processId: strOrNull(o, 'processId'),
        parentProcessId: strOrNull(o, 'parentProcessId'),
      };
      if (type === 'exec') {
        const d = obj(o, 'exec');
        const argv = d.argv;
        if (!Array.isArray(argv) || !argv.every((a) => typeof a === 'string')) throw new Error(`field 'argv' is not a string array`);
        return {
          ...base,
          type,
          exec: {
            filename: str(d, 'filename'),
            argv: argv as string[],
            argvTruncated: bool(d, 'argvTruncated'),
            filenameTruncated: bool(d, 'filenameTruncated'),
            ...execExtrasFromJson(d),
          },
        };
      }
      if (type === 'exit') {
        const d = obj(o, 'exit');
        return {
          ...base,
          type,
          exit: { code: num(d, 'code'), signal: num(d, 'signal'), coreDumped: bool(d, 'coreDumped'), durationNs: num(d, 'durationNs') },
        };
      }
      const d = obj(o, 'mount');
      return {
        ...base,
        type,
        mount: {
          op: (strOrNull(d, 'op') ?? 'mount') as 'mount' | 'move_mount',
          source: strOrNull(d, 'source'),
          target: strOrNull(d, 'target'),
          fstype: strOrNull(d, 'fstype'),
          flags: num(d, 'flags'),
          ret: num(d, 'ret'),
          sourceTruncated: bool(d, 'sourceTruncated'),
          targetTruncated: bool(d, 'targetTruncated'),
          fstypeTruncated: bool(d, 'fstypeTruncated'),
          argsChanged: bool(d, 'argsChanged'),
          argsUnverified: bool(d, 'argsUnverified'),
          kernelView: bool(d, 'kernelView'),
        },
      };
    }
    case 'start': {
      const op = obj(o, 'options');
      return {
        type,
        time: str(o, 'time'),
        version: str(o, 'version'),
        host: str(o, 'host'),
        kernel: str(o, 'kernel'),
        pid: num(o, 'pid'),
        options: {
          events: (Array.isArray(op.events) ? op.events : []) as EventType[],
          all: bool(op, 'all'),
          pidnsOnly: bool(op, 'pidnsOnly'),
          container: strOrNull(op, 'container'),
          runtime: strOrNull(op, 'runtime'),
          pod: strOrNull(op, 'pod'),
          output: strOrNull(op, 'output'),
          log: strOrNull(op, 'log'),
          logFormat: strOrNull(op, 'logFormat'),
          logMaxSize: typeof op.logMaxSize === 'number' ? op.logMaxSize : 0,
          logKeep: typeof op.logKeep === 'number' ? op.logKeep : 0,
          logFsync: strOrNull(op, 'logFsync'),
          socket: strOrNull(op, 'socket'),
        },
      };
    }
    case 'stop': {
      const ev = obj(o, 'events');
      return {
        type,
        time: str(o, 'time'),
        reason: str(o, 'reason'),
        events: { exec: num(ev, 'exec'), exit: num(ev, 'exit'), mount: num(ev, 'mount') },
        lost: num(o, 'lost'),
      };
    }
    case 'lost':
      return { type, time: str(o, 'time'), count: num(o, 'count'), total: num(o, 'total'), source: lossSource(o.source) };
    case 'rotate':
      return { type, time: str(o, 'time'), reason: str(o, 'reason') === 'SIGHUP' ? 'SIGHUP' : 'size' };
    case 'continuation':
      return { type, time: str(o, 'time'), previousFile: strOrNull(o, 'previousFile') };
    default:
      throw new Error(`unknown record type ${JSON.stringify(type)}`);
  }
}

/**
 * The outputs that carry records besides events (audit log, protobuf stream,
 * socket): the Sink interface plus loss reports, and a reason for the stop
 * record that close() writes. The start record is written when they open.
 */
export interface RecordSink {
  write(event: TraceEvent): void;
  /** The kernel dropped events: a `lost` record. */
  noteLost(report: { lost: number; total: number }): void;
  /** Writes the stop record (with `reason`) and everything pending, then closes. */
  close(reason?: string): Promise<void>;
}
