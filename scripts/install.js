#!/usr/bin/env node
// npm's install hook. A packed ctrace carries its addon in prebuilds/<platform>-<arch>/: when
// that loads, there is nothing to do and no compiler is needed. Otherwise (another platform,
// or a tarball packed without it) the addon is built here with cmake-js, which needs clang,
// bpftool, cmake, a C++ compiler and libbpf-dev. In a git clone, scripts/setup.sh builds it.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const platform = `${process.platform}-${process.arch}`;

function loads(path) {
  if (!existsSync(path)) return false;
  try {
    require(path);
    return true;
  } catch (e) {
    process.stderr.write(`ctrace: ${path} does not load here (${e.message.split('\n')[0]}): building from source\n`);
    return false;
  }
}

if (existsSync(join(root, '.git'))) process.exit(0);
if (loads(join(root, 'prebuilds', platform, 'ctrace.node')) || loads(join(root, 'build', 'Release', 'ctrace.node'))) {
  process.exit(0);
}
process.stderr.write(`ctrace: no prebuilt addon for ${platform}: building it (needs clang, bpftool, cmake, g++, make, pkg-config, libbpf-dev, libelf-dev, zlib1g-dev)\n`);
const r = spawnSync('bash', [join(root, 'scripts', 'build-native.sh')], { cwd: root, stdio: 'inherit' });
if (r.status !== 0) {
  process.stderr.write('ctrace: building the addon failed (log above); install the tools named above and reinstall\n');
  process.exit(1);
}
