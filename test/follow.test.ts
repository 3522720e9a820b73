/**
 * followFile against a log rotated faster than it polls: many rotations within the same
 * millisecond (`<log>.<time>`, `-001`, `-002`...), some between the follower's listing of the
 * rotated files and its open of the next one. Every byte comes out once, in order.
 */
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { afterAll, describe, expect, it, vi } from 'vitest';

/** Runs before the follower's next open() of a file: the moment a rotation races it. */
let beforeOpen: ((path: string) => void) | null = null;
vi.mock('node:fs/promises', async (importOriginal) => {
  const fsp = await importOriginal<typeof import('node:fs/promises')>();
  const open: typeof fsp.open = (path, ...rest) => {
    beforeOpen?.(String(path));
    return fsp.open(path, ...rest);
  };
  return { ...fsp, open, default: { ...fsp, open } };
});
import { followFile } from '../src/commands/follow.js';

const dir = mkdtempSync(join(tmpdir(), 'ctrace-follow-unit-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('followFile', () => {
  it('reads every rotated file once and in order, however fast the log rotates', async () => {
    const log = join(dir, 'trace.log');
    writeFileSync(log, 'start\n');
    const stop = new AbortController();
    const got: Buffer[] = [];
    const text = () => Buffer.concat(got).toString();
    const reading = (async () => {
      for await (const chunk of followFile(log, { signal: stop.signal, pollMs: 0 })) got.push(chunk);
    })();
    while (!text().startsWith('start\n')) await new Promise((r) => setTimeout(r, 1));

    // another thread writes a line per file and rotates, as fast as it can: the follower's
    // listing of rotated files and its open of the next one race with the renames
    const files = 1000;
    const writer = new Worker(
      `const fs = require('node:fs');
       const { log, files } = require('node:worker_threads').workerData;
       const nap = new Int32Array(new SharedArrayBuffer(4));
       const pad = (n, w) => String(n).padStart(w, '0');
       for (let i = 0; i < files; i++) {
         fs.appendFileSync(log, 'line ' + i + '\\n');
         fs.renameSync(log, log + '.20261201T0000' + pad(Math.floor(i / 1000), 2) + '.' + pad(i % 1000, 3) + 'Z');
         fs.writeFileSync(log, '');
         Atomics.wait(nap, 0, 0, Math.random() * 0.3);
       }
       fs.appendFileSync(log, 'last\\n');`,
      { eval: true, workerData: { log, files } },
    );
    await new Promise((r) => writer.on('exit', r));
    let expected = 'start\n';
    for (let i = 0; i < files; i++) expected += `line ${i}\n`;
    expected += 'last\n';

    const deadline = Date.now() + 20_000;
    while (text().length < expected.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    stop.abort();
    await reading;
    expect(text()).toBe(expected);
  });

  it('reads the file the log became while it opened the next one', async () => {
    const log = join(dir, 'race.log');
    const stamp = (ms: number) => `${log}.20261201T000000.${String(ms).padStart(3, '0')}Z`;
    writeFileSync(log, 'a\n');
    const stop = new AbortController();
    const got: Buffer[] = [];
    const text = () => Buffer.concat(got).toString();
    const reading = (async () => {
      for await (const chunk of followFile(log, { signal: stop.signal, pollMs: 1 })) got.push(chunk);
    })();
    while (text() !== 'a\n') await new Promise((r) => setTimeout(r, 1));

    // A rotates to .001 and B is written; as the follower goes to open B at the log's path,
    // B rotates to .002 and C takes the path: the follower must read B before C
    beforeOpen = (path) => {
      if (path !== log) return;
      beforeOpen = null;
      renameSync(log, stamp(2));
      writeFileSync(log, 'c\n');
    };
    renameSync(log, stamp(1));
    writeFileSync(log, 'b\n');
    const deadline = Date.now() + 5_000;
    while (text().length < 6 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 2));
    await new Promise((r) => setTimeout(r, 20));
    stop.abort();
    await reading;
    expect(beforeOpen).toBeNull(); // the race happened
    expect(text()).toBe('a\nb\nc\n');
  });
});
