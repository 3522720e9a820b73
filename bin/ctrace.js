#!/usr/bin/env node
// The CLI entry: the compiled TypeScript lives in dist/ (built by `npm test` / `npm start`).
import { main } from '../dist/cli/cli.js';

main(process.argv).then((code) => {
  process.exitCode = code;
});
