/**
 * The JSON lane, userland side. Once a cgroup is classified, the tracer registers
 * here what its events' lines say about it (container, scope, path) and whether they pass
 * the filters; from then on the addon's poll thread writes those events' JSON lines itself
 * (native/json_lane.cc) and JavaScript only forwards bytes. Records of cgroups not
 * registered (new ones, `unknown` scope) still come raw and take the object path, in order, as
 * do execs whose ancestors' binaries or own binary's hash the addon was not told yet (the
 * tracer tells it what it resolved for those: native/exec_memory.h).
 *
 * Names found later (a container's state appears after its first event, a removed one is
 * forgotten) reach the lane through refresh(), which the tracer runs every second.
 */
import { fullContainer, type CgroupContainer, type Classification } from '../classify/classify.js';
import type { ContainerInfo } from '../events/event.js';
import { attributionJson } from '../format/json.js';
import type { NativeJsonLane } from '../addon/native.js';

export const CHUNK_RAW = 1;
export const CHUNK_LINES = 2;
const CHUNK_HEADER = 8;

/**
 * Walks a lane batch: chunks of `[u32 kind][u32 length][payload]`, raw records (kind 1) or
 * JSON lines each ended by a newline (kind 2), in the order the ring held them.
 */
export function forEachChunk(batch: Buffer, onLines: (lines: Buffer) => void, onRaw: (records: Buffer) => void): void {
  let o = 0;
  while (o + CHUNK_HEADER <= batch.length) {
    const kind = batch.readUInt32LE(o);
    const len = batch.readUInt32LE(o + 4);
    const start = o + CHUNK_HEADER;
    if (start + len > batch.length) throw new Error(`corrupt lane batch: chunk at ${o} claims ${len} bytes of ${batch.length - start}`);
    const payload = batch.subarray(start, start + len);
    if (kind === CHUNK_LINES) onLines(payload);
    else if (kind === CHUNK_RAW) onRaw(payload);
    else throw new Error(`corrupt lane batch: chunk kind ${kind} at ${o}`);
    o = start + len;
  }
}

/** What a cgroup's lines say, as classified (the container before enrichment). */
export interface LaneCgroup {
  cls: Classification;
  cgroupPath: string;
  cgroupV1: boolean;
  /** its events pass the filters */
  emit: boolean;
  /** the PID verdict for its execs */
  verdict: number;
  /** its PID namespace is not known yet: the first record from one comes raw (NativeJsonLane.set) */
  pidnsPending?: boolean;
}

export class JsonLane {
  private readonly cgroups = new Map<bigint, { cg: LaneCgroup; fragment: string }>();

  constructor(
    readonly native: NativeJsonLane,
    /** the container as events carry it now (names filled in when known) */
    private readonly enrich: (c: CgroupContainer) => CgroupContainer = (c) => c,
  ) {}

  has(key: bigint): boolean {
    return this.cgroups.has(key);
  }

  get size(): number {
    return this.cgroups.size;
  }

  register(key: bigint, cg: LaneCgroup): void {
    const fragment = this.fragment(cg);
    this.cgroups.set(key, { cg, fragment });
    this.native.set(key, fragment, cg.emit, cg.verdict, cg.cgroupV1, cg.pidnsPending ?? false);
  }

  /** Re-derives every fragment and updates the ones whose container names changed. */
  refresh(): number {
    let changed = 0;
    for (const [key, entry] of this.cgroups) {
      const fragment = this.fragment(entry.cg);
      if (fragment === entry.fragment) continue;
      entry.fragment = fragment;
      this.native.set(key, fragment, entry.cg.emit, entry.cg.verdict, entry.cg.cgroupV1, entry.cg.pidnsPending ?? false);
      changed++;
    }
    return changed;
  }

  /** A removed cgroup. */
  forget(key: bigint): void {
    if (this.cgroups.delete(key)) this.native.delete(key);
  }

  clear(): void {
    this.cgroups.clear();
    this.native.clear();
  }

  private fragment(cg: LaneCgroup): string {
    const c = cg.cls.container;
    return attributionJson(c ? fullContainer(this.enrich(c)) : null, cg.cls.scope, cg.cgroupPath, cg.cgroupV1);
  }
}
