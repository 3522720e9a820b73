/**
 * The JSONL audit log (src/audit/log.ts) on synthetic events: the JSON form with
 * chain fields, start/lost/stop records, file modes, append-only reopening,
 * rotation, SIGHUP reopen, batching and fsync, ENOSPC on a real tmpfs.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AuditLog, type AuditLogOptions } from '../src/audit/log.js';
import { Chain } from '../src/audit/chain.js';
import { jsonlCodec } from '../src/audit/codecs.js';
import { startOptions } from '../src/events/records.js';
import { expandLogPaths, verifyLogs } from '../src/audit/verify.js';
import { toJsonLine, toJsonObject } from '../src/format/json.js';
import { execEvent, sampleEvents } from './helpers/events.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'ctrace-audit-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

let n = 0;
const fresh = (name = 'ctrace.log') => join(dir, `case${++n}`, name);

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = Record<string, any>;
const lines = (path: string): Json[] =>
  readFileSync(path, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Json);

const withoutChain = (o: Json): Json => {
  const { seq: _s, hash: _h, prev: _p, ...rest } = o;
  return rest;
};

/**
 * Every case runs twice: with JavaScript writing the log, and with the addon's writer sealing
 * and writing it (AuditLog.attachLane(), native/log_writer.h), as ctrace run does under a lane.
 */
const WRITERS = ['javascript', 'the addon'] as const;
const opener =
  (writer: (typeof WRITERS)[number]) =>
  async (path: string, o: Partial<AuditLogOptions> = {}): Promise<AuditLog> => {
    const log = await AuditLog.open({ path, start: startOptions({ log: path, logFormat: 'jsonl' }), ...o });
    if (writer === 'the addon') expect(log.attachLane()).not.toBeNull();
    return log;
  };

