/**
 * The record pipeline: a decoded kernel record → its cgroup's classification → isolation →
 * exec enrichment (lineage, binary) → a TraceEvent, and whether it passes the filters. On the
 * way it keeps the process table, queues PID verdicts, and registers a cgroup with the JSON
 * lane once its lines can no longer change (from then on the addon writes them itself). It also
 * takes back what the lane wrote, for the process table.
 */
import { CgroupPathCache, decodeBatch, F_HOST_PIDNS, type RawRecord } from '../decode/abi.js';
import { decodeBytes } from '../util/bytes.js';
import { fullContainer, type Classification } from '../classify/classify.js';
import type { WallClock } from '../util/clock.js';
import { BinaryHasher } from '../enrich/binary-hash.js';
import type { ContainerCatalog } from '../enrich/containers.js';
import { lineage, LiveBinaryNames, startTicksOf } from '../enrich/lineage.js';
import type { TraceEvent } from '../events/event.js';
import { buildEvent, type ExecEnrichment } from '../events/build.js';
import type { CompiledFilter } from '../classify/filter.js';
import { IsolatedTasks, seenEnoughForLane } from '../classify/isolation.js';
import type { JsonLane } from './lane.js';
import { nsInode, readExe, readStat } from '../util/procfs.js';
import type { ProcessTable } from '../classify/proctable.js';
import { VERDICT_OF, type Verdicts } from '../classify/verdicts.js';

export interface PipelineParts {
  clock: WallClock;
  /** cgroup paths by key (seeded by the start-up walk) */
  paths: CgroupPathCache;
  verdicts: Verdicts;
  table: ProcessTable;
  catalog: ContainerCatalog | null;
  lane: JsonLane | null;
  filter: CompiledFilter;
  /** host events pass too (TracerOptions.all) */
  all: boolean;
  hashBinaries: boolean;
  hashMaxBytes?: number;
  hashBudget?: number;
  /** the tracer is closed: classify without caching, write no verdicts */
  closed: () => boolean;
  /** a batch that did not decode */
  onError: (err: Error) => void;
  /** records the kernel lost so far */
  lost: () => number;
}

const inPidNamespace = (pid: number, pidnsIno: number): boolean => nsInode(pid, 'pid') === pidnsIno;

export class RecordPipeline {
  /** events the filters dropped */
  filtered = 0;
  /** execs left without a hash by the hash budget */
  get hashSkipped(): number {
    return this.hasher.overBudget;
  }
  /** records whose cgroup path was nowhere to be found */
  get cgroupsUnnamed(): number {
    return this.p.paths.unnamed;
  }
  private readonly isolated: IsolatedTasks;
  private readonly hasher: BinaryHasher;
  private readonly liveNames = new LiveBinaryNames((pid) => {
    const st = readStat(pid);
    return st ? { startTicks: st.startTicks, exe: readExe(pid) } : null;
  });

  constructor(private readonly p: PipelineParts) {
    this.isolated = new IsolatedTasks(inPidNamespace, p.lost);
    this.hasher = new BinaryHasher({
      maxBytes: p.hashMaxBytes,
      hash: p.hashBinaries,
      budgetBytesPerSec: p.hashBudget,
      // the lane writes the next exec of this binary itself
      onCached: (f, c) => p.lane?.native.binaryFound(f.exeDev, f.exeIno, f.exeCtimeNs, c.hostPath, c.sha256, c.hashError),
    });
  }

  /**
   * The execs and exits the addon's lane wrote as lines (or filtered), into the process table
   * (and the PID namespaces' containers): what the object path does for every record, done in
   * bulk when JavaScript runs anyway. Before a raw chunk: they are (nearly all) older than it.
   */
  takeNoted(): void {
    const buf = this.p.lane?.native.takeNoted();
    if (!buf) return;
    const records = this.decode(buf);
    if (!records) return;
    const { verdicts, table, clock, catalog } = this.p;
    for (const rec of records) {
      const t = rec.task;
      const cls = verdicts.classify(t.cgroupKey, t.cgroupPath, this.p.closed());
      this.isolated.remember(rec, cls);
      if (rec.type === 'exit') table.exit(t.tgid, t.startNs);
      if (rec.type !== 'exec') continue;
      const c = cls.container;
      table.exec(
        {
          pid: t.tgid,
          ppid: t.ppid,
          nspid: t.nspid,
          uid: t.uid,
          comm: t.comm,
          argv: rec.argv,
          filename: rec.filename,
          time: clock.iso(rec.ktimeNs),
          ktimeNs: rec.ktimeNs,
          container: c ? fullContainer(catalog ? catalog.enrich(c, true) : c) : null,
        },
        t.cgroupKey,
        t.startNs,
      );
    }
  }

