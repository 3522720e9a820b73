/**
 * `ctrace ps`: every container on the host with its processes (what `docker top` gives
 * for one container, for all of them, with no daemon and no BPF): one walk over /proc,
 * each process attributed by the cgroup the kernel would key it by (src/inventory.ts),
 * names from the runtime's state (src/enrich/).
 */
import type { Writable } from 'node:stream';
import { escapeControl } from '../bytes.js';
import { containerJsonObject } from '../format/json.js';
import { ContainerCatalog } from '../enrich/containers.js';
import type { ContainerInfo } from '../event.js';
import { scanProcesses, type ProcInfo } from '../inventory.js';

export interface PsOptions {
  output: 'table' | 'json';
  /** container id prefix (or exact name) */
  container?: string;
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
  cgroupV1: boolean;
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
        processes: [],
      };
      byId.set(info.id, c);
    }
    c.processes.push({ pid: p.pid, nspid: p.nspid, ppid: p.ppid, uid: p.uid, comm: p.comm, argv: p.argv });
  }
  return [...byId.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

export function matchesContainer(c: PsContainer, filter: string | undefined): boolean {
  return !filter || c.id.startsWith(filter) || c.name === filter;
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
export function formatPsTable(containers: readonly PsContainer[]): string {
  const header = ['CONTAINER', 'RUNTIME', 'NAME', 'POD', 'PID', 'NSPID', 'PPID', 'UID', 'COMMAND'];
  const rows: string[][] = [header];
  for (const c of containers) {
    for (const p of c.processes) {
      rows.push([
        c.id.slice(0, 12),
        c.runtime,
        escapeControl(c.name ?? '-'),
        escapeControl(podOf(c)),
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

export function psCommand(opts: PsOptions, out: Writable): number {
  const inv = scanProcesses({ details: 'containers' });
  const catalog = new ContainerCatalog({ lookup: 'sync' });
  const containers = groupByContainer(inv.processes, catalog).filter((c) => matchesContainer(c, opts.container));
  if (opts.container && containers.length === 0) {
    throw new Error(`no running container matches '${opts.container}'`);
  }
  if (opts.output === 'json') {
    // one container a line, like every other JSON ctrace writes
    if (containers.length) out.write(containers.map((c) => JSON.stringify(c)).join('\n') + '\n');
  } else {
    out.write(formatPsTable(containers) + '\n');
  }
  return 0;
}
