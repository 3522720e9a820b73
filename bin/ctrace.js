#!/usr/bin/env -S node --max-semi-space-size=2
// The node flags above are ctrace's as installed (`ctrace`, the systemd unit, the image): a
// small young generation, because ctrace allocates in bursts (a new container's first events)
// and V8's default lets the heap keep tens of MB of garbage after a burst of container churn.
// bench/lib/tracers.js reads them from here, so the bench runs ctrace as users do.
// The CLI entry: the compiled TypeScript lives in dist/ (built by `npm test` / `npm start`).
import { main } from '../dist/cli/cli.js';

main(process.argv).then((code) => {
  process.exitCode = code;
});
