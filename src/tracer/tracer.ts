/**
 * The library API: `new Tracer(options)` loads the BPF program, classifies what
 * it reports, writes verdicts back into the kernel maps and hands out typed
 * events, by callback (`onEvent`) or as an async iterable.
 *
 * Tracer only wires the parts: the loaded program (native/program.h), the start-up walk over
 * /proc (startup.ts), the record pipeline (pipeline.ts: decoded record → TraceEvent), the JSON
 * lane (lane.ts, lane-output.ts) and the fan-out to listeners and iterators (fanout.ts).
 */
import { CgroupPathCache, EV_EXEC, EV_EXIT, EV_MOUNT } from '../decode/abi.js';
import { findCgroupPath, readCgroupMounts } from '../decode/cgroupfs.js';
import type { Classification } from '../classify/classify.js';
import { Verdicts } from '../classify/verdicts.js';
import { WallClock } from '../util/clock.js';
import type { EventType, TraceEvent, TraceStats } from '../events/event.js';
import { ContainerCatalog } from '../enrich/containers.js';
import { compileFilter, type EventFilter } from '../classify/filter.js';
import { hostPidnsIno, preflight, v1SubsysId } from '../util/host.js';
import { toJsonLine } from '../format/json.js';
import { forEachChunk, JsonLane } from './lane.js';
import { LaneOutput } from './lane-output.js';
import { loadNative, type NativeLogWriter, type NativeOutputStats, type NativeProgram } from '../addon/native.js';
import { ProcessTable, type ProcEntry } from '../classify/proctable.js';
import { bootId, CAP_NAMES } from '../events/identity.js';
import { Fanout, type BatchListener, type ErrorListener, type EventListener, type LinesListener, type LostListener } from './fanout.js';
import { RecordPipeline } from './pipeline.js';
import { preloadRunning, type StartupReport } from './startup.js';

/**
 * The kernel ring's default size: ~1,300 exec records. Each record is written where the ring's
 * last lap left off, so a larger ring is colder memory to the hooks, and their time per event
 * rises with it (bench/README.md, finding 17: 1 MiB was cheaper still, but lost mount records
 * in a 1,500-mount burst that 2 MiB carries). The kernel maps the ring twice into the process.
 */
export const DEFAULT_RING_BYTES = 2 * 1024 * 1024;

/** What to pass on (src/classify/filter.ts): container id prefix or name, pod, namespace, runtime, comm, binary, uid. */
export type TracerFilter = EventFilter;

export interface TracerOptions {
  /** event types to trace (default: all) */
  events?: EventType[];
  /** also report host processes */
  all?: boolean;
  /** strict PID-namespace screen: tasks in the host PID namespace are never reported */
  pidnsOnly?: boolean;
  filter?: TracerFilter;
  /** ring buffer bytes (power of two) */
  ringBytes?: number;
  /** bytes queued before the kernel wakes the reader (default half the ring); 0 wakes per event */
  wakeupBytes?: number;
  /** the reader drains the ring at least this often (ms; default 10: native/program.h) */
  pollMs?: number;
  /** how often kernel counters are read for loss reports, and lane container names refreshed (ms) */
  statsIntervalMs?: number;
  /** walk /proc at start: pre-load verdicts, remember container processes (default true) */
  preload?: boolean;
  /** container names from runtime state: looked up on first sight ('sync', default), in the background ('async'), or not */
  enrich?: 'sync' | 'async' | false;
  /**
   * The JSON lane: events of cgroups already classified reach `onLines` listeners as JSON
   * lines written by the addon (what toJsonLine() writes for them), not as objects; the first
   * events of a cgroup, events of `unknown` scope, and execs whose ancestors' binaries or own
   * binary's hash userland has not resolved before (it tells the addon what it found) still
   * reach onEvent and iterators. For consumers that only write JSON lines (`ctrace run --output
   * json`, the JSONL log): it spares JavaScript the per-event work. The process table learns the
   * lane's execs and exits when JavaScript is woken anyway (or asked: process(), processes()).
   * Default false.
   */
  jsonLane?: boolean;
  /**
   * Implies jsonLane: every event passed on is also written as a JSON line to this fd (ctrace
   * run's stdout, 1), in ring order, through a bounded queue and a writer thread of its own: a
   * slow reader of the fd never holds up the ring or the other consumers; lines that do not fit
   * are dropped and counted (outputStats(), closeOutput()). A write failure (EPIPE: the reader
   * went away) reaches onError once, as a NativeError with step 'stdout'; writing stops there.
   */
  jsonLaneFd?: number;
  /**
   * With jsonLane and no jsonLaneFd: lines may wait up to 250 ms (or 1 MiB) to reach onLines, in
   * fewer, larger batches, still in ring order with the events around them. For a consumer that
   * writes them to a file (ctrace run -q --log), not a live view. While events trickle in, the
   * reader then drains the ring every 50 ms (or pollMs if longer) instead of every pollMs: its
   * wakeups were most of its cost. A heavy stream (64 KiB a drain) keeps pollMs. Default false.
   */
  jsonLaneHold?: boolean;
  /**
   * With jsonLane: an audit log's writer (AuditLog.attachLane()). Batches of lines only, which
   * onLines listeners would only seal and write to that log, are sealed and written by the
   * addon instead and do not reach onLines; the others still do, in ring order.
   */
  jsonLaneLog?: NativeLogWriter;
  /** @deprecated the old name of `jsonLane`, still accepted */
  jsonLines?: boolean;
  /** @deprecated the old name of `jsonLaneFd`, still accepted (`jsonLaneFd` wins when both are given) */
  jsonOut?: number;
  /** argv bytes an exec records, the cut flagged (default 4096, at most 32768) */
  argvMax?: number;
  /** ancestors an exec records (default 8, at most 16) */
  ancestors?: number;
  /** hash exec'd binaries (SHA-256, cached per inode); false: binary.sha256 is null (default true) */
  hashBinaries?: boolean;
  /** binaries larger than this are not hashed (default 64 MiB) */
  hashMaxBytes?: number;
  /** bytes of binaries hashed per second at most; 0: no limit (default 64 MiB) */
  hashBudget?: number;
  /**
   * Keep process() and processes() complete while the lane writes execs (default true): each
   * exec and exit the addon writes is also kept for JavaScript, which takes it into the process
   * table when it runs anyway. false (ctrace run, which never asks): no copy per exec, and the
   * table holds only what reached JavaScript as objects.
   */
  processTable?: boolean;
}

