/**
 * The addon's JSON lane writes, for every record of a registered cgroup, exactly the
 * line the JavaScript path writes (decodeBatch → buildEvent → toJsonLine), and passes every
 * other record on raw, byte for byte and in order. Records are built with the src/decode/abi.ts
 * layout and filled with hostile bytes from a seeded generator.
 */
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import * as abi from '../src/decode/abi.js';
import { classifyCgroupPath } from '../src/classify/classify.js';
import { WallClock } from '../src/util/clock.js';
import { buildEvent } from '../src/events/build.js';
import { toJsonLine } from '../src/format/json.js';
import { CHUNK_LINES, CHUNK_RAW, forEachChunk, JsonLane } from '../src/tracer/lane.js';
import { loadNative } from '../src/addon/native.js';
import { decodeBytes } from '../src/util/bytes.js';
import { CAP_NAMES } from '../src/events/identity.js';
import { lineage } from '../src/enrich/lineage.js';
import { binaryDetail, type Cached } from '../src/enrich/binary-hash.js';
import { LaneOutput } from '../src/tracer/lane-output.js';
import type { NativeOutputStats } from '../src/addon/native.js';

const { OFF, SIZE } = abi;
const OFFSET = 1_763_000_000_123_456_789n; // CLOCK_REALTIME - CLOCK_MONOTONIC
const BOOT = '3c8400f7897f45c19104388a2c527b9a';

/** mulberry32: the same bytes every run. */
function rng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Rand = ReturnType<typeof rng>;
const int = (r: Rand, n: number) => Math.floor(r() * n);

/** Bytes a process can put in its name, path or argv: valid and broken UTF-8, controls, quotes. */
const PIECES: number[][] = [
  [...Buffer.from('plain')],
  [...Buffer.from('"quoted" \\back\\slash/')],
  [0x0a, 0x0d, 0x09, 0x08, 0x0c, 0x01, 0x1b, 0x1f, 0x7f],
  [...Buffer.from('é✓🐳\u2028\u2029')],
  [0xff, 0xfe, 0x80, 0xbf],
  [0xc3], // cut 2-byte sequence
  [0xe2, 0x82], // cut 3-byte sequence
  [0xc0, 0xaf], // overlong
  [0xe0, 0x80, 0xaf], // overlong 3-byte
  [0xed, 0xa0, 0x80], // UTF-16 surrogate
  [0xf4, 0x90, 0x80, 0x80], // above U+10FFFF
  [0xf0, 0x9f, 0x90, 0xb3], // 🐳
  [0xf5, 0x80],
];

function junk(r: Rand, max: number, nul = false): Buffer {
  const out: number[] = [];
  const n = int(r, 6);
  for (let i = 0; i < n; i++) out.push(...PIECES[int(r, PIECES.length)]!);
  if (nul) out.push(...Array.from({ length: int(r, 3) }, () => 0));
  return Buffer.from(out.slice(0, max));
}

interface Cg {
  key: bigint;
  names: string[]; // leaf first
  v1: boolean;
}

function writeTask(b: Buffer, r: Rand, cg: Cg, i: number, nspid: number): void {
  b.writeUInt32LE(200000 + i, OFF.task.pid);
  b.writeUInt32LE(100000 + i, OFF.task.tgid);
  b.writeUInt32LE(int(r, 2 ** 32), OFF.task.ppid);
  b.writeUInt32LE(nspid, OFF.task.nspid);
  b.writeUInt32LE(int(r, 2 ** 32), OFF.task.uid);
  b.writeUInt32LE(int(r, 70000), OFF.task.gid);
  b.writeUInt32LE(4026531836 + int(r, 1000), OFF.task.pidnsIno);
  b.writeUInt32LE(4026531840 + int(r, 1000), OFF.task.mntnsIno);
  b.writeBigUInt64LE(cg.key, OFF.task.cgroupKey);
  // start times: none (no identity: null), ordinary, and past 2^53 (exact in the string)
  const start = () => [0n, BigInt(int(r, 2 ** 40)) * 1000n, (1n << 60n) + BigInt(int(r, 1000))][int(r, 3)]!;
  b.writeBigUInt64LE(start(), OFF.task.startNs);
  b.writeBigUInt64LE(start(), OFF.task.parentStartNs);
  b[OFF.task.verdict] = abi.VERDICT_CONTAINER;
  // comm: all 16 bytes used sometimes (no NUL)
  const comm = r() < 0.2 ? Buffer.from('abcdefghijklmnop') : junk(r, 15);
  comm.copy(b, OFF.task.comm);
}

/** The cgroup's names at `at` (or none: the kernel had the cgroup's verdict, F_CG_KNOWN). */
function writeNames(b: Buffer, cg: Cg, at: number, named: boolean): void {
  b[OFF.task.cgDepth] = named ? cg.names.length : 0;
  if (named) cg.names.forEach((n, k) => b.write(n, at + k * abi.CG_NAME_LEN, 'latin1'));
}

