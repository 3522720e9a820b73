/**
 * The audit log end to end, with the real BPF program and real runc containers:
 * kill -TERM in the middle of a 500-exec burst in a container, then every event
 * ctrace received is in the log, the log ends with its stop record and the chain
 * verifies; the protobuf log and the socket carry the same events as stdout.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyLogs } from '../src/audit/verify.js';
import { storedRecords } from '../src/audit/reader.js';
import { toJsonObject } from '../src/format/json.js';
import { decodeRecordObject, entryFromProto, FrameSplitter } from '../src/format/protobuf.js';
import { ctraceBin, spawnCtrace, startCtrace, type JsonEvent } from './helpers/ctrace-cli.js';
import { privileged } from './helpers/privileges.js';
import { cleanupAllContainers, dockerId, runContainerToExit } from './helpers/runc.js';

const isEvent = (r: JsonEvent) => r.type === 'exec' || r.type === 'exit' || r.type === 'mount';
const withoutChain = ({ seq: _s, hash: _h, prev: _p, ...rest }: JsonEvent) => rest;

describe.runIf(privileged())('audit log with real containers', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'ctrace-audit-e2e-'));
  });
  afterAll(async () => {
    await cleanupAllContainers();
    rmSync(dir, { recursive: true, force: true });
  });

  it('kill -TERM during a 500-exec container burst: every received event is in the log and the chain verifies', async () => {
    const logPath = join(dir, 'burst', 'ctrace.log');
    const ct = await startCtrace(['--log', logPath]);
    const id = dockerId();
    const loop = 'i=0; while [ $i -lt 500 ]; do /bin/true; i=$((i+1)); done; exit 0';
    const burst = runContainerToExit({ id, cgroupsPath: `/docker/${id}`, args: ['/bin/sh', '-c', loop] }, 120_000);
    // the loop's execs (not the shell's, nor `runc init`'s, which runc often moves into the cgroup first)
    const mine = (evs: JsonEvent[]) => evs.filter((e) => e.container?.id === id && e.exec?.filename === '/bin/true').length;
    // mid-burst: some execs seen, far from all
    await ct.waitFor((evs) => mine(evs) >= 50, 30_000, `50 execs of ${id}`);
    const { code, stderr } = await ct.stop('SIGTERM');
    expect(code).toBe(0);
    await burst.catch(() => {}); // the burst goes on without ctrace; let it end

    // the log: 0600 in a 0700 directory ctrace created, valid JSONL, start first and stop last
    expect(statSync(logPath).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, 'burst')).mode & 0o777).toBe(0o700);
    const raw = readFileSync(logPath, 'utf8');
    expect(raw.endsWith('\n')).toBe(true);
    const recs = raw
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as JsonEvent);
    expect(recs[0]).toMatchObject({ type: 'start', options: { log: logPath, logFormat: 'jsonl', logFsync: '1s' } });
    const stop = recs.at(-1)!;
    expect(stop).toMatchObject({ type: 'stop', reason: 'SIGTERM' });

    // every event ctrace received (and printed) is in the log, in the same order, and nothing else
    const logged = recs.filter(isEvent).map(withoutChain);
    expect(logged.length).toBe(ct.events.length);
    expect(logged).toEqual(ct.events);
    expect(mine(logged)).toBeGreaterThanOrEqual(50);

    // the stop record's counts are the tracer's (the summary line on stderr)
    const m = /stopped \(SIGTERM\): (\d+) events \(exec (\d+), exit (\d+), mount (\d+)\), (\d+) lost/.exec(stderr);
    expect(m).not.toBeNull();
    expect(Number(m![1])).toBe(logged.length);
    expect(stop.events).toEqual({ exec: Number(m![2]), exit: Number(m![3]), mount: Number(m![4]) });
    expect(stop.lost).toBe(Number(m![5]));
    expect(recs.filter((r) => r.type === 'lost').reduce((a, r) => a + r.count, 0)).toBe(stop.lost);

    // the chain verifies, and its head is the one printed at exit
    const v = await verifyLogs([logPath]);
    expect(v.problem).toBeNull();
    expect(v.ok).toBe(true);
    expect(v.events).toBe(logged.length);
    expect(stderr).toContain(`hash ${v.head}`);
    const cli = spawnCtraceSync(['verify', logPath]);
    expect(cli.code).toBe(0);
    expect(cli.stdout).toMatch(/^ok: 1 file, /);
  });

  it('the log alone (-q --log) and beside stdout holds a container shell loop whole and in ring order, chained', async () => {
    for (const quiet of [true, false]) {
      const logPath = join(dir, quiet ? 'alone.log' : 'beside.log');
      const id = dockerId();
      // only this container: other suites run containers on this host at the same time
      const child = spawnCtrace(['run', ...(quiet ? ['-q'] : ['-o', 'json']), '--log', logPath, '-c', id]);
      let err = '';
      child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
      child.stdout!.resume();
      const exited = new Promise<number | null>((r) => child.on('exit', r));
      for (let t = 0; !/tracing .*hooks:/.test(err); t++) {
        if (t > 400) throw new Error(`ctrace did not start: ${err}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      const loop = 'i=0; while [ $i -lt 300 ]; do /bin/true; i=$((i+1)); done; exit 5';
      const ct = await runContainerToExit({ id, cgroupsPath: `/docker/${id}`, args: ['/bin/sh', '-c', loop] }, 120_000);
      await new Promise((r) => setTimeout(r, 300)); // the shell's exit reaches the ring (held lines go at the stop)
      child.kill('SIGINT');
      expect(await exited).toBe(0);

      const recs = readFileSync(logPath, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as JsonEvent);
      expect(recs.map((r) => r.seq)).toEqual(recs.map((_, i) => i));
      expect((await verifyLogs([logPath])).ok).toBe(true);
      // the shell's exec, then each /bin/true's exec and exit before the next one's, then the
      // shell's exit: the new container's first records (through JavaScript) and the lane's
      // held lines meet in the log in the order the ring had them
      const mine = recs.filter((r) => (r.type === 'exec' || r.type === 'exit') && r.container?.id === id && (r.pid === ct.pid || r.comm === 'true' || r.exec?.filename === '/bin/true'));
      const shape = mine.map((r) => (r.pid === ct.pid ? `sh-${r.type}` : r.type)).join(' ');
      expect(shape, quiet ? '-q --log' : '-o json --log').toBe(['sh-exec', ...Array(300).fill('exec exit'), 'sh-exit'].join(' '));
      expect(mine.at(-1)!.exit.code).toBe(5);
      const stop = recs.at(-1)!;
      expect(stop.type).toBe('stop');
      expect(stop.events.exec).toBe(recs.filter((r) => r.type === 'exec').length);
      expect(stop.events.exit).toBe(recs.filter((r) => r.type === 'exit').length);
    }
  });

  it('a protobuf log and two socket clients get the same events as stdout', async () => {
    const logPath = join(dir, 'pb', 'ctrace.pb');
    const sockPath = join(dir, 'pb', 'ctrace.sock');
    const ct = await startCtrace(['--log', logPath, '--log-format', 'protobuf', '--socket', sockPath]);
    expect(statSync(sockPath).mode & 0o777).toBe(0o600);
    const clients = await Promise.all([connectClient(sockPath), connectClient(sockPath)]);
    await Promise.all(clients.map((c) => c.waitFor(1))); // their start records: connected

    const id = dockerId();
    const run = await runContainerToExit({ id, cgroupsPath: `/docker/${id}`, args: ['/bin/sh', '-c', '/bin/true; /bin/true; exit 4'] });
    expect(run.code).toBe(4);
    await ct.waitFor((evs) => evs.some((e) => e.container?.id === id && e.type === 'exit' && e.pid === run.pid), 10_000, `exit of ${id}`);
    const { code } = await ct.stop('SIGTERM');
    expect(code).toBe(0);
    await Promise.all(clients.map((c) => c.ended));

    const fromLog: JsonEvent[] = [];
    for await (const r of storedRecords([readFileSync(logPath)], 'protobuf')) {
      fromLog.push(toJsonObject(entryFromProto(decodeRecordObject(r.bytes))) as JsonEvent);
    }
    expect(fromLog[0]!.type).toBe('start');
    expect(fromLog.at(-1)!.type).toBe('stop');
    // this container's events: other suites' containers share the host, and under their exec
    // bursts stdout may shed lines (counted as lost), which the log and the socket never do
    const own = (evs: JsonEvent[]) => evs.filter((e) => e.container?.id === id);
    expect(own(fromLog.filter(isEvent))).toEqual(own(ct.events));
    for (const c of clients) {
      expect(c.records[0]!.type).toBe('start');
      expect(c.records.at(-1)).toMatchObject({ type: 'stop', reason: 'SIGTERM' });
      // the clients connected before the container started: they get every event of it
      const evs = c.records.filter(isEvent);
      expect(own(evs)).toEqual(own(ct.events));
      expect(evs.filter((e) => e.container?.id === id && e.type === 'exec').length).toBeGreaterThanOrEqual(3);
    }
    expect((await verifyLogs([logPath])).ok).toBe(true);
  });
});

describe.runIf(privileged())('audit log on a full disk, with the real tracer', () => {
  let mnt: string;
  beforeAll(() => {
    mnt = mkdtempSync(join(tmpdir(), 'ctrace-full-'));
    const r = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64k,mode=0700', 'tmpfs', mnt]);
    if (r.status !== 0) throw new Error(`mount: ${r.stderr}`);
  });
  afterAll(() => {
    spawnSync('umount', [mnt]);
    rmSync(mnt, { recursive: true, force: true });
  });

  it('ENOSPC: one clear line, exit 1, and the log stays valid JSONL whose chain verifies up to its end', async () => {
    const logPath = join(mnt, 'ctrace.log');
    const ct = await startCtrace(['--all', '--events', 'exec', '--log', logPath]);
    // host execs until the 64 KiB tmpfs is full and ctrace gives up
    for (let i = 0; i < 2000 && ct.child.exitCode === null; i++) {
      spawnSync('/bin/true', [`ctrace-fill-${'x'.repeat(200)}-${i}`]);
      if (i % 20 === 19) await new Promise((r) => setTimeout(r, 10));
    }
    const { code, stderr } = await ct.stop('SIGTERM');
    expect(code).toBe(1);
    expect(stderr).toMatch(new RegExp(`ctrace: writing audit log ${logPath} failed: no space left on device \\(ENOSPC\\)`));
    expect(stderr).toMatch(/stopped \(error: audit log failed\)/);
    const raw = readFileSync(logPath, 'utf8');
    expect(raw.endsWith('\n')).toBe(true);
    for (const line of raw.split('\n').filter(Boolean)) JSON.parse(line);
    const v = await verifyLogs([logPath], { open: true }); // no stop record: the disk was full
    expect(v.problem).toBeNull();
    // a host exec's line carries up to 8 ancestors (~3 KB): some 20 fit in 64 KiB
    expect(v.events).toBeGreaterThan(10);
  });
});

function spawnCtraceSync(args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [ctraceBin, ...args], { encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

interface Client {
  records: JsonEvent[];
  ended: Promise<void>;
  waitFor(n: number): Promise<void>;
}

function connectClient(path: string): Promise<Client> {
  return new Promise((resolve, reject) => {
    const records: JsonEvent[] = [];
    const frames = new FrameSplitter();
    const sock = createConnection(path);
    sock.on('data', (d: Buffer) => {
      for (const f of frames.push(d)) records.push(toJsonObject(entryFromProto(decodeRecordObject(f.bytes))) as JsonEvent);
    });
    const ended = new Promise<void>((r) => sock.on('close', () => r()));
    sock.once('error', reject);
    sock.once('connect', () =>
      resolve({
        records,
        ended,
        async waitFor(n) {
          const until = Date.now() + 10_000;
          while (records.length < n) {
            if (Date.now() > until) throw new Error(`socket client got ${records.length} records`);
            await new Promise((r) => setTimeout(r, 10));
          }
        },
      }),
    );
  });
}
