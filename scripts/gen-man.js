// Writes build/man/ctrace.1 from the commander definitions in dist/ (run by scripts/build.sh after tsc).
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildProgram } from '../dist/cli/cli.js';
import { manPage } from '../dist/cli/manpage.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const pkg = JSON.parse(readFileSync(resolve(root, 'package.json'), 'utf8'));
const out = resolve(root, 'build/man/ctrace.1');
mkdirSync(dirname(out), { recursive: true });
writeFileSync(
  out,
  manPage(buildProgram(), {
    version: pkg.version,
    sections: [
      ['Exit status', [
        '0: success; ctrace run stopped by SIGINT or SIGTERM (every event received was written).',
        '1: a failure: no root, no BTF, an unwritable or full log, a verification that failed, a file that is not a ctrace log.',
        '2: bad usage: an unknown option or command, a bad option value, a bad --config file.',
      ]],
      ['Environment', ['NO_COLOR: no colours in the table (--color always overrides). COLUMNS: the table width when stdout is not a terminal.']],
      ['Files', ['A --config file: YAML or JSON, keys are the long option names (kebab-case or camelCase); flags on the command line win.']],
      ['See also', ['README.md of ctrace; execsnoop(8), mountsnoop(8), runc(8).']],
    ],
  }),
);
