/**
 * The "matches nothing" note: a container filter that matches no container running now is
 * not an error (the container may start later), but a typo should not look like silence.
 */
import { fullContainer } from '../classify/classify.js';
import { ContainerCatalog } from '../enrich/containers.js';
import { compileFilter, describeContainerFilter, type EventFilter } from '../classify/filter.js';
import { scanProcesses } from '../classify/inventory.js';

/** One line for stderr when `filter` selects containers and none running matches; else null. */
export function noContainerMatches(filter: EventFilter | undefined): string | null {
  const f = compileFilter(filter);
  if (!filter || !f.selectsContainers) return null;
  const catalog = new ContainerCatalog({ lookup: 'sync' });
  const seen = new Set<string>();
  for (const p of scanProcesses({ details: 'containers' }).processes) {
    if (!p.container || seen.has(p.container.id)) continue;
    seen.add(p.container.id);
    if (f.container(fullContainer(catalog.enrich(p.container)))) return null;
  }
  return `note: no running container matches ${describeContainerFilter(filter)}; its events will show if one starts`;
}
