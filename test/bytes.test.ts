import { describe, expect, it } from 'vitest';
import { decodeBytes, decodeCString, escapeControl } from '../src/bytes.js';
import { isoNs } from '../src/clock.js';

describe('kernel strings', () => {
  it('passes valid UTF-8 through and escapes every invalid byte', () => {
    const b = Buffer.concat([Buffer.from('héllo ✓ 🐳 '), Buffer.from([0xff, 0xc3, 0x28, 0xed, 0xa0, 0x80]), Buffer.from('end')]);
    expect(decodeBytes(b, 0, b.length)).toBe('héllo ✓ 🐳 \\xff\\xc3(\\xed\\xa0\\x80end');
  });
  it('escapes a truncated multi-byte sequence at the end', () => {
    const b = Buffer.from([0x61, 0xe2, 0x9c]);
    expect(decodeBytes(b, 0, b.length)).toBe('a\\xe2\\x9c');
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
    expect(JSON.parse(line).s).toBe('"\n\\\\xff');
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
});