describe.each(WRITERS)('JSONL audit log, written by %s', (writer) => {
  const open = opener(writer);
    it('writes start, every event in the JSON form, lost, and stop, each line chained', async () => {
      const path = fresh();
      const events = sampleEvents(40);
      const log = await open(path);
      for (const e of events.slice(0, 20)) log.write(e);
      log.noteLost({ lost: 5, total: 5 });
      for (const e of events.slice(20)) log.write(e);
      log.noteLost({ lost: 2, total: 7 });
      await log.close('SIGTERM');

      const raw = readFileSync(path, 'utf8');
      expect(raw.endsWith('\n')).toBe(true);
      const recs = lines(path);
      expect(recs).toHaveLength(1 + 40 + 2 + 1);
      const start = recs[0]!;
      expect(start).toMatchObject({ type: 'start', version: '0.1.0', pid: process.pid, seq: 0 });
      expect(typeof start.host).toBe('string');
      expect(typeof start.kernel).toBe('string');
      expect(start.options).toMatchObject({ log: path, logFormat: 'jsonl', events: ['exec', 'exit', 'mount'] });
      expect(start.prev).toMatch(/^[0-9a-f]{64}$/);
      expect(start.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/);

      const evLines = recs.filter((r) => ['exec', 'exit', 'mount'].includes(r.type));
      expect(evLines.map(withoutChain)).toEqual(events.map((e) => toJsonObject(e)));

      expect(recs[21]).toMatchObject({ type: 'lost', count: 5, total: 5, source: 'kernel' });
      expect(recs[42]).toMatchObject({ type: 'lost', count: 2, total: 7 });
      const stop = recs[recs.length - 1]!;
      expect(stop).toMatchObject({ type: 'stop', reason: 'SIGTERM', lost: 7 });
      expect(stop.events).toEqual({
        exec: events.filter((e) => e.type === 'exec').length,
        exit: events.filter((e) => e.type === 'exit').length,
        mount: events.filter((e) => e.type === 'mount').length,
      });
      // seq counts up, the hash is the last key of every line
      expect(recs.map((r) => r.seq)).toEqual(recs.map((_, i) => i));
      for (const l of raw.split('\n').filter(Boolean)) expect(l).toMatch(/,"hash":"[0-9a-f]{64}"}$/);
      expect((await verifyLogs([path])).ok).toBe(true);
    });

    it('creates the file 0600 and the directories it makes 0700, whatever the umask', async () => {
      const parent = join(dir, `modes${++n}`);
      const path = join(parent, 'a', 'b', 'ctrace.log');
      let oldMask: number | undefined;
      try {
        oldMask = process.umask(0); // not available in worker threads
      } catch {
        oldMask = undefined;
      }
      try {
        const log = await open(path);
        log.write(execEvent(1));
        await log.close();
      } finally {
        if (oldMask !== undefined) process.umask(oldMask);
      }
      expect(statSync(path).mode & 0o777).toBe(0o600);
      expect(statSync(join(parent, 'a', 'b')).mode & 0o777).toBe(0o700);
      expect(statSync(join(parent, 'a')).mode & 0o777).toBe(0o700);
      expect(statSync(parent).mode & 0o777).toBe(0o700);
    });

    it('appends to an existing log, never truncates, and continues its chain', async () => {
      const path = fresh();
      const a = await open(path);
      for (const e of sampleEvents(10)) a.write(e);
      await a.close('SIGINT');
      const before = readFileSync(path);

      const b = await open(path);
      for (const e of sampleEvents(5)) b.write(e);
      await b.close('SIGTERM');
      const after = readFileSync(path);
      expect(after.subarray(0, before.length).equals(before)).toBe(true);

      const recs = lines(path);
      const starts = recs.filter((r) => r.type === 'start');
      expect(starts).toHaveLength(2);
      // the second run's start links to the first run's stop
      expect(starts[1]!.prev).toBe(recs[11]!.hash);
      expect(starts[1]!.seq).toBe(12);
      const v = await verifyLogs([path]);
      expect(v).toMatchObject({ ok: true, runs: 2, events: 15, records: recs.length });
    });

    it('refuses a symlink, a directory, and a file that is not a ctrace log', async () => {
      const base = join(dir, `refuse${++n}`);
      mkdirSync(base);
      writeFileSync(join(base, 'other.txt'), 'hello\n');
      symlinkSync(join(base, 'other.txt'), join(base, 'link.log'));
      mkdirSync(join(base, 'dir.log'));
      await expect(open(join(base, 'link.log'))).rejects.toThrow(/symbolic link/);
      await expect(open(join(base, 'dir.log'))).rejects.toThrow(/not a regular file/);
      await expect(open(join(base, 'other.txt'))).rejects.toThrow(/not a ctrace jsonl log/);
      await expect(open(join(base, 'other.txt', 'x.log'))).rejects.toThrow(/cannot create the directory .*ENOTDIR|EEXIST/);
      expect(readFileSync(join(base, 'other.txt'), 'utf8')).toBe('hello\n');
    });

    it('moves aside, untouched, a log that ends in half a line; the chain goes on past it and verify names it', async () => {
      const path = fresh();
      const a = await open(path);
      for (const e of sampleEvents(3)) a.write(e);
      await a.close();
      const lastSeq = lines(path).at(-1)!.seq as number;
      const damaged = readFileSync(path, 'utf8') + '{"type":"exec","ti';
      writeFileSync(path, damaged);
      const warnings: string[] = [];
      const b = await open(path, { onWarning: (m) => warnings.push(m) });
      await b.close();
      expect(warnings.join('\n')).toMatch(/incomplete record.*moved it aside, untouched, to .*\.damaged; the chain continues from its last complete record/);
      const aside = readdirSync(join(path, '..')).filter((f) => f !== 'ctrace.log');
      expect(aside).toHaveLength(1);
      expect(aside[0]).toMatch(/^ctrace\.log\.\d{8}T\d{6}\.\d{3}Z\.damaged$/);
      expect(readFileSync(join(path, '..', aside[0]!), 'utf8')).toBe(damaged);
      expect(lines(path)[0]).toMatchObject({ type: 'start', seq: lastSeq + 1 });
      const files = expandLogPaths([path]);
      expect(files).toEqual([join(path, '..', aside[0]!), path]);
      const res = await verifyLogs(files);
      expect(res.problem).toBeNull();
      expect(res.ok).toBe(true);
      expect(res.notes.join('\n')).toMatch(/\.damaged is a damaged tail moved aside at start-up: its last line \(\d+\) is cut short and was not checked/);
    });

    it('never prunes a damaged tail by --log-keep', async () => {
      const path = fresh();
      mkdirSync(join(path, '..'), { recursive: true, mode: 0o700 });
      writeFileSync(path, '{"type":"start","seq":0,"ha');
      const log = await open(path, { maxSize: 4096, keep: 1 });
      const events = sampleEvents(120);
      for (let i = 0; i < events.length; i++) {
        log.write(events[i]!);
        if (i % 10 === 9) await new Promise((r) => setImmediate(r));
      }
      await log.close();
      const names = readdirSync(join(path, '..'));
      expect(names.filter((f) => f.endsWith('.damaged'))).toHaveLength(1);
      expect(names.filter((f) => f !== 'ctrace.log' && !f.endsWith('.damaged'))).toHaveLength(1);
    });

    it('rotates by size to time-sorted names, keeps the newest N, and chains across files', async () => {
      const path = fresh();
      const log = await open(path, { maxSize: 4096, keep: 3 });
      const events = sampleEvents(120);
      for (let i = 0; i < events.length; i++) {
        log.write(events[i]!);
        if (i % 10 === 9) await new Promise((r) => setImmediate(r));
      }
      await log.close('SIGTERM');
      expect(log.stats().rotations).toBeGreaterThan(5);

      const files = readdirSync(join(path, '..')).sort();
      expect(files).toHaveLength(4); // 3 rotated + the current one
      const rotated = files.filter((f) => f !== 'ctrace.log');
      for (const f of rotated) expect(f).toMatch(/^ctrace\.log\.\d{8}T\d{6}\.\d{3}Z(-\d{3})?$/);
      for (const f of files) expect(statSync(join(path, '..', f)).mode & 0o777).toBe(0o600);

      const chain = [...rotated.map((f) => join(path, '..', f)), path];
      for (let i = 0; i < chain.length; i++) {
        const recs = lines(chain[i]!);
        expect(recs[0]!.type).toBe('continuation');
        if (i > 0) {
          const prev = lines(chain[i - 1]!);
          expect(prev[prev.length - 1]).toMatchObject({ type: 'rotate', reason: 'size' });
          expect(recs[0]!.prev).toBe(prev[prev.length - 1]!.hash);
          expect(recs[0]!.previousFile).toBe(rotated[i - 1]);
        }
        if (i < chain.length - 1) expect(statSync(chain[i]!).size).toBeLessThan(4096 + 2000);
      }
      expect(lines(path).at(-1)).toMatchObject({ type: 'stop', events: { exec: 45, exit: 45, mount: 30 } });

      expect(expandLogPaths([path])).toEqual(chain);
      const v = await verifyLogs(expandLogPaths([path]));
      expect(v.ok).toBe(true);
      expect(v.notes.join('\n')).toMatch(/begins at seq/); // the oldest files were pruned
    });

    it('counts what was queued for the next file while it is being opened: no file outgrows the limit', async () => {
      const path = fresh();
      const log = await open(path, { maxSize: 4096, keep: 200 });
      const events = sampleEvents(400);
      // appends interleaved with the writer's file switches at every point of their progress
      for (let i = 0; i < events.length; i++) {
        log.write(events[i]!);
        if (i % 3 === 2) await new Promise((r) => setImmediate(r));
      }
      await log.close('SIGTERM');
      const files = expandLogPaths([path]);
      expect(files.length).toBeGreaterThan(20);
      const biggest = Math.max(...events.map((e) => Buffer.byteLength(toJsonLine(e)) + 120));
      for (const f of files.slice(0, -1)) expect(statSync(f).size).toBeLessThan(4096 + 2 * biggest);
      expect((await verifyLogs(files)).ok).toBe(true);
    });

    it('chains lines from the JSON lane like events, rotating inside a batch, in order with object events', async () => {
      const path = fresh();
      const log = await open(path, { maxSize: 8192, keep: 50 });
      const events = sampleEvents(150);
      // batches of lines as the lane hands them over, with an object event between batches
      for (let i = 0; i < events.length; i += 30) {
        const batch = events.slice(i, i + 29);
        log.writeLines(Buffer.from(batch.map((e) => toJsonLine(e) + '\n').join('')));
        log.write(events[i + 29]!);
        await new Promise((r) => setImmediate(r));
      }
      await log.close('SIGTERM');
      expect(log.stats().rotations).toBeGreaterThan(5);

      const files = expandLogPaths([path]);
      const recs = files.flatMap((f) => lines(f));
      const got = recs.filter((r) => ['exec', 'exit', 'mount'].includes(r.type));
      expect(got.map(withoutChain)).toEqual(events.map((e) => toJsonObject(e)));
      expect(recs.map((r) => r.seq)).toEqual(recs.map((_, i) => i));
      for (const f of files.slice(0, -1)) expect(statSync(f).size).toBeLessThan(8192 + 2000);
      const byType = { exec: 0, exit: 0, mount: 0 };
      for (const e of events) byType[e.type]++;
      expect(recs.at(-1)).toMatchObject({ type: 'stop', events: byType });
      const v = await verifyLogs(files);
      expect(v.ok).toBe(true);
      expect(v.records).toBe(recs.length);
    });

    it('chains a batch of lane lines in Buffers to the very bytes of the same events chained as objects (UTF-8, escapes, every type)', async () => {
      const events = sampleEvents(60).map((e, i) => (i % 7 === 0 ? { ...e, comm: 'сервер "x"\\ ✓' } : e));
      const text = events.map((e) => toJsonLine(e) + '\n').join('');
      // the bytes of the same events chained as objects (what write() queues)
      const byObject = new Chain(41, 'ab'.repeat(32));
      const expected = events.map((e) => byObject.append(jsonlCodec, e)).join('');
      const batched = new Chain(41, 'ab'.repeat(32));
      const { bytes, records, counts } = batched.appendEventLines(Buffer.from(text));
      expect(records).toBe(events.length);
      expect(bytes.toString('utf8')).toBe(expected);
      expect([batched.seq, batched.head]).toEqual([byObject.seq, byObject.head]);
      const byType = { exec: 0, exit: 0, mount: 0 };
      for (const e of events) byType[e.type]++;
      expect(counts).toEqual(byType);

      // seq past 32 bits, and lines that are not what the lane writes
      const far = new Chain(2 ** 40 + 7, 'cd'.repeat(32));
      const farObject = new Chain(2 ** 40 + 7, 'cd'.repeat(32));
      expect(far.appendEventLines(Buffer.from(text)).bytes.toString('utf8')).toBe(events.map((e) => farObject.append(jsonlCodec, e)).join(''));
      for (const bad of ['{"type":"exec"}', '{"type":"exec"}\n[1]\n', '{"type":"exec"}\n{}\n', '{"type":"other"}\n', 'x\n', '\n'])
        expect(() => far.appendEventLines(Buffer.from(bad)), bad).toThrow(/ended by a newline/);
      expect(far.seq).toBe(farObject.seq); // a rejected batch leaves the chain as it was

      // through the log (no size limit: whole batches), then verified
      const path = fresh();
      const log = await open(path);
      for (let i = 0; i < events.length; i += 20) log.writeLines(Buffer.from(events.slice(i, i + 20).map((e) => toJsonLine(e) + '\n').join('')));
      await log.close('SIGTERM');
      const recs = lines(path);
      expect(recs.filter((r) => r.type !== 'start' && r.type !== 'stop').map(withoutChain)).toEqual(events.map((e) => toJsonObject(e)));
      expect((await verifyLogs([path])).ok).toBe(true);
    });

    it('seals a handover of several MiB of lines (the reader holds them as one chunk) in slices: every line once, in order, chained', async () => {
      const events = sampleEvents(60);
      const text = events.map((e) => toJsonLine(e) + '\n').join('');
      const reps = Math.ceil((3 << 20) / Buffer.byteLength(text));
      const path = fresh();
      const log = await open(path);
      log.writeLines(Buffer.from(text.repeat(reps)));
      await log.close('SIGTERM');
      const recs = lines(path);
      const got = recs.filter((r) => r.type !== 'start' && r.type !== 'stop');
      expect(got).toHaveLength(events.length * reps);
      const want = events.map((e) => toJsonObject(e));
      for (const i of [0, Math.floor(reps / 2), reps - 1]) expect(got.slice(i * events.length, (i + 1) * events.length).map(withoutChain)).toEqual(want);
      expect(recs.map((r) => r.seq)).toEqual(recs.map((_, i) => i));
      expect((await verifyLogs([path])).ok).toBe(true);
    });

    it('on SIGHUP continues in a new file when the old one was renamed, and does nothing otherwise', async () => {
      const path = fresh();
      const log = await open(path);
      for (const e of sampleEvents(5)) log.write(e);
      await log.flush();
      log.reopen(); // still in place: nothing
      await log.flush();
      expect(lines(path).map((r) => r.type)).not.toContain('rotate');

      renameSync(path, `${path}.1`); // what logrotate does
      for (const e of sampleEvents(3)) log.write(e); // still lands in the renamed file
      log.reopen();
      for (const e of sampleEvents(4)) log.write(e);
      await log.close('SIGTERM');

      const old = lines(`${path}.1`);
      expect(old.at(-1)).toMatchObject({ type: 'rotate', reason: 'SIGHUP' });
      expect(old.filter((r) => r.type === 'exec' || r.type === 'exit' || r.type === 'mount')).toHaveLength(8);
      const cur = lines(path);
      expect(cur[0]).toMatchObject({ type: 'continuation', previousFile: null, prev: old.at(-1)!.hash });
      expect(cur.at(-1)).toMatchObject({ type: 'stop', events: { exec: 6, exit: 5, mount: 1 } });
      expect(statSync(path).mode & 0o777).toBe(0o600);
      expect((await verifyLogs([`${path}.1`, path])).ok).toBe(true);
    });

    it('writes each batch with one write, and fsyncs as told', async () => {
      const always = await open(fresh(), { fsync: 'always' });
      const s0 = always.stats();
      for (const e of sampleEvents(500)) always.write(e); // one tick: one batch
      await always.flush();
      const s1 = always.stats();
      expect(s1.writes - s0.writes).toBe(1);
      expect(s1.syncs - s0.syncs).toBe(1);
      await always.close();

      const never = await open(fresh(), { fsync: 'never' });
      const n0 = never.stats().syncs;
      for (const e of sampleEvents(50)) never.write(e);
      await new Promise((r) => setTimeout(r, 50));
      expect(never.stats().syncs).toBe(n0);
      await never.close(); // close always fsyncs
      expect(never.stats().syncs).toBe(n0 + 1);

      const interval = await open(fresh(), { fsync: { intervalMs: 30 } });
      const i0 = interval.stats().syncs;
      for (const e of sampleEvents(50)) interval.write(e);
      await new Promise((r) => setTimeout(r, 120));
      expect(interval.stats().syncs).toBe(i0 + 1); // once: nothing new after the first
      await interval.close();
    });

    it('close() gets every event already received into the file', async () => {
      const path = fresh();
      const log = await open(path, { fsync: 'never' });
      const events = sampleEvents(2000);
      for (const e of events) log.write(e);
      await log.close('SIGTERM'); // no tick in between
      const recs = lines(path);
      expect(recs.filter((r) => r.type !== 'start' && r.type !== 'stop')).toHaveLength(2000);
      expect(recs.at(-1)!.type).toBe('stop');
      log.write(execEvent(1)); // after close: dropped, counted
      expect(log.stats().dropped).toBe(1);
    });
});

