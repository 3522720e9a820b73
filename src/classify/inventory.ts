/**
 * The processes that exist before ctrace starts (and, for `ctrace ps`/`inspect`, the
 * processes that exist now): one walk over /proc that classifies every process by the
 * same cgroup the kernel will key it by, so the verdicts pre-loaded from here are the
 * ones the hooks look up.
 *
 * The kernel's cgroup (bpf task_cgroup_kn): the task's v2 cgroup unless that is the root,
 * else the cgroup of the v1 hierarchy holding the controller src/util/host.ts chose
 * (cfg_v1_subsys_id). The path classified is that cgroup's path, never another
 * hierarchy's: a host process in memory:/some/thing but pids:/ is keyed, and so
 * classified, by pids:/.
 *
 * Cost: one read of /proc/PID/cgroup per process; processes share a handful of distinct
 * /proc/PID/cgroup texts, so the stat() of the cgroup directory and the classification
 * run once per text. Container processes also get status, stat and cmdline read.
 */
import { VERDICT_CONTAINER, VERDICT_HOST, VERDICT_UNCLASSIFIED } from '../decode/abi.js';
import { cgroupKeyOf, readCgroupMounts, type CgroupMounts } from '../decode/cgroupfs.js';
import { classifyCgroupPath, fullContainer, parseProcCgroup, pickCgroupPath, type Classification } from './classify.js';
import type { ContainerInfo, Scope } from '../events/event.js';
import { v1SubsysId } from '../util/host.js';
import { listPids, readCgroupText, readCmdline, readExe, readStat, readStatus } from '../util/procfs.js';

export const VERDICT_OF_SCOPE: Readonly<Record<Scope, number>> = {
  host: VERDICT_HOST,
  container: VERDICT_CONTAINER,
  unknown: VERDICT_UNCLASSIFIED,
};

/** A process's cgroup as the kernel keys it, and what that cgroup is. */
export interface ResolvedCgroup {
  /** the kernel's cgroup key (v2 id, or v1 kernfs id | CGKEY_V1); null when the cgroup could not be stat()ed */
  key: bigint | null;
  /** the path classified, relative to its hierarchy */
  path: string;
  v1: boolean;
  /** 'unified', or the v1 controller whose hierarchy it is */
  hierarchy: string;
  classification: Classification;
}

/**
 * /proc/PID/cgroup text → the kernel's cgroup and its classification. Remembers each
 * distinct text it has seen; make a new one per walk (cgroups come and go).
 */
export class CgroupResolver {
  private readonly byText = new Map<string, ResolvedCgroup>();
  private readonly byKey = new Map<bigint, Classification>();
  private readonly pathByKey = new Map<bigint, string>();

  constructor(
    readonly mounts: CgroupMounts = readCgroupMounts(),
    /** the v1 controller the BPF program keys by; null on a v2-only host */
    readonly v1Controller: string | null = v1SubsysId().name,
  ) {}

  resolve(text: string): ResolvedCgroup {
    let r = this.byText.get(text);
    if (r) return r;
    const parsed = parseProcCgroup(text);
    const ctrl = this.v1Controller;
    const v1 = ctrl === null ? undefined : parsed.v1.find((h) => h.controllers.includes(ctrl));
    const k = cgroupKeyOf(this.mounts, parsed.v2, ctrl, v1?.path ?? null);
    if (k) {
      let classification = this.byKey.get(k.key);
      if (!classification) {
        classification = classifyCgroupPath(k.path);
        this.byKey.set(k.key, classification);
        this.pathByKey.set(k.key, k.path);
      }
      r = { key: k.key, path: k.path, v1: k.v1, hierarchy: k.v1 ? ctrl! : 'unified', classification };
    } else {
      // the cgroup is gone (the process is exiting) or not mounted here: classify by what the file says
      const path = pickCgroupPath(parsed);
      r = { key: null, path, v1: path !== parsed.v2, hierarchy: path === parsed.v2 ? 'unified' : '?', classification: classifyCgroupPath(path) };
    }
    this.byText.set(text, r);
    return r;
  }

  /** Distinct kernel cgroups seen so far, with their classification. */
  cgroups(): Map<bigint, Classification> {
    return this.byKey;
  }

  /** Their paths. */
  cgroupPaths(): Map<bigint, string> {
    return this.pathByKey;
  }
}

