/**
 * The CLI around the table: one filter vocabulary, --config, completion scripts, time
 * bounds, ring size, and the exit codes of the odd cases (no arguments, a bad --head, a
 * file that is not a ctrace log).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Command } from 'commander';
import { addFilterOptions, addTableOptions, applyConfigFile, parseRingSize, parseTimeBound, tableOptionsFor } from '../src/cli/options.js';
import { buildProgram } from '../src/cli/cli.js';
import { compileFilter, globToRegExp } from '../src/classify/filter.js';
import type { ContainerInfo } from '../src/events/event.js';
import { AuditLog } from '../src/audit/log.js';
import { startOptions } from '../src/events/records.js';
import { readCommand } from '../src/commands/read.js';
import { dockerContainer, execEvent, exitEvent, mountEvent, podContainer, POD_UID } from './helpers/events.js';
import { ctraceBin, repoRoot } from './helpers/ctrace-cli.js';
import { captureStream } from './helpers/streams.js';

function ctrace(...args: string[]) {
  const r = spawnSync(process.execPath, [ctraceBin, ...args], { encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'ctrace-term-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const nginx: ContainerInfo = { ...dockerContainer, name: 'nginx' };

describe('one filter vocabulary', () => {
  const pod = execEvent(1, { container: podContainer }); // prod/web-7d9c, container web, uid 1000
  const dock = { ...execEvent(3, { container: nginx, filename: '/usr/sbin/nginx', argv: ['nginx', '-g', 'daemon off;'] }), comm: 'nginx' };
  const host = execEvent(2, { container: null });

  it('container: id prefix or name (glob)', () => {
    expect(compileFilter({ container: 'aaaaaaaa' }).event(dock)).toBe(true);
    expect(compileFilter({ container: 'nginx' }).event(dock)).toBe(true);
    expect(compileFilter({ container: 'ngi*' }).event(dock)).toBe(true);
    expect(compileFilter({ container: 'ngin' }).event(dock)).toBe(false); // a name matches whole
    expect(compileFilter({ container: 'web' }).event(pod)).toBe(true);
    expect(compileFilter({ container: 'nginx' }).event(host)).toBe(false);
  });

  it('pod: UID prefix, namespace/name, or name; --namespace', () => {
    for (const p of [POD_UID.slice(0, 8), 'prod/web-7d9c', 'web-7d9c', 'prod/web-*', 'web-*']) {
      expect(compileFilter({ pod: p }).event(pod), p).toBe(true);
    }
    for (const p of ['default/web-7d9c', 'web', 'ffff']) expect(compileFilter({ pod: p }).event(pod), p).toBe(false);
    expect(compileFilter({ namespace: 'prod' }).event(pod)).toBe(true);
    expect(compileFilter({ namespace: 'kube-*' }).event(pod)).toBe(false);
    expect(compileFilter({ namespace: 'prod' }).event(dock)).toBe(false);
  });

  it('runtime, event type, comm and binary globs, uid', () => {
    expect(compileFilter({ runtime: 'docker' }).event(dock)).toBe(true);
    expect(compileFilter({ runtime: 'containerd' }).event(dock)).toBe(false);
    expect(compileFilter({ events: ['exit'] }).event(dock)).toBe(false);
    expect(compileFilter({ events: ['exit'] }).event(exitEvent(1))).toBe(true);
    expect(compileFilter({ comm: 'ngi?x' }).event(dock)).toBe(true);
    expect(compileFilter({ comm: 'sh' }).event(dock)).toBe(false);
    expect(compileFilter({ binary: 'nginx' }).event(dock)).toBe(true); // no '/': the base name
    expect(compileFilter({ binary: '/usr/*/nginx' }).event(dock)).toBe(true);
    expect(compileFilter({ binary: '/bin/*' }).event(dock)).toBe(false);
    expect(compileFilter({ binary: 'nginx' }).event(mountEvent(1))).toBe(false); // only execs carry a file
    expect(compileFilter({ uid: 1000 }).event(pod)).toBe(true);
    expect(compileFilter({ uid: [0, 1000] }).event(pod)).toBe(true);
    expect(compileFilter({ uid: 0 }).event(pod)).toBe(false);
  });

  it('repeated flags OR, different flags AND', () => {
    const either = compileFilter({ container: ['nginx', 'web'] });
    expect(either.event(dock) && either.event(pod)).toBe(true);
    expect(compileFilter({ container: ['nginx', 'web'], runtime: 'docker' }).event(pod)).toBe(false);
    expect(compileFilter({ container: ['nginx', 'web'], uid: 1000 }).event(pod)).toBe(true);
    expect(compileFilter({ container: 'nginx', comm: 'sh' }).event(dock)).toBe(false);
  });

  it('only a runtime filter may be decided once per cgroup (names may come later, comm/uid differ per event)', () => {
    expect(compileFilter({ runtime: 'docker' }).perCgroup).toBe(true);
    expect(compileFilter({}).perCgroup).toBe(true);
    for (const f of [{ container: 'x' }, { pod: 'x' }, { namespace: 'x' }, { comm: 'x' }, { uid: 0 }, { binary: 'x' }]) {
      expect(compileFilter(f).perCgroup, JSON.stringify(f)).toBe(false);
    }
  });

  it('a name filter is final for a container once its names are known, or for a host process; per-event fields never', () => {
    const byName = compileFilter({ container: 'nginx' });
    expect(byName.finalFor(nginx, false)).toBe(false); // its state may not be written yet
    expect(byName.finalFor(nginx, true)).toBe(true);
    expect(byName.finalFor(null, false)).toBe(true);
    expect(compileFilter({ runtime: 'docker' }).finalFor(nginx, false)).toBe(true);
    expect(compileFilter({ container: 'nginx', uid: 0 }).finalFor(nginx, true)).toBe(false);
  });

  it('globs: *, ?, [...], [!...]; everything else literal', () => {
    expect(globToRegExp('a.b').test('axb')).toBe(false);
    expect(globToRegExp('web-[0-9]').test('web-3')).toBe(true);
    expect(globToRegExp('web-[!0-9]').test('web-3')).toBe(false);
    expect(globToRegExp('(x)+').test('(x)+')).toBe(true);
  });

  it('run, read and ps take the same filter flags', () => {
    const program = buildProgram();
    const flags = (name: string) => program.commands.find((c) => c.name() === name)!.options.map((o) => o.long);
    for (const f of ['--container', '--pod', '--namespace', '--runtime', '--comm', '--binary', '--uid']) {
      expect(flags('run')).toContain(f);
      expect(flags('read')).toContain(f);
      expect(flags('ps')).toContain(f);
    }
    expect(flags('read')).toContain('--events');
  });
});

