/**
 * The capability set the README, the service unit and the error messages name, checked against
 * this kernel: a user other than root (nobody) with exactly CAP_BPF, CAP_PERFMON and
 * CAP_DAC_READ_SEARCH traces a real runc container as root does; without any one of them ctrace
 * stops with one line naming the real cause and the whole set, exit 1.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CAPABILITIES, CAPABILITY_TEXT } from '../src/util/capabilities.js';
import { readableCliCopy, type CliCopy } from './helpers/cli-copy.js';
import { repoRoot, startCtrace, type CtraceRun, type JsonEvent } from './helpers/ctrace-cli.js';
import { privileged } from './helpers/privileges.js';
import { buildRootfs } from './helpers/rootfs.js';
import { cleanupAllContainers, dockerId, runContainer } from './helpers/runc.js';

/** setpriv's names: -all,+bpf,+perfmon,... */
const setprivCaps = (caps: readonly string[]) => ['-all', ...caps.map((c) => '+' + c.replace(/^CAP_/, '').toLowerCase())].join(',');

// nobody cannot reach a clone under a 0700 directory (/root/ctrace): it runs a readable copy,
// made before any test starts a container (it takes a few seconds)
let cli: CliCopy | undefined;
beforeAll(() => {
  if (privileged()) cli = readableCliCopy();
});
afterAll(() => cli?.remove());

/** The command that runs ctrace as nobody with exactly `caps` (inheritable, ambient, bounding: so effective too). */
function asNobody(caps: readonly string[]): string[] {
  const set = setprivCaps(caps);
  cli ??= readableCliCopy();
  return ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', `--inh-caps=${set}`, `--ambient-caps=${set}`, `--bounding-set=${set}`, process.execPath, cli.bin];
}

describe('the capability set is named once', () => {
  it('the addon names the same set as src/util/capabilities.ts', () => {
    const header = readFileSync(join(repoRoot, 'native/errors.h'), 'utf8');
    expect(header).toContain(`kCapabilities = "${CAPABILITY_TEXT}"`);
    expect(CAPABILITY_TEXT).toBe('CAP_BPF, CAP_PERFMON and CAP_DAC_READ_SEARCH');
  });
});

describe.runIf(privileged())('ctrace as a user other than root, with capabilities', () => {
  const runs: CtraceRun[] = [];
  afterAll(async () => {
    for (const r of runs) await r.stop('SIGTERM');
    await cleanupAllContainers();
  });

  it('tracefs here is mode 0700 (what makes CAP_DAC_READ_SEARCH necessary)', () => {
    expect(statSync('/sys/kernel/tracing').mode & 0o777).toBe(0o700);
  });

  it(`with exactly ${CAPABILITY_TEXT} it sees what root sees of a runc container, name and image included`, async () => {
    // started before ctrace: attribution and the runtime's state (/run/runc, 0700) of a running container too
    const id = dockerId();
    const annotations = { 'io.kubernetes.cri.container-name': 'web', 'io.kubernetes.cri.image-name': 'busybox:1' };
    // it goes on once both tracers are up (a file the test writes in the shared rootfs): a fixed
    // sleep raced the two start-ups on a loaded machine, and the second tracer saw nothing
    const go = `ctrace-go-${id.slice(0, 12)}`;
    const rootfs = await buildRootfs();
    const c = await runContainer({
      id,
      cgroupsPath: `/docker/${id}`,
      args: ['/bin/sh', '-c', `while [ ! -e /${go} ]; do /bin/sleep 0.05; done; /bin/true; exit 3`],
      annotations,
    });
    const root = await startCtrace();
    runs.push(root);
    const nobody = await startCtrace([], 20_000, asNobody(CAPABILITIES));
    runs.push(nobody);
    writeFileSync(join(rootfs, go), '');
    expect((await c.exited).code).toBe(3);
    rmSync(join(rootfs, go), { force: true });
    for (const r of [root, nobody]) await r.waitFor((ev) => ev.some((e) => e.type === 'exit' && e.pid === c.pid), 15_000, `exit of ${id}`);

    // time and an exit's duration are each tracer's own reading of the clocks; the binary and the
    // ancestors' binaries are read through /proc/PID/exe, which another user's process keeps from
    // these capabilities (it takes CAP_SYS_PTRACE): null there, the reason said; the rest must match
    // (what ran after the go: /bin/true, and the shell's exit; root saw more of the wait loop)
    const after = (r: CtraceRun) => {
      const truePid = r.events.find((e) => e.container?.id === id && e.type === 'exec' && e.exec.filename === '/bin/true')?.pid;
      return r.events.filter((e) => e.container?.id === id && (e.pid === truePid || e.pid === c.pid));
    };
    const mine = (r: CtraceRun) =>
      after(r)
        .map(({ time: _t, ...e }) => (e.exit ? { ...e, exit: { ...e.exit, durationNs: 0 } } : e))
        .map((e) =>
          e.exec ? { ...e, exec: { ...e.exec, binary: null, ancestors: e.exec.ancestors.map((a: JsonEvent) => ({ ...a, filename: null })) } } : e,
        );
    for (const e of nobody.events.filter((x) => x.container?.id === id && x.type === 'exec')) {
      expect(e.exec.binary.sha256 ?? e.exec.binary.hashError).toMatch(/^[0-9a-f]{64}$|CAP_SYS_PTRACE|exited/);
    }
    const seen = mine(nobody);
    expect(seen.find((e) => e.type === 'exec' && e.exec.filename === '/bin/true')).toMatchObject({
      container: { id, runtime: 'docker', name: 'web', image: 'busybox:1' },
    });
    expect(seen).toEqual(mine(root));
  });

  it('without CAP_DAC_READ_SEARCH: tracefs is named as mounted but 0700, with the whole set', () => {
    const [cmd, ...args] = asNobody(['CAP_BPF', 'CAP_PERFMON']);
    const r = spawnSync(cmd, [...args, 'run'], { encoding: 'utf8', timeout: 20_000 });
    expect(r.stderr).toBe(
      `ctrace: tracefs failed: Permission denied (EACCES): tracefs is mounted at /sys/kernel/tracing but its mode 0700 keeps this user out; tracepoint programs cannot attach without it: run as root, or with ${CAPABILITY_TEXT}\n`,
    );
    expect(r.stderr).not.toMatch(/not mounted/);
    expect(r.status).toBe(1);
  });

  for (const missing of ['CAP_BPF', 'CAP_PERFMON']) {
    it(`without ${missing}: one line naming root or the whole set`, () => {
      const [cmd, ...args] = asNobody(CAPABILITIES.filter((c) => c !== missing));
      const r = spawnSync(cmd, [...args, 'run'], { encoding: 'utf8', timeout: 20_000 });
      expect(r.stderr).toBe(`ctrace: tracing needs root, or ${CAPABILITY_TEXT}: run ctrace with sudo\n`);
      expect(r.status).toBe(1);
    });
  }
});
