/**
 * What every exporter to a remote system (NATS, OTLP, ...) reports about itself, for
 * /metrics and the summary at exit. Loss is per exporter: each one's queue is its own.
 */
export interface ExporterStats {
  /** acknowledged by the remote end */
  delivered: number;
  /** records waiting: in memory, in flight, and in an on-disk spool */
  queued: number;
  /** sends tried again after a failure or a timeout */
  retries: number;
  /** records given up on (queue or spool full), never silently */
  lost: number;
  /** connected to the remote end now */
  connected: boolean;
  /** bytes waiting in an on-disk spool (exporters with one) */
  spoolBytes?: number;
  /** records delivered from the on-disk spool */
  replayed?: number;
}

export interface Exporter {
  /** the label value in metrics: `nats`, `otlp` */
  readonly name: string;
  stats(): ExporterStats;
}
