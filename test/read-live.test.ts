/**
 * Consumers see records live and long lines cost linear time and bounded memory (issue 12,
 * points 5 and 10): `ctrace read <socket>` prints a container's exec as it happens, `read -`
 * prints each line from a pipe as it arrives and SIGINT flushes; a 100 MB line is an error
 * naming its line, read and verified in seconds with bounded memory.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ctraceBin, repoRoot, startCtrace } from './helpers/ctrace-cli.js';
import { cleanupAllContainers, dockerId, runContainerToExit } from './helpers/runc.js';

const dir = mkdtempSync(join(tmpdir(), 'ctrace-read-'));
afterAll(async () => {
  await cleanupAllContainers();
  rmSync(dir, { recursive: true, force: true });
});

function reader(args: string[]) {
  const child = spawn(process.execPath, [ctraceBin, 'read', ...args], { stdio: ['pipe', 'pipe', 'pipe'], cwd: repoRoot });
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  return { child, exited, out: () => out, err: () => err };
}

async function until(pred: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('ctrace read prints as records arrive', () => {
  it('a live socket: one container exec is printed while ctrace runs; SIGINT exits 130 with it printed', async () => {
    const sock = join(dir, 'live.sock');
    const ct = await startCtrace(['--socket', sock]);
    const r = reader([sock, '-o', 'json']);
    try {
      await until(() => r.out().includes('"type":"start"'), 10_000, 'the start record');
      const id = dockerId();
      await runContainerToExit({ id, cgroupsPath: `/docker/${id}`, args: ['/bin/true'] });
      // a handful of records, far fewer than 512: they must show up now
      await until(() => r.out().includes(id) && r.out().includes('"filename":"/bin/true"'), 10_000, 'the exec on the reader');
      r.child.kill('SIGINT');
      expect(await r.exited).toBe(130);
      expect(r.out()).toContain(id);
    } finally {
      r.child.kill('SIGKILL');
      await ct.stop();
    }
  }, 60_000);

  it('read - from a pipe: each line printed as it comes; SIGINT flushes and exits 130', async () => {
    const r = reader(['-', '-o', 'json']);
    const start = { type: 'start', time: '2026-11-30T00:00:00.000000000Z', version: '0.1.0', host: 'h', kernel: 'k', pid: 1, options: {} };
    r.child.stdin!.write(JSON.stringify(start) + '\n');
    const rotate = { type: 'rotate', time: '2026-11-30T00:00:01.000000000Z', reason: 'size' };
    r.child.stdin!.write(JSON.stringify(rotate) + '\n');
    await until(() => r.out().split('\n').filter(Boolean).length === 2, 5000, 'two lines printed');
    r.child.kill('SIGINT');
    expect(await r.exited).toBe(130);
    expect(r.out().split('\n').filter(Boolean).map((l) => JSON.parse(l).type)).toEqual(['start', 'rotate']);
  }, 30_000);
});

describe('a 100 MB line', () => {
  const big = join(dir, 'big.jsonl');
  const MB = 1024 * 1024;
  // a JSON line of 100 MB (a log's first bytes, `{"`, make it JSONL), then a newline
  const fd = openSync(big, 'w');
  writeSync(fd, '{"type":"exec","pad":"');
  const block = Buffer.alloc(MB, 0x78);
  for (let i = 0; i < 100; i++) writeSync(fd, block);
  writeSync(fd, '"}\n');
  closeSync(fd);

  /** Runs the CLI in a Node process that reports its own peak RSS. */
  function measured(args: string[]): Promise<{ code: number | null; stderr: string; ms: number; maxRssMb: number }> {
    const script =
      `import { main } from ${JSON.stringify(join(repoRoot, 'dist/cli/cli.js'))};` +
      `const code = await main(${JSON.stringify(['node', 'ctrace', ...args])});` +
      `process.stderr.write('maxrss ' + process.resourceUsage().maxRSS + '\\n'); process.exitCode = code;`;
    const t0 = Date.now();
    const child: ChildProcess = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
    return new Promise((resolve) =>
      child.on('exit', (code) => {
        const kb = Number(/maxrss (\d+)/.exec(err)?.[1] ?? NaN);
        resolve({ code, stderr: err.replace(/maxrss \d+\n/, ''), ms: Date.now() - t0, maxRssMb: kb / 1024 });
      }),
    );
  }

  for (const cmd of ['verify', 'read'] as const) {
    it(`${cmd}: an error naming line 1, in seconds, memory bounded`, async () => {
      const r = await measured(cmd === 'read' ? ['read', big, '-o', 'json'] : ['verify', big]);
      console.log(`[${cmd} 100 MB line] ${r.ms} ms, peak RSS ${r.maxRssMb.toFixed(0)} MB`);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(
        cmd === 'read'
          ? /big\.jsonl:1: a line of 104857624 bytes, over the 16 MiB maximum of a record, skipped/
          : /verify failed: .*big\.jsonl:1: a line of 104857624 bytes, over the 16 MiB maximum of a record/,
      );
      expect(r.ms).toBeLessThan(20_000);
      expect(r.maxRssMb).toBeLessThan(150);
    }, 60_000);
  }
});