export type { StartupReport } from './startup.js';
export type { LostReport } from '../events/event.js';

const EVENT_BIT: Record<EventType, number> = { exec: 1 << EV_EXEC, exit: 1 << EV_EXIT, mount: 1 << EV_MOUNT };

export class Tracer implements AsyncIterable<TraceEvent> {
  private readonly native: NativeProgram;
  private readonly clock: WallClock;
  private readonly verdicts: Verdicts;
  private readonly fanout = new Fanout();
  private readonly pipeline: RecordPipeline;
  /** why the poll thread stopped delivering records, while the tracer is open; null while it runs */
  private readerDown: string | null = null;
  private readonly counts: Record<EventType, number> = { exec: 0, exit: 0, mount: 0 };
  private lostSeen = 0;
  private statsTimer: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly hookList: string[];
  private readonly table = new ProcessTable();
  private readonly catalog: ContainerCatalog | null;
  private readonly lane: JsonLane | null = null;
  /** the lane's fd output (jsonLaneFd, or its old name jsonOut); null without one */
  private readonly output: LaneOutput | null = null;
  readonly options: Readonly<TracerOptions>;
  /** null when preload is off */
  readonly startup: StartupReport | null = null;

  constructor(options: TracerOptions = {}) {
    this.options = { ...options };
    const filter = compileFilter(options.filter);
    const laneFd = options.jsonLaneFd ?? options.jsonOut;
    const events = options.events ?? ['exec', 'exit', 'mount'];
    preflight();
    const native = loadNative();
    // the controller is chosen from /proc/cgroups; its enum value comes from the kernel's BTF
    const v1 = v1SubsysId();
    const v1Id = v1.name ? native.Program.cgroupSubsysId(v1.name) : -1;
    const ringBytes = options.ringBytes ?? DEFAULT_RING_BYTES;
    this.native = new native.Program({
      hostPidnsIno: hostPidnsIno(),
      pidnsOnly: options.pidnsOnly ?? false,
      emitHost: options.all ?? false,
      eventMask: events.reduce((m, e) => m | EVENT_BIT[e], 0),
      // While records flow the reader's timer drains the ring every pollMs, and a wakeup from the
      // kernel is only the insurance against a burst filling it: each costs the traced task an
      // irq_work and a cross-CPU wakeup (bench/README.md). An idle reader sleeps until the kernel
      // wakes it (native/ring_reader.cc).
      wakeupBytes: options.wakeupBytes ?? ringBytes / 2,
      v1SubsysId: v1Id,
      ...(options.argvMax !== undefined ? { argvMax: options.argvMax } : {}),
      ...(options.ancestors !== undefined ? { ancestors: options.ancestors } : {}),
      ringBytes,
      ...(options.pollMs !== undefined ? { pollMs: options.pollMs } : {}),
    });
    // the lane's cgroups are forgotten with the verdicts' (it is created below, before any batch)
    this.verdicts = new Verdicts(this.native, () => this.lane?.clear());
    const v1Name = v1Id >= 0 ? v1.name : null;
    const mounts = readCgroupMounts();
    const paths = new CgroupPathCache((key) => findCgroupPath(mounts, v1Name, key));
    try {
      this.clock = new WallClock(this.native.clockOffsetNs());
      this.hookList = this.native.attach();
      this.catalog = options.enrich === false ? null : new ContainerCatalog({ lookup: options.enrich ?? 'sync' }).start();
      // the pre-load keys processes by the same hierarchy as the kernel: none when BTF has no id for it
      if (options.preload ?? true) {
        this.startup = preloadRunning(this.native, this.verdicts, paths, this.table, this.catalog, v1Name);
      }
      if (options.jsonLane || options.jsonLines || laneFd !== undefined) {
        const catalog = this.catalog;
        const lane = new native.JsonLane(this.native.clockOffsetNs(), bootId(), CAP_NAMES);
        if (options.processTable === false) lane.setNoting(false);
        if (options.jsonLaneHold && laneFd === undefined) lane.setHoldLines(true);
        if (options.jsonLaneLog) lane.setLog(options.jsonLaneLog);
        this.lane = new JsonLane(lane, catalog ? (c) => catalog.enrich(c) : undefined);
        if (laneFd !== undefined) this.output = new LaneOutput(lane, laneFd, (err) => this.fanout.error(err));
      }
      this.pipeline = new RecordPipeline({
        clock: this.clock,
        paths,
        verdicts: this.verdicts,
        table: this.table,
        catalog: this.catalog,
        lane: this.lane,
        filter,
        all: options.all ?? false,
        hashBinaries: options.hashBinaries ?? true,
        hashMaxBytes: options.hashMaxBytes,
        hashBudget: options.hashBudget,
        closed: () => this.closed,
        onError: (err) => this.fanout.error(err),
        lost: () => this.native.stats().lost,
      });
      this.native.start((err, batch, written) => this.onBatch(err, batch, written === true), this.lane?.native);
    } catch (err) {
      this.native.close();
      throw err;
    }
    this.statsTimer = setInterval(() => this.tick(), options.statsIntervalMs ?? 1000);
    this.statsTimer.unref();
  }

