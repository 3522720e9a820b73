/**
 * `ctrace read --follow`: the bytes of a growing file, as `tail -F` reads them. At the end
 * of the file it waits for more; when the path names a new file (ctrace rotated the log:
 * the old file was renamed `<log>.<time>` and a new one created), it reads what is left of
 * the old file, then continues at the start of the new one; a file truncated in place is
 * read again from its start.
 */
import { open, stat, type FileHandle } from 'node:fs/promises';

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
        // rotated: the rest of the old file first (written before the rename), then the new one
        yield* drain();
        const next = await open(path, 'r').catch(() => null);
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
