/**
 * The verdicts userland hands the kernel, kept in one place: each cgroup's classification
 * (held here, written to the kernel's cgroup map as soon as it is known) and the PID
 * verdicts of the execs a ring batch carried (one map update per batch). The kernel decides
 * later events of that cgroup or process without asking userland.
 *
 * One bound: CGROUP_VERDICTS_MAX, the size of the kernel's cgroup map (an LRU that forgets on
 * its own). Userland's copy never grows past it: reaching it forgets every cgroup here and,
 * through `onForget`, in the addon's JSON lane, whose map is keyed by the same cgroups.
 * A forgotten cgroup is classified again from its path on its next event.
 */
import { CGROUP_PATH_UNKNOWN, VERDICT_CONTAINER, VERDICT_HOST, VERDICT_UNCLASSIFIED } from '../decode/abi.js';
import { classifyCgroupPath, type Classification } from './classify.js';

/** bpf/ctrace.bpf.c: the cgroup_verdicts map's max_entries */
export const CGROUP_VERDICTS_MAX = 16384;

const PATH_UNKNOWN: Classification = { scope: 'unknown', container: null, rule: 'cgroup-path-unknown' };

export const VERDICT_OF: Record<Classification['scope'], number> = {
  host: VERDICT_HOST,
  container: VERDICT_CONTAINER,
  unknown: VERDICT_UNCLASSIFIED,
};

/** The map writes the addon does when told to. */
export interface VerdictMaps {
  setCgroupVerdict(key: bigint, verdict: number): void;
  deleteCgroupVerdict(key: bigint): void;
  setVerdicts(pids: Uint32Array, verdicts: Uint8Array, cgroupKeys: BigUint64Array): void;
}

export class Verdicts {
  private readonly classes = new Map<bigint, Classification>();
  private pids: number[] = [];
  private values: number[] = [];
  private keys: bigint[] = [];

  constructor(
    private readonly maps: VerdictMaps,
    private readonly onForget: () => void = () => {},
  ) {}

  /**
   * A removed cgroup. The kernel dropped the verdict it held; one written since (the cgroup was
   * classified after it was gone: short-lived ones are) goes too, unless `closed`.
   */
  forget(key: bigint, closed = false): void {
    if (this.classes.delete(key) && !closed) this.maps.deleteCgroupVerdict(key);
  }

  /** Classifications found by the /proc walk at start (their verdicts are already in the kernel). */
  preload(cgroups: Iterable<[bigint, Classification]>): void {
    for (const [key, cls] of cgroups) this.remember(key, cls);
  }

  /** The cgroup's classification; a new one's verdict goes to the kernel at once (unless `closed`). */
  classify(key: bigint, cgroupPath: string, closed = false): Classification {
    let cls = this.classes.get(key);
    if (!cls && cgroupPath === CGROUP_PATH_UNKNOWN) {
      // the kernel left the names out and the cgroup is nowhere to be found (removed meanwhile):
      // reported as unclassified, never as host; without its verdict the kernel sends them again
      if (!closed) this.maps.deleteCgroupVerdict(key);
      return PATH_UNKNOWN;
    }
    if (!cls) {
      cls = classifyCgroupPath(cgroupPath);
      this.remember(key, cls);
      if (!closed) this.maps.setCgroupVerdict(key, VERDICT_OF[cls.scope]);
    }
    return cls;
  }

  /** An exec's PID verdict, written with the others of its batch by flush(). */
  notePid(pid: number, cls: Classification, cgroupKey: bigint): void {
    this.pids.push(pid);
    this.values.push(VERDICT_OF[cls.scope]);
    this.keys.push(cgroupKey);
  }

  /** Writes the PID verdicts noted since the last flush (drops them when `closed`). */
  flush(closed = false): void {
    if (this.pids.length && !closed) {
      this.maps.setVerdicts(Uint32Array.from(this.pids), Uint8Array.from(this.values), BigUint64Array.from(this.keys));
    }
    this.pids = [];
    this.values = [];
    this.keys = [];
  }

  /** Cgroups classified so far, by scope. */
  scopes(): Record<Classification['scope'], number> {
    const n = { container: 0, host: 0, unknown: 0 };
    for (const cls of this.classes.values()) n[cls.scope]++;
    return n;
  }

  private remember(key: bigint, cls: Classification): void {
    if (this.classes.size >= CGROUP_VERDICTS_MAX && !this.classes.has(key)) {
      this.classes.clear();
      this.onForget();
    }
    this.classes.set(key, cls);
  }
}
