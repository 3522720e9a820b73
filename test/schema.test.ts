/**
 * The record forms generated from proto/ctrace.proto (scripts/gen-schema.mjs): 64-bit values
 * stay exact in every form, absent data is null in JSON, and every form reads back what
 * another wrote.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { ExitEvent, MountEvent } from '../src/events/event.js';
import { fromJsonObject, toJsonLine } from '../src/format/json.js';
import { decodeRecordObject, entryFromProto, entryToProto, recordMessage } from '../src/format/protobuf.js';
import { jInt64, jStr, jStrArray, jStrOrNull } from '../src/events/wire.js';
import { exitEvent, mountEvent, sampleEvents } from './helpers/events.js';

const I64_MAX = 2n ** 63n - 1n;
const U64_MAX = 2n ** 64n - 1n;

function viaProto<T>(e: T): T {
  const T = recordMessage();
  return entryFromProto(decodeRecordObject(T.encode(entryToProto(e as never)).finish())) as T;
}

describe('64-bit values', () => {
  const ev: ExitEvent = { ...exitEvent(1, { durationNs: I64_MAX }), ktimeNs: U64_MAX, cgroupId: I64_MAX, pidNs: 2n ** 53n };

  it('JSON writes them as numbers while exact and as decimal strings beyond, and reads them back exactly', () => {
    const line = toJsonLine(ev);
    expect(line).toContain('"cgroupId":"9223372036854775807"');
    expect(line).toContain('"durationNs":"9223372036854775807"');
    expect(line).toContain('"pidNs":"9007199254740992"');
    expect(line).toContain(`"mntNs":${ev.mntNs}`);
    const back = fromJsonObject(JSON.parse(line)) as ExitEvent;
    expect(back.cgroupId).toBe(I64_MAX);
    expect(back.exit.durationNs).toBe(I64_MAX);
    expect(back.pidNs).toBe(2n ** 53n);
    expect(back.mntNs).toBe(ev.mntNs);
  });

  it('protobuf carries all 64 bits, ktimeNs included (a bigint, never a Number)', () => {
    const back = viaProto(ev);
    expect(back.ktimeNs).toBe(U64_MAX);
    expect(back.cgroupId).toBe(I64_MAX);
    expect(back.exit.durationNs).toBe(I64_MAX);
    const m: MountEvent = mountEvent(2, { flags: U64_MAX, ret: -22 });
    const mb = viaProto(m);
    expect(mb.mount.flags).toBe(U64_MAX);
    expect(mb.mount.ret).toBe(-22);
    expect(toJsonLine(m)).toContain('"flags":"18446744073709551615","ret":-22');
  });
});

describe('JSON values as the generated code writes them', () => {
  it('a string is written exactly as JSON.stringify writes it, plain or not', () => {
    const hostile = ['', 'plain /usr/bin/env', 'a"quote', 'back\\slash', 'tab\there', 'nl\n', '\u0000nul', '\u001f', '\u007fdel', 'é', '日本', '\ud800lone', 'pair \ud83d\ude00', '</script>', '~!#$%&()*+,-./:;<=>?@[]^_`{|}'];
    for (const s of hostile) {
      expect(jStr(s), JSON.stringify(s)).toBe(JSON.stringify(s));
      expect(JSON.parse(jStr(s))).toBe(s);
    }
    expect(jStrOrNull(null)).toBe('null');
    expect(jStrArray(hostile)).toBe(JSON.stringify(hostile));
  });

  it('a number is its decimal text however often it repeats, across the cache being forgotten', () => {
    const values = [0, -1, 2 ** 31 - 1, 2 ** 31, -(2 ** 31) - 1, 4026531836, Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER];
    for (let round = 0; round < 3; round++) {
      for (const v of values) expect(jInt64(v)).toBe(String(v));
      // more distinct large values than the cache keeps: it is cleared on the way
      for (let i = 0; i < 1500; i++) expect(jInt64(2 ** 40 + i)).toBe(String(2 ** 40 + i));
    }
    expect(jInt64(2 ** 53)).toBe('"9007199254740992"');
    expect(jInt64(2n ** 63n - 1n)).toBe('"9223372036854775807"');
  });
});

describe('the JSON form', () => {
  it('has every key of the schema, null when absent, and reads back to the same event', () => {
    for (const ev of sampleEvents(30)) {
      const o = JSON.parse(toJsonLine(ev));
      for (const k of ['container', 'reason']) expect(o).toHaveProperty(k);
      expect(o).not.toHaveProperty('ktimeNs');
      expect(fromJsonObject(o)).toEqual({ ...ev, ktimeNs: 0n });
    }
  });

  it('no hand-written module lists the fields of a record (the .proto does)', () => {
    // a field that only the schema, the builder and the table name
    for (const f of ['src/format/json.ts', 'src/format/protobuf.ts', 'src/events/records.ts', 'src/audit/codecs.ts', 'src/events/event.ts']) {
      expect(readFileSync(new URL(`../${f}`, import.meta.url), 'utf8'), f).not.toMatch(/coreDumped|durationNs|argvTruncated/);
    }
  });
});