function record(r: Rand, i: number, cg: Cg, named = true): Buffer {
  const type = [abi.EV_EXEC, abi.EV_EXIT, abi.EV_MOUNT][i % 3]!;
  let flags = cg.v1 ? abi.F_CG_V1 : 0;
  if (cg.names.length === abi.CG_LEVELS && named) flags |= abi.F_CG_TRUNC;
  if (!named) flags |= abi.F_CG_KNOWN;
  const namesBytes = named ? cg.names.length * abi.CG_NAME_LEN : 0;
  let namesAt: number;
  let b: Buffer;
  if (type === abi.EV_EXEC) {
    const args: Buffer[] = [];
    const argc = r() < 0.1 ? 25 : int(r, 6);
    for (let a = 0; a < argc; a++) args.push(r() < 0.05 ? Buffer.alloc(300, 0x41) : junk(r, 100));
    let argv = Buffer.concat(args.flatMap((a) => [a, Buffer.from([0])]));
    if (r() < 0.2) argv = argv.subarray(0, Math.max(0, argv.length - 1)); // no final NUL
    argv = argv.subarray(0, abi.ARGV_LEN);
    // the filename: sometimes a long one, a NUL, the cwd (these exec records never reach the
    // lane: JavaScript's cwd only), a NUL, then argv
    const filename = r() < 0.1 ? Buffer.alloc(256 + int(r, 3000), 0x2f) : junk(r, 255);
    const cwd = junk(r, abi.PATH_LEN - 1);
    namesAt = OFF.exec.data;
    const fileAt = namesAt + namesBytes;
    const argvAt = fileAt + filename.length + 1 + cwd.length + 1;
    b = Buffer.alloc(argvAt + argv.length);
    b.writeUInt32LE(cwd.length, OFF.exec.cwdLen);
    cwd.copy(b, fileAt + filename.length + 1);
    b.writeUInt32LE(argc, OFF.exec.argc);
    // the kernel's length, sometimes claiming more than was sent
    b.writeUInt32LE(r() < 0.1 ? argv.length + 50 : argv.length, OFF.exec.argvLen);
    b.writeUInt32LE(filename.length, OFF.exec.filenameLen);
    filename.copy(b, fileAt);
    argv.copy(b, argvAt);
    if (r() < 0.2) flags |= abi.F_ARGV_TRUNC;
    if (r() < 0.1) flags |= abi.F_FILENAME_TRUNC;
  } else if (type === abi.EV_EXIT) {
    namesAt = OFF.exit.cgroupNames;
    b = Buffer.alloc(named ? SIZE.exit : namesAt);
    b.writeUInt32LE(int(r, 2 ** 16), OFF.exit.exitCode);
    const start = r() < 0.2 ? 0n : BigInt(int(r, 2 ** 40));
    b.writeBigUInt64LE(start, OFF.exit.startNs);
  } else {
    namesAt = OFF.mount.cgroupNames;
    b = Buffer.alloc(named ? SIZE.mount : namesAt);
    b.writeBigInt64LE(r() < 0.5 ? 0n : -BigInt(int(r, 200)), OFF.mount.ret);
    b.writeBigUInt64LE(BigInt(int(r, 2 ** 32)), OFF.mount.flags);
    b.writeUInt32LE(r() < 0.7 ? abi.MOUNT_OP_MOUNT : abi.MOUNT_OP_MOVE_MOUNT, OFF.mount.op);
    junk(r, 255).copy(b, OFF.mount.source);
    junk(r, 255).copy(b, OFF.mount.target);
    junk(r, 31).copy(b, OFF.mount.fstype);
    b.writeUInt32LE(int(r, 64), OFF.mount.mflags); // every combination of the CTRACE_MF_* bits
  }
  b.writeUInt16LE(type, OFF.hdr.type);
  b.writeUInt16LE(flags, OFF.hdr.flags);
  b.writeUInt32LE(b.length, OFF.hdr.size);
  b.writeBigUInt64LE(BigInt(int(r, 2 ** 40)) * 1000n + BigInt(int(r, 1000)), OFF.hdr.ktime);
  writeTask(b, r, cg, i, r() < 0.05 ? 0 : 1 + int(r, 5000));
  writeNames(b, cg, namesAt, named);
  return b;
}

const DOCKER = 'a'.repeat(64);
const CGROUPS: Cg[] = [
  { key: 5001n, names: [DOCKER, 'docker'], v1: false },
  { key: 5002n, names: ['cri-containerd-' + 'b'.repeat(64) + '.scope', 'kubepods-burstable-pod0c6a2e46_1b3a_4b9c_9f2e_7d1e9f3c2a10.slice', 'kubepods-burstable.slice', 'kubepods.slice'], v1: false },
  { key: abi.CGKEY_V1 | 77n, names: ['c'.repeat(64), 'docker'], v1: true },
  { key: 5003n, names: ['ssh.service', 'system.slice'], v1: false }, // host
  { key: 5004n, names: ['x', 'y', 'z', 'w', 'v', 'u'], v1: false }, // cut: unknown, never registered
  { key: 5005n, names: ['d'.repeat(64), 'docker'], v1: false }, // a container never registered
];

