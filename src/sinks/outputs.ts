/**
 * The outputs of `ctrace run` behind one Sink (./sink.ts): stdout (table, JSON or OCSF lines,
 * or the protobuf stream; none with --quiet), the audit log (--log), the Unix socket (--socket),
 * OTLP (--otlp) and NATS (--nats). Each is a Sink with its own bounded queue and its own loss
 * count; this fans every call out to all of them. The log and the socket are opened before the
 * tracer, so an unwritable path fails before BPF is loaded.
 *
 * How `--output` and `--log` combine: `--output` is what stdout gets,
 * `--log-format` (jsonl by default, protobuf or ocsf) what the log gets; they are
 * independent. `--output protobuf --quiet` is not a thing: with --quiet nothing
 * goes to stdout.
 */
import type { LostReport, TraceEvent } from '../events/event.js';
import type { AuditLog } from '../audit/log.js';
import type { NativeLogWriter } from '../addon/native.js';
import type { LogFormat } from '../audit/codecs.js';
import { fsyncPolicy } from '../audit/fsync.js';
import type { StartOptions } from '../events/records.js';
import type { Sink, StdoutOutput } from './sink.js';
import type { SocketSink } from './socket.js';
import type { OtlpSink } from './otlp.js';
import type { Exporter } from './exporter.js';
import type { NatsSink } from './nats.js';
import type { NatsFormat } from './nats-format.js';
import { StdoutSink } from './stdout.js';

export type OutputFormat = 'table' | 'json' | 'protobuf' | 'ocsf';

/** The record-keeping options of `ctrace run`, as parsed from the command line. */
export interface RecordOptions {
  /** nothing on stdout */
  quiet?: boolean;
  log?: string;
  logFormat?: LogFormat;
  /** bytes; 0 = never rotate */
  logMaxSize?: number;
  logKeep?: number;
  /** as given: always | never | 1s | 500ms */
  logFsync?: string;
  /** --log-allow-unsafe: append to a log owned by another user or in a directory others can write */
  logAllowUnsafe?: boolean;
  socket?: string;
  /** OTLP/HTTP logs endpoint (parseOtlpEndpoint's form) */
  otlp?: string;
  /** --nats and its settings */
  nats?: NatsSettings;
}

export interface NatsSettings {
  servers: string[];
  stream?: string;
  format?: NatsFormat;
  spool?: string;
  spoolSize?: number;
  replicas?: number;
}

export const LOG_DEFAULTS = { format: 'jsonl' as LogFormat, maxSize: 100 * 1024 * 1024, keep: 10, fsync: '1s' };

export interface OutputsOptions extends RecordOptions {
  /** stdout format; null: nothing on stdout */
  stdout: OutputFormat | null;
  start: StartOptions;
  /** stdout was closed (ctrace run | head) */
  onStdoutClosed(err: Error): void;
  /** an output failed for good (the log could not be written): stop with exit 1 */
  onFatal(message: string): void;
  /** something to tell the operator on stderr */
  onNote(message: string): void;
}

export class Outputs implements Sink {
  /** every output opened, stdout first */
  private readonly sinks: Sink[];

  private constructor(
    private readonly stdout: StdoutOutput | null,
    readonly log: AuditLog | null,
    readonly socket: SocketSink | null,
    readonly otlp: OtlpSink | null,
    readonly nats: NatsSink | null,
  ) {
    const all: Array<Sink | null> = [stdout, log, socket, otlp, nats];
    this.sinks = all.filter((s): s is Sink => s !== null);
  }

  static async open(o: OutputsOptions): Promise<Outputs> {
    let log: AuditLog | null = null;
    let socket: SocketSink | null = null;
    // the log, socket and protobuf code (and protobufjs) load only when asked for
    if (o.log) {
      const { AuditLog } = await import('../audit/log.js');
      log = await AuditLog.open({
        path: o.log,
        format: o.logFormat ?? LOG_DEFAULTS.format,
        maxSize: o.logMaxSize ?? LOG_DEFAULTS.maxSize,
        keep: o.logKeep ?? LOG_DEFAULTS.keep,
        fsync: fsyncPolicy(o.logFsync ?? LOG_DEFAULTS.fsync),
        start: o.start,
        onError: (err) => o.onFatal(err.message),
        onWarning: (m) => o.onNote(m),
        allowUnsafe: o.logAllowUnsafe,
      });
    }
    if (o.socket) {
      try {
        const { SocketSink } = await import('./socket.js');
        socket = await SocketSink.listen({
          path: o.socket,
          start: o.start,
          onClientDropped: (d) =>
            o.onNote(
              `socket client #${d.id} too slow: dropped with ${d.undelivered} records not delivered (${Math.round(d.backlog / 1024)} KiB queued)`,
            ),
        });
      } catch (err) {
        await log?.close(`error: ${(err as Error).message}`).catch(() => {});
        throw err;
      }
    }
    let nats: NatsSink | null = null;
    if (o.nats) {
      try {
        const { NatsSink } = await import('./nats.js');
        const n = o.nats;
        nats = await NatsSink.open({
          servers: n.servers,
          stream: n.stream,
          format: n.format,
          spoolDir: n.spool,
          spoolSize: n.spoolSize,
          replicas: n.replicas,
          start: o.start,
          onNote: o.onNote,
        });
      } catch (err) {
        await Promise.all([log?.close(`error: ${(err as Error).message}`).catch(() => {}), socket?.close('error')]);
        throw err;
      }
    }
    let stdout: StdoutOutput | null = null;
    if (o.stdout === 'protobuf') {
      const { ProtobufStreamSink } = await import('./stdout-protobuf.js');
      stdout = new ProtobufStreamSink(process.stdout, o.start, o.onStdoutClosed);
    }
    else if (o.stdout) stdout = new StdoutSink(process.stdout, o.stdout, o.onStdoutClosed);
    let otlp: OtlpSink | null = null;
    if (o.otlp) {
      const { OtlpSink } = await import('./otlp.js');
      otlp = new OtlpSink({ endpoint: o.otlp, onNote: o.onNote });
    }
    return new Outputs(stdout, log, socket, otlp, nats);
  }

