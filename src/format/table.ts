/**
 * The human form: one aligned line per event, for a terminal. The line fits the terminal:
 * the columns shown and their widths come from its width (80, 120, 160+), the container is
 * named (`namespace/pod/container` for Kubernetes, the short id only when there is no name),
 * and what does not fit is cut with an ellipsis rather than wrapped (`wide` shows
 * everything). A value wider than its column (a 7-digit PID, a rootless UID) widens the
 * column for good and the header is printed again, so the columns below it stay aligned.
 * Everything that came from the traced process is escaped so it cannot drive the terminal;
 * colour codes are added after escaping and padding.
 */
import { escapeControl } from '../util/bytes.js';
import type { TraceEvent } from '../events/event.js';
import { errnoName, humanDuration, mountFlagNames, signalName } from './names.js';

export interface TableOptions {
  /** terminal width; undefined: nothing is cut (a pipe, a file) */
  columns?: number;
  /** every column, nothing cut */
  wide?: boolean;
  /** ANSI colours */
  color?: boolean;
  /** print the header again after this many lines (a terminal's height); 0: never */
  headerEvery?: number;
}

type Key = 'time' | 'event' | 'container' | 'runtime' | 'pid' | 'nspid' | 'ppid' | 'uid' | 'comm' | 'parent';

const TITLES: Record<Key, string> = {
  time: 'TIME',
  event: 'EVENT',
  container: 'CONTAINER',
  runtime: 'RUNTIME',
  pid: 'PID',
  nspid: 'NSPID',
  ppid: 'PPID',
  uid: 'UID',
  comm: 'COMM',
  parent: 'PARENT',
};
const NUMERIC = new Set<Key>(['pid', 'nspid', 'ppid', 'uid']);
/** Never cut: the column widens instead (numbers, and the runtime's closed set of names). */
const WHOLE = new Set<Key>([...NUMERIC, 'runtime', 'event']);
/** Cut in the middle: both ends of `namespace/pod/container` say something. */
const MIDDLE_CUT = new Set<Key>(['container']);

/** Column sets by terminal width; DETAILS takes the rest of the line. */
const LAYOUTS: Array<{ minColumns: number; cols: Array<[Key, number]> }> = [
  {
    minColumns: 0,
    cols: [['time', 8], ['event', 5], ['container', 16], ['pid', 7], ['comm', 10]],
  },
  {
    minColumns: 100,
    // UID 6 wide: rootless containers map to 100000 and up
    cols: [['time', 12], ['event', 5], ['container', 24], ['pid', 7], ['uid', 6], ['comm', 15], ['parent', 15]],
  },
  {
    minColumns: 150,
    cols: [
      ['time', 12],
      ['event', 5],
      ['container', 30],
      ['runtime', 14], // systemd-nspawn
      ['pid', 7],
      ['nspid', 6],
      ['ppid', 7],
      ['uid', 6],
      ['comm', 15],
      ['parent', 15],
    ],
  },
];
/** DETAILS gets at least this much, even on a very narrow terminal. */
const MIN_DETAILS = 20;

const SGR = {
  reset: '\x1b[0m',
  bold: '\x1b[1m',
  dim: '\x1b[2m',
  red: '\x1b[31m',
  green: '\x1b[32m',
  yellow: '\x1b[33m',
  blue: '\x1b[34m',
  magenta: '\x1b[35m',
  cyan: '\x1b[36m',
};

