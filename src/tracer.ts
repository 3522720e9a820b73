/**
 * The library API: `new Tracer(options)` loads the BPF program, classifies what
 * it reports, writes verdicts back into the kernel maps and hands out typed
 * events, by callback (`onEvent`) or as an async iterable.
 */
import {
  CgroupPathCache,
  decodeBatch,
  EV_EXEC,
  EV_EXIT,
  EV_MOUNT,
  type RawRecord,
} from './abi.js';
import { fullContainer, type Classification } from './classify.js';
import { VERDICT_OF, Verdicts } from './verdicts.js';
import { WallClock } from './clock.js';
import { buildEvent } from './event-build.js';
import type { EventType, TraceEvent, TraceStats, LostReport } from './event.js';
import { ContainerCatalog } from './enrich/containers.js';
import { compileFilter, type CompiledFilter, type EventFilter } from './filter.js';
import { hostPidnsIno, preflight, v1SubsysId } from './host.js';
import { CgroupResolver, preloadVerdicts, scanProcesses } from './inventory.js';
import { IsolatedTasks, seenEnoughForLane } from './isolation.js';
import { toJsonLine } from './format/json.js';
import { forEachChunk, JsonLane } from './lane.js';
import { loadNative, type NativeOutputStats, type NativeProgram } from './native.js';
import { ProcessTable, type ProcEntry } from './proctable.js';
import { BinaryHasher } from './enrich/binary-hash.js';
import { lineage, LiveBinaryNames, startTicksOf } from './enrich/lineage.js';
import { readExe, readStat } from './procfs.js';
import { bootId, CAP_NAMES } from './identity.js';
import { decodeBytes } from './bytes.js';
import type { ExecEnrichment } from './event-build.js';

/** What to pass on (src/filter.ts): container id prefix or name, pod, namespace, runtime, comm, binary, uid. */
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
  /** the reader drains the ring at least this often (ms) */
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
}

/** What the start-up walk over /proc found and cost. */
export interface StartupReport {
  /** processes in /proc */
  processes: number;
  /** of which in containers */
  containerProcesses: number;
  /** distinct cgroups whose verdict was pre-loaded */
  cgroups: number;
  /** the walk, the classification and the map updates, ms */
  elapsedMs: number;
}

export type { LostReport } from './event.js';

type EventListener = (ev: TraceEvent) => void;
type LinesListener = (lines: Buffer) => void;
type LostListener = (r: LostReport) => void;
type ErrorListener = (err: Error) => void;
/** A batch from the reader was handled: its size and the JavaScript time it took. */
type BatchListener = (bytes: number, seconds: number) => void;


const EVENT_BIT: Record<EventType, number> = { exec: 1 << EV_EXEC, exit: 1 << EV_EXIT, mount: 1 << EV_MOUNT };

export class Tracer implements AsyncIterable<TraceEvent> {
  private readonly native: NativeProgram;
  private readonly clock: WallClock;
  private readonly paths = new CgroupPathCache();
  private readonly verdicts: Verdicts;
  private readonly eventListeners: EventListener[] = [];
  private readonly linesListeners: LinesListener[] = [];
  private readonly lostListeners: LostListener[] = [];
  private readonly errorListeners: ErrorListener[] = [];
  private readonly batchListeners: BatchListener[] = [];
  /** why the poll thread stopped delivering records, while the tracer is open; null while it runs */
  private readerDown: string | null = null;
  private readonly counts: Record<EventType, number> = { exec: 0, exit: 0, mount: 0 };
  private filtered = 0;
  private lostSeen = 0;
  private statsTimer: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly hookList: string[];
  private readonly iterators = new Set<EventQueue>();
  private readonly table = new ProcessTable();
  private readonly isolated = new IsolatedTasks();
  private readonly hasher: BinaryHasher;
  private readonly liveNames = new LiveBinaryNames((pid) => {
    const st = readStat(pid);
    return st ? { startTicks: st.startTicks, exe: readExe(pid) } : null;
  });
  private readonly catalog: ContainerCatalog | null;
  private readonly lane: JsonLane | null = null;
  readonly options: Readonly<TracerOptions>;
  /** jsonLaneFd (or its old name jsonOut) */
  private readonly laneFd: number | undefined;
  private readonly filter: CompiledFilter;
  /** null when preload is off */
  readonly startup: StartupReport | null = null;

