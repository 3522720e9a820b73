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
