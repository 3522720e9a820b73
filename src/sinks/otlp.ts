/**
 * `--otlp <endpoint>`: every event as an OpenTelemetry log record, sent with the
 * official SDK (sdk-logs' BatchLogRecordProcessor, a bounded queue) and OTLP/HTTP
 * protobuf exporter, to a collector. Attributes follow the OpenTelemetry semantic
 * conventions where one exists (process.*, thread.*, container.*, k8s.*); the rest
 * is under `ctrace.`. Records the queue could not take or the collector refused
 * (after the exporter's own retries) are counted and reported at stop.
 */
import type { AnyValueMap, Logger } from '@opentelemetry/api-logs';
import { SeverityNumber } from '@opentelemetry/api-logs';
import { OTLPLogExporter } from '@opentelemetry/exporter-logs-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchLogRecordProcessor, LoggerProvider, type LogRecordExporter, type ReadableLogRecord } from '@opentelemetry/sdk-logs';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import { arch } from 'node:os';
import type { LostReport, TraceEvent } from '../events/event.js';
import { ctraceVersion, type LossSource } from '../events/records.js';
import { ocsfContext } from '../format/ocsf.js';
import type { Sink } from './sink.js';
import { atMostEvery } from '../util/clock.js';

/** The SDK's batching limits, set on purpose: a full queue drops (and we count) rather than grow. */
export const OTLP_QUEUE = { maxQueueSize: 8192, maxExportBatchSize: 512, scheduledDelayMillis: 500, exportTimeoutMillis: 10_000 };
/**
 * What the records waiting for the collector may hold, about (their strings' bytes): 8192
 * execs with long argv are hundreds of MB of JavaScript strings, which a slow collector and a
 * container exec'ing with long arguments would make ctrace hold. Past it, records are dropped
 * and counted, as past maxQueueSize.
 */
export const OTLP_QUEUE_BYTES = 16 * 1024 * 1024;
/** How often a full queue is said on stderr while it stays full. */
const FULL_NOTE_MS = 10_000;
/** How long close() waits for the last batches before counting them lost. */
const SHUTDOWN_WAIT_MS = 15_000;

export interface OtlpStats {
  /** log records the sink was given (events and loss reports) */
  emitted: number;
  /** accepted by the collector */
  exported: number;
  /** refused by the collector or not delivered after the exporter's retries */
  failed: number;
  /** queued or being sent (0 once closed) */
  pending: number;
  /** records the queue had no room for (records or bytes), and, at close, those still queued when the shutdown wait ended */
  dropped: number;
}

function basename(path: string): string {
  const i = path.lastIndexOf('/');
  return i >= 0 ? path.slice(i + 1) : path;
}

/** [seconds, nanoseconds] from an ISO-8601 UTC time with up to nanoseconds: the SDK keeps HrTime exact. */
export function isoToHrTime(iso: string): [number, number] {
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?Z$/.exec(iso);
  if (!m) {
    const ms = Date.parse(iso);
    return [Math.floor(ms / 1000), (ms % 1000) * 1e6];
  }
  return [Date.parse(m[1] + 'Z') / 1000, Number((m[2] ?? '').padEnd(9, '0').slice(0, 9))];
}

/** The log record's attributes for one event. Exported for tests and other exporters. */
export function otlpAttributes(ev: TraceEvent): AnyValueMap {
  const a: AnyValueMap = {
    'ctrace.event.type': ev.type,
    'process.pid': ev.pid,
    'process.parent_pid': ev.ppid,
    'process.vpid': ev.nspid,
    'process.user.id': ev.uid,
    'process.linux.cgroup': ev.cgroupPath,
    'thread.id': ev.tid,
    'thread.name': ev.comm,
  };
  const c = ev.container;
  if (c) {
    a['container.id'] = c.id;
    a['container.runtime.name'] = c.runtime;
    if (c.name) a['container.name'] = c.name;
    if (c.image) a['container.image.name'] = c.image;
    if (c.podUid) a['k8s.pod.uid'] = c.podUid;
    if (c.podName) a['k8s.pod.name'] = c.podName;
    if (c.podNamespace) a['k8s.namespace.name'] = c.podNamespace;
    if (c.qos) a['ctrace.k8s.qos'] = c.qos;
  }
  switch (ev.type) {
    case 'exec':
      a['process.executable.path'] = ev.exec.filename;
      a['process.executable.name'] = basename(ev.exec.filename);
      if (ev.exec.argv.length) a['process.command'] = ev.exec.argv[0]!;
      a['process.command_args'] = ev.exec.argv;
      a['ctrace.exec.argv_truncated'] = ev.exec.argvTruncated;
      break;
    case 'exit':
      a['process.exit.code'] = ev.exit.code;
      a['ctrace.exit.signal'] = ev.exit.signal;
      a['ctrace.exit.core_dumped'] = ev.exit.coreDumped;
      a['ctrace.exit.duration_ns'] = int64Attr(ev.exit.durationNs);
      break;
    case 'mount':
      a['ctrace.mount.op'] = ev.mount.op;
      if (ev.mount.source !== null) a['ctrace.mount.source'] = ev.mount.source;
      if (ev.mount.target !== null) a['ctrace.mount.target'] = ev.mount.target;
      if (ev.mount.fstype !== null) a['ctrace.mount.fstype'] = ev.mount.fstype;
      a['ctrace.mount.flags'] = int64Attr(ev.mount.flags);
      a['ctrace.mount.ret'] = int64Attr(ev.mount.ret);
      break;
  }
  a['ctrace.process.gid'] = ev.gid;
  a['ctrace.scope'] = ev.scope;
  a['ctrace.cgroup.id'] = int64Attr(ev.cgroupId);
  a['ctrace.cgroup.v1'] = ev.cgroupV1;
  a['ctrace.pid_ns'] = int64Attr(ev.pidNs);
  a['ctrace.mnt_ns'] = int64Attr(ev.mntNs);
  return a;
}

