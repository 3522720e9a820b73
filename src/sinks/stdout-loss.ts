/**
 * What stdout could not take, reported as it happens: stdout has a bounded queue
 * (the addon's for JSON, src/sinks/stdout-writer.ts for the rest) and a slow reader
 * costs stdout lines, never the audit log's or the socket's. Each new drop is one
 * report: a line on stderr and a `lost` record (source stdout) in the log.
 */
import type { LostReport } from '../events/event.js';

export class StdoutLossReporter {
  private seen = 0;

  constructor(
    /** events stdout dropped or left undelivered so far */
    private readonly count: () => number,
    private readonly report: (r: LostReport) => void,
  ) {}

  /** Reports what was dropped since the last check. */
  check(): void {
    const n = this.count();
    if (n <= this.seen) return;
    const r = { lost: n - this.seen, total: n };
    this.seen = n;
    this.report(r);
  }

  get total(): number {
    return this.seen;
  }
}
