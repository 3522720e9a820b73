/**
 * `ctrace verify`: the chain catches an edited, a deleted and an inserted line
 * (and reordering, truncation, a missing rotated file), in JSONL and protobuf
 * logs, and says where.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LogFormat } from '../src/audit/codecs.js';
import { AuditLog } from '../src/audit/log.js';
import { startOptions } from '../src/events/records.js';
import { storedRecords } from '../src/audit/reader.js';
import { expandLogPaths, verifyLogs } from '../src/audit/verify.js';
import { verifyCommand } from '../src/commands/verify.js';
import { sampleEvents } from './helpers/events.js';
import { captureStream } from './helpers/streams.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'ctrace-verify-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});
let n = 0;

/** A log of `runs` runs with `events` events each; returns its path. */
async function makeLog(o: { events?: number; runs?: number; format?: LogFormat; maxSize?: number } = {}): Promise<string> {
  const d = join(dir, `log${++n}`);
  mkdirSync(d);
  const path = join(d, 'ctrace.log');
  for (let r = 0; r < (o.runs ?? 1); r++) {
    const log = await AuditLog.open({ path, format: o.format, maxSize: o.maxSize ?? 0, keep: 0, start: startOptions() });
    const evs = sampleEvents(o.events ?? 20);
    evs.forEach((e, i) => {
      log.write(e);
      if (i === 7) log.noteLost({ lost: 4, total: 4 });
    });
    await log.close('SIGTERM');
  }
  return path;
}

const textLines = (p: string) => readFileSync(p, 'utf8').split('\n').slice(0, -1);
const writeLines = (p: string, ls: string[]) => writeFileSync(p, ls.map((l) => l + '\n').join(''));

async function runVerify(paths: string[], opts = {}) {
  const out = captureStream();
  const err = captureStream();
  const code = await verifyCommand(paths, opts, out.stream, err.stream);
  return { code, out: out.text(), err: err.text() };
}

describe('verify: JSONL', () => {
  it('passes an intact log with a one-line summary and exit 0', async () => {
    const path = await makeLog({ runs: 2 });
    const r = await runVerify([path]);
    expect(r.code).toBe(0);
    expect(r.err).toBe('');
    expect(r.out).toMatch(/^ok: 1 file, 46 records \(seq 0\.\.45\), 2 runs, 40 events, 8 lost; head [0-9a-f]{64}\n$/);
  });

  it('catches an edited line: file:line and "altered"', async () => {
    const path = await makeLog();
    const ls = textLines(path);
    ls[5] = ls[5]!.replace('"uid":1000', '"uid":0'); // line 6
    writeLines(path, ls);
    const r = await runVerify([path]);
    expect(r.code).toBe(1);
    expect(r.err).toBe(`ctrace: verify failed: ${path}:6: altered: its content does not match its hash\n`);
  });

  it('catches an edited argv even when only one character changes', async () => {
    const path = await makeLog();
    const ls = textLines(path);
    const i = ls.findIndex((l) => l.includes('/usr/bin/curl'));
    ls[i] = ls[i]!.replace('10.0.0.1', '10.0.0.2');
    writeLines(path, ls);
    const v = await verifyLogs([path]);
    expect(v.problem).toMatchObject({ file: path, index: i + 1 });
    expect(v.problem!.what).toMatch(/altered/);
  });

  it('catches a deleted line: reported at the line after the gap, "removed"', async () => {
    const path = await makeLog();
    const ls = textLines(path);
    ls.splice(9, 1); // delete line 10 (seq 9)
    writeLines(path, ls);
    const r = await runVerify([path]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(new RegExp(`${path}:10: 1 record removed before this one: seq jumps from 8 to 10`));
  });

  it('catches an inserted line, fabricated or copied', async () => {
    const path = await makeLog();
    const ls = textLines(path);
    const fake = JSON.parse(ls[3]!) as Record<string, unknown>;
    fake.comm = 'innocent';
    const copy = [...ls];
    copy.splice(4, 0, JSON.stringify(fake)); // a forged line at 5 with seq 3 again
    writeLines(path, copy);
    let v = await verifyLogs([path]);
    expect(v.problem).toMatchObject({ index: 5 });
    expect(v.problem!.what).toMatch(/inserted or duplicated: seq 3 where 4 was expected/);

    // a forged line that claims the right seq and keeps a hash: "inserted"
    const forged = JSON.parse(ls[4]!) as Record<string, unknown>;
    forged.comm = 'innocent';
    const ins = [...ls];
    ins.splice(4, 0, JSON.stringify(forged));
    writeLines(path, ins);
    v = await verifyLogs([path]);
    expect(v.problem).toMatchObject({ index: 5 });
    expect(v.problem!.what).toMatch(/^inserted: not part of the chain/);

    // a line without chain fields
    const bare = [...ls];
    bare.splice(2, 0, '{"type":"exec"}');
    writeLines(path, bare);
    v = await verifyLogs([path]);
    expect(v.problem).toMatchObject({ index: 3 });
    expect(v.problem!.what).toMatch(/no chain hash/);
  });

  it('catches reordered lines, a non-JSON line, a truncated tail and a half line', async () => {
    const path = await makeLog();
    const ls = textLines(path);
    const swapped = [...ls];
    [swapped[6], swapped[7]] = [swapped[7]!, swapped[6]!];
    writeLines(path, swapped);
    expect((await verifyLogs([path])).problem).toMatchObject({ index: 7 });

    writeLines(path, [...ls.slice(0, 4), 'garbage', ...ls.slice(5)]);
    expect((await verifyLogs([path])).problem!.what).toMatch(/not valid JSON/);

    writeLines(path, ls.slice(0, -3)); // the stop record and two before it removed
    const cut = await verifyLogs([path]);
    expect(cut.problem!.what).toMatch(/no stop record/);
    expect((await verifyLogs([path], { open: true })).ok).toBe(true);

    writeFileSync(path, ls.join('\n')); // no final newline
    expect((await verifyLogs([path])).problem!.what).toMatch(/incomplete last line/);

    writeLines(path, ls.slice(2)); // the start record removed
    expect((await verifyLogs([path])).problem!.what).toMatch(/must begin with a start or continuation/);
  });

  it('checks a recorded head hash', async () => {
    const path = await makeLog();
    const head = (JSON.parse(textLines(path).at(-1)!) as { hash: string }).hash;
    expect((await runVerify([path], { head })).code).toBe(0);
    const r = await runVerify([path], { head: 'f'.repeat(64) });
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/no record has the hash f{64}/);
  });

  it('follows rotated files; catches a missing one and an edit in an old one', async () => {
    const path = await makeLog({ events: 60, maxSize: 3000, runs: 2 });
    const files = expandLogPaths([path]);
    expect(files.length).toBeGreaterThan(5);
    expect(files.at(-1)).toBe(path);
    const ok = await runVerify([path]);
    expect(ok.code).toBe(0);
    expect(ok.out).toMatch(new RegExp(`^ok: ${files.length} files, .* 2 runs, 120 events`));
    // given explicitly, in order
    expect((await runVerify(files, { expand: false })).code).toBe(0);
    // out of order
    const shuffled = [files[1]!, files[0]!, ...files.slice(2)];
    expect((await runVerify(shuffled, { expand: false })).code).toBe(1);

    // a middle file missing
    const missing = files[2]!;
    const keep = readFileSync(missing);
    unlinkSync(missing);
    const r = await runVerify([path]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/records? removed before this one: seq jumps .* a file missing/);
    expect(r.err).toContain(`${files[3]}:1:`);
    writeFileSync(missing, keep);

    // an edit in the second file
    const ls = textLines(files[1]!);
    ls[2] = ls[2]!.replace('"pid":', '"pid":1');
    writeLines(files[1]!, ls);
    const e = await runVerify([path]);
    expect(e.code).toBe(1);
    expect(e.err).toContain(`${files[1]}:3: altered`);
  });

  it('reports an unreadable file with exit 1', async () => {
    const r = await runVerify([join(dir, 'nope.log')]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^ctrace: cannot read .*nope\.log: no such file or directory \(ENOENT\)\n$/);
  });
});