function len(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

/** Cut to `n` characters with an ellipsis, at the end or in the middle. */
export function ellipsize(s: string, n: number, where: 'end' | 'middle' = 'end'): string {
  const chars = [...s];
  if (chars.length <= n) return s;
  if (n <= 1) return '…'.slice(0, n);
  if (where === 'end') return chars.slice(0, n - 1).join('') + '…';
  const head = Math.ceil((n - 1) / 2);
  const tail = n - 1 - head;
  return chars.slice(0, head).join('') + '…' + (tail ? chars.slice(-tail).join('') : '');
}

/** A 64-hex id as docker shows it (12); other ids (an nspawn machine name) whole. */
const shortId = (id: string) => (/^[0-9a-f]{64}$/.test(id) ? id.slice(0, 12) : id);

/**
 * How to name the container, longest first: `namespace/pod/container` for Kubernetes,
 * then `pod/container`, then the pod; otherwise its name, else the short id. `(host)`,
 * `(unknown)` for the rest.
 */
export function containerLabels(ev: TraceEvent): string[] {
  const c = ev.container;
  if (!c) return [ev.scope === 'host' ? '(host)' : '(unknown)'];
  if (c.podName) {
    const name = c.name ?? shortId(c.id);
    const full = c.podNamespace ? [`${c.podNamespace}/${c.podName}/${name}`] : [];
    return [...full, `${c.podName}/${name}`, c.podName];
  }
  return [c.name || shortId(c.id)];
}

export function containerLabel(ev: TraceEvent): string {
  return containerLabels(ev)[0]!;
}

/** The longest label that fits `width`, else the shortest cut in the middle. */
function fitLabel(labels: string[], width: number): string {
  return labels.find((l) => len(l) <= width) ?? labels[labels.length - 1]!;
}

function shellWord(a: string): string {
  return /[\s"']/.test(a) || a === '' ? JSON.stringify(a) : a;
}

/** Whether the event reports a failure: a non-zero exit, a kill, a failed mount. */
export function failed(ev: TraceEvent): 'error' | 'warn' | null {
  if (ev.type === 'exit') return ev.exit.signal ? 'error' : ev.exit.code !== 0 ? 'warn' : null;
  if (ev.type === 'mount') return ev.mount.ret < 0 ? 'error' : null;
  return null;
}

export function details(ev: TraceEvent): string {
  switch (ev.type) {
    case 'exec': {
      // argv[0] is shown only when it is not just the file's name: a renamed argv[0] matters
      const { filename, argv } = ev.exec;
      const a0 = argv[0];
      const base = filename.slice(filename.lastIndexOf('/') + 1);
      const args = a0 === filename || a0 === base ? argv.slice(1) : argv;
      return (
        entryMark(ev) +
        [filename + (ev.exec.filenameTruncated ? '…' : ''), ...args.map(shellWord)].join(' ') +
        (ev.exec.argvTruncated ? ' …' : '') +
        binaryMarks(ev) +
        why(ev)
      );
    }
    case 'exit': {
      const x = ev.exit;
      const how = x.signal
        ? `killed by ${signalName(x.signal)}${x.coreDumped ? ' (core dumped)' : ''}`
        : `exited ${x.code}`;
      return `${how} after ${humanDuration(Number(x.durationNs))}` + why(ev);
    }
    case 'mount': {
      const m = ev.mount;
      const cut = (s: string, t: boolean | undefined) => s + (t ? '…' : '');
      const parts: string[] = [];
      if (m.op === 'move_mount') parts.push('move_mount');
      if (m.source) parts.push(cut(m.source, m.sourceTruncated));
      if (m.target) {
        const target = cut(m.target, m.targetTruncated);
        parts.push(m.source || m.op === 'move_mount' ? `on ${target}` : target);
      }
      if (m.fstype) parts.push(`type ${cut(m.fstype, m.fstypeTruncated)}`);
      if (m.flags) parts.push(`(${mountFlagNames(m.flags, m.op)})`);
      if (m.ret < 0) parts.push(`→ ${errnoName(Number(m.ret))}`);
      else if (m.ret > 0) parts.push(`→ ${m.ret}`);
      if (m.argsChanged) parts.push('[ARGS CHANGED DURING CALL]');
      if (m.argsUnverified) parts.push('[unverified]');
      return (parts.length ? parts.join(' ') : m.op) + why(ev);
    }
  }
}

/** An exec whose parent is outside the container: someone entered it, and through what. */
function entryMark(ev: TraceEvent): string {
  if (ev.type !== 'exec' || !ev.exec.entry) return '';
  const from = ev.exec.ancestors?.[0];
  return `[ENTRY${from ? ` from ${from.comm}` : ''}] `;
}

/** A binary that is not the image's, or no file at all. */
function binaryMarks(ev: TraceEvent): string {
  const b = ev.type === 'exec' ? ev.exec.binary : null;
  if (!b) return '';
  const marks = [b.memfd ? 'memfd' : b.deleted ? 'deleted' : '', b.upperLayer ? 'upper layer' : ''].filter(Boolean);
  return marks.length ? ` [${marks.join(', ')}]` : '';
}

/** The parent's comm: an exec's nearest ancestor (known even when it has exited). */
function parentComm(ev: TraceEvent): string {
  return ev.type === 'exec' ? (ev.exec.ancestors?.[0]?.comm ?? '-') : '-';
}

/** The reason an event's scope is not what its cgroup says, for the eye. */
function why(ev: TraceEvent): string {
  return ev.reason ? ` [${ev.reason}]` : '';
}

function cell(ev: TraceEvent, key: Key, timeWidth: number, containerWidth: number | null): string {
  switch (key) {
    case 'time':
      return ev.time.slice(11, 11 + timeWidth);
    case 'event':
      return ev.type;
    case 'container':
      return containerWidth === null ? containerLabel(ev) : fitLabel(containerLabels(ev), containerWidth);
    case 'runtime':
      return ev.container?.runtime ?? '-';
    case 'pid':
      return String(ev.pid);
    case 'nspid':
      return String(ev.nspid);
    case 'ppid':
      return String(ev.ppid);
    case 'uid':
      return String(ev.uid);
    case 'comm':
      return ev.comm;
    case 'parent':
      return parentComm(ev);
  }
}

/**
 * Formats a stream of events as table lines. Stateful: it remembers the widths it has
 * printed, so the header comes first, and again when a column had to widen or every
 * `headerEvery` lines.
 */
export class TableFormatter {
  private readonly cols: Array<{ key: Key; width: number }>;
  private readonly fit: boolean;
  private readonly color: boolean;
  private readonly headerEvery: number;
  private readonly columns: number | undefined;
  private sinceHeader = -1;

  constructor(opts: TableOptions = {}) {
    const columns = opts.columns && opts.columns > 0 ? opts.columns : undefined;
    this.fit = !opts.wide && columns !== undefined;
    const layout = this.fit
      ? [...LAYOUTS].reverse().find((l) => columns! >= l.minColumns)!
      : LAYOUTS[LAYOUTS.length - 1]!;
    this.cols = layout.cols.map(([key, width]) => ({ key, width }));
    // a wide terminal gives part of its room to the container's name (up to pod/container)
    const container = this.cols.find((c) => c.key === 'container')!;
    if (this.fit && layout.minColumns >= 150) container.width = Math.min(48, container.width + Math.max(0, Math.floor((columns! - 160) / 2)));
    this.columns = columns;
    this.color = !!opts.color;
    this.headerEvery = opts.headerEvery ?? 0;
  }

  /** The header line (it restarts the `headerEvery` count). */
  header(): string {
    this.sinceHeader = 0;
    const line = this.cols.map((c) => this.pad(TITLES[c.key], c)).join(' ') + ' DETAILS';
    return this.color ? SGR.bold + line + SGR.reset : line;
  }

  /** The event's line, preceded by the header when it is due. */
  lines(ev: TraceEvent): string[] {
    const timeWidth = this.cols[0]!.width;
    const cw = this.fit ? (this.cols.find((c) => c.key === 'container')?.width ?? null) : null;
    const cells = this.cols.map((c) => escapeControl(cell(ev, c.key, timeWidth, cw)));
    let widened = false;
    for (let i = 0; i < cells.length; i++) {
      const c = this.cols[i]!;
      // numbers are never cut: the column widens; in --wide (or a pipe) nothing is cut
      if ((WHOLE.has(c.key) || !this.fit) && len(cells[i]!) > c.width) {
        c.width = len(cells[i]!);
        widened = true;
      }
    }
    const out: string[] = [];
    if (this.sinceHeader < 0 || (widened && this.sinceHeader > 0) || (this.headerEvery > 0 && this.sinceHeader >= this.headerEvery)) {
      out.push(this.header());
    }
    this.sinceHeader++;
    const used = this.cols.reduce((n, c) => n + c.width + 1, 0);
    let det = escapeControl(details(ev));
    if (this.fit) det = ellipsize(det, Math.max(MIN_DETAILS, this.columns! - used));
    const parts = this.cols.map((c, i) => this.paint(c.key, this.pad(cells[i]!, c), ev));
    out.push(parts.join(' ') + ' ' + this.paintDetails(det, ev));
    return out;
  }

  /** A line that is not an event (a log's start, stop, lost records): cut to fit, red for an error. */
  note(text: string, level?: 'error'): string {
    const line = this.fit ? ellipsize(text, this.columns!) : text;
    return this.color && level === 'error' ? SGR.red + line + SGR.reset : line;
  }

  private pad(s: string, c: { key: Key; width: number }): string {
    const cut = this.fit ? ellipsize(s, c.width, MIDDLE_CUT.has(c.key) ? 'middle' : 'end') : s;
    const fill = ' '.repeat(Math.max(0, c.width - len(cut)));
    return NUMERIC.has(c.key) ? fill + cut : cut + fill;
  }

  private paint(key: Key, text: string, ev: TraceEvent): string {
    if (!this.color) return text;
    if (key === 'event') {
      const f = failed(ev);
      const colour = f === 'error' ? SGR.red : f === 'warn' ? SGR.yellow : ev.type === 'exec' ? SGR.green : ev.type === 'exit' ? SGR.blue : SGR.magenta;
      return colour + text + SGR.reset;
    }
    if (key === 'container') return (ev.container ? SGR.cyan : SGR.dim) + text + SGR.reset;
    if (key === 'time') return SGR.dim + text + SGR.reset;
    return text;
  }

  private paintDetails(text: string, ev: TraceEvent): string {
    if (!this.color) return text;
    if (ev.type === 'exec' && ev.exec.entry) return SGR.bold + SGR.red + text + SGR.reset;
    const f = failed(ev);
    if (f === 'error') return SGR.red + text + SGR.reset;
    if (f === 'warn') return SGR.yellow + text + SGR.reset;
    return text;
  }
}

/**
 * The process's terminal table: `ctrace run` and `ctrace read` configure it from the
 * terminal and their options; the stdout sink prints `tableHeader()` once, then
 * `toTableLine()` per event (a line that may start with a repeated header).
 */
let shared = new TableFormatter();

export function configureTable(opts: TableOptions): void {
  shared = new TableFormatter(opts);
}

export function tableHeader(): string {
  return shared.header();
}

export function toTableLine(ev: TraceEvent): string {
  return shared.lines(ev).join('\n');
}

export function tableNote(text: string, level?: 'error'): string {
  return shared.note(text, level);
}
