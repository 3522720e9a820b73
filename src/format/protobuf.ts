/**
 * The protobuf form: proto/ctrace.proto, loaded at run time with protobufjs from
 * the shipped file, one `ctrace.v1.Record` per entry, in the standard delimited
 * framing (varint length, then the message).
 */
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type protobuf from 'protobufjs';
import { isoNs } from '../clock.js';
import type { ContainerInfo, EventType, TraceEvent } from '../event.js';
import type { ChainCodec, ChainedRecord } from '../audit/chain.js';
import { isEvent, lossSource, type Entry, type MetaRecord, type StartOptions } from '../audit/records.js';

export const PROTO_PATH = fileURLToPath(new URL('../../proto/ctrace.proto', import.meta.url));
export const RECORD_TYPE = 'ctrace.v1.Record';

let recordType: protobuf.Type | undefined;

/**
 * The Record message type, from proto/ctrace.proto (loaded once). protobufjs itself is
 * loaded here, on first use, so a tracer that never writes protobuf never pays for it.
 */
export function recordMessage(): protobuf.Type {
  if (!recordType) {
    const pb = createRequire(import.meta.url)('protobufjs') as typeof protobuf;
    recordType = pb.loadSync(PROTO_PATH).lookupType(RECORD_TYPE);
  }
  return recordType;
}

type Obj = Record<string, unknown>;

/* ---------- time ---------- */

const ISO = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?Z$/;

/** ISO-8601 UTC (ns precision) to google.protobuf.Timestamp. */
export function isoToTimestamp(iso: string): { seconds: number; nanos: number } {
  const m = ISO.exec(iso);
  if (!m) throw new Error(`not an ISO-8601 UTC time: ${iso}`);
  const seconds = Date.parse(m[1] + 'Z') / 1000;
  const nanos = m[2] ? Number(m[2].padEnd(9, '0')) : 0;
  return { seconds, nanos };
}

export function timestampToIso(ts: unknown): string {
  const t = (ts ?? {}) as { seconds?: number; nanos?: number };
  return isoNs(BigInt(t.seconds ?? 0) * 1_000_000_000n + BigInt(t.nanos ?? 0));
}

/* ---------- entry -> message ---------- */

/** Sets `k` only when `v` is not null: a JSON null is an absent field. */
function opt(o: Obj, k: string, v: unknown): void {
  if (v !== null && v !== undefined) o[k] = v;
}

function containerToProto(c: ContainerInfo): Obj {
  const o: Obj = { id: c.id, runtime: c.runtime };
  opt(o, 'podUid', c.podUid);
  opt(o, 'qos', c.qos);
  opt(o, 'name', c.name);
  opt(o, 'image', c.image);
  opt(o, 'podName', c.podName);
  opt(o, 'podNamespace', c.podNamespace);
  return o;
}

/**
 * A protobuf `string` must be UTF-8, and a lone surrogate (an invalid kernel byte U+DCNN, see
 * src/bytes.ts) has no UTF-8 form: strict decoders would reject the whole message. Here it
 * becomes U+FFFD; the JSON form keeps the byte.
 */
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;
function utf8(s: string): string {
  // most strings are ASCII: one scan, no copy
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdfff) return s.replace(LONE_SURROGATE, '\ufffd');
  }
  return s;
}
function utf8OrNull(s: string | null): string | null {
  return s === null ? null : utf8(s);
}