  /** A container process ctrace knows of (found at start or seen exec), by host PID. */
  process(pid: number): ProcEntry | undefined {
    this.pipeline.takeNoted();
    return this.table.get(pid);
  }

  /** The container processes ctrace knows of, all or one container's. */
  processes(containerId?: string): ProcEntry[] {
    this.pipeline.takeNoted();
    return this.table.list(containerId);
  }

  /** Names of the BPF programs that attached. */
  hooks(): string[] {
    return [...this.hookList];
  }

  onEvent(fn: EventListener): this {
    this.fanout.events.push(fn);
    return this;
  }
  /**
   * Lane batches of JSON lines, each line ended by a newline (with `jsonLane: true`). The
   * Buffer is valid during the call only (the addon reuses its memory): copy what you keep.
   */
  onLines(fn: LinesListener): this {
    this.fanout.lines.push(fn);
    this.lane?.native.setDeliverWritten(true);
    return this;
  }
  onLost(fn: LostListener): this {
    this.fanout.lost.push(fn);
    return this;
  }
  onError(fn: ErrorListener): this {
    this.fanout.errors.push(fn);
    return this;
  }

  onBatchDone(fn: BatchListener): this {
    this.fanout.batches.push(fn);
    return this;
  }

  /**
   * Healthy while every required hook is attached and the poll thread still reads; otherwise
   * the reason (for /healthz).
   */
  health(): { ok: true } | { ok: false; reason: string } {
    if (this.closed) return { ok: false, reason: 'tracer closed' };
    if (this.readerDown) return { ok: false, reason: this.readerDown };
    const detached = this.native.hooks().filter((h) => h.required && !h.attached);
    if (detached.length) return { ok: false, reason: `hooks not attached: ${detached.map((h) => h.name).join(', ')}` };
    return { ok: true };
  }

  /** Cgroups classified so far (pre-loaded and seen), by scope. */
  cgroupScopes(): Record<Classification['scope'], number> {
    return this.verdicts.scopes();
  }

  /** Times the poll thread woke up to drain the ring. */
  readerWakeups(): number {
    return this.native.stats().readerWakeups;
  }

  /** Times the poll thread waited for this side to answer for a record (a new container's first) before reading on. */
  readerAsks(): number {
    return this.native.stats().readerAsks;
  }

