import { describe, expect, it } from 'vitest';
import { decodeBytes, decodeCString, escapeControl } from '../src/util/bytes.js';
import { atMostEvery, isoNs } from '../src/util/clock.js';

describe('kernel strings', () => {
  it('passes valid UTF-8 through and escapes every invalid byte', () => {
    const b = Buffer.concat([Buffer.from('héllo ✓ 🐳 '), Buffer.from([0xff, 0xc3, 0x28, 0xed, 0xa0, 0x80]), Buffer.from('end')]);
    expect(decodeBytes(b, 0, b.length)).toBe('héllo ✓ 🐳 \udcff\udcc3(\udced\udca0\udc80end');
  });
  it('escapes a truncated multi-byte sequence at the end', () => {
    const b = Buffer.from([0x61, 0xe2, 0x9c]);
    expect(decodeBytes(b, 0, b.length)).toBe('a\udce2\udc9c');
  });
  it('stops a C string at NUL or at the field size', () => {
    const b = Buffer.from('abc\0def');
    expect(decodeCString(b, 0, 7)).toBe('abc');
    expect(decodeCString(Buffer.from('abcdef'), 0, 4)).toBe('abcd');
  });
  it('keeps a JSON line intact whatever the bytes', () => {
    const b = Buffer.from([0x22, 0x0a, 0x5c, 0xff, 0x00]);
    const s = decodeCString(b, 0, b.length);
    const line = JSON.stringify({ s });
    expect(line).not.toContain('\n');
    expect(JSON.parse(line).s).toBe('"\n\\\udcff');
  });
  it('writes byte 0xFF and the text \\xff differently, and each back to its bytes', () => {
    const raw = Buffer.from([0xff]);
    const text = Buffer.from('\\xff');
    const a = JSON.stringify(decodeBytes(raw, 0, 1));
    const b = JSON.stringify(decodeBytes(text, 0, text.length));
    expect(a).toBe('"\\udcff"');
    expect(b).toBe('"\\\\xff"');
    // reversible: U+DC80-U+DCFF back to the byte, everything else as UTF-8
    const unescape = (s: string) =>
      Buffer.concat([...s].map((c) => (/^[\udc80-\udcff]$/.test(c) ? Buffer.from([c.charCodeAt(0) & 0xff]) : Buffer.from(c))));
    expect(unescape(JSON.parse(a))).toEqual(raw);
    expect(unescape(JSON.parse(b))).toEqual(text);
  });
  it('escapes bidi overrides, separators, zero-width characters and invalid bytes for the table view', () => {
    expect(escapeControl('evil\u202etxt.exe')).toBe('evil\\u{202e}txt.exe');
    expect(escapeControl('\u202a\u202b\u202c\u202d\u2066\u2067\u2068\u2069')).toBe(
      '\\u{202a}\\u{202b}\\u{202c}\\u{202d}\\u{2066}\\u{2067}\\u{2068}\\u{2069}',
    );
    expect(escapeControl('a\u2028b\u2029c')).toBe('a\\u{2028}b\\u{2029}c');
    expect(escapeControl('r\u200bm\u200c\u200d\u200e\u200f\ufeff')).toBe('r\\u{200b}m\\u{200c}\\u{200d}\\u{200e}\\u{200f}\\u{feff}');
    expect(escapeControl(decodeBytes(Buffer.from([0x61, 0xff]), 0, 2))).toBe('a\\xff');
    // a pair whose low half lies in U+DC80-DCFF is a real character, not an escaped byte
    expect(escapeControl('\u{10080} ✓ 🐳')).toBe('\u{10080} ✓ 🐳');
  });
  it('escapes terminal control characters for the table view', () => {
    expect(escapeControl('a\x1b[31mred\x07\n')).toBe('a\\x1b[31mred\\x07\\n');
  });
});

describe('wall clock', () => {
  it('formats nanoseconds in ISO-8601 UTC', () => {
    expect(isoNs(1795345379123456789n)).toBe('2026-11-22T11:02:59.123456789Z');
    expect(isoNs(1795345379000000001n)).toBe('2026-11-22T11:02:59.000000001Z');
  });

  it('formats each second right when times cross it both ways (the date part is cached per second)', () => {
    const at = (ns: bigint) => isoNs(1795345379_000000000n + ns);
    expect([at(999_999_999n), at(1_000_000_000n), at(999_999_999n), at(-1n), at(3_600_000_000_007n)]).toEqual([
      '2026-11-22T11:02:59.999999999Z',
      '2026-11-22T11:03:00.000000000Z',
      '2026-11-22T11:02:59.999999999Z',
      '2026-11-22T11:02:58.999999999Z',
      '2026-11-22T12:02:59.000000007Z',
    ]);
  });

  it('atMostEvery opens at once, then once per interval', () => {
    let t = 0;
    const due = atMostEvery(10_000, () => t);
    expect([due(), due()]).toEqual([true, false]);
    t = 9_999;
    expect(due()).toBe(false);
    t = 10_000;
    expect([due(), due()]).toEqual([true, false]);
  });
});