  constructor(options: TracerOptions = {}) {
    this.options = { ...options };
    this.laneFd = options.jsonLaneFd ?? options.jsonOut;
    this.filter = compileFilter(options.filter);
    const events = options.events ?? ['exec', 'exit', 'mount'];
    preflight();
    const native = loadNative();
    // the controller is chosen from /proc/cgroups; its enum value comes from the kernel's BTF
    const v1 = v1SubsysId();
    const v1Id = v1.name ? native.Program.cgroupSubsysId(v1.name) : -1;
    // 2 MiB holds ~1,500 exec records, ~0.2 s of an exec storm, for a reader that formats
    // 2 million a second; the kernel maps all of it twice into the process (8 MiB would be 16 MB of RSS)
    const ringBytes = options.ringBytes ?? 2 * 1024 * 1024;
    this.native = new native.Program({
      hostPidnsIno: hostPidnsIno(),
      pidnsOnly: options.pidnsOnly ?? false,
      emitHost: options.all ?? false,
      eventMask: events.reduce((m, e) => m | EVENT_BIT[e], 0),
      // While records flow the reader's timer drains the ring every pollMs, and a wakeup from the
      // kernel is only the insurance against a burst filling it: each costs the traced task an
      // irq_work and a cross-CPU wakeup (1-3 % of a container mount storm at 256 KiB,
      // bench/README.md). An idle reader sleeps until the kernel wakes it (native/ring_reader.cc).
      wakeupBytes: options.wakeupBytes ?? ringBytes / 2,
      v1SubsysId: v1Id,
      ...(options.argvMax !== undefined ? { argvMax: options.argvMax } : {}),
      ...(options.ancestors !== undefined ? { ancestors: options.ancestors } : {}),
      ringBytes,
      pollMs: options.pollMs ?? 5,
    });
    this.hasher = new BinaryHasher({
      maxBytes: options.hashMaxBytes,
      hash: options.hashBinaries ?? true,
      // the lane writes the next exec of this binary itself
      onCached: (f, c) => this.lane?.native.binaryFound(f.exeDev, f.exeIno, f.exeCtimeNs, c.hostPath, c.sha256, c.hashError),
    });
    // the lane's cgroups are forgotten with the verdicts' (it is created below, before any batch)
    this.verdicts = new Verdicts(this.native, () => this.lane?.clear());
    try {
      this.clock = new WallClock(this.native.clockOffsetNs());
      this.hookList = this.native.attach();
      this.catalog = options.enrich === false ? null : new ContainerCatalog({ lookup: options.enrich ?? 'sync' }).start();
      // the pre-load keys processes by the same hierarchy as the kernel: none when BTF has no id for it
      if (options.preload ?? true) this.startup = this.preload(v1Id >= 0 ? v1.name : null);
      if (options.jsonLane || options.jsonLines || this.laneFd !== undefined) {
        const catalog = this.catalog;
        const lane = new native.JsonLane(this.native.clockOffsetNs(), bootId(), CAP_NAMES);
        this.lane = new JsonLane(lane, catalog ? (c) => catalog.enrich(c) : undefined);
        if (this.laneFd !== undefined) lane.setOutput(this.laneFd);
      }
      this.native.start((err, batch, written) => this.onBatch(err, batch, written === true), this.lane?.native);
    } catch (err) {
      this.native.close();
      throw err;
    }
    this.statsTimer = setInterval(() => this.tick(), options.statsIntervalMs ?? 1000);
    this.statsTimer.unref();
  }

  /**
   * Processes that exist before tracing: hooks are attached, so anything that starts from
   * here on is seen; what already runs is classified from /proc, its verdicts go to the
   * kernel maps, and container processes are remembered (their later mount and exit
   * events are then known from the start). Names of their containers are looked up now.
   */
  private preload(v1Controller: string | null): StartupReport {
    const t0 = performance.now();
    const inv = scanProcesses({ details: 'containers', resolver: new CgroupResolver(undefined, v1Controller) });
    preloadVerdicts(this.native, inv);
    this.verdicts.preload(inv.cgroups);
    this.table.load(inv.processes);
    for (const p of inv.processes) if (p.container) this.catalog?.enrich(p.container);
    return {
      processes: inv.scanned,
      containerProcesses: inv.processes.length,
      cgroups: inv.cgroups.size,
      elapsedMs: performance.now() - t0,
    };
  }