/** The JavaScript path, as src/tracer/tracer.ts runs it for a record. */
function jsLines(batch: Buffer, clock: WallClock): Map<number, string> {
  const out = new Map<number, string>();
  abi.decodeBatch(batch, new abi.CgroupPathCache()).forEach((rec, i) => {
    const cls = classifyCgroupPath(rec.task.cgroupPath);
    const ev = buildEvent(rec, { time: clock.iso(rec.ktimeNs), scope: cls.scope, container: cls.container, nspid: rec.task.nspid, bootId: BOOT });
    out.set(i, toJsonLine(ev));
  });
  return out;
}

describe('the JSON lane (native/json_lane.cc)', () => {
  const native = loadNative();

  function laneFor(registered: Cg[], emit = true) {
    const formatter = new native.JsonLane(OFFSET, BOOT, CAP_NAMES);
    const lane = new JsonLane(formatter);
    for (const cg of registered) {
      const path = (cg.names.length === abi.CG_LEVELS ? '…/' : '/') + [...cg.names].reverse().join('/');
      const cls = classifyCgroupPath(path);
      lane.register(cg.key, { cls, cgroupPath: path, cgroupV1: cg.v1, emit, verdict: abi.VERDICT_CONTAINER });
    }
    return lane;
  }

  it('writes the very line the JavaScript path writes, for 3,000 hostile records', () => {
    const r = rng(20261123);
    const registered = CGROUPS.slice(0, 4);
    const lane = laneFor(registered);
    // a cgroup's first record has its names; later ones mostly not, as the kernel sends them
    const seen = new Set<Cg>();
    const recs = Array.from({ length: 3000 }, (_, i) => {
      const cg = CGROUPS[int(r, CGROUPS.length)]!;
      const named = !seen.has(cg) || r() < 0.3;
      seen.add(cg);
      return record(r, i, cg, named);
    });
    const batch = Buffer.concat(recs);
    const expected = jsLines(batch, new WallClock(OFFSET));
    expect(expected.size).toBe(3000);

    const lines: string[] = [];
    const raw: Buffer[] = [];
    forEachChunk(
      lane.native.format(batch),
      (chunk) => lines.push(...chunk.toString('utf8').split('\n').slice(0, -1)),
      (chunk) => {
        for (let o = 0; o < chunk.length; o += chunk.readUInt32LE(o + 4)) raw.push(chunk.subarray(o, o + chunk.readUInt32LE(o + 4)));
      },
    );
    // which records the lane should take: a registered cgroup and an nspid; no exec here (its
    // binary's hash was never told: exec lines are the next describe's)
    const taken: number[] = [];
    const passed: number[] = [];
    recs.forEach((rec, i) => {
      const key = rec.readBigUInt64LE(OFF.task.cgroupKey);
      const nspid = rec.readUInt32LE(OFF.task.nspid);
      const type = rec.readUInt16LE(OFF.hdr.type);
      // the exit of a PID namespace's init: JavaScript forgets which container that namespace was
      const pidnsEnd = type === abi.EV_EXIT && nspid === 1 && (rec.readUInt16LE(OFF.hdr.flags) & abi.F_HOST_PIDNS) === 0;
      const ok = registered.some((c) => c.key === key) && nspid !== 0 && type !== abi.EV_EXEC && !pidnsEnd;
      (ok ? taken : passed).push(i);
    });
    expect(taken.length).toBeGreaterThan(1000);
    expect(passed.length).toBeGreaterThan(500);
    expect(lines).toEqual(taken.map((i) => expected.get(i)));
    expect(raw.map((b) => b.toString('hex'))).toEqual(passed.map((i) => recs[i]!.toString('hex')));
    for (const l of lines) expect(() => JSON.parse(l)).not.toThrow();
    const counts = lane.native.counts();
    expect(counts.exec + counts.exit + counts.mount).toBe(taken.length);
    expect(counts.raw).toBe(passed.length);
  });

  it('keeps ring order across chunks: lines and raw records alternate as the records did', () => {
    const r = rng(7);
    const lane = laneFor([CGROUPS[0]!]);
    const seq = [0, 0, 5, 0, 5, 5, 0].map((c, i) => record(r, i * 3 + 1, CGROUPS[c]!)); // exits
    for (const b of seq) b.writeUInt32LE(9, OFF.task.nspid);
    const kinds: string[] = [];
    forEachChunk(
      lane.native.format(Buffer.concat(seq)),
      (l) => kinds.push(`L${l.toString().split('\n').length - 1}`),
      (raw) => kinds.push(`R${raw.length / SIZE.exit}`),
    );
    expect(kinds).toEqual(['L2', 'R1', 'L1', 'R2', 'L1']);
  });

  it('drops a filtered cgroup\'s events and counts them; forgets a cgroup on delete and clear', () => {
    const r = rng(11);
    const lane = laneFor([CGROUPS[0]!], false);
    const recs = Array.from({ length: 45 }, (_, i) => record(r, i, CGROUPS[0]!)).filter((b) => b.readUInt16LE(0) !== abi.EV_EXEC);
    for (const b of recs) b.writeUInt32LE(3, OFF.task.nspid);
    const out = lane.native.format(Buffer.concat(recs));
    expect(out.length).toBe(0);
    expect(lane.native.counts().filtered).toBe(recs.length);
    expect(lane.native.delete(CGROUPS[0]!.key)).toBe(true);
    let chunks = 0;
    forEachChunk(lane.native.format(recs[0]!), () => expect.unreachable(), (raw) => {
      chunks++;
      expect(raw.equals(recs[0]!)).toBe(true);
    });
    expect(chunks).toBe(1);
    lane.register(CGROUPS[0]!.key, { cls: classifyCgroupPath('/docker/' + DOCKER), cgroupPath: '/docker/' + DOCKER, cgroupV1: false, emit: true, verdict: 2 });
    expect(lane.native.size()).toBe(1);
    lane.clear();
    expect(lane.native.size()).toBe(0);
  });

  it('passes numbers JavaScript would round (beyond 2^53) and a cgroupV1 mismatch on raw', () => {
    const r = rng(3);
    const lane = laneFor([CGROUPS[0]!]);
    const mount = record(r, 2, CGROUPS[0]!);
    mount.writeUInt32LE(4, OFF.task.nspid);
    mount.writeBigUInt64LE(2n ** 60n, OFF.mount.flags);
    const exit = record(r, 1, CGROUPS[0]!);
    exit.writeUInt32LE(4, OFF.task.nspid);
    exit.writeBigUInt64LE(1n, OFF.exit.startNs);
    exit.writeBigUInt64LE(2n ** 62n, OFF.hdr.ktime);
    const v1 = record(r, 4, CGROUPS[0]!);
    v1.writeUInt32LE(4, OFF.task.nspid);
    v1.writeUInt16LE(abi.F_CG_V1, OFF.hdr.flags);
    const kinds: number[] = [];
    forEachChunk(lane.native.format(Buffer.concat([mount, exit, v1])), () => kinds.push(CHUNK_LINES), () => kinds.push(CHUNK_RAW));
    expect(kinds).toEqual([CHUNK_RAW]);
    expect(lane.native.counts().raw).toBe(3);
  });

  it('passes on raw the first record from a PID namespace of a cgroup taken from the host\'s, once', () => {
    // the runtime's init opened the lane from the host's PID namespace; its next record from the
    // container's namespace tells JavaScript which container that namespace is (classify/isolation.ts)
    const r = rng(5);
    const cg = CGROUPS.find((c) => !c.v1 && c.names.length < abi.CG_LEVELS)!;
    const lane = laneFor([]);
    const path = '/' + [...cg.names].reverse().join('/');
    const reg = { cls: classifyCgroupPath(path), cgroupPath: path, cgroupV1: false, emit: true, verdict: abi.VERDICT_CONTAINER };
    lane.register(cg.key, { ...reg, pidnsPending: true });
    const mount = (hostPidns: boolean) => {
      const b = record(r, 2, cg);
      b.writeUInt32LE(3, OFF.task.nspid);
      if (hostPidns) b.writeUInt16LE(b.readUInt16LE(OFF.hdr.flags) | abi.F_HOST_PIDNS, OFF.hdr.flags);
      return b;
    };
    const kinds = (b: Buffer) => {
      const out: string[] = [];
      forEachChunk(lane.native.format(b), () => out.push('L'), () => out.push('R'));
      return out.join('');
    };
    expect(kinds(Buffer.concat([mount(true), mount(false), mount(false), mount(true)]))).toBe('LRL');
    // a refresh (names found later) does not arm it again
    lane.register(cg.key, { ...reg, pidnsPending: true });
    expect(kinds(mount(false))).toBe('L');
    // a cgroup taken from its own namespace never holds one back
    lane.forget(cg.key);
    lane.register(cg.key, reg);
    expect(kinds(mount(false))).toBe('L');
  });

  it('refresh() updates a fragment once the container has a name', () => {
    const formatter = new native.JsonLane(OFFSET);
    let name: string | null = null;
    const lane = new JsonLane(formatter, (c) => ({ ...c, name }));
    const path = '/docker/' + DOCKER;
    lane.register(5001n, { cls: classifyCgroupPath(path), cgroupPath: path, cgroupV1: false, emit: true, verdict: 2 });
    const rec = record(rng(5), 1, CGROUPS[0]!);
    rec.writeUInt32LE(8, OFF.task.nspid);
    const line = () => JSON.parse(formatter.format(rec).subarray(8).toString()).container.name;
    expect(line()).toBeNull();
    expect(lane.refresh()).toBe(0);
    name = 'web-1';
    expect(lane.refresh()).toBe(1);
    expect(line()).toBe('web-1');
  });

  it('rejects what is not a JsonLane where the tracer takes one', () => {
    expect(() => new native.JsonLane(5 as unknown as bigint)).toThrow(/bigint/);
    const f = new native.JsonLane(0n);
    expect(() => f.set(1 as unknown as bigint, '', true, 2, false)).toThrow(/bigint/);
    expect(() => f.format('x' as unknown as Buffer)).toThrow(/Buffer/);
  });
});

