/** File-system helpers every writer of files and sockets shares (the audit log, the socket, the spool). */
import { chmod, mkdir } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { getSystemErrorMap } from 'node:util';

/** Linux: sun_path holds 108 bytes with its NUL. */
export const MAX_SOCKET_PATH_BYTES = 107;

/** The errno code of a Node fs or net error (ENOENT, EEXIST...), or undefined. */
export function errCode(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException)?.code;
}

/** A positive errno from the addon as the error Node's fs would have thrown (`ENOSPC: no space left on device, write`). */
export function errnoError(errno: number, syscall: string): NodeJS.ErrnoException {
  const [code, message] = getSystemErrorMap().get(-errno) ?? [`E${errno}`, `error ${errno}`];
  return Object.assign(new Error(`${code}: ${message}, ${syscall}`), { code, errno: -errno, syscall });
}

/**
 * "no space left on device (ENOSPC)" from a Node fs or net error
 * (`ENOSPC: no space left on device, write`, `listen EACCES: permission denied /x`).
 */
export function describeFsError(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  const msg = e?.message ?? String(err);
  const m = /(?:^|\s)([A-Z][A-Z0-9]+): (.+?)(?:, [a-z_]+(?: '.*')?| \/.*)?$/.exec(msg);
  if (m) return `${m[2]} (${m[1]})`;
  return e?.code && !msg.includes(e.code) ? `${msg} (${e.code})` : msg;
}

/** mkdir -p; directories it creates get 0700 whatever the umask. */
export async function ensureDir(dir: string): Promise<void> {
  const first = await mkdir(dir, { recursive: true, mode: 0o700 });
  if (!first) return;
  // chmod every directory created, from the first one down to `dir`
  let d = resolve(dir);
  const created: string[] = [];
  while (d.length >= first.length) {
    created.push(d);
    if (d === first) break;
    d = dirname(d);
  }
  for (const c of created) await chmod(c, 0o700);
}