  /** A container process ctrace knows of (found at start or seen exec), by host PID. */
  process(pid: number): ProcEntry | undefined {
    this.takeNoted();
    return this.table.get(pid);
  }

  /** The container processes ctrace knows of, all or one container's. */
  processes(containerId?: string): ProcEntry[] {
    this.takeNoted();
    return this.table.list(containerId);
  }

  /** Names of the BPF programs that attached. */
  hooks(): string[] {
    return [...this.hookList];
  }

  onEvent(fn: EventListener): this {
    this.eventListeners.push(fn);
    return this;
  }
  /**
   * Lane batches of JSON lines, each line ended by a newline (with `jsonLane: true`). The
   * Buffer is valid during the call only (the addon reuses its memory): copy what you keep.
   */
  onLines(fn: LinesListener): this {
    this.linesListeners.push(fn);
    this.lane?.native.setDeliverWritten(true);
    return this;
  }
  onLost(fn: LostListener): this {
    this.lostListeners.push(fn);
    return this;
  }
  onError(fn: ErrorListener): this {
    this.errorListeners.push(fn);
    return this;
  }

  onBatchDone(fn: BatchListener): this {
    this.batchListeners.push(fn);
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

  /** Bytes in the ring buffer not yet read, and its size; null once closed. */
  ringFill(): { used: number; size: number } | null {
    return this.closed ? null : this.native.ringFill();
  }

  stats(): TraceStats {
    const k = this.native.stats(); // after close(): the counters read at close
    const events = { ...this.counts };
    let filtered = this.filtered;
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
    };
  }
  /** The jsonLaneFd queue's counters (lines dropped because stdout was too slow); null without jsonLaneFd. */
  outputStats(): NativeOutputStats | null {
    return this.laneFd !== undefined && this.lane ? this.lane.native.outputStats() : null;
  }

