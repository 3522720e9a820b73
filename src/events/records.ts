/**
 * The records an output carries besides events: `start` first, `stop` last,
 * `lost` whenever events were dropped, and, in audit logs, `rotate`/`continuation`
 * at file boundaries. Their types are generated from proto/ctrace.proto; this module
 * builds them and keeps the per-output tally they report. Every output uses it (stdout's
 * protobuf stream, the audit log, the socket, NATS), so it sits below all of them.
 */
import { readFileSync } from 'node:fs';
import { hostname, release } from 'node:os';
import { isoNs } from '../util/clock.js';
import type { Entry, EventType, LostReport, TraceEvent } from './event.js';
import type { ContinuationRecord, LostRecord, Options as StartOptions, StartRecord, StopRecord } from './generated/schema.js';

export type { Entry, MetaRecord, MetaType } from './event.js';
export type {
  Options as StartOptions,
  StartRecord,
  StopRecord,
  LostRecord,
  RotateRecord,
  ContinuationRecord,
} from './generated/schema.js';
export { META_TYPES } from './generated/schema.js';

export function isEvent(e: Entry): e is TraceEvent {
  return e.type === 'exec' || e.type === 'exit' || e.type === 'mount';
}

/** Records that begin a chain segment and carry the chain value they link to. */
export function isHead(e: Entry): e is StartRecord | ContinuationRecord {
  return e.type === 'start' || e.type === 'continuation';
}

export type LossSource = LostRecord['source'];

/** Now, as ISO-8601 UTC with nanoseconds (like event times). */
export function nowIso(): string {
  return isoNs(BigInt(Date.now()) * 1_000_000n);
}

/**
 * What an output has written in a run, for its `lost` and `stop` records: every
 * record-keeping sink (audit log, protobuf stream, socket, NATS) keeps one.
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

  countAll(counts: Record<EventType, number>): void {
    for (const type of Object.keys(this.events) as EventType[]) this.events[type] += counts[type];
  }

  lostRecord(report: LostReport, source: LossSource = 'kernel'): LostRecord {
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
