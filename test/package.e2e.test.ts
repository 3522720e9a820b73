/**
 * The npm package as a user installs it: `npm pack`, then `npm install -g ./<tarball>` into a
 * fresh prefix on a "host" with Node and no compiler (a mount namespace hides cc, clang, cmake,
 * make, ld, bpftool and the host's libbpf and libelf; PATH holds only node and sh), offline, then the
 * installed `ctrace run` sees the events of a real runc container.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot, startCtrace, type CtraceRun } from './helpers/ctrace-cli.js';
import { HIDDEN_TOOLS, noCompilerShell, npmPack, type Packed } from './helpers/pack.js';
import { privileged } from './helpers/privileges.js';
import { cleanupAllContainers, dockerId, runContainerToExit } from './helpers/runc.js';

const npmCli = realpathSync(execFileSync('sh', ['-c', 'command -v npm'], { encoding: 'utf8' }).trim());
const platform = `${process.platform}-${process.arch}`;
// spawnSync blocks the event loop, so vitest's own timeout cannot end a stuck npm (one sat idle in
// epoll_wait after "reify moves {}" once): npm gets a limit of its own, and the test says so
const NPM_TIMEOUT_MS = 200_000;
const npmOpts = { encoding: 'utf8' as const, timeout: NPM_TIMEOUT_MS, killSignal: 'SIGKILL' as const };
function npmFailure(r: { error?: Error; stderr: string }): string {
  return (r.error as NodeJS.ErrnoException | undefined)?.code === 'ETIMEDOUT' ? `npm still running after ${NPM_TIMEOUT_MS} ms: killed\n${r.stderr}` : r.stderr;
}

describe('package.json', () => {
  const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8'));
  it('is named ctrace-ebpf (ctrace on the registry is another package) and installs the command ctrace', () => {
    expect(pkg.name).toBe('ctrace-ebpf');
    expect(pkg.bin).toEqual({ ctrace: 'bin/ctrace.js' });
    expect(pkg.files).toContain('prebuilds');
  });
  it('no command in the README runs `npx ctrace` (outside a clone it would fetch that other package)', () => {
    const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8');
    const blocks = [...readme.matchAll(/```[a-z]*\n([\s\S]*?)```/g)].map((m) => m[1]).join('\n');
    expect(blocks).not.toMatch(/npx (--yes )?ctrace/);
    expect(blocks).toMatch(/npm install -g \.\/ctrace-ebpf-/);
    // the install section starts with the package, then the clone, then the service and Kubernetes
    const heads = [...readme.matchAll(/^### (.+)$/gm)].map((m) => m[1]);
    expect(heads.slice(0, 4)).toEqual(['The package (no compiler needed)', 'From a clone', 'As a service (systemd)', 'On Kubernetes (DaemonSet, Helm)']);
  });
  it('`npm exec --no -- ctrace` (the README\'s form) runs this checkout and never the registry', () => {
    const here = spawnSync('npm', ['exec', '--no', '--', 'ctrace', '--version'], { cwd: repoRoot, encoding: 'utf8' });
    expect(here.stdout).toBe('0.1.0\n');
    const elsewhere = spawnSync('npm', ['exec', '--no', '--', 'ctrace', '--version'], { cwd: tmpdir(), encoding: 'utf8' });
    expect(elsewhere.status).not.toBe(0);
    expect(elsewhere.stdout).toBe('');
  });
});

describe.runIf(privileged())('npm pack, then a compiler-free global install', () => {
  let dir: string;
  let packed: Packed;
  let prefix: string;
  let shell: string[];
  let ct: CtraceRun | undefined;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'ctrace-pack-'));
    packed = npmPack(join(dir, 'out'));
    prefix = join(dir, 'prefix');
    shell = noCompilerShell(join(dir, 'host'));
  }, 240_000);
  afterAll(async () => {
    await ct?.stop('SIGTERM');
    await cleanupAllContainers();
    rmSync(dir, { recursive: true, force: true });
  });

  it('the tarball carries the prebuilt addon, its libbpf and libelf, the CO-RE BPF object, dist/ and its dependencies', () => {
    for (const f of ['ctrace.node', 'libbpf.so.1', 'libelf.so.1', 'ctrace.bpf.o']) expect(packed.files).toContain(`prebuilds/${platform}/${f}`);
    expect(packed.files).toEqual(expect.arrayContaining(['bin/ctrace.js', 'dist/cli/cli.js', 'dist/commands/doctor.js', 'scripts/install.js']));
    // build/ ships only the generated man page, never the build tree
    expect(packed.files.some((f) => f.startsWith('test/') || (f.startsWith('build/') && !f.startsWith('build/man/')))).toBe(false);
    expect(packed.files).toContain('build/man/ctrace.1');
    // every runtime dependency travels in the tarball (bundleDependencies: true): an offline install
    const deps = Object.keys(JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')).dependencies);
    expect(packed.bundled).toEqual(expect.arrayContaining(deps));

    const obj = execFileSync('tar', ['xzf', packed.tarball, '-O', `package/prebuilds/${platform}/ctrace.bpf.o`]);
    expect(obj.subarray(0, 4).toString('latin1')).toBe('\x7fELF');
    expect(obj.readUInt16LE(18)).toBe(247); // e_machine EM_BPF
    // CO-RE: the relocations against kernel types travel in .BTF.ext and are applied at load
    expect(obj.includes(Buffer.from('.BTF.ext'))).toBe(true);
  });

  it('the shell really has no compiler', () => {
    for (const tool of ['cc', 'clang', 'cmake', 'make']) {
      const r = spawnSync(shell[0], [...shell.slice(1), 'sh', '-c', `command -v ${tool} || /usr/bin/${tool} --version`], { encoding: 'utf8' });
      expect(r.status, `${tool}: ${r.stdout}`).not.toBe(0);
    }
    expect(HIDDEN_TOOLS).toContain('ld');
  });

  it('npm install -g ./<tarball> works offline with no compiler, and the installed ctrace traces a runc container', async () => {
    const install = spawnSync(
      shell[0],
      [...shell.slice(1), 'node', npmCli, 'install', '-g', '--offline', '--no-audit', '--no-fund', '--prefix', prefix, packed.tarball],
      { ...npmOpts, cwd: dir },
    );
    expect(install.status, npmFailure(install)).toBe(0);
    const bin = join(prefix, 'bin', 'ctrace');
    expect(realpathSync(bin)).toBe(join(prefix, 'lib', 'node_modules', 'ctrace-ebpf', 'bin', 'ctrace.js'));

    // the addon it loads is the prebuilt one, with libbpf and libelf from beside it
    const doctor = spawnSync(shell[0], [...shell.slice(1), bin, 'doctor', '-o', 'json'], { encoding: 'utf8' });
    expect(doctor.status, doctor.stdout + doctor.stderr).toBe(0);
    const addon = JSON.parse(doctor.stdout).checks.find((c: { name: string }) => c.name === 'addon');
    expect(addon).toEqual({
      name: 'addon',
      status: 'ok',
      detail: `${join(prefix, 'lib', 'node_modules', 'ctrace-ebpf', 'prebuilds', platform, 'ctrace.node')} loads`,
    });

    ct = await startCtrace([], 30_000, [...shell, bin]);
    const id = dockerId();
    const run = await runContainerToExit({ id, cgroupsPath: `/docker/${id}`, args: ['/bin/sh', '-c', 'exit 5'] });
    expect(run.code).toBe(5);
    await ct.waitFor((ev) => ev.some((e) => e.type === 'exit' && e.pid === run.pid), 15_000, `exit of ${id}`);
    const init = ct.events.find((e) => e.type === 'exec' && e.pid === run.pid);
    expect(init).toMatchObject({ container: { id, runtime: 'docker' }, exec: { filename: '/bin/sh', argv: ['/bin/sh', '-c', 'exit 5'] } });
    expect(ct.events.find((e) => e.type === 'exit' && e.pid === run.pid)).toMatchObject({ container: { id }, exit: { code: 5 } });
    const { code, stderr } = await ct.stop('SIGINT');
    expect(code, stderr).toBe(0);
  }, NPM_TIMEOUT_MS + 60_000);

  it('without prebuilds/ (another platform), the install script builds the addon with the compilers', () => {
    const unpacked = join(dir, 'unpacked');
    execFileSync('mkdir', ['-p', unpacked]);
    execFileSync('tar', ['xzf', packed.tarball, '-C', unpacked]);
    rmSync(join(unpacked, 'package', 'prebuilds'), { recursive: true });
    const bare = join(dir, 'no-prebuilds.tgz');
    execFileSync('tar', ['czf', bare, '-C', unpacked, 'package']);
    const prefix2 = join(dir, 'prefix-built');
    const r = spawnSync('npm', ['install', '-g', '--offline', '--no-audit', '--no-fund', '--allow-scripts=ctrace-ebpf', '--prefix', prefix2, bare], {
      ...npmOpts,
      cwd: dir,
    });
    expect(r.status, npmFailure(r)).toBe(0);
    const root = join(prefix2, 'lib', 'node_modules', 'ctrace-ebpf');
    const doctor = spawnSync(join(prefix2, 'bin', 'ctrace'), ['doctor', '-o', 'json'], { encoding: 'utf8' });
    expect(doctor.status, doctor.stdout).toBe(0);
    expect(JSON.parse(doctor.stdout).checks.find((c: { name: string }) => c.name === 'addon').detail).toBe(
      `${join(root, 'build', 'Release', 'ctrace.node')} loads`,
    );
  }, 300_000);
});
