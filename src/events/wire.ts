/**
 * The scalar rules every record form follows, called by the code that
 * scripts/gen-schema.mjs generates from proto/ctrace.proto (src/events/generated/).
 * Fields are never listed here: only how one value of a kind is written and read.
 *
 * 64-bit values (`Int64`) are a JS number while it is exact (|v| <= 2^53-1) and a
 * bigint beyond; the JSON form writes them as numbers while exact and as decimal
 * strings beyond, so no reader loses a digit; protobuf carries all 64 bits.
 */
import { isoNs } from '../util/clock.js';

export type Int64 = number | bigint;
type Obj = Record<string, unknown>;

const MAX = BigInt(Number.MAX_SAFE_INTEGER);

/** A bigint as the Int64 it stands for: a number when exact. */
export function int64(v: bigint): Int64 {
  return v <= MAX && v >= -MAX ? Number(v) : v;
}

/* ---------- JSON: values to text ---------- */

const q = JSON.stringify;
/** Printable ASCII but `"` and `\`: JSON.stringify would write such a string as it is, quoted. */
const PLAIN = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;
// Most strings of an event are plain (paths, ids, times): quoting them directly costs half of
// what JSON.stringify does; anything else is left to it, so the output is the same.
export function jStr(s: string): string {
  return PLAIN.test(s) ? '"' + s + '"' : q(s);
}
export function jStrOrNull(s: string | null | undefined): string {
  return s == null ? 'null' : jStr(s);
}
// Namespace inodes (above 2^31) repeat in every event of a container and are not small
// integers, which V8 converts through a cache of its own: their decimal text is kept here.
// Bounded by forgetting all at once (unique values, such as durations, pass through it).
const decimals = new Map<number, string>();
function decimal(v: number): string {
  if (v >= -0x80000000 && v <= 0x7fffffff) return String(v);
  let s = decimals.get(v);
  if (s === undefined) {
    if (decimals.size >= 512) decimals.clear();
    decimals.set(v, (s = String(v)));
  }
  return s;
}
export function jInt64(v: Int64): string {
  if (typeof v === 'number') return Number.isSafeInteger(v) ? decimal(v) : '"' + BigInt(v) + '"';
  return v <= MAX && v >= -MAX ? String(v) : '"' + v + '"';
}
export function jInt64OrNull(v: Int64 | null | undefined): string {
  return v == null ? 'null' : jInt64(v);
}
// A frozen list is shared by many events (an exec's capability names): its JSON is kept with it.
const frozenJson = new WeakMap<readonly string[], string>();
export function jStrArray(a: readonly string[]): string {
  if (!Object.isFrozen(a)) return q(a);
  let s = frozenJson.get(a);
  if (s === undefined) frozenJson.set(a, (s = q(a)));
  return s;
}

/* ---------- JSON: parsed object back to values ---------- */

function bad(k: string, what: string): Error {
  return new Error(`field '${k}' is not ${what}`);
}
export function rStr(o: Obj, k: string): string {
  const v = o[k];
  if (v === undefined) return '';
  if (typeof v !== 'string') throw bad(k, 'a string');
  return v;
}
export function rStrOrNull(o: Obj, k: string): string | null {
  const v = o[k];
  if (v === null || v === undefined) return null;
  if (typeof v !== 'string') throw bad(k, 'a string');
  return v;
}
export function rNum(o: Obj, k: string): number {
  const v = o[k];
  if (v === undefined) return 0;
  if (typeof v !== 'number') throw bad(k, 'a number');
  return v;
}
export function rNumOrNull(o: Obj, k: string): number | null {
  const v = o[k];
  return v === null || v === undefined ? null : rNum(o, k);
}
export function rInt64(o: Obj, k: string): Int64 {
  const v = o[k];
  if (v === undefined) return 0;
  if (typeof v === 'number') return v;
  if (typeof v === 'string' && /^-?\d+$/.test(v)) return int64(BigInt(v));
  throw bad(k, 'a number');
}
export function rInt64OrNull(o: Obj, k: string): Int64 | null {
  const v = o[k];
  return v === null || v === undefined ? null : rInt64(o, k);
}
export function rBool(o: Obj, k: string): boolean {
  return o[k] === true;
}
export function rStrArray(o: Obj, k: string): string[] {
  const v = o[k];
  if (v === undefined) return [];
  if (!Array.isArray(v) || !v.every((a) => typeof a === 'string')) throw bad(k, 'a string array');
  return v as string[];
}
export function rObj(o: Obj, k: string): Obj {
  const v = o[k];
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw bad(k, 'an object');
  return v as Obj;
}
export function rObjOrNull(o: Obj, k: string): Obj | null {
  const v = o[k];
  return v === null || v === undefined ? null : rObj(o, k);
}

/* ---------- protobuf: values to protobufjs plain objects ---------- */

/**
 * A protobuf `string` must be UTF-8, and a lone surrogate (an invalid kernel byte U+DCNN, see
 * src/util/bytes.ts) has no UTF-8 form: strict decoders would reject the whole message. Here it
 * becomes U+FFFD; the JSON form keeps the byte.
 */
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;
export function pStr(s: string): string {
  // most strings are ASCII: one scan, no copy
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdfff) return s.replace(LONE_SURROGATE, '\ufffd');
  }
  return s;
}

/** protobufjs takes {low, high} for any 64-bit field: all 64 bits, no Number on the way. */
export function pInt64(v: Int64): number | { low: number; high: number } {
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return v;
  const b = BigInt.asUintN(64, BigInt(v));
  return { low: Number(b & 0xffffffffn) | 0, high: Number(b >> 32n) | 0 };
}

const ISO = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?Z$/;

/** ISO-8601 UTC (ns precision) to google.protobuf.Timestamp. */
export function pTime(iso: string): { seconds: number; nanos: number } {
  const m = ISO.exec(iso);
  if (!m) throw new Error(`not an ISO-8601 UTC time: ${iso}`);
  const seconds = Date.parse(m[1] + 'Z') / 1000;
  const nanos = m[2] ? Number(m[2].padEnd(9, '0')) : 0;
  return { seconds, nanos };
}

/* ---------- protobuf: decoded objects (longs as strings) back to values ---------- */

export function uStr(v: unknown): string {
  return typeof v === 'string' ? v : '';
}
export function uStrOrNull(v: unknown): string | null {
  return typeof v === 'string' ? v : null;
}
export function uNum(v: unknown): number {
  return typeof v === 'number' ? v : 0;
}
export function uInt64(v: unknown): Int64 {
  if (typeof v === 'string') return int64(BigInt(v));
  return typeof v === 'number' ? v : 0;
}
export function uBool(v: unknown): boolean {
  return v === true;
}
export function uStrArray(v: unknown): string[] {
  return Array.isArray(v) ? (v as string[]) : [];
}
export function uTime(ts: unknown): string {
  const t = (ts ?? {}) as { seconds?: number | string; nanos?: number };
  return isoNs(BigInt(t.seconds ?? 0) * 1_000_000_000n + BigInt(t.nanos ?? 0));
}
