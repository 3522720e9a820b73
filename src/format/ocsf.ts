/**
 * ctrace records as OCSF 1.7.0 events (https://schema.ocsf.io/1.7.0/), for
 * `--output ocsf`, `--log-format ocsf` and any exporter that wants OCSF:
 *
 *   exec           → Process Activity (1007), Launch (1)
 *   exit           → Process Activity (1007), Terminate (2), with exit_code
 *   mount          → File System Activity (1001), Mount (12)
 *   start / stop   → Event Log Activity (1008), Start (6) / Stop (7)
 *   rotate / continuation → Event Log Activity (1008), Rotate (5)
 *   lost           → Event Log Activity (1008), Other (99) "Events Lost", with count
 *
 * Profiles: `container` (process.container, process.namespace_pid) and
 * `datetime` (time_dt keeps the event's nanoseconds; `time` is milliseconds).
 * What OCSF has no attribute for (cgroup, namespaces, scope, mount flags…) is
 * under `unmapped`, with ctrace's own JSON names; `unmapped.type` is the ctrace
 * record type. Attributes with no value are left out, as OCSF wants, not null.
 */
import { readFileSync } from 'node:fs';
import { hostname, release, constants } from 'node:os';
import type { ContainerInfo, ExecEvent, TraceEvent } from '../events/event.js';
import { ctraceVersion, isEvent, type Entry, type MetaRecord } from '../events/records.js';
import { toJsonObject } from './json.js';

export const OCSF_VERSION = '1.7.0';

/** What the mapper needs to know about the host and ctrace itself: read once, see ocsfContext(). */
export interface OcsfContext {
  host: string;
  kernel: string;
  /** /proc/sys/kernel/random/boot_id */
  bootId: string | null;
  /** /etc/machine-id */
  machineId: string | null;
  /** ctrace's version */
  version: string;
  /** ctrace's own pid: the actor of the log's start/stop/lost records */
  pid: number;
}

export type OcsfObject = Record<string, unknown>;

const SYSTEM = { uid: 1, name: 'System Activity' };
const CLASSES = {
  file: { uid: 1001, name: 'File System Activity' },
  process: { uid: 1007, name: 'Process Activity' },
  eventLog: { uid: 1008, name: 'Event Log Activity' },
} as const;

function readTrimmed(path: string): string | null {
  try {
    return readFileSync(path, 'utf8').trim() || null;
  } catch {
    return null;
  }
}

let defaultContext: OcsfContext | null = null;
/** This host's context (memoised): what the CLI's outputs use. */
export function ocsfContext(version = 'unknown'): OcsfContext {
  if (!defaultContext || defaultContext.version !== version) {
    defaultContext = {
      host: hostname(),
      kernel: release(),
      bootId: readTrimmed('/proc/sys/kernel/random/boot_id'),
      machineId: readTrimmed('/etc/machine-id'),
      version,
      pid: process.pid,
    };
  }
  return defaultContext;
}

/** Milliseconds since the epoch from an ISO-8601 UTC time with up to nanoseconds. */
export function isoToMs(iso: string): number {
  // events come in bursts within one second: parse the date part once per second
  const prefix = iso.slice(0, 19);
  if (prefix !== lastPrefix) {
    if (!/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$/.test(prefix)) return Date.parse(iso);
    lastPrefix = prefix;
    lastSecondMs = Date.parse(prefix + 'Z');
  }
  const m = /^(?:\.(\d+))?Z$/.exec(iso.slice(19));
  return m ? lastSecondMs + Number((m[1] ?? '').padEnd(3, '0').slice(0, 3)) : Date.parse(iso);
}
let lastPrefix = '';
let lastSecondMs = 0;

/** Sets o[k] unless v is null or undefined (OCSF leaves absent attributes out; `delete` would slow the object down). */
function put(o: OcsfObject, k: string, v: unknown): void {
  if (v !== null && v !== undefined) o[k] = v;
}

