/**
 * Options shared by several commands: the filter vocabulary (run, read, ps), the table's
 * look (--wide, --color), time bounds, the ring size, and --config files.
 */
import { readFileSync } from 'node:fs';
import { Command, InvalidArgumentError, Option } from 'commander';
import { parse as parseYaml } from 'yaml';
import { RUNTIMES, type EventType, type Runtime } from '../events/event.js';
import type { EventFilter } from '../classify/filter.js';
import type { TableOptions } from '../format/table.js';

export const EVENT_TYPES: EventType[] = ['exec', 'exit', 'mount'];

export function parseEvents(value: string): EventType[] {
  const list = value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const e of list) {
    if (!EVENT_TYPES.includes(e as EventType)) {
      throw new InvalidArgumentError(`unknown event type '${e}' (expected ${EVENT_TYPES.join(', ')})`);
    }
  }
  if (list.length === 0) throw new InvalidArgumentError('no event types given');
  return list as EventType[];
}

const collect = (value: string, prev: string[] | undefined): string[] => [...(prev ?? []), value];

function collectRuntime(value: string, prev: Runtime[] | undefined): Runtime[] {
  if (!(RUNTIMES as readonly string[]).includes(value)) {
    throw new InvalidArgumentError(`unknown runtime '${value}' (expected ${RUNTIMES.join(', ')})`);
  }
  return [...(prev ?? []), value as Runtime];
}

function collectUid(value: string, prev: number[] | undefined): number[] {
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n > 0xffffffff) throw new InvalidArgumentError(`not a uid: '${value}'`);
  return [...(prev ?? []), n];
}

function runtimeOption(): Option {
  const o = new Option('-r, --runtime <name>', 'only containers of this runtime; repeat for more').argParser(collectRuntime);
  o.argChoices = [...RUNTIMES]; // for --help and completion; collectRuntime checks them
  return o;
}

/** The filter flags; repeated flags are alternatives, different flags must all match. */
export function addFilterOptions(cmd: Command, opts: { events: boolean }): Command {
  cmd
    .option('-c, --container <id|name>', 'only this container: id prefix or name (glob); repeat for more', collect)
    .option('-p, --pod <uid|ns/name>', 'only this Kubernetes pod: UID prefix, namespace/name or name (glob); repeat for more', collect)
    .option('-n, --namespace <ns>', 'only pods of this Kubernetes namespace (glob); repeat for more', collect)
    .addOption(runtimeOption())
    .option('--comm <glob>', "only tasks whose comm matches (e.g. 'sh', 'python*'); repeat for more", collect)
    .option('--binary <glob>', "only execs of this file (a pattern without '/' matches the base name); repeat for more", collect)
    .option('-u, --uid <uid>', 'only tasks of this user id; repeat for more', collectUid);
  if (opts.events) cmd.option('-e, --events <list>', 'event types, comma-separated: exec,exit,mount', parseEvents);
  return cmd;
}

/** The filter the flags describe (event types are left to the caller: run traces only those). */
export function filterFromOptions(o: Record<string, unknown>): EventFilter {
  return {
    container: o.container as string[] | undefined,
    pod: o.pod as string[] | undefined,
    namespace: o.namespace as string[] | undefined,
    runtime: o.runtime as Runtime[] | undefined,
    comm: o.comm as string[] | undefined,
    binary: o.binary as string[] | undefined,
    uid: o.uid as number[] | undefined,
  };
}

export function addTableOptions(cmd: Command): Command {
  return cmd
    .option('-w, --wide', 'table: every column, nothing cut (lines may wrap)')
    .addOption(
      new Option('--color <when>', 'table colours: auto (a terminal, unless NO_COLOR is set), always, never')
        .choices(['auto', 'always', 'never'])
        .default('auto'),
    );
}

/** Table options for this stream: its width, and colour as --color and NO_COLOR (no-color.org) say. */
export function tableOptionsFor(
  out: { isTTY?: boolean; columns?: number; rows?: number },
  o: { wide?: boolean; color?: string },
  env: NodeJS.ProcessEnv = process.env,
): TableOptions {
  const envColumns = Number(env.COLUMNS);
  const columns = out.isTTY && out.columns ? out.columns : Number.isInteger(envColumns) && envColumns > 0 ? envColumns : undefined;
  const auto = !!out.isTTY && !env.NO_COLOR && env.TERM !== 'dumb';
  return {
    columns,
    wide: !!o.wide,
    color: o.color === 'always' ? true : o.color === 'never' ? false : auto,
    // a terminal keeps the header in sight: again after each screenful
    headerEvery: out.isTTY && out.rows && out.rows > 4 ? out.rows - 1 : 0,
  };
}

const UNITS_MS: Record<string, number> = { ms: 1, s: 1e3, m: 60e3, h: 3600e3, d: 86400e3, w: 7 * 86400e3 };

