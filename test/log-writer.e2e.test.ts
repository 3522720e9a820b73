/**
 * The audit log's lines sealed and written by the addon (native/log_writer.h): under a tracer
 * whose lane has the log's writer (TracerOptions.jsonLaneLog, as ctrace run --log sets it), the
 * poll thread seals the batches of lines JavaScript would only have sealed and written, and a
 * writer thread writes them. JavaScript still seals its own records and the batches it must see
 * (a new container's first records, lines behind them), through the same writer: one chain, in
 * ring order. Real runc containers, real BPF, real files.
 */
import { readFileSync, statSync } from 'node:fs';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { AuditLog } from '../src/audit/log.js';
import { expandLogPaths, verifyLogs } from '../src/audit/verify.js';
import { startOptions } from '../src/events/records.js';
import { Tracer } from '../src/tracer/tracer.js';
import { privileged } from './helpers/privileges.js';
import { cleanupAllContainers, dockerId, runContainerToExit } from './helpers/runc.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = Record<string, any>;
const records = (files: string[]): Json[] =>
  files.flatMap((f) =>
    readFileSync(f, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Json),
  );

/** A container's shell loop of `n` /bin/true execs, traced into a log at `path`; what JavaScript was handed. */
async function traceLoop(path: string, n: number, maxSize: number) {
  const log = await AuditLog.open({ path, maxSize, keep: 0, start: startOptions({ log: path, logFormat: 'jsonl' }) });
  const writer = log.attachLane();
  expect(writer).not.toBeNull();
  const id = dockerId();
  const tracer = new Tracer({ events: ['exec', 'exit'], jsonLane: true, jsonLaneHold: true, jsonLaneLog: writer!, processTable: false, filter: { container: [id] } });
  let jsLines = 0;
  tracer.onEvent((ev) => log.write(ev));
  tracer.onLines((lines) => {
    for (let i = lines.indexOf(0x0a); i >= 0; i = lines.indexOf(0x0a, i + 1)) jsLines++;
    log.writeLines(lines);
  });
  tracer.onLost((r) => log.noteLost(r));
  try {
    const loop = `i=0; while [ $i -lt ${n} ]; do /bin/true writer-test $i; i=$((i+1)); done; exit 3`;
    const r = await runContainerToExit({ id, cgroupsPath: `/docker/${id}`, args: ['/bin/sh', '-c', loop] }, 120_000);
    expect(r.code).toBe(3);
    await sleep(300); // the shell's exit reaches the ring
  } finally {
    await tracer.close();
    await log.close('SIGTERM');
  }
  return { jsLines, stats: log.stats() };
}

describe.runIf(privileged())('the audit log written by the addon', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ctrace-writer-'));
  afterAll(async () => {
    await cleanupAllContainers();
    rmSync(dir, { recursive: true, force: true });
  });

  it('takes the lane lines off JavaScript: every exec once, in ring order, one chain, counted in the stop record', async () => {
    const N = 400;
    const path = join(dir, 'whole.log');
    const { jsLines, stats } = await traceLoop(path, N, 0);
    const recs = records([path]);
    expect(recs.map((r) => r.seq)).toEqual(recs.map((_, i) => i));
    expect((await verifyLogs([path])).ok).toBe(true);
    const counters = recs.filter((r) => r.type === 'exec' && r.exec.argv[1] === 'writer-test').map((r) => Number(r.exec.argv[2]));
    expect(counters).toEqual(Array.from({ length: N }, (_, i) => i));
    // JavaScript saw the container's first moments, not the loop: the poll thread sealed it
    const events = recs.filter((r) => r.type === 'exec' || r.type === 'exit').length;
    expect(events).toBeGreaterThanOrEqual(2 * N + 2);
    expect(jsLines).toBeLessThan(events / 4);
    const stop = recs.at(-1)!;
    expect(stop).toMatchObject({ type: 'stop', events: { exec: recs.filter((r) => r.type === 'exec').length, exit: recs.filter((r) => r.type === 'exit').length } });
    expect(stats.events.exec + stats.events.exit).toBe(events);
    expect(stats.records).toBe(recs.length);
    expect(stats.bytes).toBe(statSync(path).size);
  });

  it('rotates after the very line that fills a file while the poll thread seals: no file outgrows it, the chain runs through all', async () => {
    const N = 300;
    const max = 24 << 10;
    const path = join(dir, 'rotating.log');
    const { stats } = await traceLoop(path, N, max);
    const files = expandLogPaths([path]);
    expect(stats.rotations).toBeGreaterThan(5);
    expect(files).toHaveLength(stats.rotations + 1);
    const v = await verifyLogs(files);
    expect(v.problem).toBeNull();
    expect(v.ok).toBe(true);
    const recs = records(files);
    expect(recs.map((r) => r.seq)).toEqual(recs.map((_, i) => i));
    const counters = recs.filter((r) => r.type === 'exec' && r.exec.argv[1] === 'writer-test').map((r) => Number(r.exec.argv[2]));
    expect(counters).toEqual(Array.from({ length: N }, (_, i) => i));
    for (const f of files.slice(0, -1)) {
      const inFile = records([f]);
      expect(inFile.at(-1)).toMatchObject({ type: 'rotate', reason: 'size' });
      // the line that reached the limit, then the rotate record: nothing more
      const size = statSync(f).size;
      const tail = readFileSync(f, 'utf8').split('\n').filter(Boolean).slice(-2);
      expect(size - Buffer.byteLength(tail.join('\n') + '\n')).toBeLessThan(max);
    }
    for (const f of files.slice(1)) expect(records([f])[0]).toMatchObject({ type: 'continuation' });
  });
});
