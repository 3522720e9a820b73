/**
 * Who started an exec: its ancestors as the kernel captured them at the exec (pid, start time,
 * comm, PID namespace, cgroup), so they are right even when they have exited since and across
 * PID reuse, completed with each one's binary from what userland knows of that same process
 * (matched by pid and start time, never by pid alone). Where the binary is not known it is
 * null, never guessed.
 *
 * An exec is an entry into its container when its parent is outside it: in another PID
 * namespace and another cgroup (`runc exec`, `docker exec`, `kubectl exec`, `nsenter`). The
 * container's own init (pid 1 in its namespace) is started from outside too and is not one.
 */
import { F_HOST_PIDNS, XF_ANC_MORE, type RawExec } from '../decode/abi.js';
import { processId } from '../events/identity.js';

export interface Ancestor {
  processId: string | null;
  pid: number;
  comm: string;
  /** its binary, as it named it at its exec; null when not known */
  filename: string | null;
  /** it runs outside the exec'ing process's container (PID namespace and cgroup) */
  outside: boolean;
}

export interface Lineage {
  ancestors: Ancestor[];
  /** the chain goes on past the ancestors recorded (--ancestors) */
  ancestorsTruncated: boolean;
  entry: boolean;
}

/** Finds the binary of the process (pid, start ns since boot), or null. */
export type FilenameLookup = (pid: number, startNs: bigint) => string | null;

export function lineage(rec: RawExec, filenameOf: FilenameLookup, boot?: string): Lineage {
  const t = rec.task;
  const ancestors: Ancestor[] = rec.facts.ancestors.map((a) => ({
    processId: processId(a.pid, a.startNs, boot),
    pid: a.pid,
    comm: a.comm,
    filename: filenameOf(a.pid, a.startNs),
    outside: a.pidnsIno !== t.pidnsIno && a.cgroupKey !== t.cgroupKey,
  }));
  const inOwnPidns = (rec.flags & F_HOST_PIDNS) === 0;
  return {
    ancestors,
    ancestorsTruncated: (rec.facts.xflags & XF_ANC_MORE) !== 0,
    entry: inOwnPidns && t.nspid !== 1 && ancestors[0]?.outside === true,
  };
}

/** start_boottime ns → the clock ticks /proc/PID/stat shows */
export function startTicksOf(startNs: bigint, clkTck = 100): number {
  return Number(startNs / BigInt(Math.round(1e9 / clkTck)));
}

/**
 * Binaries of processes the process table does not hold (the host process that entered a
 * container, processes of the start-up walk): /proc/PID/exe while that very process (same start
 * time) still runs, remembered by pid and start time, a miss too.
 */
export class LiveBinaryNames {
  private readonly names = new Map<string, string | null>();
  constructor(
    private readonly read: (pid: number) => { startTicks: number; exe: string | null } | null,
    private readonly max = 4096,
  ) {}

  lookup(pid: number, startNs: bigint): string | null {
    const key = `${pid}:${startNs}`;
    const hit = this.names.get(key);
    if (hit !== undefined) return hit;
    const live = this.read(pid);
    const name = live && live.startTicks === startTicksOf(startNs) ? live.exe : null;
    if (this.names.size >= this.max) this.names.delete(this.names.keys().next().value!);
    this.names.set(key, name);
    return name;
  }
}
