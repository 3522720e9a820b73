/**
 * The audit log is not handed to others, and nothing planted at its path hangs or redirects it
 * (issue 12, points 4 and 7): a FIFO, a device or a symbolic link put where the log was, before a
 * SIGHUP reopen or a rotation, is refused as at start-up; a log owned by another user, or in a
 * directory others can write, is refused unless --log-allow-unsafe; a 0644 log is tightened.
 */
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, renameSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { AuditLog, type AuditLogOptions } from '../src/audit/log.js';
import { startOptions } from '../src/events/records.js';
import { ctraceBin, repoRoot } from './helpers/ctrace-cli.js';

const dir = mkdtempSync(join(tmpdir(), 'ctrace-trust-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const fresh = () => {
  const d = join(dir, `case${++n}`);
  mkdirSync(d, { mode: 0o700 });
  return join(d, 'ctrace.log');
};
const open = (path: string, o: Partial<AuditLogOptions> = {}) =>
  AuditLog.open({ path, start: startOptions({ log: path, logFormat: 'jsonl' }), ...o });

/** Resolves with the error the log reports (onError), or 'none' after ms. */
function failureWithin(ms: number): { onError: (e: Error) => void; result: Promise<string> } {
  let done!: (s: string) => void;
  const result = new Promise<string>((r) => (done = r));
  setTimeout(() => done('none'), ms);
  return { onError: (e) => done(e.message), result };
}

describe('reopen and rotation refuse what start-up refuses', () => {
  it('a FIFO planted at the path before SIGHUP: refused at once, no hang', async () => {
    const path = fresh();
    const f = failureWithin(3000);
    const log = await open(path, { onError: f.onError });
    renameSync(path, path + '.moved');
    expect(spawnSync('mkfifo', [path]).status).toBe(0);
    log.reopen();
    expect(await f.result).toMatch(/audit log .* is not a regular file; refusing to write to it/);
    await log.close().catch(() => {});
  });

  it('a FIFO with a reader (the open would succeed): refused by its type', async () => {
    const path = fresh();
    const f = failureWithin(3000);
    const log = await open(path, { onError: f.onError });
    renameSync(path, path + '.moved');
    expect(spawnSync('mkfifo', [path]).status).toBe(0);
    const reader = spawn('sh', ['-c', `exec cat "${path}" > /dev/null`]);
    await new Promise((r) => setTimeout(r, 200));
    log.reopen();
    expect(await f.result).toMatch(/is not a regular file; refusing to write to it/);
    reader.kill();
    await log.close().catch(() => {});
  });

  // rotation opens the new file through the same openFile() as reopen: one path, one set of checks
  it('a device or a symbolic link planted before a reopen: refused, nothing written through it', async () => {
    for (const plant of ['symlink', 'device'] as const) {
      const path = fresh();
      const f = failureWithin(5000);
      const log = await open(path, { onError: f.onError, maxSize: 4096 });
      const target = join(dir, `target${n}`);
      renameSync(path, path + '.away');
      if (plant === 'symlink') symlinkSync(target, path);
      else expect(spawnSync('mknod', [path, 'c', '1', '3']).status).toBe(0); // /dev/null's numbers
      log.reopen();
      const msg = await f.result;
      expect(msg).toMatch(plant === 'symlink' ? /is a symbolic link; refusing to follow it/ : /is not a regular file; refusing/);
      await log.close().catch(() => {});
      expect(() => statSync(target)).toThrow(); // nothing written through the link
    }
  });
});

describe('ctrace run and SIGHUP', () => {
  async function start(args: string[]) {
    const child = spawn(process.execPath, [ctraceBin, 'run', '-o', 'json', ...args], { stdio: ['ignore', 'pipe', 'pipe'], cwd: repoRoot });
    let err = '';
    child.stdout!.resume();
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (d: string) => (err += d));
    const exited = new Promise<{ code: number | null; signal: string | null }>((r) => child.on('exit', (code, signal) => r({ code, signal })));
    const deadline = Date.now() + 20_000;
    while (!/tracing .*hooks:/.test(err)) {
      if (Date.now() > deadline || child.exitCode !== null) throw new Error(`ctrace did not start: ${err}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    return { child, exited, stderr: () => err };
  }

  it('a FIFO planted at the log path before SIGHUP: ctrace refuses it, says so and exits 1 within seconds', async () => {
    const path = fresh();
    const run = await start(['--log', path]);
    renameSync(path, path + '.rotated-by-someone');
    expect(spawnSync('mkfifo', [path]).status).toBe(0);
    const t0 = Date.now();
    run.child.kill('SIGHUP');
    const timer = setTimeout(() => run.child.kill('SIGKILL'), 10_000);
    const r = await run.exited;
    clearTimeout(timer);
    expect(r.signal).toBeNull();
    expect(r.code).toBe(1);
    expect(Date.now() - t0).toBeLessThan(8000);
    expect(run.stderr()).toMatch(/audit log .* is not a regular file; refusing to write to it/);
    expect(statSync(path).isFIFO()).toBe(true);
  }, 40_000);

  it('SIGHUP without --log is ignored: ctrace keeps running, then stops on SIGINT with its summary', async () => {
    const run = await start([]);
    run.child.kill('SIGHUP');
    await new Promise((r) => setTimeout(r, 700));
    expect(run.child.exitCode).toBeNull();
    run.child.kill('SIGINT');
    const r = await run.exited;
    expect(r).toEqual({ code: 0, signal: null });
    expect(run.stderr()).toMatch(/SIGHUP ignored/);
    expect(run.stderr()).toMatch(/stopped \(SIGINT\)/);
  }, 40_000);
});

describe('logs are not handed to others', () => {
  it('refuses to append to a log owned by another user, unless allowUnsafe', async () => {
    const path = fresh();
    await (await open(path)).close();
    chownSync(path, 65534, 65534);
    await expect(open(path)).rejects.toThrow(/owned by uid 65534, not by this user \(0\); refusing to append to it \(--log-allow-unsafe to accept\)/);
    const log = await open(path, { allowUnsafe: true });
    await log.close();
  });

  it('refuses a log in a directory others can write (not sticky), unless allowUnsafe', async () => {
    const path = fresh();
    chmodSync(join(path, '..'), 0o777);
    await expect(open(path)).rejects.toThrow(/its directory .* can be written by group\/others \(mode 777\), who could replace the log; refusing/);
    await (await open(path, { allowUnsafe: true })).close();
    // a sticky directory (like /tmp) is fine: others cannot replace a file that is ours
    chmodSync(join(path, '..'), 0o1777);
    await (await open(path)).close();
  });

  it('tightens a 0644 log to 0600 and says so', async () => {
    const path = fresh();
    await (await open(path)).close();
    chmodSync(path, 0o644);
    const warnings: string[] = [];
    await (await open(path, { onWarning: (m) => warnings.push(m) })).close();
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(warnings.join('\n')).toMatch(/mode 644\); tightened to 600/);
  });

  it('ctrace run: the refusal is one line and exit 1; --log-allow-unsafe without --log is a usage error', () => {
    const path = fresh();
    chmodSync(join(path, '..'), 0o777);
    const r = spawnSync(process.execPath, [ctraceBin, 'run', '-q', '--log', path], { encoding: 'utf8', cwd: repoRoot, timeout: 20_000 });
    expect(r.status).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/can be written by group\/others/);
    const u = spawnSync(process.execPath, [ctraceBin, 'run', '-q', '--log-allow-unsafe', '--socket', join(dir, 'x.sock')], {
      encoding: 'utf8',
      cwd: repoRoot,
      timeout: 20_000,
    });
    expect(u.status).toBe(2);
    expect(u.stderr).toMatch(/--log-allow-unsafe needs --log <path>/);
  });
});