  /**
   * Every output opened here takes JSON lines (a JSONL log or none, NATS in JSON or none, no
   * socket, nothing on stdout: JSON for stdout is written by the tracer itself): the tracer's
   * lane can feed them.
   */
  get acceptsLines(): boolean {
    return (
      !this.stdout && (!this.log || this.log.format === 'jsonl') && !this.socket && !this.otlp && (!this.nats || this.nats.acceptsLines)
    );
  }

  /** Some output keeps the lane's lines (stdout, written by the tracer, does not need them back). */
  get wantsLines(): boolean {
    return this.acceptsLines && (!!this.log || !!this.nats);
  }

  /**
   * The audit log's writer for the tracer's lane (TracerOptions.jsonLaneLog), when the log is
   * the only output that keeps the lines: the addon then seals and writes what would only reach
   * it. Before the tracer starts.
   */
  laneLog(): NativeLogWriter | null {
    return this.wantsLines && this.log && !this.nats ? this.log.attachLane() : null;
  }

  /** Events as JSON lines from the tracer's lane (only when acceptsLines). */
  writeLines(lines: Buffer): void {
    this.log?.writeLines(lines);
    this.nats?.writeLines(lines);
  }

  write(event: TraceEvent): void {
    for (const s of this.sinks) s.write(event);
  }

  /** The exporters to remote systems, for metrics. */
  exporters(): Exporter[] {
    const list: Exporter[] = [];
    if (this.nats) list.push(this.nats);
    const otlp = this.otlp;
    if (otlp) {
      // the SDK retries inside its exporter and does not count it; a failed export is loss
      list.push({
        name: 'otlp',
        stats: () => {
          const s = otlp.stats();
          return { delivered: s.exported, queued: s.pending, retries: 0, lost: s.failed + s.dropped, connected: s.failed === 0 };
        },
      });
    }
    return list;
  }

  /**
   * The kernel dropped events: every output is told. stdout's own loss (source stdout) goes to
   * the log only (noteStdoutLost): the log has those events, the others never missed them.
   */
  noteLost(report: LostReport): void {
    for (const s of this.sinks) s.noteLost(report, 'kernel');
  }

  /** Events the JavaScript stdout sink did not write (null when stdout is not its: none, or the tracer's own). */
  stdoutLoss(): { dropped: number; undelivered: number } | null {
    return this.stdout ? this.stdout.loss : null;
  }

  /** stdout could not keep up: the log says so (a `lost` record with source stdout: the log has these events). */
  noteStdoutLost(report: LostReport): void {
    this.log?.noteLost(report, 'stdout');
  }

  /** Ends stdout first (bounded: a stuck reader costs a few seconds), so its loss is known before the stop records. */
  async closeStdout(reason = 'closed'): Promise<void> {
    await this.stdout?.close(reason);
  }

  /** SIGHUP: reopen the log if it was moved away. */
  reopen(): void {
    this.log?.reopen();
  }

  /**
   * Stop records with `reason`, everything flushed (the log fsynced). A log
   * that failed was reported through onFatal already; close() does not throw for it.
   */
  async close(reason = 'closed'): Promise<void> {
    await Promise.all(this.sinks.map((s) => (s === this.log ? s.close(reason).catch(() => {}) : s.close(reason))));
  }

  /** Lines for the stderr summary at exit. */
  summary(): string[] {
    const out: string[] = [];
    if (this.log && !this.log.failed) {
      const h = this.log.head();
      const s = this.log.stats();
      out.push(`audit log ${this.log.path}: ${s.records} records written, chain head seq ${h.seq - 1} hash ${h.hash}`);
    }
    if (this.socket) {
      const s = this.socket.stats();
      out.push(
        `socket ${this.socket.path}: ${s.served} clients served, ${s.dropped} dropped for being slow` +
          (s.dropped ? ` (${s.undelivered} records not delivered to them)` : ''),
      );
    }
    if (this.otlp) {
      const s = this.otlp.stats();
      out.push(
        `otlp ${this.otlp.endpoint}: ${s.exported} of ${s.emitted} log records exported, ` +
          `${s.failed + s.dropped} lost (${s.failed} refused or undeliverable, ${s.dropped} dropped from a full queue or unsent at stop)`,
      );
    }
    if (this.nats) out.push(this.nats.summary());
    return out;
  }
}
