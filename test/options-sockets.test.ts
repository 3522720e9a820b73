/**
 * Options are checked and sockets belong to whoever made them (issue 12, points 8 and 9):
 * values beyond what Node's timers or the code take are one line and exit 2 at start; a
 * ctrace that exits removes its socket file only while it is still its own.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, unlinkSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startOptions } from '../src/events/records.js';
import { SocketSink } from '../src/sinks/socket.js';
import { ctraceBin, repoRoot } from './helpers/ctrace-cli.js';

const dir = mkdtempSync(join(tmpdir(), 'ctrace-opts-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function ctrace(args: string[]) {
  return spawnSync(process.execPath, [ctraceBin, ...args], { encoding: 'utf8', cwd: repoRoot, timeout: 20_000 });
}

describe('options beyond what the code takes: one line, exit 2, nothing started', () => {
  const log = join(dir, 'never.log');
  const cases: Array<[string[], RegExp]> = [
    [['--stats', '0.0001'], /stats interval too short: '0.0001' \(at least 0.1 seconds\)/],
    [['--stats', '0'], /stats interval too short: '0'/],
    [['--stats', '3000000'], /stats interval too long: '3000000' \(at most 2147483 seconds\)/],
    [['--stats', ''], /not a number of seconds/],
    [['--socket', ''], /empty socket path/],
    [['--socket', join(dir, 's'.repeat(120))], /socket path too long: \d+ bytes \(a Unix socket path has at most 107\)/],
    [['--log', log, '--log-fsync', '3000000s'], /fsync interval too long: '3000000s' \(at most 2147483s\)/],
    [['--log', log, '--log-max-size', '2T'], /log size too large: '2T' \(at most 1T/],
    [['--log', log, '--log-max-size', '99999999999999999999999'], /log size too large/],
    [['--log', log, '--log-keep', '99999999999999999999'], /count too large: '99999999999999999999' \(at most 1000000/],
  ];
  for (const [args, want] of cases) {
    it(`ctrace run ${args.map((a) => (a.length > 30 ? a.slice(0, 20) + '…' : a || "''")).join(' ')}`, () => {
      const r = ctrace(['run', '-o', 'json', ...args]);
      expect(r.status).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(want);
      expect(existsSync(log)).toBe(false);
    });
  }
});

describe('the socket file is removed by its owner only', () => {
  const connects = (path: string) =>
    new Promise<boolean>((resolve) => {
      const s = createConnection(path);
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });

  it("a first instance's exit leaves a second instance's socket at the same path alone", async () => {
    const path = join(dir, 'shared.sock');
    const first = await SocketSink.listen({ path, start: startOptions({ socket: path }) });
    expect(await connects(path)).toBe(true);
    unlinkSync(path); // an operator removed it, and started a second one
    const second = await SocketSink.listen({ path, start: startOptions({ socket: path }) });
    await first.close('SIGINT');
    expect(existsSync(path)).toBe(true);
    expect(await connects(path)).toBe(true); // the second one's, still served
    await second.close('SIGINT');
    expect(existsSync(path)).toBe(false); // its own: removed
  });

  it('leaves nothing beside the socket (the private bind name is renamed into place)', async () => {
    const sub = mkdtempSync(join(dir, 'clean-'));
    const path = join(sub, 'c.sock');
    const sink = await SocketSink.listen({ path, start: startOptions({ socket: path }) });
    expect(spawnSync('ls', ['-A', sub], { encoding: 'utf8' }).stdout.trim()).toBe('c.sock');
    await sink.close();
    expect(spawnSync('ls', ['-A', sub], { encoding: 'utf8' }).stdout.trim()).toBe('');
  });
});
