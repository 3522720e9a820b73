/**
 * The host path of a process's binary. /proc/PID/exe names the file as the process sees
 * it, inside the container's root. The file itself is reachable from the host through
 * the executable's mapping: stat(/proc/PID/map_files/<range>) gives its device and inode
 * (readlink gives its path as the kernel can print it: a host path when the file's mount
 * is reachable from ctrace's root, as an overlayfs layer is, otherwise the in-container
 * path). Candidates are tried in order and the first one whose dev/ino matches wins:
 *
 * 1. the map_files link target, when it is a host path (overlayfs layers: the real file);
 * 2. the container's rootfs (from its OCI state) + the exe path: a stable host path;
 * 3. /proc/PID/root + the exe path: valid while the process lives.
 *
 * Race with exit: the process can exit and its PID be reused between any two reads. The
 * start time (/proc/PID/stat) is read before and after; if it changed (or differs from
 * the one the caller expects), the answer is dropped.
 */
import { readFileSync, readlinkSync, statSync, type Stats } from 'node:fs';
import { PROC, readExe, readStat } from '../util/procfs.js';

export interface BinaryInfo {
  /** the binary's path as the process sees it */
  exe: string;
  /** a host path naming the same file (dev/ino checked), or null */
  hostPath: string | null;
  /** which candidate matched */
  via: 'map_files' | 'rootfs' | 'proc-root' | null;
  dev: number | null;
  ino: number | null;
  /** the exe was replaced or removed since the process started */
  deleted: boolean;
}

const DELETED = ' (deleted)';

function statOrNull(path: string): Stats | null {
  try {
    return statSync(path);
  } catch {
    return null;
  }
}

/**
 * The map_files name of the mapping of `exe` (the first one: the ELF header), from
 * /proc/PID/maps. maps pads addresses with zeros, map_files names do not: 400000-401000.
 */
export function findExeMapping(maps: string, exe: string): string | null {
  const tail = ' ' + exe;
  for (const line of maps.split('\n')) {
    if (!line.endsWith(tail) && !line.endsWith(tail + DELETED)) continue;
    const m = /^([0-9a-f]+)-([0-9a-f]+) /.exec(line);
    if (!m) return null;
    return `${m[1]!.replace(/^0+(?=.)/, '')}-${m[2]!.replace(/^0+(?=.)/, '')}`;
  }
  return null;
}

/**
 * Resolve the host path of `pid`'s binary. `rootfs` is the container's root filesystem
 * on the host (ContainerMeta.rootfs) when known; `startTicks` the process's start time
 * when the caller knows which process it means.
 */
export function resolveBinary(pid: number, rootfs: string | null = null, startTicks: number | null = null): BinaryInfo | null {
  const before = readStat(pid);
  if (!before || (startTicks !== null && before.startTicks !== startTicks)) return null;
  const raw = readExe(pid);
  if (raw === null) return null; // a kernel thread, or gone
  const deleted = raw.endsWith(DELETED);
  const exe = deleted ? raw.slice(0, -DELETED.length) : raw;

  let target: Stats | null = null;
  let linked: string | null = null;
  try {
    const range = findExeMapping(readFileSync(`${PROC}/${pid}/maps`, 'utf8'), exe);
    if (range !== null) {
      const mapFile = `${PROC}/${pid}/map_files/${range}`;
      target = statOrNull(mapFile);
      try {
        linked = readlinkSync(mapFile);
      } catch {
        linked = null;
      }
    }
  } catch {
    // maps unreadable: fall back to the exe link
  }
  // the exe link's file (for an overlayfs binary: the overlay inode; the mapping has the layer's)
  const exeStat = statOrNull(`${PROC}/${pid}/exe`);
  target ??= exeStat;
  if (!target) return null;

  const same = (s: Stats | null) =>
    s !== null && ((s.dev === target!.dev && s.ino === target!.ino) || (exeStat !== null && s.dev === exeStat.dev && s.ino === exeStat.ino));
  let hostPath: string | null = null;
  let via: BinaryInfo['via'] = null;
  if (linked !== null && linked.endsWith(DELETED)) linked = linked.slice(0, -DELETED.length);
  // (for a host process the link is the exe path itself, and it is the same file from here)
  if (linked !== null && same(statOrNull(linked))) {
    hostPath = linked;
    via = 'map_files';
  } else if (rootfs !== null && same(statOrNull(rootfs + exe))) {
    hostPath = rootfs.replace(/\/+$/, '') + exe;
    via = 'rootfs';
  } else if (same(statOrNull(`${PROC}/${pid}/root${exe}`))) {
    hostPath = `${PROC}/${pid}/root${exe}`;
    via = 'proc-root';
  }

  const after = readStat(pid);
  if (!after || after.startTicks !== before.startTicks) return null;
  return { exe, hostPath, via, dev: target.dev, ino: target.ino, deleted };
}
