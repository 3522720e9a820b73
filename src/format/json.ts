/**
 * The JSON form of DESIGN.md: one object per record, camelCase, absent data is null.
 * Used by stdout (`--output json`), the JSONL audit log and `ctrace read`. The encoder
 * and decoder are generated from proto/ctrace.proto (src/events/generated/schema.ts).
 */
import { fullContainer, type CgroupContainer } from '../classify/classify.js';
import type { ContainerInfo, Entry, EventType } from '../events/event.js';
import { entryFromJson, entryJson, jsonContainer } from '../events/generated/schema.js';
import { jStr, jStrOrNull } from '../events/wire.js';

/** A container in the JSON form: every key present, absent data null. */
export function containerJsonObject(c: CgroupContainer): ContainerInfo {
  return JSON.parse(jsonContainer(fullContainer(c))) as ContainerInfo;
}

/** The plain object of one record, in the documented key order. */
export function toJsonObject(e: Entry): Record<string, unknown> {
  return JSON.parse(toJsonLine(e)) as Record<string, unknown>;
}

/**
 * The part of a line that depends only on the cgroup: `,"container":…,"scope":…,"cgroupPath":…,"cgroupV1":…,"reason":…`.
 * The addon's JSON lane (native/json_lane.cc) writes the rest of the line around it.
 */
export function attributionJson(
  container: ContainerInfo | null,
  scope: string,
  cgroupPath: string,
  cgroupV1: boolean,
  reason: string | null = null,
): string {
  return (
    ',"container":' + (container ? jsonContainer(container) : 'null') + ',"scope":"' + scope + '","cgroupPath":' +
    jStr(cgroupPath) + ',"cgroupV1":' + cgroupV1 + ',"reason":' + jStrOrNull(reason)
  );
}

const LANE_PREFIX = Buffer.from('{"type":"');

/**
 * The event type of a JSON-lane line starting at `start` (the addon writes exec, exit and
 * mount lines only, each beginning `{"type":"<type>"`); throws on anything else.
 */
export function laneLineType(lines: Buffer, start: number): EventType {
  const t = start + LANE_PREFIX.length;
  if (t <= lines.length && lines.compare(LANE_PREFIX, 0, LANE_PREFIX.length, start, t) === 0) {
    const word = lines.toString('latin1', t, t + 6);
    if (word.startsWith('exec"')) return 'exec';
    if (word.startsWith('exit"')) return 'exit';
    if (word === 'mount"') return 'mount';
  }
  throw new TypeError(`not a JSON-lane event line: ${JSON.stringify(lines.toString('utf8', start, Math.min(start + 40, lines.length)))}`);
}

let lastEntry: Entry | null = null;
let lastLine = '';

/** One JSON line (no trailing newline). Records are not changed once emitted. */
export function toJsonLine(e: Entry): string {
  // stdout and the audit log serialise the same event one after the other: do it once
  if (e === lastEntry) return lastLine;
  lastLine = entryJson(e);
  lastEntry = e;
  return lastLine;
}

/**
 * A record from its parsed JSON object (a line of a JSONL log or of `--output json`).
 * Fields the JSON form does not carry (ktimeNs) read as zero. Throws on a line that is
 * not a ctrace record.
 */
export function fromJsonObject(o: Record<string, unknown>): Entry {
  if (typeof o.time !== 'string') throw new Error(`field 'time' is not a string`);
  const e = entryFromJson(o);
  // logs written before events carried a scope: a container's events say so
  if ((e.type === 'exec' || e.type === 'exit' || e.type === 'mount') && o.scope == null && e.container) e.scope = 'container';
  return e;
}
