/**
 * The event schema as userland sees it. Every record type is generated from
 * proto/ctrace.proto (src/events/generated/schema.ts, by scripts/gen-schema.mjs);
 * this module gives the generated types the names the rest of ctrace uses and
 * holds what is not a record (counters, loss reports).
 */
import type { Ancestor, Binary, Container, EventBase, Exec, Exit, Mount, Event } from './generated/schema.js';

export type {
  EventType,
  ExecEvent,
  ExitEvent,
  MountEvent,
  Entry,
  MetaRecord,
  MetaType,
  Int64,
} from './generated/schema.js';
export { EVENT_TYPES } from './generated/schema.js';

export const RUNTIMES = ['docker', 'containerd', 'cri-o', 'cri', 'podman', 'lxc', 'systemd-nspawn'] as const;
export type Runtime = Container['runtime'];
export type QosClass = NonNullable<Container['qos']>;
/** Where an event came from: a container, a provable host process, or neither provable. */
export type Scope = EventBase['scope'];
export type MountOp = Mount['op'];

export type ContainerInfo = Container;
/** One ancestor of an exec, nearest first (src/enrich/lineage.ts). */
export type AncestorInfo = Ancestor;
/** The binary an exec ran (src/enrich/binary-hash.ts). */
export type BinaryInfo = Binary;
export type ExecDetail = Exec;
export type ExitDetail = Exit;
export type MountDetail = Mount;
export type TraceEvent = Event;

/** Counters the tracer keeps; `lost` is what the kernel could not deliver. */
export interface TraceStats {
  events: Record<Event['type'], number>;
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
  /** execs whose binary was not hashed because the hash budget was spent (hashError says so) */
  hashSkipped: number;
  /**
   * events whose cgroup had no path to be found: the kernel left its names out (it had the
   * cgroup's verdict) and the cgroup was gone before userland looked; reported unclassified
   */
  cgroupsUnnamed: number;
}

/** The kernel dropped events (ring buffer full): what a sink is told. */
export interface LostReport {
  /** records the kernel dropped since the previous report */
  lost: number;
  /** total since start */
  total: number;
}
