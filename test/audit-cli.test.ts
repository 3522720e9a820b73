/**
 * The record-keeping side of the CLI without BPF: usage errors of the run
 * options (exit 2), `ctrace verify` and `ctrace read` on files written by the
 * library (exit codes, one-line messages, stdin).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditLog } from '../src/audit/log.js';
import { startOptions } from '../src/events/records.js';
import { toJsonObject } from '../src/format/json.js';
import { ctraceBin } from './helpers/ctrace-cli.js';
import { sampleEvents } from './helpers/events.js';

function ctrace(args: string[], input?: Buffer | string) {
  const r = spawnSync(process.execPath, [ctraceBin, ...args], { encoding: 'utf8', input });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

let dir: string;
let jsonl: string;
let pb: string;
const events = sampleEvents(25);

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ctrace-cli-audit-'));
  jsonl = join(dir, 'ctrace.log');
  pb = join(dir, 'ctrace.pb');
  for (const [path, format] of [
    [jsonl, 'jsonl'],
    [pb, 'protobuf'],
  ] as const) {
    const log = await AuditLog.open({ path, format, start: startOptions() });
    for (const e of events) log.write(e);
    await log.close('SIGTERM');
  }
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('ctrace run: record-keeping options', () => {
  it.each([
    [['run', '--quiet'], /^ctrace: --quiet needs --log, --socket, --otlp or --nats \(events would go nowhere\)/],
    [['run', '--log-keep', '3'], /^ctrace: --log-keep needs --log <path>\n$/],
    [['run', '--log-format', 'protobuf'], /^ctrace: --log-format needs --log <path>\n$/],
    [['run', '--log', '/tmp/x.log', '--log-max-size', '12Q'], /^ctrace: .*not a size: '12Q'/],
    [['run', '--log', '/tmp/x.log', '--log-max-size', '100'], /^ctrace: .*too small/],
    [['run', '--log', '/tmp/x.log', '--log-fsync', 'sometimes'], /^ctrace: .*not an fsync policy: 'sometimes'/],
    [['run', '--log', '/tmp/x.log', '--log-keep', '-1'], /^ctrace: .*not a count/],
    [['run', '--log', '/tmp/x.log', '--log-format', 'xml'], /^ctrace: .*'xml'.*jsonl, protobuf/],
    [['run', '--log', '/tmp/x.log', '--quiet', '--output', 'json'], /^ctrace: --quiet and --output exclude each other/],
    [['verify'], /^ctrace: missing required argument 'log'\n$/],
    [['read'], /^ctrace: missing required argument 'file'\n$/],
    [['read', jsonl, '--output', 'xml'], /^ctrace: .*'xml'.*table, json/],
  ])('rejects %j with exit 2', (args, msg) => {
    const r = ctrace(args);
    expect(r.stderr).toMatch(msg);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
  });

  it('documents the options in run --help', () => {
    const r = ctrace(['run', '--help']);
    for (const o of ['--log <path>', '--log-format', '--log-max-size', '--log-keep', '--log-fsync', '--socket <path>', '--quiet', 'protobuf']) {
      expect(r.stdout).toContain(o);
    }
  });
});

describe.runIf(process.getuid?.() === 0)('ctrace run: an unwritable log path', () => {
  it('exits 1 with one clear line before loading BPF (read-only filesystem)', () => {
    const m = mkdtempSync(join(tmpdir(), 'ctrace-ro-'));
    try {
      expect(spawnSync('mount', ['-t', 'tmpfs', '-o', 'ro,size=64k', 'tmpfs', m]).status).toBe(0);
      const r = ctrace(['run', '--log', join(m, 'ctrace.log')]);
      expect(r.code).toBe(1);
      expect(r.stderr).toBe(`ctrace: cannot open audit log ${join(m, 'ctrace.log')}: read-only file system (EROFS)\n`);
      expect(r.stdout).toBe('');
    } finally {
      spawnSync('umount', [m]);
      rmSync(m, { recursive: true, force: true });
    }
  });

  it('exits 1 when the log path is a directory or the socket path is taken by a file', () => {
    const r = ctrace(['run', '--log', dir]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`ctrace: audit log ${dir} is not a regular file; refusing to write to it\n`);
    const s = ctrace(['run', '--socket', jsonl]);
    expect(s.code).toBe(1);
    expect(s.stderr).toBe(`ctrace: cannot listen on socket ${jsonl}: it exists and is not a socket\n`);
  });
});

describe('ctrace verify and read from the command line', () => {
  it('verify: exit 0 and a one-line summary, for either format', () => {
    for (const path of [jsonl, pb]) {
      const r = ctrace(['verify', path]);
      expect(r.code).toBe(0);
      expect(r.stderr).toBe('');
      expect(r.stdout).toMatch(/^ok: 1 file, 27 records \(seq 0\.\.26\), 1 run, 25 events, 0 lost; head [0-9a-f]{64}\n$/);
    }
  });

  it('verify: exit 1 and file:line of an edited line', () => {
    const bad = join(dir, 'edited.log');
    const lines = readFileSync(jsonl, 'utf8').split('\n');
    lines[3] = lines[3]!.replace('"comm":"sh"', '"comm":"ls"');
    writeFileSync(bad, lines.join('\n'));
    const r = ctrace(['verify', bad]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(`ctrace: verify failed: ${bad}:4: altered: its content does not match its hash\n`);
  });

  it('read: either format, from a file or stdin, to JSON', () => {
    const want = events.map((e) => toJsonObject(e));
    for (const r of [ctrace(['read', '-o', 'json', jsonl]), ctrace(['read', '-o', 'json', pb]), ctrace(['read', '-o', 'json', '-'], readFileSync(pb))]) {
      expect(r.code).toBe(0);
      expect(r.stderr).toBe('');
      const got = r.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(got[0]!.type).toBe('start');
      expect(got.at(-1)!.type).toBe('stop');
      expect(got.slice(1, -1)).toEqual(want);
    }
  });

  it('read: -o table gives aligned lines; piped without -o it is JSON', () => {
    const r = ctrace(['read', '-o', 'table', pb]);
    expect(r.code).toBe(0);
    expect(r.stdout.split('\n')[1]).toMatch(/^TIME\s+EVENT\s+CONTAINER\s+RUNTIME/);
    expect(ctrace(['read', pb]).stdout.startsWith('{"type":"start"')).toBe(true);
  });
});
