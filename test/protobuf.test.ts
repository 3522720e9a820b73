/**
 * The protobuf form: proto/ctrace.proto covers every field of the JSON form, and
 * a stream written by ctrace, read back by a separate decoder built only from the
 * shipped .proto (a fresh protobufjs Root, not the app's module), equals the JSON
 * stream of the same events.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import protobuf from 'protobufjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditLog } from '../src/audit/log.js';
import { startOptions, type Entry } from '../src/events/records.js';
import type { ExecEvent, TraceEvent } from '../src/events/event.js';
import { toJsonObject } from '../src/format/json.js';
import {
  decodeRecordObject,
  encodeDelimited,
  entryFromProto,
  FrameSplitter,
  isoToTimestamp,
  timestampToIso,
} from '../src/format/protobuf.js';
import { ProtobufStreamSink } from '../src/sinks/stdout-protobuf.js';
import { StdoutSink } from '../src/sinks/stdout.js';
import { execEvent, sampleEvents } from './helpers/events.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = Record<string, any>;

/* ---------- the separate decoder: only proto/ctrace.proto and protobufjs ---------- */

const shippedProto = resolve(import.meta.dirname, '../proto/ctrace.proto');

function separateDecoder() {
  const root = new protobuf.Root();
  root.loadSync(shippedProto);
  const Record = root.lookupType('ctrace.v1.Record');
  return {
    /** every Record of a delimited stream, as a plain object */
    decodeStream(bytes: Uint8Array): Json[] {
      const reader = protobuf.Reader.create(bytes);
      const out: Json[] = [];
      while (reader.pos < reader.len) {
        const msg = Record.decodeDelimited(reader);
        out.push(Record.toObject(msg, { longs: String, bytes: String, oneofs: true, defaults: false }));
      }
      return out;
    },
  };
}

/** google.protobuf.Timestamp -> the JSON form's ISO time with 9 digits, written independently of src/. */
function isoOf(ts: { seconds?: string; nanos?: number } | undefined): string {
  const secs = BigInt(ts?.seconds ?? '0');
  const d = new Date(Number(secs) * 1000).toISOString().slice(0, 19);
  return `${d}.${String(ts?.nanos ?? 0).padStart(9, '0')}Z`;
}
const num = (v: string | number | undefined) => Number(v ?? 0);
const orNull = <T>(v: T | undefined): T | null => (v === undefined ? null : v);

/** A decoded Event message in the JSON form of DESIGN.md. */
function eventToJsonForm(e: Json): Json {
  const c = e.container as Json | undefined;
  const out: Json = {
    type: e.detail,
    time: isoOf(e.time),
    pid: num(e.pid),
    tid: num(e.tid),
    ppid: num(e.ppid),
    nspid: num(e.nspid),
    uid: num(e.uid),
    gid: num(e.gid),
    comm: e.comm ?? '',
    cgroupId: num(e.cgroupId),
    pidNs: num(e.pidNs),
    mntNs: num(e.mntNs),
    container: c
      ? {
          id: c.id ?? '',
          runtime: c.runtime ?? '',
          podUid: orNull(c.podUid),
          qos: orNull(c.qos),
          name: orNull(c.name),
          image: orNull(c.image),
          podName: orNull(c.podName),
          podNamespace: orNull(c.podNamespace),
        }
      : null,
    scope: e.scope,
    cgroupPath: e.cgroupPath ?? '',
    cgroupV1: e.cgroupV1 ?? false,
    reason: orNull(e.reason),
    processId: orNull(e.processId),
    parentProcessId: orNull(e.parentProcessId),
  };
  if (e.detail === 'exec') {
    const x = e.exec;
    const b = x.binary as Json | undefined;
    out.exec = {
      filename: x.filename ?? '',
      argv: x.argv ?? [],
      argvTruncated: x.argvTruncated ?? false,
      filenameTruncated: x.filenameTruncated ?? false,
      argc: x.argc ?? 0,
      execId: orNull(x.execId),
      entry: x.entry ?? false,
      ancestors: ((x.ancestors as Json[] | undefined) ?? []).map((a) => ({
        processId: orNull(a.processId),
        pid: num(a.pid),
        comm: a.comm ?? '',
        filename: orNull(a.filename),
        outside: a.outside ?? false,
      })),
      ancestorsTruncated: x.ancestorsTruncated ?? false,
      cwd: orNull(x.cwd),
      cwdTruncated: x.cwdTruncated ?? false,
      tty: orNull(x.tty),
      loginUid: orNull(x.loginUid),
      sessionId: orNull(x.sessionId),
      capEffective: x.capEffective ?? '',
      capabilities: x.capabilities ?? [],
      userNs: num(x.userNs),
      hostRoot: x.hostRoot ?? false,
      binary: b
        ? {
            hostPath: orNull(b.hostPath),
            sha256: orNull(b.sha256),
            hashError: orNull(b.hashError),
            size: num(b.size),
            upperLayer: b.upperLayer ?? false,
            memfd: b.memfd ?? false,
            deleted: b.deleted ?? false,
          }
        : null,
    };
  } else if (e.detail === 'exit') {
    out.exit = {
      code: e.exit.code ?? 0,
      signal: e.exit.signal ?? 0,
      coreDumped: e.exit.coreDumped ?? false,
      durationNs: num(e.exit.durationNs),
    };
  } else {
    out.mount = {
      op: e.mount.op ?? '',
      source: orNull(e.mount.source),
      target: orNull(e.mount.target),
      fstype: orNull(e.mount.fstype),
      flags: num(e.mount.flags),
      ret: num(e.mount.ret),
      sourceTruncated: e.mount.sourceTruncated ?? false,
      targetTruncated: e.mount.targetTruncated ?? false,
      fstypeTruncated: e.mount.fstypeTruncated ?? false,
      argsChanged: e.mount.argsChanged ?? false,
      argsUnverified: e.mount.argsUnverified ?? false,
      kernelView: e.mount.kernelView ?? false,
    };
  }
  return out;
}