  /**
   * After close(): gives the jsonLaneFd queue up to timeoutMs to drain, then stops its writer. A
   * stuck reader of stdout costs at most that; what it did not take is `undeliveredLines`.
   */
  async closeOutput(timeoutMs: number): Promise<NativeOutputStats | null> {
    const lane = this.laneFd !== undefined ? this.lane?.native : undefined;
    if (!lane) return null;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const s = lane.outputStats();
      if (s.queuedBytes === 0 || s.errno !== 0 || Date.now() >= deadline) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    lane.closeOutput();
    return lane.outputStats();
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
      for (const q of this.iterators) q.end();
    })();
    return this.closing;
  }
  private closing: Promise<void> = Promise.resolve();
  private markDrained!: () => void;
  private readonly drained = new Promise<void>((r) => (this.markDrained = r));

  [Symbol.asyncIterator](): AsyncIterator<TraceEvent> {
    const q = new EventQueue(() => this.iterators.delete(q));
    this.iterators.add(q);
    if (this.closed) q.end();
    return q;
  }

  /** Every statsIntervalMs: kernel losses, and container names that became known (or were forgotten) for the lane. */
  private tick(): void {
    if (this.closed) return;
    this.reportLost(this.native.stats().lost);
    this.takeNoted();
    this.lane?.refresh();
  }

  private reportLost(lost: number): void {
    if (lost > this.lostSeen) {
      const report = { lost: lost - this.lostSeen, total: lost };
      this.lostSeen = lost;
      for (const fn of this.lostListeners) fn(report);
    }
  }

  private onBatch(err: Error | null, batch: Buffer | null, written = false): void {
    if (!this.batchListeners.length || !batch) return this.handleBatch(err, batch, written);
    const t0 = performance.now();
    this.handleBatch(err, batch, written);
    const s = (performance.now() - t0) / 1000;
    for (const fn of this.batchListeners) fn(batch.length, s);
  }

  private handleBatch(err: Error | null, batch: Buffer | null, written: boolean): void {
    if (err) {
      if ((err as { step?: string }).step === 'stdout') this.laneFdFailed(err);
      else {
        this.readerDown ??= `reader failed: ${err.message}`;
        for (const fn of this.errorListeners) fn(err);
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
          if (!written) this.writeOut(lines);
          for (const fn of this.linesListeners) fn(lines);
        },
        (raw) => this.onRecords(raw),
      );
    } catch (e) {
      for (const fn of this.errorListeners) fn(e as Error);
    }
  }

  /**
   * The execs and exits the addon's lane wrote as lines (or filtered), into the process table
   * (and the PID namespaces' containers): what the object path does for every record, done in
   * bulk when JavaScript runs anyway. Before a raw chunk: they are (nearly all) older than it.
   */
  private takeNoted(): void {
    const buf = this.lane?.native.takeNoted();
    if (!buf) return;
    let records: RawRecord[];
    try {
      records = decodeBatch(buf, this.paths);
    } catch (e) {
      for (const fn of this.errorListeners) fn(e as Error);
      return;
    }
    for (const rec of records) {
      const t = rec.task;
      const cls = this.verdicts.classify(t.cgroupKey, t.cgroupPath, this.closed);
      this.isolated.remember(rec, cls);
      if (rec.type === 'exit') this.table.exit(t.tgid, t.startNs);
      if (rec.type !== 'exec') continue;
      const c = cls.container;
      this.table.exec(
        {
          pid: t.tgid,
          ppid: t.ppid,
          nspid: t.nspid,
          uid: t.uid,
          comm: t.comm,
          argv: rec.argv,
          filename: rec.filename,
          time: this.clock.iso(rec.ktimeNs),
          ktimeNs: rec.ktimeNs,
          container: c ? fullContainer(this.catalog ? this.catalog.enrich(c, true) : c) : null,
        },
        t.cgroupKey,
        t.startNs,
      );
    }
  }

  private onRecords(batch: Buffer): void {
    this.takeNoted();
    let records: RawRecord[];
    try {
      records = decodeBatch(batch, this.paths);
    } catch (e) {
      for (const fn of this.errorListeners) fn(e as Error);
      return;
    }
    // the chunk's lines for jsonLaneFd, written at once: one write, not one per event
    let out = '';
    for (const rec of records) {
      const cls = this.verdicts.classify(rec.task.cgroupKey, rec.task.cgroupPath, this.closed);
      this.isolated.remember(rec, cls);
      // an exec the kernel decided by this cgroup's verdict needs no PID verdict of its own (as
      // the addon's lane decides, native/json_lane.cc): one LRU update less per exec
      if (rec.type === 'exec' && !this.closed && rec.task.verdict !== VERDICT_OF[cls.scope]) {
        this.verdicts.notePid(rec.task.tgid, cls, rec.task.cgroupKey);
      }
      const ev = this.toEvent(rec, cls);
      this.isolated.ended(rec);
      if (rec.type !== 'mount') this.table.update(ev, rec.task.cgroupKey, rec.task.startNs);
      const pass = this.passes(ev);
      // from now on the addon writes this cgroup's lines (not when /proc re-attributed the event)
      // (not while a name filter's answer may change: names come from runtime state that may appear later)
      const final = this.filter.finalFor(ev.container, !!ev.container && !!this.catalog?.peek(ev.container.id));
      if (
        this.lane &&
        final &&
        cls.scope !== 'unknown' &&
        ev.scope === cls.scope &&
        seenEnoughForLane(rec) &&
        !this.lane.has(rec.task.cgroupKey)
      ) {
        this.lane.register(rec.task.cgroupKey, {
          cls,
          cgroupPath: rec.task.cgroupPath,
          cgroupV1: rec.task.cgroupV1,
          emit: pass,
          verdict: VERDICT_OF[cls.scope],
        });
      }
      if (!pass) {
        this.filtered++;
        continue;
      }
      this.counts[ev.type]++;
      if (this.laneFd !== undefined) out += toJsonLine(ev) + '\n';
      for (const fn of this.eventListeners) fn(ev);
      for (const q of this.iterators) q.push(ev);
    }
    if (out) this.writeOut(out);
    this.verdicts.flush(this.closed);
  }

  /** To the jsonLaneFd, in order with the poll thread's writes. */
  private writeOut(bytes: Buffer | string): void {
    if (this.laneFd === undefined || this.outFailed) return;
    try {
      this.lane!.native.write(bytes);
    } catch (e) {
      this.laneFdFailed(e as Error);
    }
  }

  private outFailed = false;
  private laneFdFailed(err: Error): void {
    if (this.outFailed) return;
    this.outFailed = true;
    for (const fn of this.errorListeners) fn(err);
  }

  private passes(ev: TraceEvent): boolean {
    if (ev.scope === 'host' && !this.options.all) return false;
    return this.filter.event(ev);
  }

  /** An exec's ancestors (their binaries from what ctrace saw of those same processes) and its binary. */
  private enrichExec(rec: RawRecord): ExecEnrichment | undefined {
    if (rec.type !== 'exec') return undefined;
    const l = lineage(rec, (pid, startNs) => this.ancestorFilename(pid, startNs));
    // a binary that outlived its short process is still reachable through its parents' root
    const via = rec.facts.ancestors.filter((a) => a.pidnsIno === rec.task.pidnsIno).map((a) => a.pid);
    return { ...l, binary: this.hasher.describe(rec, null, via) };
  }

  /**
   * An ancestor's binary: from the process table, from an exec record the addon read (its lane
   * remembers every exec's filename), else from /proc while that process lives. The addon is
   * told what was found, so that its lane writes the next exec under this ancestor itself.
   */
  private ancestorFilename(pid: number, startNs: bigint): string | null {
    const lane = this.lane?.native;
    let name = this.table.filenameOf(pid, startNs, startTicksOf(startNs));
    if (name === null && lane) {
      const seen = lane.filenameOf(pid, startNs);
      if (seen) name = decodeBytes(seen, 0, seen.length);
    }
    name ??= this.liveNames.lookup(pid, startNs);
    lane?.filenameFound(pid, startNs, name);
    return name;
  }

  private toEvent(rec: RawRecord, cls: Classification): TraceEvent {
    const t = rec.task;
    const exec = this.enrichExec(rec);
    // the kernel let it through because it is isolated (own PID namespace, own root) although
    // its cgroup looks like the host's: never host, and say why
    const isolated = this.isolated.attribute(rec, cls);
    if (isolated) {
      const c = isolated.container;
      return buildEvent(rec, {
        time: this.clock.iso(rec.ktimeNs),
        scope: 'unknown',
        container: c ? fullContainer(this.catalog ? this.catalog.enrich(c) : c) : null,
        nspid: t.nspid || (this.table.get(t.tgid)?.nspid ?? 0),
        reason: isolated.reason,
        exec,
      });
    }
    // a known container process whose cgroup the path alone could not name (cut path, cache cleared)
    const known = cls.scope !== 'container' && rec.type !== 'exec' ? this.table.get(t.tgid) : undefined;
    if (known && known.cgroupKey === t.cgroupKey) cls = { scope: 'container', container: known.container, rule: cls.rule };
    return buildEvent(rec, {
      time: this.clock.iso(rec.ktimeNs),
      scope: cls.scope,
      container: cls.container ? fullContainer(this.catalog ? this.catalog.enrich(cls.container, rec.type === 'exec') : cls.container) : null,
      nspid: t.nspid || (this.table.get(t.tgid)?.nspid ?? 0),
      exec,
    });
  }
}

