/**
 * The Prometheus metrics of `ctrace run --metrics`: read from the tracer, the audit log and the
 * exporters when Prometheus scrapes (nothing is counted twice on the event path), except the
 * reader's batch histogram, which is observed as batches are handled. Labels take a few fixed
 * values each (event type, loss stage, cgroup scope, exporter): never a PID or a container id.
 */
import { release } from 'node:os';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { AuditLogStats } from '../audit/log.js';
import type { EventType, TraceStats } from '../events/event.js';
import type { Exporter } from '../sinks/exporter.js';

/** What the metrics read; Tracer and Outputs provide it (src/commands/run.ts wires them). */
export interface MetricSources {
  stats(): TraceStats;
  cgroupScopes(): Record<'container' | 'host' | 'unknown', number>;
  ringFill(): { used: number; size: number } | null;
  readerWakeups(): number;
  readerAsks(): number;
  healthy(): boolean;
  ready(): boolean;
  /** the audit log's counters, when there is a log */
  log(): AuditLogStats | null;
  /** events a stage dropped, by stage name (`stdout`, `socket`); the kernel's and the log's are read from stats() and log() */
  lost(): Record<string, number>;
  exporters(): readonly Exporter[];
}

export const LOSS_STAGES = ['kernel', 'stdout', 'log', 'socket'] as const;
const EVENT_TYPES: EventType[] = ['exec', 'exit', 'mount'];

/**
 * A counter whose value lives elsewhere (a monotonic figure read at scrape time): each scrape
 * adds what it grew by since the previous one.
 */
function mirrorCounter<L extends string>(
  registry: Registry,
  name: string,
  help: string,
  labelNames: readonly L[],
  read: () => Array<[Partial<Record<L, string>>, number]>,
): void {
  const last = new Map<string, number>();
  new Counter({
    name,
    help,
    labelNames,
    registers: [registry],
    collect() {
      for (const [labels, value] of read()) {
        const key = JSON.stringify(labels);
        const prev = last.get(key);
        if (prev === undefined) this.inc(labels, 0);
        if (value > (prev ?? 0)) this.inc(labels, value - (prev ?? 0));
        last.set(key, Math.max(value, prev ?? 0));
      }
    },
  });
}

function gauge<L extends string>(
  registry: Registry,
  name: string,
  help: string,
  labelNames: readonly L[],
  read: () => Array<[Partial<Record<L, string>>, number]>,
): void {
  new Gauge({
    name,
    help,
    labelNames,
    registers: [registry],
    collect() {
      this.reset();
      for (const [labels, value] of read()) this.set(labels, value);
    },
  });
}

export class TracerMetrics {
  readonly registry = new Registry();
  private readonly batchSeconds: Histogram;
  private readonly batchBytes: Counter;
  private src: MetricSources | null = null;