describe('--config', () => {
  function parse(args: string[]) {
    const cmd = addTableOptions(addFilterOptions(new Command('run'), { events: true }))
      .exitOverride()
      .option('--log <path>')
      .option('--log-keep <n>', '', (v) => Number(v))
      .option('--ring-size <size>', '', parseRingSize)
      .option('-q, --quiet')
      .option('--config <file>');
    cmd.hook('preAction', (c) => {
      const f = c.getOptionValue('config');
      if (f) applyConfigFile(c, f);
    });
    let seen: Record<string, unknown> = {};
    cmd.action((o) => {
      seen = o;
    });
    cmd.parse(args, { from: 'user' });
    return seen;
  }

  it('a YAML or JSON file gives the same options as the flags', () => {
    const flags = ['--log', '/var/log/ctrace.log', '--log-keep', '5', '-c', 'web', '-c', 'db', '-e', 'exec,exit', '--ring-size', '8M', '-q', '-u', '0', '--wide', '--color', 'never'];
    const yaml = join(dir, 'c.yaml');
    writeFileSync(
      yaml,
      'log: /var/log/ctrace.log\nlog-keep: 5\ncontainer: [web, db]\nevents: exec,exit\nringSize: 8M\nquiet: true\nuid: 0\nwide: true\ncolor: never\n',
    );
    const json = join(dir, 'c.json');
    writeFileSync(
      json,
      JSON.stringify({ log: '/var/log/ctrace.log', 'log-keep': 5, container: ['web', 'db'], events: 'exec,exit', 'ring-size': '8M', quiet: true, uid: 0, wide: true, color: 'never' }),
    );
    const want = parse(flags);
    expect(want).toMatchObject({ ringSize: 8 * 1024 * 1024, container: ['web', 'db'], events: ['exec', 'exit'], uid: [0] });
    const { config: _y, ...fromYaml } = parse(['--config', yaml]);
    const { config: _j, ...fromJson } = parse(['--config', json]);
    expect(fromYaml).toEqual(want);
    expect(fromJson).toEqual(want);
  });

  it('flags on the command line win over the file', () => {
    const f = join(dir, 'w.yaml');
    writeFileSync(f, 'log: /from/file\ncontainer: web\ncolor: always\n');
    expect(parse(['--config', f, '--log', '/from/flag', '-c', 'db'])).toMatchObject({ log: '/from/flag', container: ['db'], color: 'always' });
  });

  it('an unknown key, a bad value or a missing file: one line, exit 2', () => {
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'logg: /x\n');
    let r = ctrace('run', '--config', bad);
    expect(r.stderr).toBe(`ctrace: config ${bad}: unknown option 'logg'\n`);
    expect(r.code).toBe(2);
    writeFileSync(bad, 'ring-size: 3M\n');
    r = ctrace('run', '--config', bad);
    expect(r.stderr).toMatch(/^ctrace: config .*: ring-size: ring size must be a power of two/);
    expect(r.code).toBe(2);
    r = ctrace('run', '--config', join(dir, 'nope.yaml'));
    expect(r.stderr).toMatch(/^ctrace: cannot read config .*nope\.yaml/);
    expect(r.code).toBe(2);
  });
});

