/**
 * The container processes ctrace knows of: filled from /proc at start (src/classify/inventory.ts)
 * and kept current by the events themselves (exec adds or updates, exit removes). An
 * event of a process the table holds can be completed from it: a process that existed
 * before ctrace started is known with its command line when it later mounts or exits.
 *
 * Bounded: at `max` entries the oldest ones go first (a Map iterates in insertion order,
 * and an update re-inserts). And a removed cgroup takes its entries with it (`forgetCgroup`):
 * `ctrace run` sees the exit of a process only while its cgroup's records reach JavaScript, so
 * without that every short-lived container would leave its first process here.
 */
import type { ContainerInfo, TraceEvent } from '../events/event.js';
import type { ProcInfo } from './inventory.js';

export interface ProcEntry {
  pid: number;
  ppid: number;
  nspid: number;
  uid: number;
  comm: string;
  /** the command line of its last exec (from /proc for a process found at start) */
  argv: string[];
  /** the binary of its last exec, as the process names it (for one found at start: its /proc/PID/exe); null when unknown */
  filename: string | null;
  /** start time after boot in clock ticks, when read from /proc; null when learnt from an exec event */
  startTicks: number | null;
  /** start time after boot in ns (start_boottime) when learnt from the kernel; null from /proc */
  startNs: bigint | null;
  /** wall-clock time of its last exec, when seen by the tracer */
  execTime: string | null;
  cgroupKey: bigint | null;
  container: ContainerInfo;
}

/** What the table keeps of an exec. */
export interface ExecSeen extends Pick<ProcEntry, 'pid' | 'ppid' | 'nspid' | 'uid' | 'comm' | 'argv'> {
  filename: string;
  time: string;
  /** the exec's kernel time: an older exec of the same process learnt later changes nothing */
  ktimeNs?: bigint;
  container: ContainerInfo | null;
}

export class ProcessTable {
  private readonly byPid = new Map<number, ProcEntry>();
  /** the kernel time of the exec an entry is from */
  private readonly execAt = new WeakMap<ProcEntry, bigint>();
  /** pid → start ns of its last exit: that process's exec, learnt after its exit, is not added */
  private readonly exited = new Map<number, bigint>();
  /** cgroup key → the pids of its entries, for forgetCgroup */
  private readonly byCgroup = new Map<bigint, Set<number>>();

  constructor(private readonly max = 65536) {}

  get size(): number {
    return this.byPid.size;
  }

  get(pid: number): ProcEntry | undefined {
    return this.byPid.get(pid);
  }

  /** Every entry, or the entries of one container. */
  list(containerId?: string): ProcEntry[] {
    const all = [...this.byPid.values()];
    return containerId === undefined ? all : all.filter((e) => e.container.id === containerId);
  }

  private put(e: ProcEntry): void {
    this.remove(e.pid);
    this.byPid.set(e.pid, e);
    if (e.cgroupKey !== null) {
      let pids = this.byCgroup.get(e.cgroupKey);
      if (!pids) this.byCgroup.set(e.cgroupKey, (pids = new Set()));
      pids.add(e.pid);
    }
    if (this.byPid.size > this.max) {
      const oldest = this.byPid.keys().next().value;
      if (oldest !== undefined) this.remove(oldest);
    }
  }

  private remove(pid: number): void {
    const e = this.byPid.get(pid);
    if (!e) return;
    this.byPid.delete(pid);
    if (e.cgroupKey === null) return;
    const pids = this.byCgroup.get(e.cgroupKey);
    if (pids?.delete(pid) && pids.size === 0) this.byCgroup.delete(e.cgroupKey);
  }

  /**
   * A cgroup was removed: no process lives in it any more. An entry of a process that moved out
   * before goes too; it is learnt again from its next exec.
   */
  forgetCgroup(key: bigint): void {
    const pids = this.byCgroup.get(key);
    if (!pids) return;
    this.byCgroup.delete(key);
    for (const pid of pids) this.byPid.delete(pid);
  }

