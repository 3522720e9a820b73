/**
 * `ctrace read`: JSONL and protobuf (logs, saved streams, the live socket) back
 * into the JSON and table forms, so one tool reads what another wrote.
 */
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditLog } from '../src/audit/log.js';
import { startOptions } from '../src/events/records.js';
import { readCommand } from '../src/commands/read.js';
import { toJsonObject } from '../src/format/json.js';
import { toTableLine } from '../src/format/table.js';
import { ProtobufStreamSink } from '../src/sinks/stdout-protobuf.js';
import { SocketSink } from '../src/sinks/socket.js';
import { StdoutSink } from '../src/sinks/stdout.js';
import { sampleEvents } from './helpers/events.js';
import { captureStream } from './helpers/streams.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = Record<string, any>;

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'ctrace-read-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function read(path: string, output: 'json' | 'table') {
  const out = captureStream();
  const err = captureStream();
  const code = await readCommand(path, { output }, out.stream, err.stream);
  return { code, out: out.text(), err: err.text() };
}
const jsonLines = (s: string): Json[] =>
  s
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Json);

const events = sampleEvents(30);

async function writeLog(name: string, format: 'jsonl' | 'protobuf'): Promise<string> {
  const path = join(dir, name);
  const log = await AuditLog.open({ path, format, start: startOptions({ log: path }) });
  events.forEach((e, i) => {
    log.write(e);
    if (i === 4) log.noteLost({ lost: 1, total: 1 });
  });
  await log.close('SIGINT');
  return path;
}

describe('ctrace read', () => {
  it('a JSONL log and a protobuf log of the same events read back to the same JSON', async () => {
    const jl = await read(await writeLog('a.jsonl', 'jsonl'), 'json');
    const pb = await read(await writeLog('a.pb', 'protobuf'), 'json');
    expect(jl.code).toBe(0);
    expect(pb.code).toBe(0);
    expect(jl.err + pb.err).toBe('');
    const a = jsonLines(jl.out);
    const b = jsonLines(pb.out);
    expect(a.map((r) => r.type)).toEqual(['start', 'exec', 'exec', 'exit', 'exit', 'mount', 'lost', ...b.slice(7).map((r) => r.type)]);
    expect(a.at(-1)!.type).toBe('stop');
    // events are the JSON form exactly; no chain fields
    expect(a.filter((r) => !['start', 'stop', 'lost'].includes(r.type))).toEqual(events.map((e) => toJsonObject(e)));
    expect(a.some((r) => 'hash' in r || 'seq' in r)).toBe(false);
    // the two agree entirely, but for the times of the start, lost and stop records and the log path (two runs)
    const untimed = (r: Json) =>
      r.type === 'start' ? { ...r, time: '-', options: { ...r.options, log: '-' } } : ['stop', 'lost'].includes(r.type) ? { ...r, time: '-' } : r;
    expect(b.map(untimed)).toEqual(a.map(untimed));
  });

  it('prints the table form with the meta records as lines of their own', async () => {
    const r = await read(await writeLog('t.jsonl', 'jsonl'), 'table');
    expect(r.code).toBe(0);
    const lines = r.out.trimEnd().split('\n');
    expect(lines[0]).toMatch(/-- start: ctrace 0\.1\.0 on .* events exec,exit,mount/);
    expect(lines[1]).toMatch(/^TIME\s+EVENT\s+CONTAINER/);
    expect(lines[2]).toBe(toTableLine(events[0]!));
    expect(lines.find((l) => l.includes('LOST'))).toMatch(/-- LOST 1 events: ring buffer full \(1 since start\)/);
    expect(lines.at(-1)).toMatch(/-- stop \(SIGINT\): 30 events \(exec 11, exit 11, mount 8\), 1 lost/);
  });

  it('reads saved --output json and --output protobuf streams', async () => {
    const js = new PassThrough();
    const pb = new PassThrough();
    const jsBufs: Buffer[] = [];
    const pbBufs: Buffer[] = [];
    js.on('data', (d: Buffer) => jsBufs.push(d));
    pb.on('data', (d: Buffer) => pbBufs.push(d));
    const jsSink = new StdoutSink(js, 'json');
    const pbSink = new ProtobufStreamSink(pb, startOptions());
    for (const e of events) {
      jsSink.write(e);
      pbSink.write(e);
    }
    await jsSink.close();
    await pbSink.close('SIGTERM');
    writeFileSync(join(dir, 'out.json'), Buffer.concat(jsBufs));
    writeFileSync(join(dir, 'out.pb'), Buffer.concat(pbBufs));
    const fromJson = jsonLines((await read(join(dir, 'out.json'), 'json')).out);
    const fromPb = jsonLines((await read(join(dir, 'out.pb'), 'json')).out);
    expect(fromJson).toEqual(events.map((e) => toJsonObject(e)));
    expect(fromPb.filter((r) => r.type !== 'start' && r.type !== 'stop')).toEqual(fromJson);
  });

  it('prints what is complete and fails on a cut-short or foreign line', async () => {
    const path = await writeLog('cut.jsonl', 'jsonl');
    appendFileSync(path, 'not json\n{"type":"exec","ti');
    const r = await read(path, 'json');
    expect(r.code).toBe(1);
    expect(jsonLines(r.out)).toHaveLength(1 + 30 + 1 + 1);
    expect(r.err).toMatch(new RegExp(`^ctrace: ${path}:34: not a ctrace record: .*\nctrace: ${path}:35: incomplete last line \\(cut short\\), skipped\n$`));

    const pb = await writeLog('cut.pb', 'protobuf');
    const bytes = readFileSync(pb);
    writeFileSync(pb, bytes.subarray(0, bytes.length - 5));
    const p = await read(pb, 'json');
    expect(p.code).toBe(1);
    expect(jsonLines(p.out)).toHaveLength(1 + 30 + 1); // the stop record is the one cut
    expect(p.err).toMatch(/record 33: incomplete last record/);

    const missing = await read(join(dir, 'nope'), 'json');
    expect(missing).toMatchObject({ code: 1, out: '' });
    expect(missing.err).toMatch(/^ctrace: cannot read .*nope: no such file or directory \(ENOENT\)\n$/);
  });

  it('reads the live stream of a --socket', async () => {
    const path = join(dir, 'live.sock');
    const sink = await SocketSink.listen({ path, start: startOptions() });
    const out = captureStream();
    const err = captureStream();
    const reading = readCommand(path, { output: 'json' }, out.stream, err.stream);
    while (sink.stats().clients === 0) await new Promise((r) => setTimeout(r, 5));
    for (const e of events) sink.write(e);
    await sink.close('SIGTERM');
    expect(await reading).toBe(0);
    const got = jsonLines(out.text());
    expect(got[0]!.type).toBe('start');
    expect(got.slice(1, -1)).toEqual(events.map((e) => toJsonObject(e)));
    expect(got.at(-1)).toMatchObject({ type: 'stop', reason: 'SIGTERM' });
  });
});
