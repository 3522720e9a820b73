/**
 * `ctrace read --follow`: the bytes of a growing file, as `tail -F` reads them. At the end
 * of the file it waits for more; when the path names a new file (ctrace rotated the log:
 * the old file was renamed `<log>.<time>` and a new one created), it reads what is left of
 * the old file, then continues with the file that came after it: the next rotated file if
 * the log rotated more than once meanwhile (a busy log on a small --log-max-size), else the
 * new `<log>`. A file truncated in place is read again from its start.
 */
import { statSync } from 'node:fs';
import { open, stat, type FileHandle } from 'node:fs/promises';
import { listRotated } from '../audit/files.js';

/** The file written after the rotated file `name`: the next rotated one, else the log itself. */
function fileAfter(path: string, name: string): string {
  // by name, not position: `name` may have been pruned (--log-keep) while it was read
  return listRotated(path).find((f) => f > name) ?? path;
}

/** The rotated name the file with inode `ino` now has, if it is still among the rotated files. */
function rotatedNameOf(path: string, ino: number): string | null {
  const files = listRotated(path);
  // newest first: it was just rotated, and there may be thousands before it
  for (let i = files.length - 1; i >= 0; i--) if (statSync(files[i]!, { throwIfNoEntry: false })?.ino === ino) return files[i]!;
  return null;
}

interface Opened {
  fh: FileHandle;
  ino: number;
  /** the path it was opened by: a rotated file's, or the log's */
  name: string;
}

/**
 * Opens the file written after `prev` (a rotated file's name; null: unknown, the log itself).
 * The log may rotate between finding that it comes next and opening it (two rotations within a
 * poll): the file opened is then the one after, and the one renamed meanwhile comes first.
 */
async function openAfter(path: string, prev: string | null): Promise<Opened | null> {
  for (let tries = 0; tries < 100; tries++) {
    const name = prev ? fileAfter(path, prev) : path;
    const fh = await open(name, 'r').catch(() => null);
    if (!fh) return null;
    const ino = (await fh.stat()).ino;
    if (name !== path) return { fh, ino, name };
    const now = prev ? fileAfter(path, prev) : path;
    if (now === path) return { fh, ino, name };
    if (statSync(now, { throwIfNoEntry: false })?.ino === ino) return { fh, ino, name: now };
    await fh.close();
  }
  return null;
}

export interface FollowOptions {
  /** stop at the next wait */
  signal: AbortSignal;
  /** how often to look for more (ms) */
  pollMs?: number;
}

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });

export async function* followFile(path: string, opts: FollowOptions): AsyncGenerator<Buffer> {
  const pollMs = opts.pollMs ?? 200;
  const first = await open(path, 'r');
  let cur: Opened = { fh: first, ino: (await first.stat()).ino, name: path };
  let pos = 0;
  const buf = Buffer.alloc(256 * 1024);
  /** everything from pos to the current end of the file */
  async function* drain(): AsyncGenerator<Buffer> {
    for (;;) {
      const { bytesRead } = await cur.fh.read(buf, 0, buf.length, pos);
      if (bytesRead === 0) return;
      pos += bytesRead;
      yield Buffer.from(buf.subarray(0, bytesRead));
    }
  }
  try {
    for (;;) {
      yield* drain();
      if (opts.signal.aborted) return;
      let done: string | null | undefined; // the finished file's rotated name (null: unknown)
      if (cur.name !== path) {
        done = cur.name; // a rotated file is complete: on to the next
      } else {
        const now = await stat(path).catch(() => null);
        if (now && now.ino !== cur.ino) {
          yield* drain(); // rotated: the rest of the old file first (written before the rename)
          done = rotatedNameOf(path, cur.ino);
        } else if (now && now.size < pos) {
          pos = 0; // truncated in place (copytruncate)
          continue;
        }
      }
      if (done !== undefined) {
        const next = await openAfter(path, done);
        if (next) {
          await cur.fh.close();
          cur = next;
          pos = 0;
          continue;
        }
      }
      await sleep(pollMs, opts.signal);
    }
  } finally {
    await cur.fh.close().catch(() => {});
  }
}
