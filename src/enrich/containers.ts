/**
 * Container names for events: ContainerInfo (from the cgroup path) + what the runtime's
 * state says (name, image, pod name and namespace), cached by container id.
 *
 * Never delays an event. `enrich()` answers from the cache. On a container's first
 * sighting it either
 * - looks it up at once (`lookup: 'sync'`, the default): a stat() per state root and one
 *   read of a state file of a few KiB (runc's state.json holds the annotations; ~0.1 ms,
 *   measured in test/enrich.test.ts), once per container lifetime, so the container's first
 *   event already carries its name; or
 * - starts an asynchronous lookup (`lookup: 'async'`) and returns the event as it is; the
 *   container's later events carry the names.
 * A container with no state on this host (LXC, nspawn, a runtime we do not know) is looked
 * up again at most every `retryMs`, so it costs nothing per event; a new container's first
 * events often come before its runtime has written the state (runc's init mounts the
 * rootfs before `runc create` returns), so the retries start a few ms apart and back off
 * to `retryMs`; and an exec in a container not yet found (`enrich(info, true)`) looks again
 * at once, a few times: the user's process execs only after `runc start`, when the state
 * is there. So a short-lived container's own process has its name, and name filters match it.
 *
 * Removal: a container whose state file has disappeared stays cached for `retainMs`
 * (30 s), so late events (the exit of its last process, read from the ring after `runc
 * delete`) still resolve. `sweep()` runs on a timer (`start()`), or by hand in tests.
 */
import { existsSync } from 'node:fs';
import type { ContainerInfo } from '../events/event.js';
import type { CgroupContainer } from '../classify/classify.js';
import { DEFAULT_STATE_ROOTS, lookupContainer, lookupContainerSync, type ContainerMeta, type StateRoots } from './state.js';

export interface CatalogOptions {
  lookup?: 'sync' | 'async';
  roots?: StateRoots;
  /** how long a removed container stays resolvable, ms */
  retainMs?: number;
  /** how soon a container without state is looked up again, ms */
  retryMs?: number;
  /** most containers remembered */
  max?: number;
  now?: () => number;
}

interface Entry {
  meta: ContainerMeta | null;
  /** when it was last looked up */
  checkedAt: number;
  /** lookups that found no state, for the backoff */
  misses: number;
  /** when its state file was found gone */
  removedAt: number | null;
  pending: Promise<void> | null;
  /** bumps when meta changes, so enriched objects are rebuilt */
  version: number;
}

/** lookups an exec may trigger outside the backoff (a container without state costs no more than this) */
const EXEC_RETRIES = 8;

export class ContainerCatalog {
  private readonly entries = new Map<string, Entry>();
  /** enriched ContainerInfo per source object (classification results are shared per cgroup) */
  private readonly enriched = new WeakMap<CgroupContainer, { version: number; id: string; info: ContainerInfo }>();
  private readonly lookupMode: 'sync' | 'async';
  private readonly roots: StateRoots;
  private readonly retainMs: number;
  private readonly retryMs: number;
  private readonly max: number;
  private readonly now: () => number;
  private timer: NodeJS.Timeout | undefined;

  constructor(opts: CatalogOptions = {}) {
    this.lookupMode = opts.lookup ?? 'sync';
    this.roots = opts.roots ?? DEFAULT_STATE_ROOTS;
    this.retainMs = opts.retainMs ?? 30_000;
    this.retryMs = opts.retryMs ?? 2_000;
    this.max = opts.max ?? 4096;
    this.now = opts.now ?? Date.now;
  }

  /** Sweep every `intervalMs` (unref'd: never keeps the process alive). */
  start(intervalMs = 5_000): this {
    this.timer ??= setInterval(() => this.sweep(), intervalMs);
    this.timer.unref();
    return this;
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  get size(): number {
    return this.entries.size;
  }

  /** What is known now, without any I/O. */
  peek(id: string): ContainerMeta | null {
    return this.entries.get(id)?.meta ?? null;
  }

  /** ContainerInfo with the names filled in when known. Returns the same object for the same input while nothing changed. */
  enrich(info: CgroupContainer, exec = false): CgroupContainer {
    const e = this.touch(info.id, info.runtime, this.lookupMode, exec);
    if (!e.meta) return info;
    const hit = this.enriched.get(info);
    if (hit && hit.version === e.version && hit.id === info.id) return hit.info;
    const m = e.meta;
    const out: ContainerInfo = {
      ...info,
      name: info.name ?? m.name,
      image: info.image ?? m.image,
      podName: info.podName ?? m.podName,
      podNamespace: info.podNamespace ?? m.podNamespace,
    };
    this.enriched.set(info, { version: e.version, id: info.id, info: out });
    return out;
  }

  /** Look a container up now (sync), through the cache. */
  lookupNow(id: string, runtime: ContainerInfo['runtime'] | null = null): ContainerMeta | null {
    return this.touch(id, runtime, 'sync').meta;
  }

  /** Resolves once the container has been looked up (for tests and for callers that can wait). */
  async settle(id: string): Promise<ContainerMeta | null> {
    await this.entries.get(id)?.pending;
    return this.peek(id);
  }

  private touch(id: string, runtime: ContainerInfo['runtime'] | null, mode: 'sync' | 'async', exec = false): Entry {
    const now = this.now();
    let e = this.entries.get(id);
    if (e && (e.meta !== null || e.pending !== null)) return e;
    const due = (x: Entry) => (exec && x.misses < EXEC_RETRIES) || now - x.checkedAt >= Math.min(this.retryMs, 5 * 2 ** Math.max(0, x.misses - 1));
    if (e && !due(e)) return e;
    if (!e) {
      e = { meta: null, checkedAt: now, removedAt: null, pending: null, version: 0, misses: 0 };
      this.entries.set(id, e);
      this.trim();
    }
    e.checkedAt = now;
    const entry = e;
    if (mode === 'sync') {
      this.fill(entry, lookupContainerSync(id, runtime, this.roots));
    } else {
      entry.pending = lookupContainer(id, runtime, this.roots).then(
        (meta) => {
          entry.pending = null;
          this.fill(entry, meta);
        },
        () => {
          entry.pending = null;
        },
      );
    }
    return entry;
  }

  private fill(e: Entry, meta: ContainerMeta | null): void {
    if (!meta) e.misses++;
    if (meta) {
      e.meta = meta;
      e.removedAt = null;
      e.version++;
    }
  }

  /** Mark containers whose state is gone, forget those gone for longer than retainMs. */
  sweep(): void {
    const now = this.now();
    for (const [id, e] of this.entries) {
      if (e.meta === null) {
        if (e.pending === null && now - e.checkedAt > this.retainMs) this.entries.delete(id);
        continue;
      }
      const present = existsSync(e.meta.stateFile);
      if (present) e.removedAt = null; // (again: a restarted container keeps its id)
      else if (e.removedAt === null) e.removedAt = now;
      else if (now - e.removedAt > this.retainMs) this.entries.delete(id);
    }
  }

  /** Over `max`: drop what is least useful first (no state, then removed, then oldest). */
  private trim(): void {
    if (this.entries.size <= this.max) return;
    for (const pass of [(e: Entry) => e.meta === null && e.pending === null, (e: Entry) => e.removedAt !== null, () => true]) {
      for (const [id, e] of this.entries) {
        if (this.entries.size <= this.max) return;
        if (pass(e)) this.entries.delete(id);
      }
    }
  }
}
