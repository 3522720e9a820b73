/**
 * Tasks the kernel marks isolated (their own PID namespace and their own root, CTRACE_F_ISOLATED)
 * whose cgroup path says host: a container run in a host-looking cgroup (`/system.slice/x.service`),
 * or a container process moved out of its cgroup. They are reported with scope `unknown` and a
 * reason, never hidden. A PID namespace belongs to one container: the container whose events came
 * from it before names where a moved process came from. Namespace inodes are reused once a
 * namespace dies, which is when its PID 1 exits: that exit always reaches JavaScript (the
 * addon's lane passes it on raw) and ends the association. Unless it was lost (a full ring):
 * once records were lost after an association was made, it holds only while the PID 1 seen is
 * still in the namespace (`inNamespace`, asked only for these rare records), or the record
 * itself names that PID 1 (by pid and start time) as its own process, parent or ancestor. Else a
 * PID 1 that died after the record was made but before it is read makes the record "isolated"
 * without the container: reported all the same.
 */
import { F_HOST_PIDNS, F_ISOLATED, type RawRecord } from '../decode/abi.js';
import type { CgroupContainer, Classification } from './classify.js';
import type { ContainerInfo } from '../events/event.js';

export const REASON_ISOLATED = 'isolated process in a host cgroup';
export const REASON_MOVED = 'container process moved to a host cgroup';

const MAX_NAMESPACES = 16384;

interface Owner {
  container: CgroupContainer;
  /** host pid of the namespace's PID 1, once a record of it was seen */
  init: number | null;
  /** and its start time: with the pid, what names that process among all that lived */
  initStartNs: bigint;
  /** records lost (the kernel's count) when the association was made */
  lostAt: number;
}

/** Whether the process `pid` is (still) in the PID namespace with inode `pidnsIno`. */
export type InNamespace = (pid: number, pidnsIno: number) => boolean;

export class IsolatedTasks {
  private readonly byPidns = new Map<number, Owner>();

  /** `lost`: records the kernel has lost so far (read once per new namespace and per attribution) */
  constructor(
    private readonly inNamespace: InNamespace,
    private readonly lost: () => number,
  ) {}

  /** Learn which container a PID namespace is from an event the cgroup path attributed. */
  remember(rec: RawRecord, cls: Classification): void {
    if (cls.scope !== 'container' || !cls.container || rec.flags & F_HOST_PIDNS) return;
    const ns = rec.task.pidnsIno;
    const init = rec.task.nspid === 1 ? rec.task.tgid : null;
    const initStartNs = init !== null ? rec.task.startNs : 0n;
    const had = this.byPidns.get(ns);
    if (had && had.container === cls.container) {
      if (init !== null) {
        had.init = init;
        had.initStartNs = initStartNs;
      }
      return;
    }
    if (this.byPidns.size >= MAX_NAMESPACES) this.byPidns.clear();
    this.byPidns.set(ns, { container: cls.container, init, initStartNs, lostAt: this.lost() });
  }

  /** After a record's event is built: the exit of a namespace's PID 1 ends the namespace. */
  ended(rec: RawRecord): void {
    if (rec.type === 'exit' && rec.task.nspid === 1 && !(rec.flags & F_HOST_PIDNS)) this.byPidns.delete(rec.task.pidnsIno);
  }

  /** For a record the kernel let through as isolated although its cgroup classifies as host: what to report; else null. */
  attribute(rec: RawRecord, cls: Classification): { container: CgroupContainer | null; reason: string } | null {
    if (!(rec.flags & F_ISOLATED) || cls.scope !== 'host') return null;
    const ns = rec.task.pidnsIno;
    let owner = this.byPidns.get(ns);
    // (PID 1's own records and its descendants' need no look: its exit comes after it is gone,
    // and it is often gone by the time its child's record is read)
    if (owner?.init != null && !fromInit(rec, owner) && this.lost() > owner.lostAt && !this.inNamespace(owner.init, ns)) {
      this.byPidns.delete(ns); // its PID 1's exit was lost: the inode is another namespace's now
      owner = undefined;
    }
    const container = owner?.container ?? null;
    return { container, reason: container ? REASON_MOVED : REASON_ISOLATED };
  }
}

/**
 * The record is the namespace's PID 1's own, its child's, or an exec by its descendant there:
 * the namespace is the one associated, whether PID 1 still lives or not.
 */
function fromInit(rec: RawRecord, owner: Owner): boolean {
  const t = rec.task;
  if (t.tgid === owner.init) return true;
  if (t.ppid === owner.init && t.parentStartNs === owner.initStartNs) return true;
  if (rec.type !== 'exec') return false;
  return rec.facts.ancestors.some((a) => a.pid === owner.init && a.startNs === owner.initStartNs && a.pidnsIno === t.pidnsIno);
}

/**
 * Whether the JavaScript path has seen enough of a cgroup to hand its lines to the addon's lane
 * (whose records JavaScript no longer sees): a record from inside the container's PID namespace,
 * so that remember() knows it, or an exec (a container sharing the host's PID namespace has no
 * other). Such an exec may be the runtime's init (`runc init`), often moved into the cgroup
 * before it makes the container's namespaces: the lane then passes the first record from another
 * PID namespace on raw (LaneCgroup.pidnsPending), for remember() to learn it.
 */
export function seenEnoughForLane(rec: RawRecord): boolean {
  return rec.type === 'exec' || !(rec.flags & F_HOST_PIDNS);
}
