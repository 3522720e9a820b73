/**
 * The terminal form: lines that fit the terminal, the container by name, decoded numbers,
 * colour only when asked, nothing from the traced process able to drive the terminal.
 */
import { describe, expect, it } from 'vitest';
import { configureTable, containerLabel, details, ellipsize, tableHeader, TableFormatter, toTableLine } from '../src/format/table.js';
import { errnoName, humanDuration, mountFlagNames, signalName } from '../src/format/names.js';
import type { ContainerInfo, TraceEvent } from '../src/events/event.js';
import { dockerContainer, execEvent, exitEvent, mountEvent, podContainer } from './helpers/events.js';

const k8s: ContainerInfo = {
  ...podContainer,
  name: 'checkout-api',
  podName: 'checkout-api-7d9f8c6b5-x2x9q',
  podNamespace: 'payments-production',
};
const nspawn: ContainerInfo = { id: 'debian-bookworm-builder', runtime: 'systemd-nspawn', podUid: null, qos: null };
const nginx: ContainerInfo = { ...dockerContainer, name: 'nginx' };

/** The same events for every width: long values everywhere. */
function events(): TraceEvent[] {
  return [
    {
      ...execEvent(1, {
        container: k8s,
        filename: '/usr/local/bin/python3.12',
        argv: ['python3', '-m', 'gunicorn', '--workers', '8', '--bind', '0.0.0.0:8080', 'checkout.wsgi:application', '--timeout', '120'],
      }),
      pid: 4194303,
      ppid: 4194001,
      nspid: 1,
      uid: 100000,
      comm: 'python3',
    },
    { ...execEvent(2, { container: nspawn, filename: '/usr/bin/apt-get', argv: ['apt-get', 'install', '-y', 'build-essential'] }), uid: 165536, comm: 'apt-get' },
    { ...exitEvent(3, { container: nginx, code: 0, signal: 9, coreDumped: true, durationNs: 3_723e9 }), comm: 'nginx' },
    exitEvent(4, { container: nginx, code: 1, signal: 0, durationNs: 1_500_000 }),
    mountEvent(5, { container: k8s, source: '/var/lib/kubelet/pods/x/volumes', target: '/etc/secret', fstype: null, flags: 0x1000 | 0x4000, ret: -1 }),
    mountEvent(6, { container: nspawn, op: 'move_mount', source: null, target: '/proc/sys', fstype: null, flags: 0x4, ret: 0 }),
    { ...execEvent(7, { container: null, filename: '/usr/sbin/sshd', argv: ['sshd', '-D'] }), comm: 'sshd' },
  ];
}

function render(opts: ConstructorParameters<typeof TableFormatter>[0]): string {
  const t = new TableFormatter(opts);
  return events()
    .flatMap((e) => t.lines(e))
    .join('\n');
}

const width = (s: string) => [...s].length;