function eventToProto(ev: TraceEvent): Obj {
  const o: Obj = {
    time: isoToTimestamp(ev.time),
    ktimeNs: Number(ev.ktimeNs),
    pid: ev.pid,
    tid: ev.tid,
    ppid: ev.ppid,
    nspid: ev.nspid,
    uid: ev.uid,
    gid: ev.gid,
    comm: utf8(ev.comm),
    cgroupId: ev.cgroupId,
    pidNs: ev.pidNs,
    mntNs: ev.mntNs,
    scope: ev.scope,
    cgroupPath: utf8(ev.cgroupPath),
    cgroupV1: ev.cgroupV1,
  };
  if (ev.container) o.container = containerToProto(ev.container);
  opt(o, 'reason', ev.reason ?? null);
  opt(o, 'processId', ev.processId ?? null);
  opt(o, 'parentProcessId', ev.parentProcessId ?? null);
  switch (ev.type) {
    case 'exec': {
      const x = ev.exec;
      const e: Obj = {
        filename: utf8(x.filename),
        argv: x.argv.map(utf8),
        argvTruncated: x.argvTruncated,
        filenameTruncated: x.filenameTruncated ?? false,
        entry: x.entry ?? false,
        ancestors: (x.ancestors ?? []).map((a) => {
          const p: Obj = { pid: a.pid, comm: utf8(a.comm), outside: a.outside };
          opt(p, 'processId', a.processId);
          opt(p, 'filename', utf8OrNull(a.filename));
          return p;
        }),
        ancestorsTruncated: x.ancestorsTruncated ?? false,
        cwdTruncated: x.cwdTruncated ?? false,
        capabilities: x.capabilities ?? [],
      };
      opt(e, 'execId', x.execId ?? null);
      opt(e, 'cwd', utf8OrNull(x.cwd ?? null));
      opt(e, 'tty', x.tty ?? null);
      opt(e, 'loginUid', x.loginUid ?? null);
      opt(e, 'sessionId', x.sessionId ?? null);
      opt(e, 'capEffective', x.capEffective ?? null);
      opt(e, 'userNs', x.userNs ?? null);
      opt(e, 'hostRoot', x.hostRoot ?? null);
      if (x.binary) {
        const b: Obj = { size: x.binary.size, upperLayer: x.binary.upperLayer, memfd: x.binary.memfd, deleted: x.binary.deleted };
        opt(b, 'hostPath', utf8OrNull(x.binary.hostPath));
        opt(b, 'sha256', x.binary.sha256);
        opt(b, 'hashError', x.binary.hashError);
        e.binary = b;
      }
      o.exec = e;
      break;
    }
    case 'exit':
      o.exit = { code: ev.exit.code, signal: ev.exit.signal, coreDumped: ev.exit.coreDumped, durationNs: ev.exit.durationNs };
      break;
    case 'mount': {
      const m: Obj = {
        op: ev.mount.op,
        flags: ev.mount.flags,
        ret: ev.mount.ret,
        sourceTruncated: ev.mount.sourceTruncated ?? false,
        targetTruncated: ev.mount.targetTruncated ?? false,
        fstypeTruncated: ev.mount.fstypeTruncated ?? false,
        argsChanged: ev.mount.argsChanged ?? false,
        argsUnverified: ev.mount.argsUnverified ?? false,
        kernelView: ev.mount.kernelView ?? false,
      };
      opt(m, 'source', utf8OrNull(ev.mount.source));
      opt(m, 'target', utf8OrNull(ev.mount.target));
      opt(m, 'fstype', utf8OrNull(ev.mount.fstype));
      o.mount = m;
      break;
    }
  }
  return o;
}

function optionsToProto(op: StartOptions): Obj {
  const o: Obj = {
    events: op.events,
    all: op.all,
    pidnsOnly: op.pidnsOnly,
    logMaxSize: op.logMaxSize,
    logKeep: op.logKeep,
  };
  opt(o, 'container', op.container);
  opt(o, 'runtime', op.runtime);
  opt(o, 'pod', op.pod);
  opt(o, 'output', op.output);
  opt(o, 'log', op.log);
  opt(o, 'logFormat', op.logFormat);
  opt(o, 'logFsync', op.logFsync);
  opt(o, 'socket', op.socket);
  return o;
}