  /**
   * A batch of raw records: every event that passes the filters goes to `emit`, in ring order.
   * False when the batch did not decode (reported to onError).
   */
  records(batch: Buffer, emit: (ev: TraceEvent) => void): boolean {
    this.takeNoted();
    const gone: bigint[] = [];
    const records = this.decode(batch, gone);
    if (!records) return false;
    const { verdicts, table, lane, filter, catalog } = this.p;
    const closed = this.p.closed();
    for (const rec of records) {
      const cls = verdicts.classify(rec.task.cgroupKey, rec.task.cgroupPath, closed);
      this.isolated.remember(rec, cls);
      // an exec the kernel decided by this cgroup's verdict needs no PID verdict of its own (as
      // the addon's lane decides, native/json_lane.cc): one LRU update less per exec
      if (rec.type === 'exec' && !closed && rec.task.verdict !== VERDICT_OF[cls.scope]) {
        verdicts.notePid(rec.task.tgid, cls, rec.task.cgroupKey);
      }
      const ev = this.toEvent(rec, cls);
      this.isolated.ended(rec);
      if (rec.type !== 'mount') table.update(ev, rec.task.cgroupKey, rec.task.startNs);
      const pass = this.passes(ev);
      // from now on the addon writes this cgroup's lines (not when /proc re-attributed the event)
      // (not while a name filter's answer may change: names come from runtime state that may appear later)
      const final = filter.finalFor(ev.container, !!ev.container && !!catalog?.peek(ev.container.id));
      if (
        lane &&
        final &&
        cls.scope !== 'unknown' &&
        ev.scope === cls.scope &&
        seenEnoughForLane(rec) &&
        !lane.has(rec.task.cgroupKey)
      ) {
        lane.register(rec.task.cgroupKey, {
          cls,
          cgroupPath: rec.task.cgroupPath,
          cgroupV1: rec.task.cgroupV1,
          emit: pass,
          verdict: VERDICT_OF[cls.scope],
          pidnsPending: (rec.flags & F_HOST_PIDNS) !== 0,
        });
      }
      if (!pass) {
        this.filtered++;
        continue;
      }
      emit(ev);
    }
    // removed cgroups, after their last events: what is held for them goes
    for (const key of gone) this.forget(key);
    return true;
  }

  /** A cgroup was removed: its classification, its lane entry, its path and its processes are forgotten. */
  private forget(key: bigint): void {
    this.p.verdicts.forget(key, this.p.closed());
    this.p.table.forgetCgroup(key);
    this.p.lane?.forget(key);
    this.p.paths.forget(key);
  }

  private decode(buf: Buffer, gone?: bigint[]): RawRecord[] | null {
    try {
      return decodeBatch(buf, this.p.paths, [], gone);
    } catch (e) {
      this.p.onError(e as Error);
      return null;
    }
  }

  private passes(ev: TraceEvent): boolean {
    if (ev.scope === 'host' && !this.p.all) return false;
    return this.p.filter.event(ev);
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
    const lane = this.p.lane?.native;
    let name = this.p.table.filenameOf(pid, startNs, startTicksOf(startNs));
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
    const { clock, catalog, table } = this.p;
    const exec = this.enrichExec(rec);
    // the kernel let it through because it is isolated (own PID namespace, own root) although
    // its cgroup looks like the host's: never host, and say why
    const isolated = this.isolated.attribute(rec, cls);
    if (isolated) {
      const c = isolated.container;
      return buildEvent(rec, {
        time: clock.iso(rec.ktimeNs),
        scope: 'unknown',
        container: c ? fullContainer(catalog ? catalog.enrich(c) : c) : null,
        nspid: t.nspid || (table.get(t.tgid)?.nspid ?? 0),
        reason: isolated.reason,
        exec,
      });
    }
    // a known container process whose cgroup the path alone could not name (cut path, cache cleared)
    const known = cls.scope !== 'container' && rec.type !== 'exec' ? table.get(t.tgid) : undefined;
    if (known && known.cgroupKey === t.cgroupKey) cls = { scope: 'container', container: known.container, rule: cls.rule };
    return buildEvent(rec, {
      time: clock.iso(rec.ktimeNs),
      scope: cls.scope,
      container: cls.container ? fullContainer(catalog ? catalog.enrich(cls.container, rec.type === 'exec') : cls.container) : null,
      nspid: t.nspid || (table.get(t.tgid)?.nspid ?? 0),
      exec,
    });
  }
}