/** A 64-bit value as an attribute: a number while exact, its decimal string beyond (OTLP's int is 64-bit, JS numbers are not). */
function int64Attr(v: number | bigint): number | string {
  return typeof v === 'bigint' ? String(v) : v;
}

/** The log record's body: one readable line. */
export function otlpBody(ev: TraceEvent): string {
  switch (ev.type) {
    case 'exec':
      return `exec ${ev.exec.filename} ${JSON.stringify(ev.exec.argv)}`;
    case 'exit':
      return `exit ${ev.comm} code ${ev.exit.code}${ev.exit.signal ? ` signal ${ev.exit.signal}` : ''}`;
    case 'mount':
      return `mount ${ev.mount.source ?? '?'} on ${ev.mount.target ?? '?'} type ${ev.mount.fstype ?? '?'}${ev.mount.ret ? ` failed ${ev.mount.ret}` : ''}`;
  }
}

/** About the bytes a record holds: its strings (attribute values, the body) and a little per value. */
export function recordBytes(body: string, attributes: AnyValueMap): number {
  let n = 64 + body.length;
  for (const v of Object.values(attributes)) {
    if (typeof v === 'string') n += 16 + v.length;
    else if (Array.isArray(v)) for (const x of v) n += 16 + (typeof x === 'string' ? x.length : 8);
    else n += 16;
  }
  return n;
}

/** Counts what the collector accepted and refused, and says so once per run of failures. */
class CountingExporter implements LogRecordExporter {
  exported = 0;
  failed = 0;
  private failing = false;

  constructor(
    private readonly inner: LogRecordExporter,
    private readonly onFailure: (message: string) => void,
    /** an export is over: its records left the queue */
    private readonly onSettled: (records: number) => void,
  ) {}

  export(records: ReadableLogRecord[], done: (result: ExportResult) => void): void {
    this.inner.export(records, (result) => {
      this.onSettled(records.length);
      if (result.code === ExportResultCode.SUCCESS) {
        this.exported += records.length;
        this.failing = false;
      } else {
        this.failed += records.length;
        if (!this.failing) this.onFailure(result.error?.message ?? 'export failed');
        this.failing = true;
      }
      done(result);
    });
  }

  shutdown(): Promise<void> {
    return this.inner.shutdown();
  }

  forceFlush(): Promise<void> {
    return this.inner.forceFlush?.() ?? Promise.resolve();
  }
}

export interface OtlpSinkOptions {
  /** as given to --otlp (parseOtlpEndpoint's form) */
  endpoint: string;
  /** an export failed (once per run of failures), or the queue is full: records are being lost */
  onNote(message: string): void;
  /** bytes the queue may hold (default OTLP_QUEUE_BYTES) */
  maxQueueBytes?: number;
}

export class OtlpSink implements Sink {
  readonly endpoint: string;
  private readonly provider: LoggerProvider;
  private readonly logger: Logger;
  private readonly exporter: CountingExporter;
  /** records handed to the SDK */
  private emitted = 0;
  /** records still queued when the shutdown wait ended */
  private unsent = 0;
  /** records not queued: the queue was full (records or bytes) */
  private refused = 0;
  private readonly fullNoteDue = atMostEvery(FULL_NOTE_MS);
  /** recordBytes of each record queued or in flight, oldest first (sizes[sizesHead] is the oldest) */
  private sizes: number[] = [];
  private sizesHead = 0;
  private queuedBytes = 0;
  private readonly maxQueueBytes: number;
  private readonly onNote: (message: string) => void;
  private closing: Promise<void> | null = null;
  private stopped = false;