describe('shell completion', () => {
  it('bash: the script parses (bash -n), registers with complete, and completes commands, options and choices', () => {
    const r = ctrace('completion', 'bash');
    expect(r.code).toBe(0);
    const file = join(dir, 'ctrace.bash');
    writeFileSync(file, r.stdout);
    execFileSync('bash', ['-n', file]);
    expect(execFileSync('bash', ['-c', `source ${file}; complete -p ctrace`], { encoding: 'utf8' })).toBe('complete -o filenames -F _ctrace ctrace\n');
    const complete = (...words: string[]) =>
      execFileSync(
        'bash',
        ['-c', `source ${file}; COMP_WORDS=(ctrace ${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length}; _ctrace; printf '%s\\n' "\${COMPREPLY[@]}"`],
        { encoding: 'utf8' },
      )
        .trim()
        .split('\n');
    expect(complete('r')).toEqual(['run', 'read']);
    expect(complete('run', '--ri')).toEqual(['--ring-size']);
    expect(complete('run', '--runtime', 'c')).toEqual(['containerd', 'cri-o', 'cri']);
    expect(complete('read', '--col')).toEqual(['--color']);
    expect(complete('completion', 'f')).toEqual(['fish']);
  });

  it('zsh and fish scripts parse in their own shells (zsh -n, fish -n) and name every command', () => {
    const zsh = ctrace('completion', 'zsh');
    const fish = ctrace('completion', 'fish');
    for (const cmd of ['run', 'read', 'ps', 'verify', 'inspect', 'classify', 'completion']) {
      expect(zsh.stdout).toContain(` ${cmd}`);
      expect(fish.stdout).toContain(`-a ${cmd} `);
    }
    expect(fish.stdout).toContain("-l runtime -x -a 'docker containerd cri-o cri podman lxc systemd-nspawn'");
    expect(ctrace('completion', 'tcsh').code).toBe(2);
    const zf = join(dir, '_ctrace.zsh');
    const ff = join(dir, 'ctrace.fish');
    writeFileSync(zf, zsh.stdout);
    writeFileSync(ff, fish.stdout);
    execFileSync('zsh', ['-n', zf]);
    execFileSync('fish', ['--no-execute', ff]);
    // zsh loads it for real: the function is defined and registered
    expect(execFileSync('zsh', ['-c', `autoload -U compinit && compinit -u; source ${zf}; echo $_comps[ctrace]`], { encoding: 'utf8' }).trim()).toBe('_bash_complete -o filenames -F _ctrace');
  });
});

