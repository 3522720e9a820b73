/** `--log-fsync`: when the audit log's writes are fsynced. Apart from the log so the CLI parses it without loading the log. */
import { TIMER_MAX_MS } from '../util/clock.js';

/** After every batch, only at a file switch and close, or every intervalMs when something was written. */
export type FsyncPolicy = 'always' | 'never' | { intervalMs: number };

/** always | never | <n>s | <n>ms (a bare number is seconds). Throws a one-line reason. */
export function fsyncPolicy(value: string): FsyncPolicy {
  if (value === 'always' || value === 'never') return value;
  const m = /^(\d+(?:\.\d+)?)(ms|s)?$/.exec(value);
  const ms = m ? Number(m[1]) * (m[2] === 'ms' ? 1 : 1000) : NaN;
  if (!m || !(ms >= 1)) throw new Error(`not an fsync policy: '${value}' (always, never, or an interval: 1s, 200ms)`);
  if (ms > TIMER_MAX_MS) throw new Error(`fsync interval too long: '${value}' (at most ${Math.floor(TIMER_MAX_MS / 1000)}s)`);
  return { intervalMs: ms };
}

