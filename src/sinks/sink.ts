/**
 * The one interface every output implements: stdout (table, JSON or OCSF lines; the protobuf
 * stream), the audit log, the Unix socket, NATS and OTLP; `Outputs` (./outputs.ts) fans out to
 * them behind the same interface. Events pass through a sink already built (src/events/build.ts);
 * a sink turns them into its wire form (src/format/) and writes them.
 *
 * Rules every sink keeps:
 *  - write() and noteLost() never block the tracer: a sink queues, bounded, and counts what its
 *    queue could not take (its own loss, reported by the sink: a stop record, a stderr line);
 *  - a sink that keeps records writes a `start` record when it opens and the `stop` record
 *    (with `reason`) in close(); close() ends with everything pending written or counted, and is
 *    safe to call twice.
 */
import type { LostReport, TraceEvent } from '../events/event.js';
import type { LossSource } from '../events/records.js';

export interface Sink {
  write(event: TraceEvent): void;
  /**
   * Events were dropped before this sink saw them: a `lost` record. `source` says whose loss it
   * is: the kernel's (ring buffer full; every output is told) or stdout's (a slow reader; only
   * the audit log, which has those events, is told). Sinks without records ignore it.
   */
  noteLost(report: LostReport, source?: LossSource): void;
  /** The stop record (with `reason`), everything pending, then closed. */
  close(reason?: string): Promise<void>;
}

/** A stdout sink: what it could not write is stdout's loss, reported as it happens (src/sinks/stdout-loss.ts). */
export interface StdoutOutput extends Sink {
  /** Events stdout did not take: dropped (its buffer was full) and undelivered (at close). */
  readonly loss: { dropped: number; undelivered: number };
}