/** device and metadata are the same for every record of a context: built once and shared (do not modify them). */
const perContext = new WeakMap<OcsfContext, { device: OcsfObject; metadata: OcsfObject }>();
function hostParts(ctx: OcsfContext): { device: OcsfObject; metadata: OcsfObject } {
  let p = perContext.get(ctx);
  if (!p) {
    const device: OcsfObject = { type_id: 0, type: 'Unknown', hostname: ctx.host, name: ctx.host };
    put(device, 'uid', ctx.machineId);
    put(device, 'boot_uid', ctx.bootId);
    device.os = { name: 'Linux', type_id: 200, type: 'Linux', kernel_release: ctx.kernel };
    const metadata = {
      product: { name: 'ctrace', vendor_name: 'ctrace', version: ctx.version },
      version: OCSF_VERSION,
      profiles: ['container', 'datetime'],
    };
    p = { device, metadata };
    perContext.set(ctx, p);
  }
  return p;
}

function container(c: ContainerInfo): OcsfObject {
  const o: OcsfObject = { uid: c.id };
  put(o, 'name', c.name);
  o.runtime = c.runtime;
  if (c.podUid) {
    o.orchestrator = 'Kubernetes';
    o.pod_uuid = c.podUid;
  }
  return o;
}

function basename(path: string): string {
  const trimmed = path.replace(/\/+$/, '');
  const i = trimmed.lastIndexOf('/');
  return (i >= 0 ? trimmed.slice(i + 1) : trimmed) || path;
}

/** An exec's ancestor as an OCSF process entity. */
function ancestorOf(a: NonNullable<ExecEvent['exec']['ancestors']>[number]): OcsfObject {
  const o: OcsfObject = { pid: a.pid, name: a.comm };
  if (a.processId) o.uid = a.processId;
  if (a.filename) o.path = a.filename;
  return o;
}

/** The process an event happened in (after the exec, for exec). */
function processOf(ev: TraceEvent): OcsfObject {
  const p: OcsfObject = {
    pid: ev.pid,
    ptid: ev.tid,
    name: ev.comm,
    user: { uid: String(ev.uid) },
  };
  if (ev.processId) p.uid = ev.processId;
  if (ev.type === 'exec') {
    const x = ev.exec;
    p.cmd_line = x.argv.join(' ');
    p.file = { name: basename(x.filename), path: x.filename, type_id: 1, type: 'Regular File' };
    if (x.binary?.sha256) (p.file as OcsfObject).hashes = [{ algorithm_id: 3, algorithm: 'SHA-256', value: x.binary.sha256 }];
    if (x.cwd) p.working_directory = x.cwd;
    if (x.sessionId != null || x.tty) {
      const session: OcsfObject = {};
      if (x.sessionId != null) session.uid = String(x.sessionId);
      if (x.tty) session.terminal = x.tty;
      p.session = session;
    }
    if (x.ancestors?.length) p.ancestry = x.ancestors.map(ancestorOf);
  }
  p.parent_process = { pid: ev.ppid };
  if (ev.parentProcessId) (p.parent_process as OcsfObject).uid = ev.parentProcessId;
  if (ev.container) p.container = container(ev.container);
  p.namespace_pid = ev.nspid;
  return p;
}

const ERRNO_NAMES = new Map<number, string>(Object.entries(constants.errno).map(([k, v]) => [v, k]));

const SIGNAL_NAMES = new Map<number, string>(Object.entries(constants.signals).map(([k, v]) => [v, k]));