describe('table that fits the terminal', () => {
  for (const columns of [80, 120, 200]) {
    it(`no line is wider than ${columns} columns; columns stay aligned under the header`, () => {
      const text = render({ columns });
      const lines = text.split('\n');
      for (const l of lines) expect(width(l)).toBeLessThanOrEqual(columns);
      const header = lines[0]!;
      // every line's DETAILS starts where the header's does
      const at = header.indexOf('DETAILS');
      for (const l of lines.slice(1)) expect(l[at - 1]).toBe(' ');
      expect(text).toMatchSnapshot();
    });
  }

  it('120+ columns: the UID; 150+: RUNTIME, NSPID, PPID as well', () => {
    expect(new TableFormatter({ columns: 80 }).header()).not.toContain('UID');
    expect(new TableFormatter({ columns: 120 }).header()).toMatch(/ UID /);
    expect(new TableFormatter({ columns: 120 }).header()).not.toContain('RUNTIME');
    expect(new TableFormatter({ columns: 200 }).header()).toMatch(/RUNTIME .*NSPID .*PPID .*UID/);
  });

  it('names the container: namespace/pod/container for Kubernetes, the name, the short id only without a name', () => {
    const [pod, spawn, named] = events();
    expect(containerLabel(pod!)).toBe('payments-production/checkout-api-7d9f8c6b5-x2x9q/checkout-api');
    expect(containerLabel(spawn!)).toBe('debian-bookworm-builder'); // no name, not a 64-hex id: the id whole
    expect(containerLabel(named!)).toBe('nginx');
    expect(containerLabel(execEvent(1))).toBe(dockerContainer.id.slice(0, 12));
    expect(containerLabel(execEvent(1, { container: null }))).toBe('(host)');
    // narrower: the namespace goes first, then the container name, then the pod is cut in the middle
    expect(new TableFormatter({ columns: 120 }).lines(pod!)[1]).toContain(' checkout-api…8c6b5-x2x9q ');
    expect(new TableFormatter({ columns: 160 }).lines(pod!)[1]).toContain(' checkout-api-7d9f8c6b5-x2x9q ');
    expect(new TableFormatter({ columns: 200 }).lines(pod!)[1]).toContain(' checkout-api-7d9f8c6b5-x2x9q/checkout-api ');
    expect(new TableFormatter({ columns: 80 }).lines(pod!)[1]).toContain(' checkout…5-x2x9q ');
    expect(new TableFormatter({ columns: 80, wide: true }).lines(pod!)[1]).toContain(' payments-production/checkout-api-7d9f8c6b5-x2x9q/checkout-api ');
  });

  it('a 7-digit PID and a 100000+ UID are never cut: the column widens and the header is printed again', () => {
    const t = new TableFormatter({ columns: 120 });
    const first = t.lines(execEvent(1, { container: nginx }));
    expect(first).toHaveLength(2); // header + line
    expect(t.lines(execEvent(2, { container: nginx }))).toHaveLength(1);
    const wider = t.lines({ ...execEvent(3, { container: nginx }), pid: 4194303, uid: 4294967294 });
    expect(wider).toHaveLength(2);
    expect(wider[1]).toContain(' 4194303 ');
    expect(wider[1]).toContain(' 4294967294 ');
    expect(wider[0]!.indexOf('DETAILS')).toBe(wider[1]!.indexOf('/bin/sh'));
  });

  it('the header comes back every screenful (headerEvery)', () => {
    const t = new TableFormatter({ columns: 120, headerEvery: 3 });
    const out = [1, 2, 3, 4, 5, 6, 7].flatMap((i) => t.lines(execEvent(i, { container: nginx })));
    expect(out.filter((l) => l.startsWith('TIME')).length).toBe(3);
  });

  it('--wide: every column, nothing cut; without a width (a pipe) the same', () => {
    const wide = render({ columns: 80, wide: true });
    expect(wide).toContain('payments-production/checkout-api-7d9f8c6b5-x2x9q/checkout-api');
    expect(wide).toContain("checkout.wsgi:application --timeout 120");
    expect(wide.split('\n')[0]).toMatch(/RUNTIME/);
    expect(wide).not.toContain('…');
    expect(render({})).toBe(wide);
  });

  it('cuts details with an ellipsis rather than wrapping', () => {
    const line = new TableFormatter({ columns: 80 }).lines(events()[0]!)[1]!;
    expect(width(line)).toBe(80);
    expect(line.endsWith('…')).toBe(true);
    expect(ellipsize('abcdef', 4)).toBe('abc…');
    expect(ellipsize('abcdef', 4, 'middle')).toBe('ab…f');
    expect(ellipsize('abc', 4)).toBe('abc');
  });
});

