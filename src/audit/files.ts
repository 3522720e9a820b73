/**
 * Names of rotated audit-log files: `<log>.<UTC time>`, e.g.
 * `ctrace.log.20261123T031500.123Z`, so that a plain sort is time order
 * (a rare second rotation within the same millisecond gets `-001`, `-002`...).
 */
import { existsSync, readdirSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

const STAMP = /^\d{8}T\d{6}\.\d{3}Z(?:-\d{3})?$/;

export function timeStamp(d: Date): string {
  // 2026-11-23T03:15:00.123Z -> 20261123T031500.123Z
  return d.toISOString().replace(/[-:]/g, '');
}

/** True when `name` (a base name) is a rotated file of the log whose base name is `base`. */
export function isRotatedName(base: string, name: string): boolean {
  return name.startsWith(base + '.') && STAMP.test(name.slice(base.length + 1));
}

/** A free rotated name for `path` at time `d`, avoiding names in `taken`. */
export function rotatedPath(path: string, d: Date, taken: Set<string> = new Set()): string {
  const stem = `${path}.${timeStamp(d)}`;
  let candidate = stem;
  for (let i = 1; existsSync(candidate) || taken.has(candidate); i++) {
    candidate = `${stem}-${String(i).padStart(3, '0')}`;
  }
  return candidate;
}

/** The rotated files of the log at `path`, oldest first (full paths). */
export function listRotated(path: string): string[] {
  const dir = dirname(path);
  const base = basename(path);
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names
    .filter((n) => isRotatedName(base, n))
    .sort()
    .map((n) => join(dir, n));
}
