/**
 * The binary hasher's budget: bytes of new binaries read per second. A container that execs
 * new large binaries in a loop (each copy or memfd a new inode) must not hold the JavaScript
 * thread reading them while its events back up; past the budget an exec says why it has no
 * hash, and is hashed later once the budget allows.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { RawExec } from '../src/decode/abi.js';
import { BinaryHasher } from '../src/enrich/binary-hash.js';
import { rawExec } from './helpers/events.js';

const MiB = 1024 * 1024;
const dir = mkdtempSync(join(tmpdir(), 'ctrace-hash-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A file of `size` bytes, different from every other, and its SHA-256. */
function binary(name: string, size: number): { path: string; sha256: string } {
  const buf = Buffer.alloc(size, name);
  const path = join(dir, name);
  writeFileSync(path, buf);
  return { path, sha256: createHash('sha256').update(buf).digest('hex') };
}

/** The kernel's dev_t (MAJOR << 20 | MINOR) of a stat(2) st_dev. */
function kernelDev(dev: number): number {
  const major = (dev >>> 8) & 0xfff;
  const minor = (dev & 0xff) | ((dev >>> 12) & 0xfff00);
  return (major << 20) | minor;
}

/**
 * An exec of `path` by a process already gone: the hasher reaches the file through a live
 * process's root (this one's), as it does through an ancestor in the container.
 */
function execOf(path: string): RawExec {
  const st = statSync(path, { bigint: true });
  return rawExec({
    task: { tid: 0x3fffff0, tgid: 0x3fffff0 }, // above pid_max: no /proc entry
    facts: { exeDev: kernelDev(Number(st.dev)), exeIno: st.ino, exeSize: Number(st.size), exeCtimeNs: st.ctimeNs },
    filename: path,
    argv: [path],
  });
}

describe('the hash budget', () => {
  const files = ['a', 'b', 'c', 'd'].map((n) => binary(n, MiB));

  it('hashes new binaries up to the budget, then says why not, and hashes the rest once the budget allows', () => {
    let now = 0;
    const told: string[] = [];
    const h = new BinaryHasher({ budgetBytesPerSec: 3 * MiB, now: () => now, onCached: (_f, c) => told.push(c.sha256 ?? 'null') });
    const via = [process.pid];
    for (const f of files.slice(0, 3)) expect(h.describe(execOf(f.path), null, via)).toMatchObject({ sha256: f.sha256, hashError: null });
    const late = h.describe(execOf(files[3]!.path), null, via);
    expect(late.sha256).toBeNull();
    expect(late.hashError).toBe('not hashed: more than 3 MiB of new binaries a second (the hash budget)');
    expect(h.overBudget).toBe(1);
    // not remembered (nor told to the lane): the next exec of it tries again
    expect(told).toEqual(files.slice(0, 3).map((f) => f.sha256));
    expect(h.describe(execOf(files[3]!.path), null, via).sha256).toBeNull();
    expect(h.overBudget).toBe(2);
    // what is cached costs nothing: known binaries keep their hash while the budget is spent
    expect(h.describe(execOf(files[0]!.path), null, via).sha256).toBe(files[0]!.sha256);
    now = 500; // half a second: 1.5 MiB back
    expect(h.describe(execOf(files[3]!.path), null, via)).toMatchObject({ sha256: files[3]!.sha256, hashError: null });
    expect(told.at(-1)).toBe(files[3]!.sha256);
  });

  it('reads a file larger than what is left while anything is left, then waits until it is paid back', () => {
    let now = 0;
    const big = binary('big', 3 * MiB);
    const h = new BinaryHasher({ budgetBytesPerSec: MiB, now: () => now });
    const via = [process.pid];
    expect(h.describe(execOf(big.path), null, via).sha256).toBe(big.sha256);
    now = 1000; // one second back of the three spent
    expect(h.describe(execOf(files[0]!.path), null, via).hashError).toMatch(/hash budget/);
    now = 3001;
    expect(h.describe(execOf(files[0]!.path), null, via).sha256).toBe(files[0]!.sha256);
    // saved up for at most a second: a long quiet does not let a burst through
    now = 60_000;
    const burst = ['e', 'f', 'g'].map((n) => binary(n, MiB / 2));
    const got = burst.map((f) => h.describe(execOf(f.path), null, via).sha256);
    expect(got).toEqual([burst[0]!.sha256, burst[1]!.sha256, null]);
  });

  it('0 is no limit; the default budget takes a new image\'s binaries at once', () => {
    const many = Array.from({ length: 12 }, (_, i) => binary(`m${i}`, MiB));
    const unlimited = new BinaryHasher({ budgetBytesPerSec: 0, now: () => 0 });
    for (const f of many) expect(unlimited.describe(execOf(f.path), null, [process.pid]).sha256).toBe(f.sha256);
    const dflt = new BinaryHasher({ now: () => 0 });
    for (const f of many) expect(dflt.describe(execOf(f.path), null, [process.pid]).sha256).toBe(f.sha256);
    expect(dflt.overBudget).toBe(0);
    expect(readFileSync(many[0]!.path).length).toBe(MiB);
  });
});
