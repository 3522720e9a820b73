/** CLI usage errors: one clear line on stderr, exit code 2, nothing on stdout. */
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { ctraceBin } from './helpers/ctrace-cli.js';

function ctrace(...args: string[]) {
  const r = spawnSync(process.execPath, [ctraceBin, ...args], { encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('ctrace CLI usage', () => {
  it.each([
    [['run', '--bogus'], /^ctrace: unknown option '--bogus'\n$/],
    [['run', '--events', 'exec,fork'], /^ctrace: .*unknown event type 'fork' \(expected exec, exit, mount\)\n$/],
    [['run', '--output', 'xml'], /^ctrace: .*'xml'.*Allowed choices are table, json, protobuf, ocsf\.?\n$/],
    [['run', '--runtime', 'rkt'], /^ctrace: .*'rkt'.*docker/],
    [['frobnicate'], /^ctrace: unknown command 'frobnicate'\n$/],
    [['run', '--hash-budget', 'lots'], /^ctrace: .*not a size: 'lots' \(e\.g\. 64M, 512K, 0 for no limit\)\n$/],
    [['run', '--hash-budget', '2G'], /^ctrace: .*hash budget too large: '2G'/],
  ])('rejects %j with exit 2', (args, msg) => {
    const r = ctrace(...args);
    expect(r.stderr).toMatch(msg);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
  });

  it('prints help with exit 0', () => {
    const r = ctrace('run', '--help');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('--pidns-only');
    expect(r.stdout).toContain('--events <list>');
  });

  it('classifies cgroup paths given on the command line', () => {
    const id = 'a4c123b1612dd272d1371c17149d439536b3216fdaeeb975729fae923d5a4fd1';
    const r = ctrace('classify', `/docker/${id}`, '/system.slice/sshd.service');
    expect(r.code).toBe(0);
    const [a, b] = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(a).toMatchObject({ scope: 'container', container: { id, runtime: 'docker' } });
    expect(b).toMatchObject({ scope: 'host', container: null });
  });
});
