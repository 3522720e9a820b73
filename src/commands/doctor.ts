/**
 * `ctrace doctor`: whether this host can run ctrace, and why not. One screen of checks (or one
 * JSON object with -o json); exit 0 when tracing would start, 1 when a check fails.
 */
import type { Writable } from 'node:stream';
import { cgroupMode, runChecks, type Check } from '../doctor/checks.js';
import { gatherFacts } from '../doctor/facts.js';

export interface DoctorOptions {
  output: 'table' | 'json';
}

export function formatDoctor(checks: readonly Check[], ok: boolean): string {
  const width = Math.max(...checks.map((c) => c.name.length));
  const lines = checks.map((c) => `${c.status.padEnd(4)}  ${c.name.padEnd(width)}  ${c.detail}`);
  const failed = checks.filter((c) => c.status === 'fail').map((c) => c.name);
  lines.push('', ok ? 'ctrace can trace on this host' : `ctrace cannot trace on this host: ${failed.join(', ')} (above)`);
  return lines.join('\n') + '\n';
}

export function doctorCommand(opts: DoctorOptions, out: Writable): number {
  const facts = gatherFacts();
  const checks = runChecks(facts);
  const ok = !checks.some((c) => c.status === 'fail');
  if (opts.output === 'json') {
    out.write(
      JSON.stringify({
        ok,
        kernel: facts.kernel,
        uid: facts.uid,
        cgroupMode: cgroupMode(facts),
        tracefs: facts.tracefs,
        hooks: facts.hooks,
        memlock: facts.memlock,
        runtimes: facts.runtimes,
        containers: facts.containers,
        checks,
      }) + '\n',
    );
  } else {
    out.write(formatDoctor(checks, ok));
  }
  return ok ? 0 : 1;
}
