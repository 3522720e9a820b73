/**
 * Processes that exist before tracing: hooks are attached, so anything that starts from
 * here on is seen; what already runs is classified from /proc, its verdicts go to the
 * kernel maps, and container processes are remembered (their later mount and exit
 * events are then known from the start). Names of their containers are looked up now.
 */
import type { CgroupPathCache } from '../decode/abi.js';
import type { ContainerCatalog } from '../enrich/containers.js';
import { CgroupResolver, preloadVerdicts, scanProcesses } from '../classify/inventory.js';
import type { NativeProgram } from '../addon/native.js';
import type { ProcessTable } from '../classify/proctable.js';
import type { Verdicts } from '../classify/verdicts.js';

/** What the start-up walk over /proc found and cost. */
export interface StartupReport {
  /** processes in /proc */
  processes: number;
  /** of which in containers */
  containerProcesses: number;
  /** distinct cgroups whose verdict was pre-loaded */
  cgroups: number;
  /** the walk, the classification and the map updates, ms */
  elapsedMs: number;
}

/** v1Controller: the hierarchy the kernel keys processes by (null when BTF has no id for it). */
export function preloadRunning(
  program: NativeProgram,
  verdicts: Verdicts,
  paths: CgroupPathCache,
  table: ProcessTable,
  catalog: ContainerCatalog | null,
  v1Controller: string | null,
): StartupReport {
  const t0 = performance.now();
  const inv = scanProcesses({ details: 'containers', resolver: new CgroupResolver(undefined, v1Controller) });
  preloadVerdicts(program, inv);
  verdicts.preload(inv.cgroups);
  // the kernel leaves the names out of these cgroups' records: it has their verdicts
  for (const [key, path] of inv.cgroupPaths) paths.remember(key, path);
  table.load(inv.processes);
  for (const p of inv.processes) if (p.container) catalog?.enrich(p.container);
  return {
    processes: inv.scanned,
    containerProcesses: inv.processes.length,
    cgroups: inv.cgroups.size,
    elapsedMs: performance.now() - t0,
  };
}