/** One process, as /proc shows it. */
export interface ProcInfo {
  pid: number;
  ppid: number;
  /** the pid inside its innermost PID namespace (NSpid's last entry) */
  nspid: number;
  uid: number;
  gid: number;
  comm: string;
  argv: string[];
  /** its binary (/proc/PID/exe) for a container process, so that an exec it starts later names it; null otherwise */
  exe?: string | null;
  /** start time after boot, clock ticks (procfs CLK_TCK); with the pid it names the process for good */
  startTicks: number;
  cgroup: ResolvedCgroup;
  scope: Scope;
  container: ContainerInfo | null;
}

/** The details of one process, or null when it is gone. */
export function readProcInfo(pid: number, cgroup: ResolvedCgroup): ProcInfo | null {
  const stat = readStat(pid);
  const status = readStatus(pid);
  if (!stat || !status) return null;
  const argv = readCmdline(pid) ?? [];
  return {
    pid,
    ppid: status.ppid || stat.ppid,
    nspid: status.nspid.at(-1) ?? pid,
    uid: status.uid,
    gid: status.gid,
    comm: stat.comm,
    argv,
    exe: cgroup.classification.scope === 'container' ? readExe(pid) : null,
    startTicks: stat.startTicks,
    cgroup,
    scope: cgroup.classification.scope,
    container: cgroup.classification.container && fullContainer(cgroup.classification.container),
  };
}

export interface Inventory {
  /** every process whose kernel cgroup key is known, with its verdict: setVerdicts() input */
  pids: Uint32Array;
  verdicts: Uint8Array;
  keys: BigUint64Array;
  /** each distinct kernel cgroup and its classification: setCgroupVerdict() input */
  cgroups: Map<bigint, Classification>;
  /** each one's path in its hierarchy */
  cgroupPaths: Map<bigint, string>;
  /** details of the processes asked for (see ScanOptions.details) */
  processes: ProcInfo[];
  /** processes seen in /proc */
  scanned: number;
  /** wall time of the walk, ms */
  elapsedMs: number;
}

export interface ScanOptions {
  /** whose details to read: container processes (default), every process, or none */
  details?: 'containers' | 'all' | 'none';
  resolver?: CgroupResolver;
  /** the pids to look at (default: every pid in /proc) */
  pids?: number[];
}

/** Walk /proc once. Processes that exit during the walk are skipped. */
export function scanProcesses(opts: ScanOptions = {}): Inventory {
  const t0 = performance.now();
  const resolver = opts.resolver ?? new CgroupResolver();
  const details = opts.details ?? 'containers';
  const all = opts.pids ?? listPids();
  const pids = new Uint32Array(all.length);
  const verdicts = new Uint8Array(all.length);
  const keys = new BigUint64Array(all.length);
  const processes: ProcInfo[] = [];
  let n = 0;
  for (const pid of all) {
    const text = readCgroupText(pid);
    if (text === null) continue;
    const cg = resolver.resolve(text);
    if (cg.key !== null) {
      pids[n] = pid;
      verdicts[n] = VERDICT_OF_SCOPE[cg.classification.scope];
      keys[n] = cg.key;
      n++;
    }
    if (details === 'all' || (details === 'containers' && cg.classification.scope === 'container')) {
      const info = readProcInfo(pid, cg);
      if (info) processes.push(info);
    }
  }
  return {
    pids: pids.subarray(0, n),
    verdicts: verdicts.subarray(0, n),
    keys: keys.subarray(0, n),
    cgroups: resolver.cgroups(),
    cgroupPaths: resolver.cgroupPaths(),
    processes,
    scanned: all.length,
    elapsedMs: performance.now() - t0,
  };
}

/** The two verdict writers of the native tracer. */
export interface VerdictWriter {
  setVerdicts(pids: Uint32Array, verdicts: Uint8Array, cgroupKeys: BigUint64Array): void;
  setCgroupVerdict(key: bigint, verdict: number): void;
}

/** Pre-load the kernel maps from an inventory: every process's PID verdict, every cgroup's verdict. */
export function preloadVerdicts(native: VerdictWriter, inv: Inventory): void {
  for (const [key, cls] of inv.cgroups) native.setCgroupVerdict(key, VERDICT_OF_SCOPE[cls.scope]);
  if (inv.pids.length) native.setVerdicts(inv.pids, inv.verdicts, inv.keys);
}
