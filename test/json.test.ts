/** The hand-built JSON line is exactly the generic serialisation of the documented object. */
import { describe, expect, it } from 'vitest';
import { decodeBytes } from '../src/util/bytes.js';
import { toJsonLine, toJsonObject } from '../src/format/json.js';
import { execEvent, exitEvent, mountEvent, podContainer, sampleEvents } from './helpers/events.js';

const nasty = [
  '',
  'plain',
  'quote " backslash \\ slash /',
  'nl\ncr\rtab\tnul\u0000bell\u0007esc\u001b',
  'unicode é ✓ 🐳 \u2028\u2029',
  decodeBytes(Buffer.from([0xff, 0xfe, 0x41, 0xc3]), 0, 4),
];

describe('toJsonLine', () => {
  it('equals JSON.stringify(toJsonObject(ev)) for every kind of event', () => {
    for (const ev of sampleEvents(60)) expect(toJsonLine(ev)).toBe(JSON.stringify(toJsonObject(ev)));
  });

  it('escapes hostile strings exactly like JSON.stringify and stays one parseable line', () => {
    for (const s of nasty) {
      const evs = [
        execEvent(1, { filename: s, argv: [s, 'x', s] }),
        mountEvent(2, { source: s, target: s || null, fstype: null }),
        { ...exitEvent(3), comm: s, cgroupPath: `/docker/${s}` },
        execEvent(4, { container: { ...podContainer, name: s, image: null } }),
      ];
      for (const ev of evs) {
        const line = toJsonLine(ev);
        expect(line).toBe(JSON.stringify(toJsonObject(ev)));
        expect(line).not.toMatch(/\n/);
        expect(JSON.parse(line).type).toBe(ev.type);
      }
    }
  });

  it('writes null, never a missing key, for absent data', () => {
    const o = JSON.parse(toJsonLine(exitEvent(0, { container: null })));
    expect(o.container).toBeNull();
    const m = JSON.parse(toJsonLine(mountEvent(0, { source: null, fstype: null })));
    expect(m.mount).toHaveProperty('source', null);
    expect(m.mount).toHaveProperty('fstype', null);
  });
});