/**
 * An exec's line needs what only userland can find out (its ancestors' binaries, its binary's
 * hash): the lane writes it once JavaScript told the addon (filenameFound, binaryFound) or an
 * earlier exec record named the ancestor's binary, and sends it raw otherwise.
 */
describe('exec lines in the lane (native/exec_memory.h)', () => {
  const native = loadNative();
  const cg = CGROUPS[0]!;
  const PATH = '/docker/' + DOCKER;

  function lane() {
    const formatter = new native.JsonLane(OFFSET, BOOT, CAP_NAMES);
    const l = new JsonLane(formatter);
    l.register(cg.key, { cls: classifyCgroupPath(PATH), cgroupPath: PATH, cgroupV1: false, emit: true, verdict: abi.VERDICT_CONTAINER });
    return l;
  }

  interface Anc {
    pid: number;
    startNs: bigint;
    comm: Buffer;
    outside: boolean;
  }
  interface ExecSpec {
    tgid: number;
    startNs: bigint;
    nspid: number;
    ancestors: Anc[];
    filename: Buffer;
    argv: Buffer[];
    ino: bigint;
    xflags: number;
    hostPidns?: boolean;
  }
  const PIDNS = 4026532001;

  function execRecord(r: Rand, x: ExecSpec): Buffer {
    const ancBytes = x.ancestors.length * SIZE.ancestor;
    let argv = Buffer.concat(x.argv.flatMap((a) => [a, Buffer.from([0])]));
    argv = argv.subarray(0, abi.ARGV_LEN);
    const fileAt = OFF.exec.data + ancBytes + cg.names.length * abi.CG_NAME_LEN;
    const cwd = r() < 0.8 ? junk(r, abi.PATH_LEN - 1) : Buffer.alloc(0); // sometimes empty: "" (not null)
    const cwdAt = fileAt + x.filename.length + 1;
    const argvAt = cwdAt + cwd.length + 1;
    const b = Buffer.alloc(argvAt + argv.length);
    let flags = x.hostPidns ? abi.F_HOST_PIDNS : 0;
    if (r() < 0.2) flags |= abi.F_ARGV_TRUNC;
    if (r() < 0.1) flags |= abi.F_FILENAME_TRUNC;
    b.writeUInt16LE(abi.EV_EXEC, OFF.hdr.type);
    b.writeUInt16LE(flags, OFF.hdr.flags);
    b.writeUInt32LE(b.length, OFF.hdr.size);
    b.writeBigUInt64LE(BigInt(int(r, 2 ** 40)) * 1000n + BigInt(int(r, 1000)), OFF.hdr.ktime);
    writeTask(b, r, cg, 0, x.nspid);
    writeNames(b, cg, OFF.exec.data + ancBytes, true);
    b.writeUInt32LE(x.tgid, OFF.task.tgid);
    b.writeUInt32LE(PIDNS, OFF.task.pidnsIno);
    b.writeBigUInt64LE(x.startNs, OFF.task.startNs);
    b.writeBigUInt64LE(x.ino, OFF.exec.exeIno);
    b.writeBigUInt64LE(BigInt(int(r, 2 ** 30)), OFF.exec.exeSize);
    b.writeBigUInt64LE(77n, OFF.exec.exeCtimeNs);
    b.writeUInt32LE(0x800001, OFF.exec.exeDev);
    b.writeUInt32LE(x.xflags, OFF.exec.xflags);
    // every capability set from none to all 64 bits (the unnamed ones are CAP_<n>)
    const caps = [0n, (1n << 41n) - 1n, 0xa80425fbn, (1n << 64n) - 1n, BigInt(int(r, 2 ** 32)) << 20n][int(r, 5)]!;
    b.writeBigUInt64LE(caps, OFF.exec.capEffective);
    b.writeUInt32LE(r() < 0.3 ? 0xffffffff : int(r, 70000), OFF.exec.loginuid);
    b.writeUInt32LE(r() < 0.3 ? 0xffffffff : int(r, 9000), OFF.exec.sessionid);
    b.writeUInt32LE(4026531837 + int(r, 100), OFF.exec.usernsIno);
    b.writeUInt32LE(int(r, 2), OFF.exec.usernsLevel);
    b[OFF.exec.nAncestors] = x.ancestors.length;
    b.writeUInt32LE(1 + int(r, 5), OFF.exec.execSeq);
    if (r() < 0.5) junk(r, abi.TTY_LEN - 1).copy(b, OFF.exec.tty);
    b.writeUInt32LE(cwd.length, OFF.exec.cwdLen);
    const argc = r() < 0.2 ? x.argv.length + 3 : x.argv.length;
    b.writeUInt32LE(argc, OFF.exec.argc);
    b.writeUInt32LE(argv.length, OFF.exec.argvLen);
    b.writeUInt32LE(x.filename.length, OFF.exec.filenameLen);
    x.ancestors.forEach((a, i) => {
      const o = OFF.exec.data + i * SIZE.ancestor;
      b.writeBigUInt64LE(a.startNs, o + OFF.ancestor.startNs);
      b.writeBigUInt64LE(a.outside ? 999n : cg.key, o + OFF.ancestor.cgroupKey);
      b.writeUInt32LE(a.pid, o + OFF.ancestor.tgid);
      b.writeUInt32LE(a.outside ? a.pid : 1 + i, o + OFF.ancestor.nspid);
      b.writeUInt32LE(a.outside ? 4026531836 : PIDNS, o + OFF.ancestor.pidnsIno);
      a.comm.copy(b, o + OFF.ancestor.comm);
    });
    x.filename.copy(b, fileAt);
    cwd.copy(b, cwdAt);
    argv.copy(b, argvAt);
    return b;
  }

  it('writes an exec the very way the JavaScript path does, once its ancestors and binary are known, and sends it raw until then', () => {
    const r = rng(20261130);
    const l = lane();
    // the processes execs descend from: some named by JavaScript (a hostile name, null), some
    // by an earlier exec record in the batch, some never (their descendants' execs go raw)
    const procs = Array.from({ length: 24 }, (_, i) => ({ pid: 3000 + i, startNs: BigInt(1 + int(r, 2 ** 40)) * 1000n + (i === 5 ? 1n << 60n : 0n), comm: junk(r, 15) }));
    const jsName = new Map<string, string | null>(); // what JavaScript found (filenameFound)
    const keyOf = (pid: number, startNs: bigint) => `${pid}:${startNs}`;
    for (const [i, p] of procs.slice(0, 10).entries()) {
      const bytes = Buffer.concat([Buffer.from('/usr/bin/'), junk(r, 100)]);
      const name = i % 4 === 0 ? null : decodeBytes(bytes, 0, bytes.length);
      jsName.set(keyOf(p.pid, p.startNs), name);
      l.native.filenameFound(p.pid, p.startNs, name);
    }
    // binaries: with a hash, with a hash error, with a lasting host path or without; ino 900+ never told
    const bins = new Map<bigint, Cached>([
      [100n, { sha256: 'ab'.repeat(32), hashError: null, hostPath: '/var/lib/docker/overlay2/x/diff/bin/sh' }],
      [101n, { sha256: null, hashError: 'larger than the 67108864-byte hash limit', hostPath: null }],
      [102n, { sha256: 'cd'.repeat(32), hashError: null, hostPath: null }],
      [103n, { sha256: null, hashError: 'hashing is off', hostPath: '/h\u00e9"\n' }],
    ]);
    for (const [ino, c] of bins) l.native.binaryFound(0x800001, ino, 77n, c.hostPath, c.sha256, c.hashError);

    const recs: Buffer[] = [];
    for (let i = 0; i < 600; i++) {
      const n = int(r, 5);
      const ancestors = Array.from({ length: n }, (_, k) => {
        const p = procs[r() < 0.85 ? int(r, 16) : 16 + int(r, 8)]!;
        return { ...p, outside: k === n - 1 && r() < 0.5 };
      });
      // the process execing: now and then one of the processes above (its record names its binary)
      const self = r() < 0.15 ? procs[10 + int(r, 6)]! : { pid: 50000 + i, startNs: r() < 0.1 ? 0n : BigInt(i + 1) * 1_000_000n }; // 0: no identity
      const filename = [Buffer.from('/bin/sh'), Buffer.from('/proc/self/fd/3'), Buffer.from('/dev/fd/4'), Buffer.from('memfd:x'), junk(r, 255), Buffer.alloc(300 + int(r, 3000), 0x2f)][int(r, 6)]!;
      const argv = Array.from({ length: r() < 0.1 ? 90 : int(r, 6) }, () => (r() < 0.05 ? Buffer.alloc(300, 0x41) : junk(r, 60)));
      recs.push(
        execRecord(r, {
          tgid: self.pid,
          startNs: self.startNs,
          nspid: r() < 0.1 ? 1 : 2 + int(r, 100),
          ancestors,
          filename,
          argv,
          ino: r() < 0.9 ? 100n + BigInt(int(r, 4)) : 900n,
          xflags: int(r, 256),
          hostPidns: r() < 0.1,
        }),
      );
    }
    const batch = Buffer.concat(recs);

    // the JavaScript path with the same knowledge, in ring order
    const clock = new WallClock(OFFSET);
    const cls = classifyCgroupPath(PATH);
    const seen = new Map<string, string>(); // exec records so far
    const taken: number[] = [];
    const passed: number[] = [];
    const expected: string[] = [];
    abi.decodeBatch(batch, new abi.CgroupPathCache()).forEach((rec, i) => {
      if (rec.type !== 'exec') throw new Error('not an exec');
      let known = rec.facts.exeIno !== 900n;
      const l2 = lineage(
        rec,
        (pid, startNs) => {
          const k = keyOf(pid, startNs);
          if (seen.has(k)) return seen.get(k)!;
          if (jsName.has(k)) return jsName.get(k)!;
          known = false;
          return null;
        },
        BOOT,
      );
      const c = bins.get(rec.facts.exeIno);
      const ev = buildEvent(rec, {
        time: clock.iso(rec.ktimeNs),
        scope: cls.scope,
        container: cls.container,
        nspid: rec.task.nspid,
        bootId: BOOT,
        exec: { ...l2, binary: c ? binaryDetail(rec, c) : null },
      });
      seen.set(keyOf(rec.task.tgid, rec.task.startNs), rec.filename);
      if (known) {
        taken.push(i);
        expected.push(toJsonLine(ev));
      } else passed.push(i);
    });
    expect(taken.length).toBeGreaterThan(250);
    expect(passed.length).toBeGreaterThan(100);

    const lines: string[] = [];
    const raw: Buffer[] = [];
    forEachChunk(
      l.native.format(batch),
      (chunk) => lines.push(...chunk.toString('utf8').split('\n').slice(0, -1)),
      (chunk) => {
        for (let o = 0; o < chunk.length; o += chunk.readUInt32LE(o + 4)) raw.push(chunk.subarray(o, o + chunk.readUInt32LE(o + 4)));
      },
    );
    expect(lines.length).toBe(taken.length);
    for (let k = 0; k < lines.length; k++) expect(lines[k]).toBe(expected[k]);
    expect(raw.map((b) => b.toString('hex'))).toEqual(passed.map((i) => recs[i]!.toString('hex')));
    // the variety the lines cover
    const objs = lines.map((t) => JSON.parse(t).exec);
    expect(objs.some((e) => e.entry)).toBe(true);
    expect(objs.some((e) => !e.entry && e.ancestors.some((a: { outside: boolean }) => a.outside))).toBe(true);
    expect(objs.some((e) => e.ancestors.some((a: { filename: string | null }) => a.filename === null))).toBe(true);
    expect(objs.some((e) => e.ancestors.some((a: { filename: string | null }) => /[\udc80-\udcff]/.test(a.filename ?? '')))).toBe(true);
    expect(objs.some((e) => e.binary.sha256 && e.binary.hostPath?.startsWith('/proc/'))).toBe(true);
    expect(objs.some((e) => e.binary.hashError && e.binary.memfd)).toBe(true);
    expect(objs.some((e) => e.binary.hostPath === null)).toBe(true);
    expect(objs.some((e) => e.cwd === null)).toBe(true);
    expect(objs.some((e) => e.cwd === '')).toBe(true);
    expect(objs.some((e) => e.tty !== null)).toBe(true);
    expect(objs.some((e) => e.loginUid === null) && objs.some((e) => e.loginUid !== null)).toBe(true);
    expect(objs.some((e) => e.capabilities.includes('CAP_63'))).toBe(true);
    expect(objs.some((e) => e.argv.length === 90 && e.argvTruncated)).toBe(true);
    expect(objs.some((e) => e.execId === null) && objs.some((e) => e.execId !== null)).toBe(true);
    const counts = l.native.counts();
    expect(counts.exec).toBe(taken.length);
    expect(counts.raw).toBe(passed.length);
    // what the lane wrote comes back for the process table, in order
    const noted = l.native.takeNoted()!;
    const back = abi.decodeBatch(noted, new abi.CgroupPathCache());
    expect(back.map((x) => x.ktimeNs)).toEqual(taken.map((i) => recs[i]!.readBigUInt64LE(OFF.hdr.ktime)));
    expect(l.native.takeNoted()).toBeNull();
  });

  it('remembers the filenames of the last 16,384 processes, oldest out first, through 60,000 execs that reuse pids', () => {
    const r = rng(7);
    const l = lane();
    const MAX = 16384;
    // the model: insertion order, an exec of a process already there keeps its place
    const model = new Map<string, string>();
    const k = (pid: number, start: bigint) => `${pid}/${start}`;
    const seen: Array<[number, bigint]> = [];
    for (let batch = 0; batch < 60; batch++) {
      const recs: Buffer[] = [];
      for (let i = 0; i < 1000; i++) {
        // a small pid space: repeats (the same process execs again) and near neighbours in the table
        const pid = 1 + int(r, 30000);
        const start = BigInt(int(r, 3)) * 1000n;
        const name = `/bin/p${batch}-${i}`;
        recs.push(execRecord(r, { tgid: pid, startNs: start, nspid: 2, ancestors: [], filename: Buffer.from(name), argv: [], ino: 1n, xflags: 0 }));
        const key = k(pid, start);
        if (!model.has(key) && model.size === MAX) model.delete(model.keys().next().value!);
        model.set(key, name);
        seen.push([pid, start]);
      }
      l.native.format(Buffer.concat(recs));
      // every process seen so far: remembered with its latest filename exactly when the model has it
      const probe = batch % 10 === 9 ? seen : seen.slice(-2000);
      for (const [pid, start] of probe) {
        const want = model.get(k(pid, start));
        const got = l.native.filenameOf(pid, start);
        if (want === undefined ? got !== undefined : got?.toString() !== want) {
          throw new Error(`batch ${batch}: ${k(pid, start)} remembered as ${got?.toString()}, the model says ${want}`);
        }
      }
    }
    expect(model.size).toBe(MAX);
    expect(seen.length - new Set(seen.map(([p, s]) => k(p, s))).size).toBeGreaterThan(10_000);
  });

  it('keeps an exec record\'s filename over what JavaScript looked up, and says which exec named it', () => {
    const r = rng(99);
    const l = lane();
    const anc = { pid: 777, startNs: 123_000n, comm: Buffer.from('sh'), outside: false };
    l.native.binaryFound(0x800001, 100n, 77n, null, 'ee'.repeat(32), null);
    const parent = execRecord(r, { tgid: 777, startNs: 123_000n, nspid: 5, ancestors: [], filename: Buffer.from([0x2f, 0x62, 0xff, 0x22]), argv: [], ino: 100n, xflags: 0 });
    const child = execRecord(r, { tgid: 778, startNs: 124_000n, nspid: 6, ancestors: [anc], filename: Buffer.from('/bin/ls'), argv: [], ino: 100n, xflags: 0 });
    expect(l.native.filenameOf(777, 123_000n)).toBeUndefined();
    // unknown ancestor: raw; the parent's record (itself written: no ancestors) names its binary
    let kinds: number[] = [];
    forEachChunk(l.native.format(Buffer.concat([child, parent])), () => kinds.push(CHUNK_LINES), () => kinds.push(CHUNK_RAW));
    expect(kinds).toEqual([CHUNK_RAW, CHUNK_LINES]);
    expect(l.native.filenameOf(777, 123_000n)).toEqual(Buffer.from([0x2f, 0x62, 0xff, 0x22]));
    l.native.filenameFound(777, 123_000n, '/usr/bin/other'); // a lookup does not replace it
    const out = l.native.format(child);
    expect(out.readUInt32LE(0)).toBe(CHUNK_LINES);
    const line = out.subarray(8).toString('utf8');
    expect(line).toContain('"filename":"/b\\udcff\\""');
    expect(JSON.parse(line).exec.ancestors[0].filename).toBe('/b\udcff"');
    // an unknown ancestor told null: the line says null
    l.native.filenameFound(900, 5n, null);
    const orphan = execRecord(r, { tgid: 779, startNs: 125_000n, nspid: 7, ancestors: [{ pid: 900, startNs: 5n, comm: Buffer.from('x'), outside: true }], filename: Buffer.from('/bin/ls'), argv: [], ino: 100n, xflags: 0 });
    const o = JSON.parse(l.native.format(orphan).subarray(8).toString('utf8'));
    expect(o.exec.ancestors[0]).toMatchObject({ pid: 900, filename: null, outside: true });
    expect(o.exec.entry).toBe(true);
    kinds = [];
    // a filtered cgroup's exec needs nothing remembered: filtered, noted for the table
    l.register(cg.key, { cls: classifyCgroupPath(PATH), cgroupPath: PATH, cgroupV1: false, emit: false, verdict: abi.VERDICT_CONTAINER });
    l.native.takeNoted();
    const unknown = execRecord(r, { tgid: 780, startNs: 126_000n, nspid: 7, ancestors: [{ pid: 901, startNs: 6n, comm: Buffer.from('y'), outside: false }], filename: Buffer.from('/bin/ls'), argv: [], ino: 555n, xflags: 0 });
    expect(l.native.format(unknown).length).toBe(0);
    expect(l.native.takeNoted()!.equals(unknown)).toBe(true);
  });
});


