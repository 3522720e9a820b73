/**
 * deploy/systemd: the unit passes `systemd-analyze verify`; ctrace runs with exactly the unit's
 * CapabilityBoundingSet as root (what systemd gives it) and its ExecStart arguments; the
 * logrotate snippet, run by the real logrotate, rotates the log under a running ctrace, whose
 * SIGHUP reopen continues the hash chain so `ctrace verify` checks both files.
 * Stand-in: this machine's PID 1 is not systemd, so the unit is not started by systemd itself;
 * setpriv applies its capability bounding set and no-new-privileges, and the postrotate's
 * `systemctl kill --signal=HUP` is replaced by `kill -HUP <pid>` of the same process.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isRotatedName } from '../src/audit/files.js';
import { CAPABILITIES } from '../src/util/capabilities.js';
import { ctraceBin, repoRoot } from './helpers/ctrace-cli.js';
import { privileged } from './helpers/privileges.js';
import { cleanupAllContainers, dockerId, runContainerToExit } from './helpers/runc.js';
import { readUnit } from './helpers/unit-file.js';

const unitPath = join(repoRoot, 'deploy/systemd/ctrace.service');
const logrotatePath = join(repoRoot, 'deploy/systemd/ctrace.logrotate');
const unit = readUnit(unitPath);
const svc = unit.Service!;
const execStart = svc.ExecStart![0]!.split(/\s+/);

describe('deploy/systemd/ctrace.service', () => {
  it('systemd-analyze verify: no error, no warning (ExecStart pointed at this checkout)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ctrace-unit-'));
    try {
      const copy = join(dir, 'ctrace.service');
      writeFileSync(copy, readFileSync(unitPath, 'utf8').replaceAll('/usr/local/bin/ctrace', ctraceBin));
      const r = spawnSync('systemd-analyze', ['verify', copy], { encoding: 'utf8' });
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      // and the unit as shipped differs only in that path
      const shipped = spawnSync('systemd-analyze', ['verify', unitPath], { encoding: 'utf8' });
      expect(shipped.stderr.trim()).toBe('ctrace.service: Command /usr/local/bin/ctrace is not executable: No such file or directory');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('runs `ctrace run` with an audit log, restarts on failure, reloads with SIGHUP', () => {
    expect(execStart.slice(0, 2)).toEqual(['/usr/local/bin/ctrace', 'run']);
    expect(execStart[execStart.indexOf('--log') + 1]).toBe('/var/log/ctrace/ctrace.log');
    expect(execStart[execStart.indexOf('--log-max-size') + 1]).toBe('0'); // logrotate rotates
    expect(svc.Restart).toEqual(['on-failure']);
    expect(svc.ExecReload).toEqual(['/bin/kill -HUP $MAINPID']);
    expect(svc.LogsDirectory).toEqual(['ctrace']);
    expect(svc.LogsDirectoryMode).toEqual(['0700']);
    expect(unit.Install!.WantedBy).toEqual(['multi-user.target']);
  });

  it('holds exactly CAP_BPF, CAP_PERFMON and CAP_DAC_READ_SEARCH, no ambient set, no new privileges', () => {
    expect(svc.CapabilityBoundingSet![0]!.split(/\s+/).sort()).toEqual([...CAPABILITIES].sort());
    expect(svc.AmbientCapabilities).toEqual(['']);
    expect(svc.NoNewPrivileges).toEqual(['yes']);
    expect(svc.User).toBeUndefined(); // root: the bounding set is what it keeps
  });

  it('the logrotate snippet rotates to names ctrace verify knows and signals the service with SIGHUP', () => {
    const text = readFileSync(logrotatePath, 'utf8');
    expect(text).toMatch(/^\/var\/log\/ctrace\/ctrace\.log \{/m);
    expect(text).toMatch(/^\s+nocompress$/m);
    expect(text).toMatch(/^\s+dateformat \.%Y%m%dT%H%M%S\.000Z$/m);
    expect(text).toMatch(/systemctl kill --signal=HUP --kill-whom=main ctrace\.service/);
  });
});

describe.runIf(privileged())('the service, run as systemd would run it', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ctrace-service-'));
  const logDir = join(dir, 'log');
  const log = join(logDir, 'ctrace.log');
  let child: ChildProcess | undefined;
  let stderr = '';
  afterAll(async () => {
    if (child && child.exitCode === null) child.kill('SIGKILL');
    await cleanupAllContainers();
    rmSync(dir, { recursive: true, force: true });
  });

  const waitFor = async (what: string, pred: () => boolean, ms = 15_000) => {
    for (const end = Date.now() + ms; !pred(); await new Promise((r) => setTimeout(r, 50))) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}; ctrace stderr:\n${stderr}`);
    }
  };
  const read = (p: string) => {
    try {
      return readFileSync(p, 'utf8');
    } catch {
      return '';
    }
  };
  const hasExit = (text: string, pid: number) => text.split('\n').some((l) => l.includes('"type":"exit"') && l.includes(`"pid":${pid},`));

  it('with only the bounding set, ExecStart traces containers into the log; logrotate + SIGHUP keep one verifiable chain', async () => {
    execFileSync('mkdir', ['-m', '0700', logDir]);
    const args = execStart.slice(1).map((a) => (a === '/var/log/ctrace/ctrace.log' ? log : a));
    const bounding = ['-all', ...CAPABILITIES.map((c) => '+' + c.slice(4).toLowerCase())].join(',');
    child = spawn('setpriv', ['--bounding-set', bounding, '--inh-caps=-all', '--no-new-privs', process.execPath, ctraceBin, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const exited = new Promise<number | null>((r) => child!.on('exit', (code) => r(code)));
    await waitFor('hooks attached', () => /tracing .*hooks:/.test(stderr));
    // the capabilities it runs with are the bounding set, nothing more
    const capEff = /^CapEff:\s*(\S+)$/m.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))![1]!;
    expect(BigInt('0x' + capEff)).toBe((1n << 39n) | (1n << 38n) | (1n << 2n));

    const a = dockerId();
    const runA = await runContainerToExit({ id: a, cgroupsPath: `/docker/${a}`, args: ['/bin/sh', '-c', 'exit 4'] });
    await waitFor('exit of A in the log', () => hasExit(read(log), runA.pid));

    // the snippet as shipped, for this log and this process (no systemd to signal here)
    const conf = join(dir, 'logrotate.conf');
    writeFileSync(
      conf,
      readFileSync(logrotatePath, 'utf8')
        .replace(/^\/var\/log\/ctrace\/ctrace\.log \{/m, `${log} {`)
        .replace(/systemctl kill --signal=HUP --kill-whom=main ctrace\.service/, `kill -HUP ${child.pid}`),
    );
    chmodSync(conf, 0o644);
    const lr = spawnSync('logrotate', ['-f', '-s', join(dir, 'logrotate.state'), conf], { encoding: 'utf8' });
    expect(lr.status, lr.stderr).toBe(0);
    await waitFor('the log reopened on SIGHUP', () => read(log).length > 0);

    const b = dockerId();
    const runB = await runContainerToExit({ id: b, cgroupsPath: `/docker/${b}`, args: ['/bin/sh', '-c', 'exit 5'] });
    await waitFor('exit of B in the new log', () => hasExit(read(log), runB.pid));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);

    const rotated = readdirSync(logDir).filter((n) => n !== 'ctrace.log');
    expect(rotated).toHaveLength(1);
    expect(isRotatedName('ctrace.log', rotated[0]!)).toBe(true);
    expect(hasExit(read(join(logDir, rotated[0]!)), runA.pid)).toBe(true);
    expect(hasExit(read(log), runA.pid)).toBe(false);
    expect(readFileSync(log, 'utf8').trimEnd().split('\n').pop()).toMatch(/"type":"stop"/);

    const v = spawnSync(process.execPath, [ctraceBin, 'verify', log], { encoding: 'utf8' });
    expect(v.stderr).toBe('');
    expect(v.stdout).toMatch(/^ok: 2 files, /);
    expect(v.status).toBe(0);
  });
});