function collect(): { stream: Writable; bytes: () => Buffer } {
  const chunks: Buffer[] = [];
  const stream = new PassThrough();
  stream.on('data', (c: Buffer) => chunks.push(c));
  return { stream, bytes: () => Buffer.concat(chunks) };
}

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'ctrace-pb-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('protobuf stream', () => {
  it('read back by a separate decoder from the shipped .proto, equals the JSON stream', async () => {
    const events = sampleEvents(64);
    const pb = collect();
    const js = collect();
    const pbSink = new ProtobufStreamSink(pb.stream, startOptions({ output: 'protobuf' }));
    const jsSink = new StdoutSink(js.stream, 'json');
    events.forEach((e, i) => {
      pbSink.write(e);
      jsSink.write(e);
      if (i === 10) pbSink.noteLost({ lost: 3, total: 3 });
    });
    await pbSink.close('SIGTERM');
    await jsSink.close();

    const jsonStream = js
      .bytes()
      .toString('utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Json);
    const records = separateDecoder().decodeStream(pb.bytes());
    expect(records.map((r) => r.kind)).toEqual(['start', ...Array(11).fill('event'), 'lost', ...Array(53).fill('event'), 'stop']);

    const decodedEvents = records.filter((r) => r.kind === 'event').map((r) => eventToJsonForm(r.event));
    expect(decodedEvents).toEqual(jsonStream);
    expect(decodedEvents).toEqual(events.map((e) => toJsonObject(e)));

    // the protobuf form also carries what the JSON form leaves out
    const first = records[1]!.event as Json;
    expect(first.ktimeNs).toBe(String(events[0]!.ktimeNs));

    const start = records[0]!.start as Json;
    expect(start).toMatchObject({ version: '0.1.0', pid: process.pid, options: { output: 'protobuf', events: ['exec', 'exit', 'mount'] } });
    expect(records[12]!.lost).toMatchObject({ count: '3', total: '3', source: 'kernel' });
    expect(records.at(-1)!.stop).toMatchObject({
      reason: 'SIGTERM',
      events: { exec: '24', exit: '24', mount: '16' },
      lost: '3',
    });
    // stream records carry no chain fields
    expect(records.every((r) => r.hash === undefined && r.seq === undefined)).toBe(true);
  });

  it('a protobuf audit log decodes with the separate decoder and matches the JSONL log of the same events', async () => {
    const events = sampleEvents(40);
    const paths = { jsonl: join(dir, 'a.jsonl'), protobuf: join(dir, 'a.pb') };
    for (const format of ['jsonl', 'protobuf'] as const) {
      const log = await AuditLog.open({ path: paths[format], format, start: startOptions() });
      for (const e of events) log.write(e);
      await log.close('SIGINT');
    }
    const pbRecords = separateDecoder().decodeStream(readFileSync(paths.protobuf));
    const jsonl = readFileSync(paths.jsonl, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Json);
    expect(pbRecords).toHaveLength(jsonl.length);
    const pbEvents = pbRecords.filter((r) => r.kind === 'event').map((r) => eventToJsonForm(r.event));
    const jsEvents = jsonl
      .filter((r) => ['exec', 'exit', 'mount'].includes(r.type))
      .map(({ seq: _s, hash: _h, ...rest }) => rest);
    expect(pbEvents).toEqual(jsEvents);
    // chain fields: seq counts up, hash on every record, prev on the start record
    expect(pbRecords.map((r) => num(r.seq))).toEqual(pbRecords.map((_, i) => i));
    expect(pbRecords.every((r) => typeof r.hash === 'string' && Buffer.from(r.hash, 'base64').length === 32)).toBe(true);
    expect(Buffer.from(pbRecords[0]!.prev as string, 'base64')).toHaveLength(32);
  });

  it('round-trips every entry through the app decoder, including fields the JSON form omits', () => {
    const entries: Entry[] = [
      ...sampleEvents(16),
      { type: 'lost', time: '2026-11-23T03:15:00.000000001Z', count: 1, total: 9, source: 'kernel' },
      { type: 'rotate', time: '2026-11-23T03:15:00.5Z', reason: 'SIGHUP' },
      { type: 'continuation', time: '2026-11-23T03:15:00.000000000Z', previousFile: 'ctrace.log.20261123T031500.000Z' },
      { type: 'continuation', time: '2026-11-23T03:15:00.000000000Z', previousFile: null },
    ];
    const splitter = new FrameSplitter();
    const frames = splitter.push(Buffer.concat(entries.map(encodeDelimited)));
    expect(splitter.pending).toBe(0);
    const back = frames.map((f) => entryFromProto(decodeRecordObject(f.bytes)));
    const expected = entries.map((e) => (e.type === 'rotate' ? { ...e, time: '2026-11-23T03:15:00.500000000Z' } : e));
    expect(back).toEqual(expected);
    expect((back[0] as TraceEvent).ktimeNs).toBe((entries[0] as TraceEvent).ktimeNs);
    expect(back.map(toJsonObject)).toEqual(expected.map(toJsonObject));
  });

  it('time conversion keeps nanoseconds', () => {
    for (const t of ['2026-11-22T11:02:59.123456789Z', '1970-01-01T00:00:00.000000001Z', '2106-02-07T06:28:16.999999999Z']) {
      expect(timestampToIso(isoToTimestamp(t))).toBe(t);
    }
  });

  it('the frame splitter handles records split across chunks', () => {
    const bytes = Buffer.concat(sampleEvents(10).map(encodeDelimited));
    const s = new FrameSplitter();
    const got: Buffer[] = [];
    for (let i = 0; i < bytes.length; i += 7) got.push(...s.push(bytes.subarray(i, i + 7)).map((f) => Buffer.from(f.bytes)));
    expect(got).toHaveLength(10);
    expect(s.pending).toBe(0);
  });

  it('the shipped .proto names every JSON-form field', () => {
    const text = readFileSync(shippedProto, 'utf8');
    const snake = (k: string) => k.replace(/[A-Z]/g, (c) => '_' + c.toLowerCase());
    const keys = new Set<string>();
    const walk = (o: Json) => {
      for (const [k, v] of Object.entries(o)) {
        keys.add(k);
        if (v && typeof v === 'object' && !Array.isArray(v)) walk(v);
      }
    };
    for (const e of sampleEvents(8)) walk(toJsonObject(e));
    for (const k of keys) {
      if (k === 'type') continue; // the oneof case names the type
      expect(text, k).toMatch(new RegExp(`\\b${snake(k)} = \\d+;`));
    }
  });
});

describe('protobuf strings', () => {
  it('are valid UTF-8 even when an argv held invalid bytes (U+FFFD there; JSON keeps the byte)', () => {
    const ev = execEvent(1, { argv: ['true', '\udcff', '\\xff', 'ok 🐳'] });
    const frames = new FrameSplitter().push(encodeDelimited(ev));
    const back = entryFromProto(decodeRecordObject(frames[0]!.bytes)) as ExecEvent;
    expect(back.exec.argv).toEqual(['true', '\ufffd', '\\xff', 'ok 🐳']);
    // no three-byte surrogate (ED A0..BF ..) on the wire
    expect(frames[0]!.bytes.includes(Buffer.from([0xed, 0xb3, 0xbf]))).toBe(false);
  });
});
