/**
 * The package as users get it: `npm pack` of this repository, and a shell that hides every
 * compiler (and the host's libbpf and libelf) to install and run it in, as on a host with Node only.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from './ctrace-cli.js';

export interface Packed {
  /** absolute path of the .tgz */
  tarball: string;
  /** paths inside the package, e.g. `prebuilds/linux-x64/ctrace.node` */
  files: string[];
  bundled: string[];
}

/** `npm pack` (its prepack builds everything and fills prebuilds/) into `dir`. */
export function npmPack(dir: string): Packed {
  mkdirSync(dir, { recursive: true });
  const out = execFileSync('npm', ['pack', '--json', '--pack-destination', dir], {
    cwd: repoRoot,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    maxBuffer: 64 << 20,
  });
  // prepack's own output goes to stderr; stdout is the JSON report
  const [report] = JSON.parse(out.slice(out.indexOf('['))) as { filename: string; files: { path: string }[]; bundled: string[] }[];
  return { tarball: join(dir, report.filename), files: report.files.map((f) => f.path), bundled: report.bundled };
}

/** What the no-compiler shell hides: compilers and build tools, resolved through their symlinks. */
export const HIDDEN_TOOLS = ['cc', 'gcc', 'g++', 'c++', 'clang', 'cmake', 'make', 'ld', 'bpftool'];

/**
 * Writes a script that, run by `unshare --mount`, bind-mounts /dev/null over every tool in
 * HIDDEN_TOOLS and over the host's libbpf.so.1 and libelf.so.1, sets PATH to a directory holding only node and
 * sh, and execs its arguments. Returns the command prefix to run something in that shell.
 */
export function noCompilerShell(dir: string): string[] {
  const bin = join(dir, 'bin');
  mkdirSync(bin, { recursive: true });
  execFileSync('ln', ['-sf', process.execPath, join(bin, 'node')]);
  execFileSync('ln', ['-sf', '/bin/sh', join(bin, 'sh')]);
  const script = join(dir, 'no-compiler.sh');
  writeFileSync(
    script,
    [
      'set -e',
      `for f in ${HIDDEN_TOOLS.join(' ')}; do`,
      '  p=$(PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin command -v "$f" || true)',
      '  if [ -n "$p" ]; then mount --bind /dev/null "$(readlink -f "$p")"; fi',
      'done',
      'for l in /lib/x86_64-linux-gnu/libbpf.so.1 /lib/x86_64-linux-gnu/libelf.so.1; do',
      '  if [ -e "$l" ]; then mount --bind /dev/null "$(readlink -f "$l")"; fi',
      'done',
      `export PATH=${bin} HOME=${join(dir, 'home')} npm_config_cache=${join(dir, 'npm-cache')} npm_config_update_notifier=false`,
      'exec "$@"',
      '',
    ].join('\n'),
  );
  return ['unshare', '--mount', '--propagation', 'private', 'bash', script];
}