/**
 * The lane's output queue (native/out_queue.h): every line reaches the output in order; a regular
 * file's writer collects what comes for a while and writes it at once (a wakeup per push cost
 * more than the write), while a device is written at each push.
 */
describe('the lane output queue (native/out_queue.cc)', () => {
  const native = loadNative();

  /** Pushes 200 lines in 10 pushes 3 ms apart, as the poll thread pushes a storm's batches. */
  async function pushLines(path: string): Promise<{ stats: NativeOutputStats; lines: string[] }> {
    const formatter = new native.JsonLane(OFFSET);
    const fd = openSync(path, 'w');
    const pause = new Int32Array(new SharedArrayBuffer(4));
    try {
      const out = new LaneOutput(formatter, fd, (e) => {
        throw e;
      });
      const lines = Array.from({ length: 200 }, (_, i) => JSON.stringify({ type: 'exec', n: i, pad: 'x'.repeat(i % 50) }));
      for (let i = 0; i < lines.length; i += 20) {
        if (i) Atomics.wait(pause, 0, 0, 3);
        out.write(lines.slice(i, i + 20).join('\n') + '\n');
      }
      return { stats: await out.close(5000), lines };
    } finally {
      closeSync(fd);
    }
  }

  it('writes a regular file in a few collected writes, every line in order', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ctrace-out-'));
    try {
      const file = join(dir, 'out.jsonl');
      const { stats, lines } = await pushLines(file);
      expect(readFileSync(file, 'utf8')).toBe(lines.map((l) => l + '\n').join(''));
      expect(stats).toMatchObject({ queuedBytes: 0, undeliveredLines: 0, droppedLines: 0, errno: 0 });
      expect(stats.writtenBytes).toBe(statSync(file).size);
      // 10 pushes within one hold (~30 ms of 50) are one write; a preempted test process may split them once
      expect(stats.writes).toBeGreaterThan(0);
      expect(stats.writes).toBeLessThanOrEqual(2);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('writes a device at each push (nothing to collect for)', async () => {
    const { stats, lines } = await pushLines('/dev/null');
    expect(stats.writes).toBe(10);
    expect(stats.writtenBytes).toBe(lines.reduce((n, l) => n + l.length + 1, 0));
  });
});