describe('verify: protobuf logs', () => {
  /** The delimited records of a protobuf log, as [prefix+message] byte strings. */
  async function frames(path: string): Promise<Buffer[]> {
    const buf = readFileSync(path);
    const out: Buffer[] = [];
    for await (const r of storedRecords([buf], 'protobuf')) out.push(r.bytes);
    // re-frame: varint length + message
    return out.map((m) => Buffer.concat([varint(m.length), m]));
  }
  function varint(v: number): Buffer {
    const b: number[] = [];
    while (v > 0x7f) {
      b.push((v & 0x7f) | 0x80);
      v >>>= 7;
    }
    b.push(v);
    return Buffer.from(b);
  }

  it('passes an intact protobuf log and catches an edited, a deleted and an inserted record', async () => {
    const path = await makeLog({ format: 'protobuf', runs: 2 });
    const ok = await runVerify([path]);
    expect(ok.code).toBe(0);
    expect(ok.out).toMatch(/^ok: 1 file, 46 records .* 2 runs, 40 events, 8 lost/);

    const fs = await frames(path);
    expect(Buffer.concat(fs).equals(readFileSync(path))).toBe(true);

    // edit: record 6 (a mount) gets another target of the same length (keeps the framing)
    const edited = fs.map((f) => Buffer.from(f));
    const at = edited[5]!.indexOf('/mnt');
    expect(at).toBeGreaterThan(0);
    edited[5]!.write('/etc', at);
    writeFileSync(path, Buffer.concat(edited));
    let r = await runVerify([path]);
    expect(r.code).toBe(1);
    expect(r.err).toContain(`${path}: record 6: altered: its content does not match its hash`);

    // delete record 10
    writeFileSync(path, Buffer.concat([...fs.slice(0, 9), ...fs.slice(10)]));
    r = await runVerify([path]);
    expect(r.err).toContain(`${path}: record 10: 1 record removed before this one`);

    // insert a copy of record 4 after record 4
    writeFileSync(path, Buffer.concat([...fs.slice(0, 4), fs[3]!, ...fs.slice(4)]));
    r = await runVerify([path]);
    expect(r.err).toContain(`${path}: record 5: record inserted or duplicated`);

    // cut in the middle of the last record
    const all = Buffer.concat(fs);
    writeFileSync(path, all.subarray(0, all.length - 10));
    r = await runVerify([path]);
    expect(r.err).toMatch(/record 46: incomplete last record/);
  });

  it('rotated protobuf logs chain across files', async () => {
    const path = await makeLog({ format: 'protobuf', events: 80, maxSize: 4000 });
    const files = expandLogPaths([path]);
    expect(files.length).toBeGreaterThan(3);
    expect(readdirSync(join(path, '..'))).toHaveLength(files.length);
    expect((await runVerify([path])).code).toBe(0);
  });
});