  constructor(version: string) {
    const r = this.registry;
    collectDefaultMetrics({ register: r });
    const src = () => this.src;
    new Gauge({
      name: 'ctrace_build_info',
      help: 'ctrace build: version, Node.js version and kernel release (always 1)',
      labelNames: ['version', 'node', 'kernel'],
      registers: [r],
    }).set({ version, node: process.version, kernel: release() }, 1);
    gauge(r, 'ctrace_up', 'Hooks attached and the ring reader running (as /healthz), 1 or 0', [], () => [[{}, src()?.healthy() ? 1 : 0]]);
    gauge(r, 'ctrace_ready', 'The start-up /proc walk is done (as /readyz), 1 or 0', [], () => [[{}, src()?.ready() ? 1 : 0]]);

    mirrorCounter(r, 'ctrace_events_total', 'Events passed to the outputs, by type', ['type'], () => {
      const s = src()?.stats();
      return EVENT_TYPES.map((t) => [{ type: t }, s?.events[t] ?? 0]);
    });
    mirrorCounter(r, 'ctrace_events_lost_total', 'Events lost, by stage: the kernel ring buffer, an output, or an exporter', ['stage'], () => {
      const s = src();
      if (!s) return LOSS_STAGES.map((stage) => [{ stage }, 0]);
      const other = s.lost();
      const by: Record<string, number> = {
        kernel: s.stats().lost,
        stdout: other['stdout'] ?? 0,
        log: s.log()?.dropped ?? 0,
        socket: other['socket'] ?? 0,
      };
      for (const e of s.exporters()) by[e.name] = e.stats().lost;
      return Object.entries(by).map(([stage, n]) => [{ stage }, n]);
    });
    mirrorCounter(r, 'ctrace_host_tasks_screened_total', 'Events of host tasks dropped in the kernel by their verdict, never reaching the ring buffer', [], () => [
      [{}, src()?.stats().droppedInKernel ?? 0],
    ]);
    mirrorCounter(r, 'ctrace_events_filtered_total', 'Events read but not passed on (host processes without --all, --container/--runtime/--pod filters)', [], () => [
      [{}, src()?.stats().filtered ?? 0],
    ]);
    mirrorCounter(r, 'ctrace_binaries_not_hashed_total', 'Execs whose binary was not hashed because more new binaries came than --hash-budget a second', [], () => [
      [{}, src()?.stats().hashSkipped ?? 0],
    ]);
    mirrorCounter(r, 'ctrace_cgroups_unnamed_total', 'Events whose cgroup was gone before its path was found (the kernel had left its names out): reported unclassified', [], () => [
      [{}, src()?.stats().cgroupsUnnamed ?? 0],
    ]);
    mirrorCounter(r, 'ctrace_kernel_map_errors_total', 'Failed verdict-map operations in the kernel', [], () => [[{}, src()?.stats().mapErrors ?? 0]]);
    gauge(r, 'ctrace_cgroups_known', 'Cgroups classified so far, by scope', ['scope'], () => {
      const n = src()?.cgroupScopes() ?? { container: 0, host: 0, unknown: 0 };
      return Object.entries(n).map(([scope, v]) => [{ scope }, v]);
    });
    gauge(r, 'ctrace_ring_buffer_used_bytes', 'Bytes in the kernel ring buffer not yet read', [], () => [[{}, src()?.ringFill()?.used ?? 0]]);
    gauge(r, 'ctrace_ring_buffer_size_bytes', 'Size of the kernel ring buffer', [], () => [[{}, src()?.ringFill()?.size ?? 0]]);
    gauge(r, 'ctrace_ring_buffer_fill_ratio', 'Fill of the kernel ring buffer, 0 to 1', [], () => {
      const f = src()?.ringFill();
      return [[{}, f && f.size ? f.used / f.size : 0]];
    });
    mirrorCounter(r, 'ctrace_reader_wakeups_total', 'Times the ring reader thread woke up to drain the ring', [], () => [[{}, src()?.readerWakeups() ?? 0]]);
    mirrorCounter(r, 'ctrace_reader_asks_total', 'Times the ring reader waited for userland to classify a record (a new container) before reading on', [], () => [[{}, src()?.readerAsks() ?? 0]]);
    this.batchSeconds = new Histogram({
      name: 'ctrace_reader_batch_seconds',
      help: 'Time JavaScript took to decode, classify and hand out one batch from the reader (the count is the number of batches)',
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25],
      registers: [r],
    });
    this.batchBytes = new Counter({ name: 'ctrace_reader_batch_bytes_total', help: 'Bytes of the batches handed to JavaScript', registers: [r] });

    mirrorCounter(r, 'ctrace_audit_log_bytes_total', 'Bytes written to the audit log', [], () => [[{}, src()?.log()?.bytes ?? 0]]);
    mirrorCounter(r, 'ctrace_audit_log_records_total', 'Records appended to the audit log', [], () => [[{}, src()?.log()?.records ?? 0]]);
    mirrorCounter(r, 'ctrace_audit_log_fsyncs_total', 'fsync calls on the audit log', [], () => [[{}, src()?.log()?.syncs ?? 0]]);
    gauge(r, 'ctrace_audit_log_fsync_lag_seconds', 'Age of the oldest write to the audit log not yet fsynced (0: all synced)', [], () => [
      [{}, (src()?.log()?.fsyncLagMs ?? 0) / 1000],
    ]);

    const exp = (f: (e: Exporter) => number) => () => (src()?.exporters() ?? []).map((e) => [{ exporter: e.name }, f(e)] as [{ exporter: string }, number]);
    gauge(r, 'ctrace_exporter_queue_depth', 'Records an exporter holds: in memory, in flight, and spooled on disk', ['exporter'], exp((e) => e.stats().queued));
    gauge(r, 'ctrace_exporter_connected', 'An exporter is connected to its servers, 1 or 0', ['exporter'], exp((e) => (e.stats().connected ? 1 : 0)));
    mirrorCounter(r, 'ctrace_exporter_retries_total', 'Sends an exporter tried again after a failure or a timeout', ['exporter'], exp((e) => e.stats().retries));
    mirrorCounter(r, 'ctrace_exporter_delivered_total', 'Records an exporter delivered and had acknowledged', ['exporter'], exp((e) => e.stats().delivered));
    gauge(r, 'ctrace_exporter_spool_bytes', 'Bytes an exporter holds in its on-disk spool', ['exporter'], exp((e) => e.stats().spoolBytes ?? 0));
    mirrorCounter(r, 'ctrace_exporter_replayed_total', 'Records an exporter delivered from its on-disk spool', ['exporter'], exp((e) => e.stats().replayed ?? 0));
  }

  /** Where the figures come from, once the tracer runs; until then they read as zero. */
  attach(sources: MetricSources): void {
    this.src = sources;
  }

  observeBatch(bytes: number, seconds: number): void {
    this.batchSeconds.observe(seconds);
    this.batchBytes.inc(bytes);
  }

  metrics(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
