/**
 * A copy of the built CLI that any user can read, for tests that run it as another user: the
 * clone may sit under a 0700 directory (/root/ctrace), where that user cannot reach bin/ or
 * dist/. Copies bin/, dist/, build/Release, package.json and the production dependencies
 * (`npm ls --omit=dev`) into a fresh 0755 directory under the system's temp dir.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { repoRoot } from './ctrace-cli.js';

export interface CliCopy {
  /** bin/ctrace.js of the copy */
  bin: string;
  dir: string;
  remove(): void;
}

export function readableCliCopy(): CliCopy {
  const dir = mkdtempSync(join(tmpdir(), 'ctrace-cli-'));
  for (const p of ['bin', 'dist', 'package.json', join('build', 'Release')]) {
    if (existsSync(join(repoRoot, p))) cpSync(join(repoRoot, p), join(dir, p), { recursive: true });
  }
  const deps = execFileSync('npm', ['ls', '--omit=dev', '--parseable', '--all'], { cwd: repoRoot, encoding: 'utf8' })
    .split('\n')
    .filter((p) => p.startsWith(join(repoRoot, 'node_modules')));
  for (const d of deps) cpSync(d, join(dir, relative(repoRoot, d)), { recursive: true });
  // world-readable whatever the umask: directories 0755, files 0644 (u+rwX, go+rX)
  execFileSync('chmod', ['-R', 'u+rwX,go+rX', dir]);
  chmodSync(dir, 0o755);
  return { bin: join(dir, 'bin', 'ctrace.js'), dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