function metaToProto(r: MetaRecord): Obj {
  const time = isoToTimestamp(r.time);
  switch (r.type) {
    case 'start':
      return {
        start: { time, version: r.version, host: r.host, kernel: r.kernel, pid: r.pid, options: optionsToProto(r.options) },
      };
    case 'stop':
      return { stop: { time, reason: r.reason, events: { ...r.events }, lost: r.lost } };
    case 'lost':
      return { lost: { time, count: r.count, total: r.total, source: r.source } };
    case 'rotate':
      return { rotate: { time, reason: r.reason } };
    case 'continuation': {
      const c: Obj = { time };
      opt(c, 'previousFile', r.previousFile);
      return { continuation: c };
    }
  }
}

/** The plain Record object of an entry (no chain fields), ready for Record.encode. */
export function entryToProto(e: Entry): Obj {
  return isEvent(e) ? { event: eventToProto(e) } : metaToProto(e);
}

/** One entry as a length-delimited Record (stdout and socket streams). */
export function encodeDelimited(e: Entry): Buffer {
  return Buffer.from(recordMessage().encodeDelimited(entryToProto(e)).finish());
}

/* ---------- message -> entry ---------- */

function s(v: unknown): string {
  return typeof v === 'string' ? v : '';
}
function sn(v: unknown): string | null {
  return typeof v === 'string' ? v : null;
}
function n(v: unknown): number {
  return typeof v === 'number' ? v : 0;
}

function containerFromProto(c: Obj): ContainerInfo {
  return {
    id: s(c.id),
    runtime: s(c.runtime) as ContainerInfo['runtime'],
    podUid: sn(c.podUid),
    qos: sn(c.qos) as ContainerInfo['qos'],
    name: sn(c.name),
    image: sn(c.image),
    podName: sn(c.podName),
    podNamespace: sn(c.podNamespace),
  };
}

function eventFromProto(o: Obj): TraceEvent {
  const base = {
    time: timestampToIso(o.time),
    ktimeNs: BigInt(n(o.ktimeNs)),
    pid: n(o.pid),
    tid: n(o.tid),
    ppid: n(o.ppid),
    nspid: n(o.nspid),
    uid: n(o.uid),
    gid: n(o.gid),
    comm: s(o.comm),
    cgroupId: n(o.cgroupId),
    cgroupPath: s(o.cgroupPath),
    cgroupV1: o.cgroupV1 === true,
    pidNs: n(o.pidNs),
    mntNs: n(o.mntNs),
    scope: (s(o.scope) || 'unknown') as TraceEvent['scope'],
    container: o.container ? containerFromProto(o.container as Obj) : null,
    reason: sn(o.reason),
    processId: sn(o.processId),
    parentProcessId: sn(o.parentProcessId),
  };
  switch (o.detail) {
    case 'exec': {
      const d = o.exec as Obj;
      const b = d.binary as Obj | undefined;
      const has = (k: string) => Object.prototype.hasOwnProperty.call(d, k) && d[k] !== null && d[k] !== undefined;
      return {
        ...base,
        type: 'exec',
        exec: {
          filename: s(d.filename),
          argv: (d.argv as string[] | undefined) ?? [],
          argvTruncated: d.argvTruncated === true,
          filenameTruncated: d.filenameTruncated === true,
          execId: sn(d.execId),
          entry: d.entry === true,
          ancestors: ((d.ancestors as Obj[] | undefined) ?? []).map((a) => ({
            processId: sn(a.processId),
            pid: n(a.pid),
            comm: s(a.comm),
            filename: sn(a.filename),
            outside: a.outside === true,
          })),
          ancestorsTruncated: d.ancestorsTruncated === true,
          cwd: sn(d.cwd),
          cwdTruncated: d.cwdTruncated === true,
          tty: sn(d.tty),
          loginUid: has('loginUid') ? n(d.loginUid) : null,
          sessionId: has('sessionId') ? n(d.sessionId) : null,
          ...(has('capEffective') ? { capEffective: s(d.capEffective) } : {}),
          capabilities: (d.capabilities as string[] | undefined) ?? [],
          ...(has('userNs') ? { userNs: n(d.userNs) } : {}),
          ...(has('hostRoot') ? { hostRoot: d.hostRoot === true } : {}),
          binary: b
            ? {
                hostPath: sn(b.hostPath),
                sha256: sn(b.sha256),
                hashError: sn(b.hashError),
                size: n(b.size),
                upperLayer: b.upperLayer === true,
                memfd: b.memfd === true,
                deleted: b.deleted === true,
              }
            : null,
        },
      };
    }
    case 'exit': {
      const d = o.exit as Obj;
      return {
        ...base,
        type: 'exit',
        exit: { code: n(d.code), signal: n(d.signal), coreDumped: d.coreDumped === true, durationNs: n(d.durationNs) },
      };
    }
    case 'mount': {
      const d = o.mount as Obj;
      return {
        ...base,
        type: 'mount',
        mount: {
          op: (s(d.op) || 'mount') as 'mount' | 'move_mount',
          source: sn(d.source),
          target: sn(d.target),
          fstype: sn(d.fstype),
          flags: n(d.flags),
          ret: n(d.ret),
          sourceTruncated: d.sourceTruncated === true,
          targetTruncated: d.targetTruncated === true,
          fstypeTruncated: d.fstypeTruncated === true,
          argsChanged: d.argsChanged === true,
          argsUnverified: d.argsUnverified === true,
          kernelView: d.kernelView === true,
        },
      };
    }
    default:
      throw new Error('event without exec, exit or mount detail');
  }
}