const root = process.getuid?.() === 0;

describe.runIf(root).each(WRITERS)('audit log on a full or read-only filesystem, written by %s', (writer) => {
  const open = opener(writer);
    const mounts: string[] = [];
    const mount = (opts: string): string => {
      const m = mkdtempSync(join(tmpdir(), 'ctrace-tmpfs-'));
      const r = spawnSync('mount', ['-t', 'tmpfs', '-o', opts, 'tmpfs', m]);
      if (r.status !== 0) throw new Error(`mount failed: ${r.stderr}`);
      mounts.push(m);
      return m;
    };
    afterEach(() => {
      for (const m of mounts.splice(0)) {
        spawnSync('umount', [m]);
        rmSync(m, { recursive: true, force: true });
      }
    });

    it('ENOSPC: a clear error, close() rejects, and the file is valid JSONL up to its last complete line', async () => {
      const m = mount('size=64k,mode=0700');
      const path = join(m, 'ctrace.log');
      const errors: Error[] = [];
      const log = await open(path, { onError: (e) => errors.push(e) });
      const events = sampleEvents(37);
      for (let round = 0; round < 200 && errors.length === 0; round++) {
        for (const e of events) log.write(e); // 37 events (~20 KiB) per batch: the last one is cut short
        await new Promise((r) => setImmediate(r));
        await new Promise((r) => setTimeout(r, 1));
      }
      expect(errors).toHaveLength(1);
      expect(errors[0]!.message).toMatch(new RegExp(`audit log ${path}.*no space left on device \\(ENOSPC\\)`));
      await expect(log.close('SIGTERM')).rejects.toThrow(/ENOSPC/);

      const raw = readFileSync(path, 'utf8');
      expect(raw.length).toBeGreaterThan(30_000);
      expect(raw.endsWith('\n')).toBe(true);
      const recs = raw.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Json);
      expect(recs[0]!.type).toBe('start');
      // the chain of what is there verifies; only the stop record is missing
      const v = await verifyLogs([path]);
      expect(v.ok).toBe(false);
      expect(v.problem!.what).toMatch(/no stop record/);
      expect((await verifyLogs([path], { open: true })).ok).toBe(true);
    });

    it('ENOSPC at open: the start record cannot be written, open() rejects, nothing half-written stays', async () => {
      const m = mount('size=8k,mode=0700');
      writeFileSync(join(m, 'filler'), Buffer.alloc(8192 - 100));
      const path = join(m, 'ctrace.log');
      let err: Error | undefined;
      const reported: Error[] = [];
      try {
        await open(path, { onError: (e) => reported.push(e) });
      } catch (e) {
        err = e as Error;
      }
      if (!err) return; // tmpfs rounding left room for a start record: nothing to check
      expect(err.message).toMatch(/ENOSPC/);
      expect(reported).toEqual([]); // open() rejects; onError is for failures after it resolved
      if (existsSync(path)) expect(readFileSync(path, 'utf8')).toBe('');
    });

    it('a read-only filesystem: open() rejects with one clear line', async () => {
      const m = mount('size=64k,ro');
      await expect(open(join(m, 'ctrace.log'))).rejects.toThrow(/cannot open audit log .*read-only file system \(EROFS\)/);
    });
});