describe('colour', () => {
  it('off: no escape codes at all', () => {
    expect(render({ columns: 200, color: false })).not.toContain('\x1b');
  });

  it('on: the event type in its colour, failures in red (signal, failed mount) or yellow (non-zero exit)', () => {
    const t = new TableFormatter({ columns: 200, color: true });
    const [exec, , killed, failedExit, failedMount] = events();
    expect(t.header()).toMatch(/^\x1b\[1mTIME/);
    expect(t.lines(exec!).at(-1)).toContain('\x1b[32mexec \x1b[0m');
    const k = t.lines(killed!).at(-1)!;
    expect(k).toContain('\x1b[31mexit \x1b[0m');
    expect(k).toContain('\x1b[31mkilled by SIGKILL (core dumped) after 1h02m\x1b[0m');
    expect(t.lines(failedExit!).at(-1)).toContain('\x1b[33mexited 1 after 1.5ms\x1b[0m');
    expect(t.lines(failedMount!).at(-1)).toContain('\x1b[31mmount\x1b[0m');
    expect(t.lines(exitEvent(9, { container: nginx, code: 0 })).at(-1)).toContain('\x1b[34mexit \x1b[0m');
  });

  it('escape sequences from the traced process are escaped before colour is added', () => {
    const t = new TableFormatter({ columns: 200, color: true });
    const line = t.lines(execEvent(1, { filename: '/bin/x', argv: ['x', '\x1b[2J\x1b[H', 'a\nb'] })).at(-1)!;
    expect(line.replace(/\x1b\[\d+m/g, '')).not.toMatch(/[\x00-\x1f]/);
    expect(line).toContain('\\x1b[2J');
  });
});

describe('numbers as names', () => {
  it('every mount flag by its MS_ name, as mountsnoop prints them', () => {
    const all: Array<[number, string]> = [
      [0x1, 'MS_RDONLY'], [0x2, 'MS_NOSUID'], [0x4, 'MS_NODEV'], [0x8, 'MS_NOEXEC'], [0x10, 'MS_SYNCHRONOUS'],
      [0x20, 'MS_REMOUNT'], [0x40, 'MS_MANDLOCK'], [0x80, 'MS_DIRSYNC'], [0x100, 'MS_NOSYMFOLLOW'], [0x400, 'MS_NOATIME'],
      [0x800, 'MS_NODIRATIME'], [0x1000, 'MS_BIND'], [0x2000, 'MS_MOVE'], [0x4000, 'MS_REC'], [0x8000, 'MS_SILENT'],
      [0x10000, 'MS_POSIXACL'], [0x20000, 'MS_UNBINDABLE'], [0x40000, 'MS_PRIVATE'], [0x80000, 'MS_SLAVE'],
      [0x100000, 'MS_SHARED'], [0x200000, 'MS_RELATIME'], [0x400000, 'MS_KERNMOUNT'], [0x800000, 'MS_I_VERSION'],
      [0x1000000, 'MS_STRICTATIME'], [0x2000000, 'MS_LAZYTIME'], [0x8000000, 'MS_NOREMOTELOCK'], [0x10000000, 'MS_NOSEC'],
      [0x20000000, 'MS_BORN'], [0x40000000, 'MS_ACTIVE'], [0x80000000, 'MS_NOUSER'],
    ];
    for (const [bit, name] of all) expect(mountFlagNames(bit)).toBe(name);
    expect(mountFlagNames(0x1000 | 0x4000)).toBe('MS_BIND|MS_REC');
    expect(mountFlagNames(0x84000)).toBe('MS_REC|MS_SLAVE'); // the flags=0x84000
    expect(mountFlagNames(0)).toBe('0');
    expect(mountFlagNames(0xc0ed0000 + 0x1)).toBe('MS_RDONLY'); // the old MS_MGC_VAL magic is not a flag
    expect(mountFlagNames(2 ** 40 + 0x4000000 + 1)).toBe('MS_RDONLY|0x10004000000'); // unnamed bits stay hex
    expect(mountFlagNames(0x4 | 0x40, 'move_mount')).toBe('MOVE_MOUNT_F_EMPTY_PATH|MOVE_MOUNT_T_EMPTY_PATH');
    expect(mountFlagNames(0x100 | 0x200 | 0x1 | 0x2 | 0x10 | 0x20, 'move_mount')).toBe(
      'MOVE_MOUNT_F_SYMLINKS|MOVE_MOUNT_F_AUTOMOUNTS|MOVE_MOUNT_T_SYMLINKS|MOVE_MOUNT_T_AUTOMOUNTS|MOVE_MOUNT_SET_GROUP|MOVE_MOUNT_BENEATH',
    );
  });

  it('errno names for a failed syscall', () => {
    const cases: Array<[number, string]> = [
      [-1, 'EPERM'], [-2, 'ENOENT'], [-5, 'EIO'], [-11, 'EAGAIN'], [-12, 'ENOMEM'], [-13, 'EACCES'], [-14, 'EFAULT'],
      [-16, 'EBUSY'], [-17, 'EEXIST'], [-19, 'ENODEV'], [-20, 'ENOTDIR'], [-22, 'EINVAL'], [-28, 'ENOSPC'], [-30, 'EROFS'],
      [-38, 'ENOSYS'], [-95, 'ENOTSUP'],
    ];
    for (const [ret, name] of cases) expect(errnoName(ret)).toBe(name);
    expect(errnoName(-4000)).toBe('errno 4000');
  });

  it('signal names', () => {
    const cases: Array<[number, string]> = [
      [1, 'SIGHUP'], [2, 'SIGINT'], [3, 'SIGQUIT'], [4, 'SIGILL'], [5, 'SIGTRAP'], [6, 'SIGABRT'], [7, 'SIGBUS'], [8, 'SIGFPE'],
      [9, 'SIGKILL'], [10, 'SIGUSR1'], [11, 'SIGSEGV'], [12, 'SIGUSR2'], [13, 'SIGPIPE'], [14, 'SIGALRM'], [15, 'SIGTERM'],
      [17, 'SIGCHLD'], [18, 'SIGCONT'], [19, 'SIGSTOP'], [20, 'SIGTSTP'], [24, 'SIGXCPU'], [29, 'SIGIO'], [31, 'SIGSYS'],
      [34, 'SIGRTMIN'], [40, 'SIGRTMIN+6'],
    ];
    for (const [sig, name] of cases) expect(signalName(sig)).toBe(name);
    expect(signalName(99)).toBe('signal 99');
  });

  it('durations a person reads', () => {
    expect(humanDuration(512)).toBe('512ns');
    expect(humanDuration(834_000)).toBe('834µs');
    expect(humanDuration(1_500_000)).toBe('1.5ms');
    expect(humanDuration(2e9)).toBe('2.00s');
    expect(humanDuration(192e9)).toBe('3m12s');
    expect(humanDuration(3_723e9)).toBe('1h02m');
    expect(humanDuration(183_600e9)).toBe('2d03h');
  });

  it('details: argv[0] only when renamed; exits and mounts in words; no "- on / type -"', () => {
    expect(details(execEvent(1, { filename: '/usr/bin/python3', argv: ['/usr/bin/python3', 'x.py'] }))).toBe('/usr/bin/python3 x.py');
    expect(details(execEvent(1, { filename: '/usr/bin/nc', argv: ['[kworker/0:1]', '-l'] }))).toBe('/usr/bin/nc [kworker/0:1] -l');
    expect(details(execEvent(1, { filename: '/bin/sh', argv: ['sh', '-c', 'echo hi'] }))).toBe('/bin/sh -c "echo hi"');
    expect(details(exitEvent(1, { code: 7, signal: 0, durationNs: 1_500_000 }))).toBe('exited 7 after 1.5ms');
    expect(details(exitEvent(1, { code: 0, signal: 9, durationNs: 2e9 }))).toBe('killed by SIGKILL after 2.00s');
    expect(details(mountEvent(1, { source: 'none', target: '/mnt', fstype: 'tmpfs', flags: 0, ret: 0 }))).toBe('none on /mnt type tmpfs');
    expect(details(mountEvent(1, { source: '/a', target: '/b', fstype: null, flags: 0x5000, ret: -2 }))).toBe(
      '/a on /b (MS_BIND|MS_REC) → ENOENT',
    );
    expect(details(mountEvent(1, { source: null, target: '/', fstype: null, flags: 0x40000 | 0x4000, ret: 0 }))).toBe(
      '/ (MS_REC|MS_PRIVATE)',
    );
    expect(details(mountEvent(1, { op: 'move_mount', source: null, target: '/proc/sys', fstype: null, flags: 0, ret: 0 }))).toBe(
      'move_mount on /proc/sys',
    );
    expect(details(mountEvent(1, { source: null, target: null, fstype: null, flags: 0, ret: -14 }))).toBe('→ EFAULT');
    for (const e of events()) expect(details(e)).not.toMatch(/(^| )- on|type -/);
  });
});

describe('notes between the events (ctrace read: start, stop, lost)', () => {
  it('are cut to the width, and a loss is red when colour is on', () => {
    const long = 'x'.repeat(200);
    expect(width(new TableFormatter({ columns: 80 }).note(long))).toBe(80);
    expect(new TableFormatter({}).note(long)).toBe(long);
    expect(new TableFormatter({ columns: 80, color: true }).note('LOST 3 events', 'error')).toBe('\x1b[31mLOST 3 events\x1b[0m');
    expect(new TableFormatter({ columns: 80, color: true }).note('start')).toBe('start');
  });
});

describe('the shared table (stdout sink and ctrace read)', () => {
  it('header once, then lines; configureTable() sets the width and colour', () => {
    configureTable({ columns: 80 });
    const h = tableHeader();
    const l = toTableLine(execEvent(1));
    expect(h.startsWith('TIME     EVENT')).toBe(true);
    expect(l.split('\n')).toHaveLength(1);
    expect(width(l)).toBeLessThanOrEqual(80);
    configureTable({});
  });
});

describe('table lines say what cannot be believed', () => {
  it('marks cut strings, changed and unverified mount arguments, and the reason for the scope', () => {
    expect(toTableLine(execEvent(1, { filename: '/dev/fd/3/aaa', argv: ['aaa'], filenameTruncated: true }))).toMatch(/\/dev\/fd\/3\/aaa…$/);
    const raced = mountEvent(1, { source: 'x', target: '/tmp/ra', targetTruncated: true, argsChanged: true, argsUnverified: true });
    expect(toTableLine(raced)).toMatch(/x on \/tmp\/ra… type tmpfs \[ARGS CHANGED DURING CALL\] \[unverified\]$/);
    const hidden = { ...exitEvent(1, { code: 0, signal: 0, durationNs: 1000 }), scope: 'unknown' as const, container: null, reason: 'isolated process in a host cgroup' };
    expect(toTableLine(hidden)).toMatch(/\(unknown\).*exited 0 after 1µs \[isolated process in a host cgroup\]$/);
  });

  it('escapes bidi overrides and zero-width characters from the traced process', () => {
    const line = toTableLine(execEvent(1, { filename: '/bin/x', argv: ['x', 'invoice\u202efdp.exe', 'a\u200bb', 'l\u2028m'] }));
    expect(line).toContain('invoice\\u{202e}fdp.exe');
    expect(line).toContain('a\\u{200b}b');
    expect(line).toContain('l\\u{2028}m');
    expect(line).not.toMatch(/[\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff]/);
  });
});

describe('table: who did it', () => {
  const runc = { processId: 'b:1:900', pid: 900, comm: 'runc', filename: '/usr/sbin/runc', outside: true };
  it('marks an entry into a container with the outside process, and shows the parent comm from 100 columns', () => {
    const entered = execEvent(1, { filename: '/bin/sh', argv: ['sh'], entry: true, ancestors: [runc] });
    expect(details(entered)).toBe('[ENTRY from runc] /bin/sh');
    const t = new TableFormatter({ columns: 120 });
    expect(t.header()).toMatch(/ COMM +PARENT +DETAILS$/);
    expect(t.lines(entered)[0]).toMatch(/ sh +runc +\[ENTRY from runc\] \/bin\/sh$/);
    const child = execEvent(2, { filename: '/bin/ls', argv: ['ls'], entry: false, ancestors: [{ ...runc, comm: 'sh', outside: false }, runc] });
    expect(details(child)).toBe('/bin/ls');
    expect(t.lines(child)[0]).toMatch(/ sh +\/bin\/ls$/);
  });

  it('marks a binary that is not the image s: written in the upper layer, or a memfd', () => {
    const bin = { hostPath: null, sha256: null, hashError: 'x', size: 1, upperLayer: true, memfd: false, deleted: false };
    expect(details(execEvent(1, { filename: '/tmp/x', argv: ['/tmp/x'], binary: bin }))).toBe('/tmp/x [upper layer]');
    expect(details(execEvent(1, { filename: '/dev/fd/3', argv: ['x'], binary: { ...bin, upperLayer: false, memfd: true, deleted: true } }))).toBe(
      '/dev/fd/3 x [memfd]',
    );
  });
});