function optionsFromProto(o: Obj | undefined): StartOptions {
  const op = o ?? {};
  return {
    events: ((op.events as string[] | undefined) ?? []) as EventType[],
    all: op.all === true,
    pidnsOnly: op.pidnsOnly === true,
    container: sn(op.container),
    runtime: sn(op.runtime),
    pod: sn(op.pod),
    output: sn(op.output),
    log: sn(op.log),
    logFormat: sn(op.logFormat),
    logMaxSize: n(op.logMaxSize),
    logKeep: n(op.logKeep),
    logFsync: sn(op.logFsync),
    socket: sn(op.socket),
  };
}

/** An entry from a decoded Record (as plain object: longs as numbers, oneofs named). */
export function entryFromProto(rec: Obj): Entry {
  switch (rec.kind) {
    case 'event':
      return eventFromProto(rec.event as Obj);
    case 'start': {
      const r = rec.start as Obj;
      return {
        type: 'start',
        time: timestampToIso(r.time),
        version: s(r.version),
        host: s(r.host),
        kernel: s(r.kernel),
        pid: n(r.pid),
        options: optionsFromProto(r.options as Obj | undefined),
      };
    }
    case 'stop': {
      const r = rec.stop as Obj;
      const ev = (r.events ?? {}) as Obj;
      return {
        type: 'stop',
        time: timestampToIso(r.time),
        reason: s(r.reason),
        events: { exec: n(ev.exec), exit: n(ev.exit), mount: n(ev.mount) },
        lost: n(r.lost),
      };
    }
    case 'lost': {
      const r = rec.lost as Obj;
      return { type: 'lost', time: timestampToIso(r.time), count: n(r.count), total: n(r.total), source: lossSource(r.source) };
    }
    case 'rotate': {
      const r = rec.rotate as Obj;
      return { type: 'rotate', time: timestampToIso(r.time), reason: r.reason === 'SIGHUP' ? 'SIGHUP' : 'size' };
    }
    case 'continuation': {
      const r = rec.continuation as Obj;
      return { type: 'continuation', time: timestampToIso(r.time), previousFile: sn(r.previousFile) };
    }
    default:
      throw new Error('record of no known kind');
  }
}

const CONVERSION = { longs: Number, oneofs: true } as const;

/** Decodes one Record message (without its length prefix) into a plain object. */
export function decodeRecordObject(msg: Uint8Array): Obj {
  const T = recordMessage();
  return T.toObject(T.decode(msg), CONVERSION) as Obj;
}

/* ---------- audit-log chain ---------- */

const HASH_FIELD_TAG = (15 << 3) | 2; // field 15, length-delimited
const HASH_TRAILER = 2 + 32; // tag, length (32), 32 bytes

function varint(n: number): Buffer {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return Buffer.from(out);
}