/** An unbounded-by-design async queue per iterator; a consumer that stops reading should `return()`. */
class EventQueue implements AsyncIterator<TraceEvent> {
  private buf: TraceEvent[] = [];
  private waiting: ((r: IteratorResult<TraceEvent>) => void) | null = null;
  private done = false;

  constructor(private readonly onDone: () => void) {}

  push(ev: TraceEvent): void {
    if (this.done) return;
    if (this.waiting) {
      const w = this.waiting;
      this.waiting = null;
      w({ value: ev, done: false });
    } else this.buf.push(ev);
  }

  end(): void {
    this.done = true;
    if (this.waiting && this.buf.length === 0) {
      const w = this.waiting;
      this.waiting = null;
      w({ value: undefined, done: true });
    }
  }

  next(): Promise<IteratorResult<TraceEvent>> {
    const ev = this.buf.shift();
    if (ev) return Promise.resolve({ value: ev, done: false });
    if (this.done) {
      this.onDone();
      return Promise.resolve({ value: undefined, done: true });
    }
    return new Promise((r) => (this.waiting = r));
  }

  return(): Promise<IteratorResult<TraceEvent>> {
    this.done = true;
    this.buf = [];
    this.onDone();
    return Promise.resolve({ value: undefined, done: true });
  }
}
