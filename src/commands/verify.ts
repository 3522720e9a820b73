/**
 * `ctrace verify <log>...`: checks the hash chain of audit logs (JSONL or
 * protobuf) across rotated files, oldest first. A path with rotated files beside
 * it (`<log>.<time>`) stands for the whole set. Exit 0 with a one-line summary on
 * stdout, 1 with the first altered, removed or inserted record (file:line).
 */
import type { Writable } from 'node:stream';
import { describeProblem, expandLogPaths, verifyLogs } from '../audit/verify.js';
import { describeFsError } from '../util/fs-util.js';

export interface VerifyCommandOptions {
  /** accept a last run without a stop record (a log still being written) */
  open?: boolean;
  /** a head hash kept elsewhere; the chain must contain it */
  head?: string;
  /** expand a base path to its rotated files (default true) */
  expand?: boolean;
}

export async function verifyCommand(
  paths: string[],
  opts: VerifyCommandOptions,
  out: Writable,
  err: Writable,
): Promise<number> {
  const files = opts.expand === false ? paths : expandLogPaths(paths);
  let res;
  try {
    res = await verifyLogs(files, { open: opts.open, head: opts.head });
  } catch (e) {
    const path = (e as NodeJS.ErrnoException).path ?? files.join(', ');
    err.write(`ctrace: cannot read ${path}: ${describeFsError(e)}\n`);
    return 1;
  }
  if (!res.ok) {
    err.write(`ctrace: verify failed: ${describeProblem(res.problem!)}\n`);
    return 1;
  }
  for (const note of res.notes) err.write(`ctrace: note: ${note}\n`);
  const plural = (n: number, w: string) => `${n} ${w}${n === 1 ? '' : 's'}`;
  out.write(
    `ok: ${plural(files.length, 'file')}, ${plural(res.records, 'record')} (seq ${res.firstSeq}..${res.lastSeq}), ` +
      `${plural(res.runs, 'run')}, ${plural(res.events, 'event')}, ${res.lost} lost; head ${res.head}\n`,
  );
  return 0;
}