export const protobufCodec: ChainCodec = {
  format: 'protobuf',
  canonical(entry, seq, prev) {
    const o = entryToProto(entry);
    if (seq) o.seq = seq;
    if (prev) o.prev = Buffer.from(prev, 'hex');
    return Buffer.from(recordMessage().encode(o).finish());
  },
  seal(canonical, hash) {
    const c = canonical as Buffer;
    return Buffer.concat([varint(c.length + HASH_TRAILER), c, Buffer.from([HASH_FIELD_TAG, 32]), Buffer.from(hash, 'hex')]);
  },
};

/** A Record message read back from a protobuf log, with its chain parts. Throws when it does not decode. */
export function parseProtobufRecord(msg: Buffer): ChainedRecord {
  const object = decodeRecordObject(msg);
  const type =
    object.kind === 'event' ? String((object.event as Obj | undefined)?.detail ?? '?') : String(object.kind ?? '?');
  const seq = n(object.seq);
  const prev = object.prev instanceof Uint8Array && object.prev.length === 32 ? Buffer.from(object.prev).toString('hex') : null;
  let hash: string | null = null;
  let canonical: Uint8Array[] = [msg];
  const len = msg.length;
  if (
    object.hash instanceof Uint8Array &&
    object.hash.length === 32 &&
    len > HASH_TRAILER &&
    msg[len - HASH_TRAILER] === HASH_FIELD_TAG &&
    msg[len - HASH_TRAILER + 1] === 32 &&
    msg.subarray(len - 32).equals(object.hash)
  ) {
    hash = Buffer.from(object.hash).toString('hex');
    canonical = [msg.subarray(0, len - HASH_TRAILER)];
  }
  return { type, seq, prev, hash, canonical, object };
}

/**
 * Splits a byte stream into delimited messages. `push` returns the complete
 * messages so far (with the stream offset of their length prefix); `pending` is
 * the size of an incomplete trailing one.
 */
export class FrameSplitter {
  private buf: Buffer = Buffer.alloc(0);
  /** a frame longer than what has arrived: its chunks, joined once it is whole (linear, not per chunk) */
  private parts: Buffer[] = [];
  private partLen = 0;
  private need = 0;
  /** bytes consumed so far (offset of the next frame in the stream) */
  offset = 0;

  constructor(private readonly maxMessage = 64 * 1024 * 1024) {}

  push(chunk: Buffer): Array<{ offset: number; bytes: Buffer }> {
    if (this.need > 0) {
      this.parts.push(chunk);
      this.partLen += chunk.length;
      if (this.partLen < this.need) return [];
      this.buf = Buffer.concat(this.parts, this.partLen);
      this.parts = [];
      this.partLen = 0;
      this.need = 0;
    } else {
      this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    }
    const out: Array<{ offset: number; bytes: Buffer }> = [];
    let pos = 0;
    for (;;) {
      let len = 0;
      let shift = 0;
      let i = pos;
      let done = false;
      while (i < this.buf.length && i - pos < 5) {
        const b = this.buf[i++]!;
        len += (b & 0x7f) * 2 ** shift;
        shift += 7;
        if (b < 0x80) {
          done = true;
          break;
        }
      }
      if (!done) {
        if (i - pos >= 5) throw new Error(`bad length prefix at byte ${this.offset + pos}`);
        break;
      }
      if (len > this.maxMessage) throw new Error(`record of ${len} bytes at byte ${this.offset + pos}: not a ctrace stream`);
      if (i + len > this.buf.length) {
        this.need = i + len - pos;
        break;
      }
      out.push({ offset: this.offset + pos, bytes: this.buf.subarray(i, i + len) });
      pos = i + len;
    }
    this.offset += pos;
    this.buf = this.buf.subarray(pos);
    if (this.need > 0) {
      this.parts = [this.buf];
      this.partLen = this.buf.length;
      this.buf = Buffer.alloc(0);
    }
    return out;
  }

  get pending(): number {
    return this.buf.length + this.partLen;
  }
}