  constructor(o: OtlpSinkOptions) {
    this.endpoint = o.endpoint;
    this.onNote = o.onNote;
    this.maxQueueBytes = o.maxQueueBytes ?? OTLP_QUEUE_BYTES;
    const ctx = ocsfContext(ctraceVersion());
    this.exporter = new CountingExporter(
      new OTLPLogExporter({ url: o.endpoint, timeoutMillis: OTLP_QUEUE.exportTimeoutMillis }),
      (m) => o.onNote(`otlp export to ${o.endpoint} failed: ${m}; records are being lost`),
      (n) => this.settled(n),
    );
    const resource = resourceFromAttributes({
      'service.name': 'ctrace',
      'service.version': ctx.version,
      'service.instance.id': `${ctx.bootId ?? ctx.host}/${process.pid}`,
      'host.name': ctx.host,
      ...(ctx.machineId ? { 'host.id': ctx.machineId } : {}),
      'host.arch': arch() === 'x64' ? 'amd64' : arch(),
      'os.type': 'linux',
      'os.version': ctx.kernel,
    });
    this.provider = new LoggerProvider({
      resource,
      processors: [new BatchLogRecordProcessor({ exporter: this.exporter, ...OTLP_QUEUE })],
    });
    this.logger = this.provider.getLogger('ctrace', ctx.version);
  }

  write(ev: TraceEvent): void {
    if (this.stopped) return;
    const body = otlpBody(ev);
    const attributes = otlpAttributes(ev);
    if (!this.admit(recordBytes(body, attributes))) return;
    this.logger.emit({
      eventName: `ctrace.${ev.type}`,
      timestamp: isoToHrTime(ev.time),
      severityNumber: SeverityNumber.INFO,
      severityText: 'INFO',
      body,
      attributes,
    });
  }

  /** Events were dropped: a WARN record says how many, so the collector's side knows too. */
  noteLost(report: LostReport, source: LossSource = 'kernel'): void {
    if (this.stopped) return;
    const body = `${report.lost} events lost: ${source === 'kernel' ? 'ring buffer full' : `${source} too slow`} (${report.total} since start)`;
    const attributes = { 'ctrace.event.type': 'lost', 'ctrace.lost.count': report.lost, 'ctrace.lost.total': report.total };
    if (!this.admit(recordBytes(body, attributes))) return;
    this.logger.emit({ eventName: 'ctrace.lost', severityNumber: SeverityNumber.WARN, severityText: 'WARN', body, attributes });
  }

  /**
   * Whether a record of `bytes` may go to the SDK's queue. Refused past OTLP_QUEUE_BYTES, or
   * once as many records wait as the SDK's queue takes: the SDK would drop it without a word
   * (the records in flight count here too, so ours is the bound that is met first).
   */
  private admit(bytes: number): boolean {
    const waiting = this.waiting();
    if (waiting >= OTLP_QUEUE.maxQueueSize || this.queuedBytes + bytes > this.maxQueueBytes) {
      this.refused++;
      if (this.fullNoteDue()) {
        this.onNote(
          `otlp: queue full (${waiting} records, ${Math.round(this.queuedBytes / 1024)} KiB waiting for ${this.endpoint}): ${this.refused} records lost so far`,
        );
      }
      return false;
    }
    this.emitted++;
    this.sizes.push(bytes);
    this.queuedBytes += bytes;
    return true;
  }

  /** Records handed to the SDK and not yet exported or failed: queued or in flight. */
  private waiting(): number {
    return this.emitted - this.exporter.exported - this.exporter.failed;
  }

  /**
   * n records left the queue (exported or failed). Exports end in the order they were made
   * but for a flush's: the oldest sizes go, which is exact over time.
   */
  private settled(n: number): void {
    for (let i = 0; i < n && this.sizesHead < this.sizes.length; i++) this.queuedBytes -= this.sizes[this.sizesHead++]!;
    if (this.sizesHead > 4096 && this.sizesHead * 2 > this.sizes.length) {
      this.sizes = this.sizes.slice(this.sizesHead);
      this.sizesHead = 0;
    }
  }

  /** Resolves once what is queued now has been exported (or has failed). */
  flush(): Promise<void> {
    return this.provider.forceFlush();
  }

  /** Flushes what is queued (waiting at most SHUTDOWN_WAIT_MS), then stops (log records have no stop record: no reason). */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.stopped = true;
      let timer: NodeJS.Timeout | undefined;
      const gaveUp = new Promise<void>((r) => (timer = setTimeout(r, SHUTDOWN_WAIT_MS)));
      await Promise.race([this.provider.shutdown().catch(() => {}), gaveUp]);
      clearTimeout(timer);
      this.unsent = this.waiting();
    })();
    return this.closing;
  }

  stats(): OtlpStats {
    const { exported, failed } = this.exporter;
    return {
      emitted: this.emitted + this.refused,
      exported,
      failed,
      pending: this.closing ? 0 : this.waiting(),
      dropped: this.refused + this.unsent,
    };
  }
}
