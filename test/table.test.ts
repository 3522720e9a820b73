/** The terminal form: one aligned line per event, nothing from the traced process can drive the terminal. */
import { describe, expect, it } from 'vitest';
import { tableHeader, toTableLine } from '../src/format/table.js';
import { execEvent, exitEvent, mountEvent } from './helpers/events.js';

describe('table lines', () => {
  it('aligns columns under the header', () => {
    const header = tableHeader();
    const line = toTableLine(execEvent(1, { filename: '/bin/sh', argv: ['sh', '-c', 'echo hi'] }));
    expect(line.indexOf(' exec ')).toBe(header.indexOf(' EVENT ')); // EVENT column
    expect(line.endsWith('/bin/sh -c "echo hi"')).toBe(true);
  });

  it('shows argv[0] only when it is not the file name', () => {
    expect(toTableLine(execEvent(1, { filename: '/usr/bin/python3', argv: ['/usr/bin/python3', 'x.py'] }))).toMatch(
      /\/usr\/bin\/python3 x\.py$/,
    );
    expect(toTableLine(execEvent(1, { filename: '/usr/bin/nc', argv: ['[kworker/0:1]', '-l'] }))).toMatch(
      /\/usr\/bin\/nc \[kworker\/0:1\] -l$/,
    );
  });

  it('escapes control characters from the traced process', () => {
    const line = toTableLine(execEvent(1, { filename: '/bin/x', argv: ['x', '\x1b[2J\x1b[H', 'a\nb'] }));
    expect(line).not.toMatch(/[\x00-\x1f]/);
    expect(line).toContain('\\x1b[2J');
  });

  it('describes exits and mounts', () => {
    expect(toTableLine(exitEvent(1, { code: 7, signal: 0, durationNs: 1_500_000 }))).toMatch(/code=7 after 1\.5ms$/);
    expect(toTableLine(exitEvent(1, { code: 0, signal: 9, durationNs: 2e9 }))).toMatch(/signal=9 after 2\.00s$/);
    expect(toTableLine(mountEvent(1, { source: 'none', target: '/mnt', fstype: 'tmpfs', flags: 0, ret: 0 }))).toMatch(
      /none on \/mnt type tmpfs flags=0x0 ret=0$/,
    );
  });
});

describe('table lines say what cannot be believed', () => {
  it('marks cut strings, changed and unverified mount arguments, and the reason for the scope', () => {
    expect(toTableLine(execEvent(1, { filename: '/dev/fd/3/aaa', argv: ['aaa'], filenameTruncated: true }))).toMatch(/\/dev\/fd\/3\/aaa…$/);
    const raced = mountEvent(1, { source: 'x', target: '/tmp/ra', targetTruncated: true, argsChanged: true, argsUnverified: true });
    expect(toTableLine(raced)).toMatch(/x on \/tmp\/ra… type tmpfs flags=0x0 ret=0 \[ARGS CHANGED DURING CALL\] \[unverified\]$/);
    const hidden = { ...exitEvent(1, { code: 0, signal: 0, durationNs: 1000 }), scope: 'unknown' as const, container: null, reason: 'isolated process in a host cgroup' };
    expect(toTableLine(hidden)).toMatch(/\(unknown\).*code=0 after 1µs \[isolated process in a host cgroup\]$/);
  });

  it('escapes bidi overrides and zero-width characters from the traced process', () => {
    const line = toTableLine(execEvent(1, { filename: '/bin/x', argv: ['x', 'invoice\u202efdp.exe', 'a\u200bb', 'l\u2028m'] }));
    expect(line).toContain('invoice\\u{202e}fdp.exe');
    expect(line).toContain('a\\u{200b}b');
    expect(line).toContain('l\\u{2028}m');
    expect(line).not.toMatch(/[\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff]/);
  });
});
