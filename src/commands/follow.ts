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

/** The file written after the one with inode `ino`: the next rotated file, else the log itself. */
function nextFile(path: string, ino: number): string {
  const files = [...listRotated(path), path];
  const at = files.findIndex((f) => {
    try {
      return statSync(f).ino === ino;
    } catch {
      return false;
    }
  });
  return at >= 0 && at + 1 < files.length ? files[at + 1]! : path;
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
  let fh: FileHandle = await open(path, 'r');
  let ino = (await fh.stat()).ino;
  let pos = 0;
  const buf = Buffer.alloc(256 * 1024);
  /** everything from pos to the current end of `fh` */
  async function* drain(): AsyncGenerator<Buffer> {
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
      if (bytesRead === 0) return;
      pos += bytesRead;
      yield Buffer.from(buf.subarray(0, bytesRead));
    }
  }
  try {
    for (;;) {
      yield* drain();
      if (opts.signal.aborted) return;
      const now = await stat(path).catch(() => null);
      if (now && now.ino !== ino) {
        // rotated: the rest of the old file first (written before the rename), then the next one
        yield* drain();
        const next = await open(nextFile(path, ino), 'r').catch(() => null);
        if (next) {
          await fh.close();
          fh = next;
          ino = (await fh.stat()).ino;
          pos = 0;
          continue;
        }
      } else if (now && now.size < pos) {
        pos = 0; // truncated in place (copytruncate)
        continue;
      }
      await sleep(pollMs, opts.signal);
    }
  } finally {
    await fh.close().catch(() => {});
  }
}
