/**
 * A stdout nobody reads must not cost the record (issue 12, points 3 and 4): `ctrace run` with
 * stdout into a pipe whose reader stopped, a 3,000-exec burst in a real runc container, and
 * then: every exec in the audit log, the stdout drops counted (stderr, `lost` records with
 * source stdout), peak RSS bounded, and SIGINT ends it within a few seconds. Both stdout
 * paths: JSON (the addon's queue) and the table (JavaScript's).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ctraceBin, repoRoot } from './helpers/ctrace-cli.js';
import { cleanupAllContainers, dockerId, runContainerToExit } from './helpers/runc.js';

const BURST = 3000;
const dir = mkdtempSync(join(tmpdir(), 'ctrace-stall-'));
afterAll(async () => {
  await cleanupAllContainers();
  rmSync(dir, { recursive: true, force: true });
});

function peakRssMb(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

/** ctrace run with a stdout pipe nobody reads (the child's stdout stream is never consumed). */
async function startStalled(args: string[]) {
  const child = spawn(process.execPath, [ctraceBin, 'run', ...args], { stdio: ['ignore', 'pipe', 'pipe'], cwd: repoRoot });
  child.stdout!.pause(); // the reader that stops: after the pipe's 64 KiB, every write would wait
  let err = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (d: string) => (err += d));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  const deadline = Date.now() + 20_000;
  while (!/tracing .*hooks:/.test(err)) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`ctrace did not start: ${err}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return { child, exited, stderr: () => err };
}

/** 3,000 execs of /bin/true, each with 19 arguments of 200 bytes (a JSON line of about 4.5 KB). */
function burstScript(): string[] {
  const arg = 'x'.repeat(200);
  const args = Array.from({ length: 19 }, () => arg).join(' ');
  return ['/bin/sh', '-c', `i=0; while [ $i -lt ${BURST} ]; do /bin/true ${args}; i=$((i+1)); done`];
}

function logEvents(path: string, id: string): { execs: number; stdoutLost: number; lostKernel: number } {
  let execs = 0;
  let stdoutLost = 0;
  let lostKernel = 0;
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    if (!line) continue;
    const r = JSON.parse(line);
    if (r.type === 'exec' && r.container?.id === id && r.exec.filename === '/bin/true') execs++;
    if (r.type === 'lost' && r.source === 'stdout') stdoutLost += r.count;
    if (r.type === 'lost' && r.source === 'kernel') lostKernel += r.count;
  }
  return { execs, stdoutLost, lostKernel };
}

describe.each([
  ['json', ['-o', 'json']],
  ['table', ['-o', 'table']],
])('a stalled stdout (%s)', (name, format) => {
  it(
    `every exec of a ${BURST}-exec burst reaches the log, memory stays bounded, SIGINT exits in seconds`,
    async () => {
      const log = join(dir, `${name}.jsonl`);
      const run = await startStalled([...format, '--log', log]);
      try {
        const id = dockerId();
        const c = await runContainerToExit({ id, cgroupsPath: `/docker/${id}`, args: burstScript() }, 120_000);
        expect(c.code).toBe(0);
        await new Promise((r) => setTimeout(r, 1500)); // the stats tick reports drops every second
        const rss = peakRssMb(run.child.pid!);
        const t0 = Date.now();
        run.child.kill('SIGINT');
        // a ctrace that never stops must fail this test, not hang it
        const code = await Promise.race([run.exited, new Promise<string>((r) => setTimeout(() => r('still running after 15 s'), 15_000))]);
        const stopMs = Date.now() - t0;
        const { execs, stdoutLost, lostKernel } = logEvents(log, id);
        console.log(`[${name}] log execs ${execs}/${BURST}, kernel lost ${lostKernel}, stdout lost ${stdoutLost}, peak RSS ${rss.toFixed(0)} MB, SIGINT→exit ${stopMs} ms`);
        expect(lostKernel).toBe(0);
        expect(execs).toBe(BURST);
        expect(code).toBe(0);
        expect(stopMs).toBeLessThan(6000);
        expect(rss).toBeLessThan(200);
        // stdout took at most a pipe's worth: the rest was dropped or left undelivered, and said so
        expect(stdoutLost).toBeGreaterThan(BURST / 2);
        expect(run.stderr()).toMatch(/stdout too slow: \d+ events not written to stdout/);
        expect(run.stderr()).toMatch(/stopped \(SIGINT\): .*, \d+ not written to stdout/);
      } finally {
        run.child.kill('SIGKILL');
      }
    },
    180_000,
  );
});
