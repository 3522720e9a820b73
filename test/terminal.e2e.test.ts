/**
 * The live table of `ctrace run` with real containers: it fits COLUMNS, names the container
 * from its OCI annotations, colours when asked; and --ring-size reaches the kernel.
 */
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { ctraceBin, repoRoot } from './helpers/ctrace-cli.js';
import { privileged } from './helpers/privileges.js';
import { cleanupAllContainers, dockerId, runContainerToExit } from './helpers/runc.js';

function start(args: string[], env: NodeJS.ProcessEnv) {
  const child = spawn(process.execPath, [ctraceBin, ...args], { stdio: ['ignore', 'pipe', 'pipe'], cwd: repoRoot, env: { ...process.env, ...env } });
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  const exited = new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
  return { child, out: () => out, err: () => err, exited };
}

async function until(pred: () => boolean, what: string, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const ANSI = /\x1b\[\d+m/g;

/** max_entries of the BPF ring buffer maps (map_type 27) a process holds, from /proc/PID/fdinfo. */
function ringSizes(pid: number): number[] {
  const out: number[] = [];
  for (const fd of readdirSync(`/proc/${pid}/fdinfo`)) {
    let info: string;
    try {
      info = readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8');
    } catch {
      continue;
    }
    if (/^map_type:\s+27$/m.test(info)) out.push(Number(/^max_entries:\s+(\d+)$/m.exec(info)![1]));
  }
  return out;
}

describe.runIf(privileged())('ctrace run -o table', () => {
  afterAll(async () => {
    await cleanupAllContainers();
  });

  it('fits 80 columns, names the container, colours with --color always, with a 64K ring', async () => {
    const id = dockerId();
    const name = `tbl-${id.slice(0, 6)}`;
    const run = start(['run', '-o', 'table', '--color', 'always', '--ring-size', '64K', '-c', name], { COLUMNS: '80', NO_COLOR: '1' });
    try {
      await until(() => /tracing .*hooks:/.test(run.err()), 'ctrace run to start');
      expect(ringSizes(run.child.pid!)).toEqual([64 * 1024]); // the kernel's ring buffer map is the size asked for
      const c = await runContainerToExit({
        id,
        cgroupsPath: `/docker/${id}`,
        args: ['/bin/sh', '-c', 'sleep 1; exec /bin/sh -c "exit 9" 0123456789-0123456789-0123456789-0123456789-0123456789-0123456789'],
        annotations: { 'nerdctl/name': name },
      });
      await until(() => run.out().replace(ANSI, '').includes('exited 9 after'), 'the exit line');
      expect(c.code).toBe(9);
    } finally {
      run.child.kill('SIGINT');
    }
    expect(await run.exited).toBe(0);
    const plain = run.out().replace(ANSI, '').trimEnd().split('\n');
    expect(plain[0]).toMatch(/^TIME +EVENT CONTAINER +PID COMM +DETAILS$/);
    for (const l of plain) expect([...l].length).toBeLessThanOrEqual(80);
    const rows = plain.slice(1).filter((l) => !l.startsWith('TIME'));
    expect(rows.length).toBeGreaterThan(1);
    for (const r of rows) expect(r).toMatch(new RegExp(`^\\d\\d:\\d\\d:\\d\\d (exec |exit |mount) ${name} `));
    expect(rows.some((r) => r.endsWith('…'))).toBe(true); // the long argv, cut
    expect(rows.some((r) => /exit +.*exited 9 after \d/.test(r))).toBe(true);
    // --color always wins over NO_COLOR: the exit with code 9 is yellow
    expect(run.out()).toContain('\x1b[33mexit \x1b[0m');
  });
});