/** What OCSF has no place for, with the JSON form's names. */
function unmappedEvent(ev: TraceEvent): OcsfObject {
  const c = ev.container;
  const u: OcsfObject = {
    type: ev.type,
    time: ev.time,
    tid: ev.tid,
    gid: ev.gid,
    cgroupId: ev.cgroupId,
    cgroupPath: ev.cgroupPath,
    cgroupV1: ev.cgroupV1,
    pidNs: ev.pidNs,
    mntNs: ev.mntNs,
    scope: ev.scope,
    reason: ev.reason,
    container: c ? { qos: c.qos, image: c.image ?? null, podName: c.podName ?? null, podNamespace: c.podNamespace ?? null } : null,
  };
  // the detail in its JSON form (every field of the schema), less what OCSF attributes carry
  const detail = toJsonObject(ev)[ev.type] as OcsfObject;
  switch (ev.type) {
    case 'exec': {
      const { filename: _mapped, ...rest } = detail;
      u.exec = rest;
      break;
    }
    case 'exit': {
      const { code: _mapped, ...rest } = detail;
      u.exit = rest;
      break;
    }
    case 'mount': {
      const { target: _mapped, ...rest } = detail;
      u.mount = rest;
      break;
    }
  }
  return u;
}

function classFields(cls: { uid: number; name: string }, activityId: number, activityName: string): OcsfObject {
  return {
    activity_id: activityId,
    activity_name: activityName,
    category_uid: SYSTEM.uid,
    category_name: SYSTEM.name,
    class_uid: cls.uid,
    class_name: cls.name,
    type_uid: cls.uid * 100 + activityId,
    type_name: `${cls.name}: ${activityName}`,
  };
}

function eventToOcsf(ev: TraceEvent, ctx: OcsfContext): OcsfObject {
  // built by assignment in a fixed order, not by spreading: spreads of per-type shapes are slow
  const ms = isoToMs(ev.time);
  const where = ev.container ? ` in container ${ev.container.id.slice(0, 12)}` : '';
  const proc = processOf(ev);
  const o =
    ev.type === 'exec'
      ? classFields(CLASSES.process, 1, 'Launch')
      : ev.type === 'exit'
        ? classFields(CLASSES.process, 2, 'Terminate')
        : classFields(CLASSES.file, 12, 'Mount');
  o.severity_id = 1;
  o.severity = 'Informational';
  const failed = ev.type === 'mount' && ev.mount.ret !== 0;
  o.status_id = failed ? 2 : 1;
  o.status = failed ? 'Failure' : 'Success';
  if (ev.type === 'mount' && failed) {
    o.status_code = String(ev.mount.ret);
    o.status_detail = ERRNO_NAMES.get(-Number(ev.mount.ret)) ?? `error ${ev.mount.ret}`;
  }
  if (ev.type === 'exit' && ev.exit.signal) {
    const sig = ev.exit.signal;
    o.status_detail = `killed by ${SIGNAL_NAMES.get(sig) ?? `signal ${sig}`}${ev.exit.coreDumped ? ' (core dumped)' : ''}`;
  }
  o.time = ms;
  o.time_dt = ev.time;
  const host = hostParts(ctx);
  o.metadata = host.metadata;
  o.device = host.device;
  switch (ev.type) {
    case 'exec':
      o.message = `${ev.exec.filename} launched (pid ${ev.pid})${where}`;
      // the exec'ing task is both: its parent is the closest actor ctrace knows (for an entry
      // into a container, the process outside it that entered)
      o.actor = { process: proc.parent_process };
      if (ev.exec.ancestors?.[0]) o.actor = { process: { ...ancestorOf(ev.exec.ancestors[0]), pid: ev.ppid } };
      o.process = proc;
      o.launch_type_id = 3;
      o.launch_type = 'Exec';
      break;
    case 'exit': {
      proc.created_time = ms - Math.round(Number(ev.exit.durationNs) / 1e6);
      proc.terminated_time = ms;
      const sig = ev.exit.signal;
      o.message = `${ev.comm} (pid ${ev.pid}) ${sig ? `killed by ${SIGNAL_NAMES.get(sig) ?? `signal ${sig}`}` : `exited with ${ev.exit.code}`}${where}`;
      // a process that exits terminates itself: actor and process are the same (as OCSF describes)
      o.actor = { process: { pid: ev.pid, name: ev.comm } };
      o.process = proc;
      o.exit_code = ev.exit.code;
      break;
    }
    case 'mount': {
      const target = ev.mount.target;
      o.message = `${ev.comm} (pid ${ev.pid}) mounted ${ev.mount.source ?? '?'} (${ev.mount.fstype ?? '?'}) on ${target ?? '?'}${where}`;
      o.actor = { process: proc };
      o.file = target ? { name: basename(target), path: target, type_id: 2, type: 'Folder' } : { name: 'unknown', type_id: 0, type: 'Unknown' };
      break;
    }
  }
  o.unmapped = unmappedEvent(ev);
  return o;
}