/** RFC 3339 (`2026-11-30T12:00:00Z`, `…+01:00`) or a time ago (`10m`, `2h`, `1d`), as ms since the epoch. */
export function parseTimeBound(value: string, now: () => number = Date.now): number {
  const rel = /^(\d+(?:\.\d+)?)(ms|s|m|h|d|w)$/.exec(value);
  if (rel) return now() - Number(rel[1]) * UNITS_MS[rel[2]!]!;
  if (/^\d{4}-\d{2}-\d{2}([Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([Zz]|[+-]\d{2}:\d{2}))?$/.test(value)) {
    const ms = Date.parse(value.replace(' ', 'T'));
    if (Number.isFinite(ms)) return ms;
  }
  throw new InvalidArgumentError(`not a time: '${value}' (RFC 3339 such as 2026-11-30T12:00:00Z, or a time ago such as 10m, 2h, 1d)`);
}

/** Whole bytes with an optional binary unit: `4096`, `512K`, `8M`, `64MiB`, `1G`; null when it is not one. */
function bytesOf(value: string): number | null {
  const m = /^(\d+)([KMG]i?B?)?$/i.exec(value.trim());
  if (!m) return null;
  const mult = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 }[(m[2] ?? '').charAt(0).toUpperCase() as '' | 'K' | 'M' | 'G'];
  return Number(m[1]) * mult;
}

/** A ring buffer size: a power of two from 4 KiB (one page) to 1 GiB; `8M`, `64M`, `1048576`. */
export function parseRingSize(value: string): number {
  const n = bytesOf(value);
  if (n === null) throw new InvalidArgumentError(`not a size: '${value}' (e.g. 8M, 64M)`);
  if (n < 4096 || n > 1024 ** 3 || (n & (n - 1)) !== 0) {
    throw new InvalidArgumentError(`ring size must be a power of two from 4K to 1G: '${value}'`);
  }
  return n;
}

/** Bytes of binaries hashed per second: `64M`, `512K`, `0` (no limit); at most 1G. */
export function parseHashBudget(value: string): number {
  const n = bytesOf(value);
  if (n === null) throw new InvalidArgumentError(`not a size: '${value}' (e.g. 64M, 512K, 0 for no limit)`);
  if (n > 1024 ** 3) throw new InvalidArgumentError(`hash budget too large: '${value}' (at most 1G a second, or 0 for no limit)`);
  return n;
}

/** A chain head as `ctrace run` prints it: 64 hex digits. */
export function parseHeadHash(value: string): string {
  if (!/^[0-9a-f]{64}$/i.test(value)) throw new InvalidArgumentError(`not a chain head (64 hex digits): '${value}'`);
  return value.toLowerCase();
}

/**
 * Applies a --config file (YAML or JSON: the long option names as keys, kebab-case or
 * camelCase) to `cmd`'s options that the command line did not set: flags win. Values go
 * through each option's own parser, so the file is validated as the flags are; a list is
 * a repeated flag. Throws InvalidArgumentError for an unreadable file or an unknown key.
 */
export function applyConfigFile(cmd: Command, path: string): void {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new InvalidArgumentError(`cannot read config ${path}: ${(e as Error).message}`);
  }
  let doc: unknown;
  try {
    doc = parseYaml(text); // JSON is YAML
  } catch (e) {
    throw new InvalidArgumentError(`config ${path}: ${(e as Error).message.split('\n')[0]}`);
  }
  if (doc === null || doc === undefined) return;
  if (typeof doc !== 'object' || Array.isArray(doc)) throw new InvalidArgumentError(`config ${path}: expected a mapping of option names to values`);
  for (const [rawKey, value] of Object.entries(doc as Record<string, unknown>)) {
    const long = '--' + rawKey.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase());
    const opt = cmd.options.find((o) => o.long === long);
    if (!opt || long === '--config') throw new InvalidArgumentError(`config ${path}: unknown option '${rawKey}'`);
    const key = opt.attributeName();
    const src = cmd.getOptionValueSource(key);
    if (src === 'cli' || src === 'env') continue;
    const fail = (why: string) => new InvalidArgumentError(`config ${path}: ${rawKey}: ${why}`);
    let v: unknown;
    if (opt.negate) {
      if (typeof value !== 'boolean') throw fail('expected true or false');
      v = !value ? false : cmd.getOptionValue(key);
    } else if (!opt.required && !opt.optional) {
      if (typeof value !== 'boolean') throw fail('expected true or false');
      v = value || undefined;
    } else {
      const items = Array.isArray(value) ? value : [value];
      let acc: unknown = undefined;
      for (const item of items) {
        if (item === null || typeof item === 'object') throw fail('expected a value or a list of values');
        const s = String(item);
        if (opt.argChoices && !opt.argChoices.includes(s)) throw fail(`'${s}' is not one of ${opt.argChoices.join(', ')}`);
        try {
          acc = opt.parseArg ? opt.parseArg(s, acc as never) : s;
        } catch (e) {
          throw fail((e as Error).message);
        }
      }
      v = acc;
    }
    if (v !== undefined) cmd.setOptionValueWithSource(key, v, 'config');
  }
}