  /** Container processes found in /proc (others are ignored). */
  load(procs: Iterable<ProcInfo>): void {
    for (const p of procs) {
      if (!p.container) continue;
      this.put({
        pid: p.pid,
        ppid: p.ppid,
        nspid: p.nspid,
        uid: p.uid,
        comm: p.comm,
        argv: p.argv,
        filename: p.exe ?? null,
        startTicks: p.startTicks,
        startNs: null,
        execTime: null,
        cgroupKey: p.cgroup.key,
        container: p.container,
      });
    }
  }

  /**
   * Keep the table current from one event: an exec in a container adds or replaces the
   * process (a PID that execs outside any container is forgotten); an exit of a
   * thread-group leader removes it. Mounts change nothing. The lane's execs and exits arrive in
   * bulk, close to but not always in ring order (src/tracer/tracer.ts takeNoted): an exec older than the
   * entry's, an exec of a process whose exit came first, or an exit of an earlier process of the
   * PID, changes nothing.
   */
  update(ev: TraceEvent, cgroupKey: bigint | null = null, startNs: bigint | null = null): void {
    if (ev.type === 'exec') {
      this.exec(
        { pid: ev.pid, ppid: ev.ppid, nspid: ev.nspid, uid: ev.uid, comm: ev.comm, argv: ev.exec.argv, filename: ev.exec.filename, time: ev.time, ktimeNs: ev.ktimeNs, container: ev.container },
        cgroupKey,
        startNs,
      );
    } else if (ev.type === 'exit') {
      this.exit(ev.pid, startNs);
    }
  }

  /** A process exited: forgotten, unless the entry is a later process of that PID. */
  exit(pid: number, startNs: bigint | null = null): void {
    if (startNs !== null && startNs > 0n) {
      this.exited.delete(pid);
      this.exited.set(pid, startNs);
      if (this.exited.size > 4096) this.exited.delete(this.exited.keys().next().value!);
    }
    const e = this.byPid.get(pid);
    if (e && e.startNs !== null && startNs !== null && startNs > 0n && e.startNs > startNs) return;
    this.remove(pid);
  }

  /** An exec (of an event, or of a record the addon's lane wrote as a line). */
  exec(x: ExecSeen, cgroupKey: bigint | null = null, startNs: bigint | null = null): void {
    const prev = this.byPid.get(x.pid);
    if (prev && x.ktimeNs !== undefined && startNs !== null && prev.startNs === startNs && (this.execAt.get(prev) ?? -1n) > x.ktimeNs) return;
    if (startNs !== null && startNs > 0n && this.exited.get(x.pid) === startNs) return;
    if (!x.container) {
      this.remove(x.pid);
      return;
    }
    const e: ProcEntry = {
      pid: x.pid,
      ppid: x.ppid,
      nspid: x.nspid,
      uid: x.uid,
      comm: x.comm,
      argv: x.argv,
      filename: x.filename,
      // same process (exec keeps the pid and the start time), new program
      startTicks: prev && prev.container.id === x.container.id ? prev.startTicks : null,
      startNs,
      execTime: x.time,
      cgroupKey,
      container: x.container,
    };
    if (x.ktimeNs !== undefined) this.execAt.set(e, x.ktimeNs);
    this.put(e);
  }

  /**
   * The binary of the process (pid, start ns) as it named it at its last exec seen; null when
   * the table holds another process of that pid, or this one without its exec.
   */
  filenameOf(pid: number, startNs: bigint, ticks: number): string | null {
    const e = this.byPid.get(pid);
    if (!e) return null;
    if (e.startNs !== null ? e.startNs === startNs : e.startTicks === ticks) return e.filename;
    return null;
  }

  /** Forget a PID (its exit was seen by other means). */
  delete(pid: number): void {
    this.remove(pid);
  }
}