  /** Bytes in the ring buffer not yet read, and its size; null once closed. */
  ringFill(): { used: number; size: number } | null {
    return this.closed ? null : this.native.ringFill();
  }

  stats(): TraceStats {
    const k = this.native.stats(); // after close(): the counters read at close
    const events = { ...this.counts };
    let filtered = this.pipeline.filtered;
    if (this.lane) {
      const l = this.lane.native.counts();
      events.exec += l.exec;
      events.exit += l.exit;
      events.mount += l.mount;
      filtered += l.filtered;
    }
    return {
      events,
      emitted: k.emitted,
      lost: k.lost,
      mapErrors: k.mapErrors,
      droppedInKernel: k.droppedHost,
      filtered,
      hashSkipped: this.pipeline.hashSkipped,
      cgroupsUnnamed: this.pipeline.cgroupsUnnamed,
    };
  }
  /** The jsonLaneFd queue's counters (lines dropped because stdout was too slow); null without jsonLaneFd. */
  outputStats(): NativeOutputStats | null {
    return this.output ? this.output.stats() : null;
  }

  /**
   * After close(): gives the jsonLaneFd queue up to timeoutMs to drain, then stops its writer. A
   * stuck reader of stdout costs at most that; what it did not take is `undeliveredLines`.
   */
  async closeOutput(timeoutMs: number): Promise<NativeOutputStats | null> {
    return this.output ? this.output.close(timeoutMs) : null;
  }

  /**
   * Detaches, delivers every record already read (the poll thread's end marker
   * comes after its last batch), reports a final loss count, and ends every
   * iterator. Idempotent.
   */
  async close(): Promise<void> {
    if (this.closed) return this.closing;
    this.closed = true;
    clearInterval(this.statsTimer);
    this.catalog?.stop();
    this.native.close();
    this.closing = (async () => {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([this.drained, new Promise((r) => (timer = setTimeout(r, 5000)))]);
      clearTimeout(timer);
      this.reportLost(this.native.stats().lost);
      this.fanout.end();
    })();
    return this.closing;
  }
  private closing: Promise<void> = Promise.resolve();
  private markDrained!: () => void;
  private readonly drained = new Promise<void>((r) => (this.markDrained = r));

  [Symbol.asyncIterator](): AsyncIterator<TraceEvent> {
    return this.fanout.iterator(this.closed);
  }

  /** Every statsIntervalMs: kernel losses, and container names that became known (or were forgotten) for the lane. */
  private tick(): void {
    if (this.closed) return;
    this.reportLost(this.native.stats().lost);
    this.pipeline.takeNoted();
    this.lane?.refresh();
  }

  private reportLost(lost: number): void {
    if (lost > this.lostSeen) {
      const report = { lost: lost - this.lostSeen, total: lost };
      this.lostSeen = lost;
      this.fanout.lostReport(report);
    }
  }

  private onBatch(err: Error | null, batch: Buffer | null, written = false): void {
    if (!this.fanout.batches.length || !batch) return this.handleBatch(err, batch, written);
    const t0 = performance.now();
    this.handleBatch(err, batch, written);
    this.fanout.batchDone(batch.length, (performance.now() - t0) / 1000);
  }

  /** A poll-thread batch: raw records to the pipeline, lane lines to the output and onLines. */
  private handleBatch(err: Error | null, batch: Buffer | null, written: boolean): void {
    if (err) {
      if ((err as { step?: string }).step === 'stdout') this.output?.fail(err);
      else {
        this.readerDown ??= `reader failed: ${err.message}`;
        this.fanout.error(err);
      }
      return;
    }
    if (!batch) {
      if (!this.closed) this.readerDown ??= 'reader thread ended';
      this.markDrained(); // the poll thread's end marker
      return;
    }
    if (!this.lane) {
      this.onRecords(batch);
      return;
    }
    try {
      forEachChunk(
        batch,
        (lines) => {
          if (!written) this.output?.write(lines);
          this.fanout.linesOf(lines);
        },
        (raw) => this.onRecords(raw),
      );
    } catch (e) {
      this.fanout.error(e as Error);
    }
  }

  private onRecords(batch: Buffer): void {
    // the chunk's lines for the lane's fd, written at once: one write, not one per event
    let out = '';
    const decoded = this.pipeline.records(batch, (ev) => {
      this.counts[ev.type]++;
      if (this.output) out += toJsonLine(ev) + '\n';
      this.fanout.event(ev);
    });
    if (!decoded) return;
    if (out) this.output!.write(out);
    this.verdicts.flush(this.closed);
  }
}
