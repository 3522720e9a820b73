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

/**
 * A damaged tail ctrace moved aside at start-up: `<log>.<UTC time>.damaged`. Never pruned by
 * --log-keep (it is evidence of a crash or of tampering), and verify knows it ends cut short.
 */
export const DAMAGED_SUFFIX = '.damaged';

export function isDamagedName(base: string, name: string): boolean {
  return name.endsWith(DAMAGED_SUFFIX) && isRotatedName(base, name.slice(0, -DAMAGED_SUFFIX.length));
}

/** True for a rotated or damaged-tail file name (`<log>.<time>`, `<log>.<time>.damaged`), whatever the log. */
export function isRotatedFile(path: string): boolean {
  return /\.\d{8}T\d{6}\.\d{3}Z(?:-\d{3})?(?:\.damaged)?$/.test(basename(path));
}

/** A free name for moving a damaged tail of `path` aside at time `d`. */
export function damagedPath(path: string, d: Date): string {
  const stem = `${path}.${timeStamp(d)}`;
  let candidate = stem + DAMAGED_SUFFIX;
  for (let i = 1; existsSync(candidate); i++) candidate = `${stem}-${String(i).padStart(3, '0')}${DAMAGED_SUFFIX}`;
  return candidate;
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

/** The rotated files of the log at `path`, damaged tails moved aside among them, oldest first (full paths). */
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
    .filter((n) => isRotatedName(base, n) || isDamagedName(base, n))
    .sort()
    .map((n) => join(dir, n));
}
