/**
 * Kernel strings are bytes. Valid UTF-8 passes through; every byte 0xNN that is
 * not part of a valid sequence becomes the lone surrogate U+DCNN (Python's
 * "surrogateescape"), which JSON writes as `\udcNN`. Valid UTF-8 never decodes to
 * a lone surrogate, so the escape is unambiguous (the four characters `\xff` stay
 * `\\xff` in JSON) and reversible; nothing is dropped and no JSON line can be broken
 * by what a process put in its argv.
 */

function hex2(b: number): string {
  return (b < 16 ? '0' : '') + b.toString(16);
}

/** Length of the valid UTF-8 sequence starting at i, or 0 if the byte there is invalid. */
function utf8SeqLen(buf: Uint8Array, i: number, end: number): number {
  const b0 = buf[i]!;
  let n: number;
  let lo = 0x80;
  let hi = 0xbf;
  if (b0 >= 0xc2 && b0 <= 0xdf) n = 2;
  else if (b0 >= 0xe0 && b0 <= 0xef) {
    n = 3;
    if (b0 === 0xe0) lo = 0xa0; // overlong
    if (b0 === 0xed) hi = 0x9f; // surrogates
  } else if (b0 >= 0xf0 && b0 <= 0xf4) {
    n = 4;
    if (b0 === 0xf0) lo = 0x90; // overlong
    if (b0 === 0xf4) hi = 0x8f; // > U+10FFFF
  } else return 0;
  if (i + n > end) return 0;
  const b1 = buf[i + 1]!;
  if (b1 < lo || b1 > hi) return 0;
  for (let k = 2; k < n; k++) {
    const b = buf[i + k]!;
    if (b < 0x80 || b > 0xbf) return 0;
  }
  return n;
}

/** Decode buf[start, end) as text, escaping each invalid UTF-8 byte 0xNN as U+DCNN. */
export function decodeBytes(buf: Buffer, start: number, end: number): string {
  let ascii = true;
  for (let i = start; i < end; i++) {
    if (buf[i]! >= 0x80) {
      ascii = false;
      break;
    }
  }
  if (ascii) return buf.toString('latin1', start, end);
  let out = '';
  let runStart = start;
  let i = start;
  while (i < end) {
    const b = buf[i]!;
    if (b < 0x80) {
      i++;
      continue;
    }
    const n = utf8SeqLen(buf, i, end);
    if (n > 0) {
      i += n;
      continue;
    }
    if (i > runStart) out += buf.toString('utf8', runStart, i);
    out += String.fromCharCode(0xdc00 | b);
    i++;
    runStart = i;
  }
  if (end > runStart) out += buf.toString('utf8', runStart, end);
  return out;
}

/** A NUL-terminated string in a fixed field of `maxLen` bytes at `off`. */
export function decodeCString(buf: Buffer, off: number, maxLen: number): string {
  let end = buf.indexOf(0, off);
  if (end < 0 || end > off + maxLen) end = off + maxLen;
  return decodeBytes(buf, off, end);
}

/**
 * Escape for a terminal what would let an argv move the cursor, recolour the screen or
 * hide what it says: control characters, bidi overrides and isolates (U+202A-202E,
 * U+2066-2069: "evil" reordering), line/paragraph separators (U+2028/2029) and
 * zero-width characters (U+200B-200F, U+FEFF) become `\u{NNNN}`; an invalid byte
 * (U+DCNN, see decodeBytes) is shown as `\xNN`.
 */
export function escapeControl(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff]|(?<![\ud800-\udbff])[\udc80-\udcff]/g, (c) => {
    const code = c.charCodeAt(0);
    if (c === '\n') return '\\n';
    if (c === '\t') return '\\t';
    if (c === '\r') return '\\r';
    if (code < 0x100) return '\\x' + hex2(code);
    if (code >= 0xdc80 && code <= 0xdcff) return '\\x' + hex2(code & 0xff);
    return '\\u{' + code.toString(16) + '}';
  });
}
