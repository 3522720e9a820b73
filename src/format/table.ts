/**
 * The human form: one aligned line per event, for a terminal. Everything that
 * came from the traced process is escaped so it cannot drive the terminal.
 */
import { escapeControl } from '../bytes.js';
import type { TraceEvent } from '../event.js';

const COLS: Array<[string, number]> = [
  ['TIME', 12],
  ['EVENT', 5],
  ['CONTAINER', 12],
  ['RUNTIME', 10],
  ['PID', 7],
  ['NSPID', 6],
  ['PPID', 7],
  ['UID', 5],
  ['COMM', 16],
];

function pad(s: string, n: number): string {
  return s.length >= n ? s : s + ' '.repeat(n - s.length);
}

export function tableHeader(): string {
  return COLS.map(([name, w]) => pad(name, w)).join(' ') + ' DETAILS';
}

function fmtDuration(ns: number): string {
  if (ns < 1e6) return `${(ns / 1e3).toFixed(0)}µs`;
  if (ns < 1e9) return `${(ns / 1e6).toFixed(1)}ms`;
  return `${(ns / 1e9).toFixed(2)}s`;
}

function shellWord(a: string): string {
  return /[\s"']/.test(a) || a === '' ? JSON.stringify(a) : a;
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
        [filename + (ev.exec.filenameTruncated ? '…' : ''), ...args.map(shellWord)].join(' ') +
        (ev.exec.argvTruncated ? ' …' : '') +
        why(ev)
      );
    }
    case 'exit':
      return (
        (ev.exit.signal ? `signal=${ev.exit.signal}${ev.exit.coreDumped ? ' (core)' : ''}` : `code=${ev.exit.code}`) +
        ` after ${fmtDuration(Number(ev.exit.durationNs))}` +
        why(ev)
      );
    case 'mount': {
      const m = ev.mount;
      const cut = (s: string | null, t: boolean | undefined) => (s ?? '-') + (t ? '…' : '');
      return (
        `${m.op === 'move_mount' ? 'move_mount ' : ''}${cut(m.source, m.sourceTruncated)} on ${cut(m.target, m.targetTruncated)} ` +
        `type ${m.fstype ? cut(m.fstype, m.fstypeTruncated) : '-'} flags=0x${m.flags.toString(16)} ret=${m.ret}` +
        (m.argsChanged ? ' [ARGS CHANGED DURING CALL]' : '') +
        (m.argsUnverified ? ' [unverified]' : '') +
        why(ev)
      );
    }
  }
}

/** The reason an event's scope is not what its cgroup says, for the eye. */
function why(ev: TraceEvent): string {
  return ev.reason ? ` [${ev.reason}]` : '';
}

export function toTableLine(ev: TraceEvent): string {
  const c = ev.container;
  const cells = [
    ev.time.slice(11, 23),
    ev.type,
    c ? c.id.slice(0, 12) : ev.scope === 'host' ? '(host)' : '(unknown)',
    c ? c.runtime : '-',
    String(ev.pid),
    String(ev.nspid),
    String(ev.ppid),
    String(ev.uid),
    ev.comm,
  ];
  return escapeControl(cells.map((v, i) => pad(v, COLS[i]![1])).join(' ') + ' ' + details(ev));
}
