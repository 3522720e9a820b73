/** Missing privileges or BTF: one line that names the cause, exit 1, before any BPF is loaded. */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { effectiveCaps, preflight } from '../src/util/host.js';
import { readableCliCopy } from './helpers/cli-copy.js';
import { privileged } from './helpers/privileges.js';

const dir = mkdtempSync(join(tmpdir(), 'ctrace-preflight-'));
function status(capEff: string): string {
  const p = join(dir, `status-${capEff}`);
  writeFileSync(p, `Name:\tnode\nCapInh:\t0000000000000000\nCapEff:\t${capEff}\n`);
  return p;
}

describe('preflight', () => {
  it('reads effective capabilities', () => {
    expect(effectiveCaps('CapEff:\t000001ffffffffff\n')).toBe(0x1ffffffffffn);
    expect(effectiveCaps('nothing')).toBe(0n);
  });

  it('refuses without CAP_SYS_ADMIN or CAP_BPF+CAP_PERFMON', () => {
    expect(() => preflight({ btf: '/sys/kernel/btf/vmlinux', status: status('0000000000000000') })).toThrow(
      /needs root, or CAP_BPF, CAP_PERFMON and CAP_DAC_READ_SEARCH/,
    );
    // CAP_BPF alone is not enough; with CAP_PERFMON it is
    expect(() => preflight({ btf: '/sys/kernel/btf/vmlinux', status: status('0000008000000000') })).toThrow(/needs root/);
    expect(() => preflight({ btf: '/sys/kernel/btf/vmlinux', status: status('000000c000000000') })).not.toThrow();
  });

  it('names missing BTF (a kernel this machine cannot be: the path stands in)', () => {
    expect(() => preflight({ btf: join(dir, 'no-vmlinux'), status: status('000001ffffffffff') })).toThrow(
      /kernel has no BTF .*CONFIG_DEBUG_INFO_BTF=y/,
    );
  });
});

describe.runIf(privileged())('ctrace run without privileges', () => {
  it('prints one line naming root and exits 1', () => {
    // the user 65534 cannot read a clone under a 0700 directory (/root/ctrace): run a copy it can
    const cli = readableCliCopy();
    let r;
    try {
      r = spawnSync(
        'setpriv',
        ['--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all', process.execPath, cli.bin, 'run'],
        { encoding: 'utf8', cwd: cli.dir },
      );
    } finally {
      cli.remove();
    }
    expect(r.stderr).toBe('ctrace: tracing needs root, or CAP_BPF, CAP_PERFMON and CAP_DAC_READ_SEARCH: run ctrace with sudo\n');
    expect(r.status).toBe(1);
    expect(r.stdout).toBe('');
  });
});
