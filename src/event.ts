/**
 * The event schema as userland sees it: the JSON form of DESIGN.md, typed.
 * proto/ctrace.proto mirrors these names; src/format/json.ts writes them.
 */

export type EventType = 'exec' | 'exit' | 'mount';

export const RUNTIMES = ['docker', 'containerd', 'cri-o', 'cri', 'podman', 'lxc', 'systemd-nspawn'] as const;
export type Runtime = (typeof RUNTIMES)[number];

export type QosClass = 'guaranteed' | 'burstable' | 'besteffort';

/** Where an event came from: a container, a provable host process, or neither provable. */
export type Scope = 'container' | 'host' | 'unknown';

export interface ContainerInfo {
  id: string;
  runtime: Runtime;
  podUid: string | null;
  qos: QosClass | null;
  /** Enrichment from runtime state (OCI annotations); null when not known. */
  name?: string | null;
  image?: string | null;
  podName?: string | null;
  podNamespace?: string | null;
  /** a nested container's outer container (kind's node, docker in docker); absent or null when not nested */
  outerId?: string | null;
  outerRuntime?: Runtime | null;
}

/** One ancestor of an exec, nearest first (src/enrich/lineage.ts). */
export interface AncestorInfo {
  processId: string | null;
  pid: number;
  comm: string;
  /** its binary as it named it at its exec; null when not known (never guessed) */
  filename: string | null;
  /** it runs outside the exec'ing process's container */
  outside: boolean;
}

/** The binary an exec ran (src/enrich/binary-hash.ts). */
export interface BinaryInfo {
  hostPath: string | null;
  sha256: string | null;
  /** why sha256 is null (too large, the process was gone); null when it is not */
  hashError: string | null;
  size: number;
  /** in an overlayfs upper directory: written after the container started, not from its image */
  upperLayer: boolean;
  /** a memfd: a fileless exec */
  memfd: boolean;
  /** no link left to the file */
  deleted: boolean;
}

export interface ExecDetail {
  filename: string;
  argv: string[];
  /** true when argv was cut (longer in total than the capture, --argv-max). */
  argvTruncated: boolean;
  /** true when the filename was cut (longer than the capture, PATH_MAX) */
  filenameTruncated: boolean;
  /** unique per execve: the process's id and the exec's time */
  execId?: string | null;
  /** the parent runs outside the container: someone entered it (runc exec, kubectl exec, nsenter) */
  entry?: boolean;
  /** nearest first, up to the container's init or through the outside process that entered it */
  ancestors?: AncestorInfo[];
  /** the chain goes on past the ancestors recorded (--ancestors) */
  ancestorsTruncated?: boolean;
  /** working directory as the process sees it; null when the kernel could not walk it */
  cwd?: string | null;
  cwdTruncated?: boolean;
  /** controlling terminal (e.g. "pts/0"), null for none */
  tty?: string | null;
  /** audit login uid and session id (kept across su and container entry); null when unset */
  loginUid?: number | null;
  sessionId?: number | null;
  /** effective capabilities: 16 hex digits, and their names */
  capEffective?: string;
  capabilities?: string[];
  /** the user namespace's inode */
  userNs?: number;
  /** the uid is root in the initial user namespace (root inside a user namespace is not) */
  hostRoot?: boolean;
  binary?: BinaryInfo | null;
}

export interface ExitDetail {
  /** exit status (0-255) when the process exited, else 0 */
  code: number;
  /** terminating signal number, 0 when it exited normally */
  signal: number;
  coreDumped: boolean;
  durationNs: number;
}

export type MountOp = 'mount' | 'move_mount';

export interface MountDetail {
  op: MountOp;
  source: string | null;
  target: string | null;
  fstype: string | null;
  flags: number;
  ret: number;
  sourceTruncated: boolean;
  targetTruncated: boolean;
  fstypeTruncated: boolean;
  /** the user-memory arguments changed during the syscall: another thread rewrote them (an attack signal) */
  argsChanged: boolean;
  /** source/target/fstype are only the caller's claim: the call failed, or the kernel's copy was not found */
  argsUnverified: boolean;
  /** source/target/fstype were read from the kernel's mount (device name, super block type, mount point) */
  kernelView: boolean;
}

interface EventBase {
  /** wall-clock time of the event, ISO-8601 with nanoseconds, UTC */
  time: string;
  /** CLOCK_MONOTONIC nanoseconds as captured in kernel */
  ktimeNs: bigint;
  /** host tgid */
  pid: number;
  /** host thread id */
  tid: number;
  ppid: number;
  /** the pid as seen inside its own PID namespace */
  nspid: number;
  uid: number;
  gid: number;
  comm: string;
  /** unique on this host across PID reuse and reboots: boot id, start time (ns since boot), pid */
  processId?: string | null;
  /** the real parent's processId at the event */
  parentProcessId?: string | null;
  /** the kernfs id of the cgroup the event was attributed by (v2 id, or v1 hierarchy's node id) */
  cgroupId: number;
  /** the cgroup path the classification used (from kernel-captured kernfs names) */
  cgroupPath: string;
  cgroupV1: boolean;
  pidNs: number;
  mntNs: number;
  scope: Scope;
  container: ContainerInfo | null;
  /** why an event has the scope it has when its cgroup says otherwise (e.g. an isolated process in a host cgroup); null otherwise */
  reason: string | null;
}

export interface ExecEvent extends EventBase {
  type: 'exec';
  exec: ExecDetail;
}
export interface ExitEvent extends EventBase {
  type: 'exit';
  exit: ExitDetail;
}
export interface MountEvent extends EventBase {
  type: 'mount';
  mount: MountDetail;
}

export type TraceEvent = ExecEvent | ExitEvent | MountEvent;

/** Counters the tracer keeps; `lost` is what the kernel could not deliver. */
export interface TraceStats {
  events: Record<EventType, number>;
  /** records the kernel wrote to the ring buffer */
  emitted: number;
  /** records dropped because the ring buffer was full */
  lost: number;
  /** map updates/deletes that failed in kernel */
  mapErrors: number;
  /** tasks screened out in kernel (host) */
  droppedInKernel: number;
  /** events userland decoded but did not pass on (host or filtered) */
  filtered: number;
}

/** Every output (stdout, JSONL log, protobuf, socket) is one of these. */
export interface Sink {
  write(event: TraceEvent): void;
  close(): Promise<void>;
}
