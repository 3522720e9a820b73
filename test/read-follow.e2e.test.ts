/**
 * `ctrace read --follow` against a log that `ctrace run --log` is writing and rotating:
 * the follower prints every record once, in order, across the rotations (what reading
 * all the files afterwards gives), and stops cleanly on SIGINT.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expandLogPaths } from '../src/audit/verify.js';
import { ctraceBin, repoRoot } from './helpers/ctrace-cli.js';
import { privileged } from './helpers/privileges.js';
import { cleanupAllContainers, dockerId, runContainerToExit } from './helpers/runc.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = Record<string, any>;

function spawnCtrace(args: string[]): { child: ChildProcess; out: () => string; err: () => string; exited: Promise<number | null> } {
  const child = spawn(process.execPath, [ctraceBin, ...args], { stdio: ['ignore', 'pipe', 'pipe'], cwd: repoRoot });
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  return { child, out: () => out, err: () => err, exited };
}

async function until(pred: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const lines = (s: string): Json[] =>
  s
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));

describe.runIf(privileged())('ctrace read --follow', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'ctrace-follow-'));
  });
  afterAll(async () => {
    await cleanupAllContainers();
    rmSync(dir, { recursive: true, force: true });
  });

  it('follows a log across its rotations while run --log writes it, every record once and in order', async () => {
    const log = join(dir, 'trace.log');
    const a = dockerId();
    const b = dockerId();
    // only our containers: other suites run containers on this host at the same time
    const run = spawnCtrace(['run', '-q', '--log', log, '--log-max-size', '4K', '--log-keep', '0', '--log-fsync', 'never', '-c', a, '-c', b]);
    let follower: ReturnType<typeof spawnCtrace> | undefined;
    try {
      await until(() => /tracing .*hooks:/.test(run.err()), 'ctrace run to start');
      follower = spawnCtrace(['read', '-f', '-o', 'json', log]);
      await until(() => follower!.out().includes('"type":"start"'), 'the follower to print the start record');

      // ~20 execs a container: several 4K files
      const loop = 'for i in $(seq 1 20); do /bin/true; done; exit';
      const ca = await runContainerToExit({ id: a, cgroupsPath: `/docker/${a}`, args: ['/bin/sh', '-c', `${loop} 3`] });
      await until(() => lines(follower!.out()).some((e) => e.type === 'exit' && e.pid === ca.pid), 'container a exit');
      expect(expandLogPaths([log]).length).toBeGreaterThan(2); // rotated while followed
      const cb = await runContainerToExit({ id: b, cgroupsPath: `/docker/${b}`, args: ['/bin/sh', '-c', `${loop} 4`] });
      await until(() => lines(follower!.out()).some((e) => e.type === 'exit' && e.pid === cb.pid), 'container b exit');

      expect((await stop(run, 'SIGINT')).code).toBe(0);
      await until(() => follower!.out().includes('"type":"stop"'), 'the stop record');
      expect(await stop(follower, 'SIGINT')).toEqual({ code: 0, err: '' });

      // what the follower printed is exactly what reading every file afterwards gives
      const files = expandLogPaths([log]);
      const after = files.flatMap((f) => {
        const r = spawnSync(process.execPath, [ctraceBin, 'read', '-o', 'json', f], { encoding: 'utf8' });
        expect(r.status).toBe(0);
        return lines(r.stdout);
      });
      const followed = lines(follower.out());
      expect(followed).toEqual(after);
      expect(followed.filter((e) => e.type === 'rotate').length).toBe(files.length - 1);
      expect(followed.filter((e) => e.type === 'exit' && e.container?.id === a && e.pid === ca.pid)[0].exit.code).toBe(3);
      expect(followed.filter((e) => e.type === 'exit' && e.container?.id === b && e.pid === cb.pid)[0].exit.code).toBe(4);
      expect(followed.filter((e) => e.type === 'exec' && e.container?.id === b).length).toBeGreaterThanOrEqual(20);
    } finally {
      run.child.kill('SIGKILL');
      follower?.child.kill('SIGKILL');
    }
  });

  it('a missing file is one line, exit 1 (as without --follow)', async () => {
    const r = spawnSync(process.execPath, [ctraceBin, 'read', '-f', join(dir, 'nope.log')], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^ctrace: cannot read .*nope\.log: .*\n$/);
  });
});

async function stop(p: { child: ChildProcess; err: () => string; exited: Promise<number | null> }, sig: NodeJS.Signals) {
  p.child.kill(sig);
  const code = await p.exited;
  return { code, err: p.err() };
}
