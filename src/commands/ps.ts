/**
 * `ctrace ps`: every container on the host with its processes (what `docker top` gives
 * for one container, for all of them, with no daemon and no BPF): one walk over /proc,
 * each process attributed by the cgroup the kernel would key it by (src/classify/inventory.ts),
 * names from the runtime's state (src/enrich/).
 */
import type { Writable } from 'node:stream';
import { escapeControl } from '../util/bytes.js';
import { containerJsonObject } from '../format/json.js';
import { ContainerCatalog } from '../enrich/containers.js';
import type { ContainerInfo } from '../events/event.js';
import { scanProcesses, type ProcInfo } from '../classify/inventory.js';
import { compileFilter, describeContainerFilter, type EventFilter } from '../classify/filter.js';

export interface PsOptions {
  output: 'table' | 'json';
  /** the filter vocabulary of run and read: container, pod, namespace, runtime, comm, binary, uid */
  filter?: EventFilter;
}

export interface PsProcess {
  pid: number;
  nspid: number;
  ppid: number;
  uid: number;
  comm: string;
  argv: string[];
}

export interface PsContainer extends Required<ContainerInfo> {
  cgroupPath: string;
  /** the controller hierarchy the cgroup path is from: true on a cgroup v1 (legacy/hybrid) host */
  cgroupV1: boolean;
  /** when the runtime created it (its state's `created`, RFC 3339); null when the state does not say */
  created: string | null;
  processes: PsProcess[];
}

/** Container processes grouped by container, ordered by id, processes by pid. */
export function groupByContainer(procs: readonly ProcInfo[], catalog: ContainerCatalog | null): PsContainer[] {
  const byId = new Map<string, PsContainer>();
  for (const p of [...procs].sort((a, b) => a.pid - b.pid)) {
    if (!p.container) continue;
    let c = byId.get(p.container.id);
    if (!c) {
      const info = catalog ? catalog.enrich(p.container) : p.container;
      c = {
        ...containerJsonObject(info),
        cgroupPath: p.cgroup.path,
        cgroupV1: p.cgroup.v1,
        created: catalog?.peek(info.id)?.created ?? null,
        processes: [],
      };
      byId.set(info.id, c);
    }
    c.processes.push({ pid: p.pid, nspid: p.nspid, ppid: p.ppid, uid: p.uid, comm: p.comm, argv: p.argv });
  }
  return [...byId.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/** `3m ago`, `2h ago`, `5d ago`; `-` when unknown. */
export function startedAgo(created: string | null, now = Date.now()): string {
  const t = created ? Date.parse(created) : NaN;
  if (!Number.isFinite(t)) return '-';
  const s = Math.max(0, Math.round((now - t) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86400)}d ago`;
}

function podOf(c: PsContainer): string {
  if (c.podName) return c.podNamespace ? `${c.podNamespace}/${c.podName}` : c.podName;
  return c.podUid ?? '-';
}

function command(p: PsProcess): string {
  const cmd = p.argv.length ? p.argv.join(' ') : `[${p.comm}]`;
  return escapeControl(cmd);
}

/** Aligned columns; the last (the command) is not padded. */
export function formatPsTable(containers: readonly PsContainer[], now = Date.now()): string {
  const header = ['CONTAINER', 'RUNTIME', 'NAME', 'POD', 'IMAGE', 'STARTED', 'PID', 'NSPID', 'PPID', 'UID', 'COMMAND'];
  const rows: string[][] = [header];
  for (const c of containers) {
    for (const p of c.processes) {
      rows.push([
        c.id.slice(0, 12),
        c.runtime,
        escapeControl(c.name ?? '-'),
        escapeControl(podOf(c)),
        escapeControl(c.image ?? '-'),
        startedAgo(c.created, now),
        String(p.pid),
        String(p.nspid),
        String(p.ppid),
        String(p.uid),
        command(p),
      ]);
    }
  }
  const widths = header.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows
    .map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  '))
    .join('\n');
}

/** Containers (and their processes) the filter selects; a container with no selected process is left out. */
export function filterContainers(containers: readonly PsContainer[], filter: EventFilter | undefined): PsContainer[] {
  const f = compileFilter(filter);
  if (f.empty) return [...containers];
  const out: PsContainer[] = [];
  for (const c of containers) {
    if (!f.container(c)) continue;
    const processes = c.processes.filter(
      (p) =>
        f.event({ type: 'exec', uid: p.uid, comm: p.comm, exec: { filename: p.argv[0] ?? '', argv: p.argv }, container: c } as never),
    );
    if (processes.length) out.push({ ...c, processes });
  }
  return out;
}

export function psCommand(opts: PsOptions, out: Writable, err?: Writable): number {
  const inv = scanProcesses({ details: 'containers' });
  const catalog = new ContainerCatalog({ lookup: 'sync' });
  const containers = filterContainers(groupByContainer(inv.processes, catalog), opts.filter);
  if (opts.filter && compileFilter(opts.filter).selectsContainers && containers.length === 0) {
    // not an error: the container may not have started yet
    err?.write(`ctrace: note: no running container matches ${describeContainerFilter(opts.filter)}\n`);
  }
  if (opts.output === 'json') {
    // a JSON array of containers ([] when there are none), as docker/podman ps --format json
    // (one container a line inside it, so it still greps)
    out.write(containers.length ? `[\n${containers.map((c) => JSON.stringify(c)).join(',\n')}\n]\n` : '[]\n');
  } else {
    out.write(formatPsTable(containers) + '\n');
  }
  return 0;
}