describe('man page', () => {
  it('is generated from the command definitions: every command and option, and the exit status', () => {
    const page = readFileSync(join(repoRoot, 'build/man/ctrace.1'), 'utf8'); // written by scripts/build.sh
    const program = buildProgram();
    for (const c of program.commands) {
      expect(page).toContain(`.SS "ctrace ${c.name()} `);
      for (const o of c.options) expect(page, o.flags).toContain(`.B ${o.flags.replace(/-/g, '\\-')}`);
    }
    expect(page).toContain('.SH EXIT STATUS');
    const r = spawnSync('groff', ['-man', '-Tascii', '-ww', join(repoRoot, 'build/man/ctrace.1')], { encoding: 'utf8' });
    expect(r.stderr).toBe(''); // no roff warnings
    expect(r.stdout.replace(/.\x08/g, '')).toContain('--ring-size <size>'); // (bold is overstrike in ascii)
  });
});

describe('time bounds and sizes', () => {
  const now = () => Date.parse('2026-11-30T12:00:00Z');
  it('--since/--until: RFC 3339 or a time ago', () => {
    expect(parseTimeBound('2026-11-30T11:00:00Z', now)).toBe(Date.parse('2026-11-30T11:00:00Z'));
    expect(parseTimeBound('2026-11-30T12:00:00.5+01:00', now)).toBe(Date.parse('2026-11-30T11:00:00.500Z'));
    expect(parseTimeBound('10m', now)).toBe(now() - 600_000);
    expect(parseTimeBound('2h', now)).toBe(now() - 7_200_000);
    expect(parseTimeBound('1d', now)).toBe(now() - 86_400_000);
    for (const bad of ['yesterday', '10', '10y', '2026-13-01T00:00:00Z', '']) expect(() => parseTimeBound(bad, now), bad).toThrow(/not a time/);
  });

  it('--ring-size: a power of two from 4K to 1G', () => {
    expect(parseRingSize('8M')).toBe(8 << 20);
    expect(parseRingSize('64MiB')).toBe(64 << 20);
    expect(parseRingSize('4096')).toBe(4096);
    expect(parseRingSize('1G')).toBe(1 << 30);
    for (const bad of ['3M', '2K', '2G', 'big', '-8M', '0']) expect(() => parseRingSize(bad), bad).toThrow();
    const r = ctrace('run', '--ring-size', '3M');
    expect(r.stderr).toMatch(/^ctrace: .*ring size must be a power of two from 4K to 1G: '3M'\n$/);
    expect(r.code).toBe(2);
    expect(ctrace('run', '--help').stdout).toMatch(/--ring-size <size>[\s\S]*memory/);
  });
});

describe('colour and width from the terminal', () => {
  it('auto: colour on a terminal unless NO_COLOR; --color always/never win; COLUMNS for a pipe', () => {
    const tty = { isTTY: true, columns: 120, rows: 40 };
    expect(tableOptionsFor(tty, { color: 'auto' }, {})).toEqual({ columns: 120, wide: false, color: true, headerEvery: 39 });
    expect(tableOptionsFor(tty, { color: 'auto' }, { NO_COLOR: '1' }).color).toBe(false);
    expect(tableOptionsFor(tty, { color: 'auto' }, { TERM: 'dumb' }).color).toBe(false);
    expect(tableOptionsFor(tty, { color: 'always' }, { NO_COLOR: '1' }).color).toBe(true);
    expect(tableOptionsFor(tty, { color: 'never' }, {}).color).toBe(false);
    expect(tableOptionsFor({ isTTY: false }, { color: 'auto' }, {})).toEqual({ columns: undefined, wide: false, color: false, headerEvery: 0 });
    expect(tableOptionsFor({ isTTY: false }, { color: 'always' }, { COLUMNS: '80' })).toMatchObject({ columns: 80, color: true });
  });
});