function metaToOcsf(r: MetaRecord, ctx: OcsfContext): OcsfObject {
  let head: OcsfObject;
  let message: string;
  let severity = { severity_id: 1, severity: 'Informational' };
  let status: OcsfObject = { status_id: 1, status: 'Success' };
  let count: number | null = null;
  switch (r.type) {
    case 'start':
      head = classFields(CLASSES.eventLog, 6, 'Start');
      message = `ctrace ${r.version} started tracing ${r.options.events.join(',')}`;
      break;
    case 'stop':
      head = classFields(CLASSES.eventLog, 7, 'Stop');
      message = `ctrace stopped (${r.reason}): ${Number(r.events.exec) + Number(r.events.exit) + Number(r.events.mount)} events, ${r.lost} lost`;
      if (r.reason.startsWith('error')) status = { status_id: 2, status: 'Failure', status_detail: r.reason };
      break;
    case 'rotate':
      head = classFields(CLASSES.eventLog, 5, 'Rotate');
      message = `log rotated (${r.reason})`;
      break;
    case 'continuation':
      head = classFields(CLASSES.eventLog, 5, 'Rotate');
      message = `log continues${r.previousFile ? ` from ${r.previousFile}` : ''}`;
      break;
    case 'lost':
      head = classFields(CLASSES.eventLog, 99, 'Events Lost');
      message = `${r.count} events lost: ring buffer full (${r.total} since start)`;
      severity = { severity_id: 3, severity: 'Medium' };
      status = { status_id: 2, status: 'Failure', status_detail: 'ring buffer full' };
      count = Number(r.count);
      break;
  }
  const o: OcsfObject = { ...head, ...severity, ...status, time: isoToMs(r.time), time_dt: r.time };
  put(o, 'count', count);
  return Object.assign(o, {
    message,
    metadata: hostParts(ctx).metadata,
    device: hostParts(ctx).device,
    actor: { process: { pid: r.type === 'start' ? r.pid : ctx.pid, name: 'ctrace' } },
    log_name: 'ctrace',
    log_provider: 'ctrace',
    log_type_id: 2,
    log_type: 'Application',
    unmapped: toJsonObject(r),
  });
}

/**
 * One ctrace record as an OCSF 1.7.0 event object. Pure: the same record and
 * context give the same object; `unmapped` is always its last key. Its `metadata`
 * and `device` are shared by all records of the context: copy them before changing them.
 */
export function toOcsf(entry: Entry, ctx: OcsfContext): OcsfObject {
  return isEvent(entry) ? eventToOcsf(entry, ctx) : metaToOcsf(entry, ctx);
}

/** The ctrace record type an OCSF object carries (`unmapped.type`), or null when it is not one of ours. */
export function ocsfRecordType(o: OcsfObject): string | null {
  const u = o.unmapped as OcsfObject | undefined;
  return typeof o.class_uid === 'number' && u && typeof u.type === 'string' ? u.type : null;
}

/** One OCSF line (no newline) for stdout: events carry no chain fields there. */
export function toOcsfLine(entry: Entry): string {
  return JSON.stringify(toOcsf(entry, ocsfContext(ctraceVersion())));
}