describe('the odd cases', () => {
  it('no arguments: the help on stdout, exit 0', () => {
    const r = ctrace();
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Usage: ctrace \[options\] \[command\]/);
    expect(r.stderr).toBe('');
  });

  it('verify --head that is not a 64-hex hash is a usage error (2)', () => {
    const r = ctrace('verify', '--head', 'deadbeef', '/nonexistent.log');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^ctrace: .*not a chain head \(64 hex digits\): 'deadbeef'\n$/);
  });

  it('read of a file ctrace did not write: "not a ctrace log", once, exit 1', () => {
    for (const f of ['/etc/passwd', '/etc/hostname']) {
      const r = ctrace('read', f);
      expect(r.stderr).toBe(`ctrace: ${f}: not a ctrace log\n`);
      expect(r.code).toBe(1);
      expect(r.stdout).toBe('');
    }
    const json = join(dir, 'other.jsonl');
    writeFileSync(json, '{"hello":"world"}\n{"a":1}\n');
    expect(ctrace('read', json).stderr).toBe(`ctrace: ${json}: not a ctrace log\n`);
  });

  it('read -f is --follow; --format has no short letter', () => {
    const read = buildProgram().commands.find((c) => c.name() === 'read')!;
    expect(read.options.find((o) => o.short === '-f')!.long).toBe('--follow');
    expect(read.options.find((o) => o.long === '--format')!.short).toBeUndefined();
  });
});

describe('ctrace read selects', () => {
  it('--since/--until and the filters; start/stop records stay as context', async () => {
    const path = join(dir, 'sel.log');
    const log = await AuditLog.open({ path, start: startOptions(), fsync: 'never' });
    const evs = [
      execEvent(1, { container: nginx }), // 11:06:40.001
      execEvent(2, { container: podContainer }),
      { ...exitEvent(3, { container: nginx }), comm: 'nginx' },
      execEvent(4, { container: podContainer }),
    ];
    for (const e of evs) log.write(e);
    await log.close('test');
    const t = (i: number) => Date.parse(evs[i]!.time);
    const run = async (o: Parameters<typeof readCommand>[1]) => {
      const out = captureStream();
      const err = captureStream();
      const code = await readCommand(path, { output: 'json', ...o }, out.stream, err.stream);
      return { code, lines: out.text().trim().split('\n').map((l) => JSON.parse(l)), err: err.text() };
    };
    const events = (r: { lines: Array<Record<string, unknown>> }) => r.lines.filter((l) => l.type !== 'start' && l.type !== 'stop');
    let r = await run({ filter: { container: 'nginx' } });
    expect(r.code).toBe(0);
    expect(events(r).map((e) => e.pid)).toEqual([evs[0]!.pid, evs[2]!.pid]);
    expect(r.lines[0]!.type).toBe('start');
    r = await run({ filter: { pod: 'prod/web-7d9c', events: ['exec'] } });
    expect(events(r).map((e) => e.pid)).toEqual([evs[1]!.pid, evs[3]!.pid]);
    r = await run({ sinceMs: t(1), untilMs: t(2) });
    expect(events(r).map((e) => e.pid)).toEqual([evs[1]!.pid, evs[2]!.pid]);
    r = await run({ filter: { comm: 'nginx' } });
    expect(events(r).map((e) => e.pid)).toEqual([evs[2]!.pid]);
    r = await run({ filter: { container: 'nosuch' } });
    expect(r.code).toBe(0);
    expect(r.err).toBe(`ctrace: note: no event in ${path} matches --container nosuch\n`);
  });
});
