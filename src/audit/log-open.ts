/**
 * Opening an audit-log file safely: never through a symbolic link (O_NOFOLLOW), never a FIFO or
 * a device (O_NONBLOCK, then the type is checked), created 0600 whatever the umask; an existing
 * file must be owned by this user and sit in a directory others cannot write, unless the
 * operator accepted it (--log-allow-unsafe): whoever can replace the file can rewrite the record.
 */
import { constants as C, type Stats } from 'node:fs';
import { lstat, open, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { errCode } from '../util/fs-util.js';

export class AuditLogError extends Error {
  constructor(
    message: string,
    readonly code: string | undefined,
  ) {
    super(message);
  }
}

/** Opens `path` for append, creating it 0600, and checks what it opened (type, owner, mode, directory). */
export async function openForAppend(
  path: string,
  allowUnsafe: boolean,
  onWarning: (message: string) => void,
): Promise<{ fh: FileHandle; st: Stats }> {
  let fh: FileHandle;
  let created = true;
  // non-blocking: a FIFO planted at the path must not hang the open (its type is refused below)
  const flags = C.O_WRONLY | C.O_APPEND | C.O_NOFOLLOW | C.O_NONBLOCK | C.O_NOCTTY;
  try {
    fh = await open(path, flags | C.O_CREAT | C.O_EXCL, 0o600);
  } catch (err) {
    if (errCode(err) !== 'EEXIST') throw err;
    created = false;
    try {
      fh = await open(path, flags);
    } catch (err2) {
      throw refusal(path, err2);
    }
  }
  const st = await fh.stat();
  const what = `audit log ${path}`;
  try {
    if (!st.isFile()) throw new AuditLogError(`${what} is not a regular file; refusing to write to it`, 'EINVAL');
    if (created) await fh.chmod(0o600); // whatever the umask
    else {
      checkOwner(st, what, allowUnsafe);
      if (st.mode & 0o077) {
        await fh.chmod(0o600);
        onWarning(`${what} was accessible to group/others (mode ${(st.mode & 0o777).toString(8)}); tightened to 600`);
      }
    }
    await checkDir(path, what, allowUnsafe);
  } catch (err) {
    await fh.close().catch(() => {});
    throw err;
  }
  return { fh, st };
}

/**
 * An existing log must be ours and ours only: owned by another user it could have been
 * prepared, or be rewritten, by them (refused unless allowUnsafe).
 */
export function checkOwner(st: { uid: number }, what: string, allowUnsafe: boolean): void {
  const me = process.getuid?.() ?? 0;
  if (st.uid !== me && !allowUnsafe) {
    throw new AuditLogError(`${what} is owned by uid ${st.uid}, not by this user (${me}); refusing to append to it (--log-allow-unsafe to accept)`, 'EPERM');
  }
}

/** Others who can write the log's directory can replace the log: refused unless allowUnsafe. */
export async function checkDir(path: string, what: string, allowUnsafe: boolean): Promise<void> {
  if (allowUnsafe) return;
  const dir = dirname(path);
  const st = await lstat(dir);
  const me = process.getuid?.() ?? 0;
  // a sticky directory (/tmp) lets others add files but not replace ours
  const othersWrite = (st.mode & 0o022) !== 0 && (st.mode & 0o1000) === 0;
  if (othersWrite || (st.uid !== me && st.uid !== 0)) {
    throw new AuditLogError(
      `${what}: its directory ${dir} can be written by ${othersWrite ? `group/others (mode ${(st.mode & 0o7777).toString(8)})` : `uid ${st.uid}`}, who could replace the log; refusing (--log-allow-unsafe to accept)`,
      'EPERM',
    );
  }
}

/** The open of an existing path failed: say why as start-up does (a symbolic link, a FIFO with no reader). */
function refusal(path: string, err: unknown): unknown {
  if (errCode(err) === 'ELOOP') return new AuditLogError(`audit log ${path} is a symbolic link; refusing to follow it`, 'ELOOP');
  if (errCode(err) === 'ENXIO') return new AuditLogError(`audit log ${path} is not a regular file; refusing to write to it`, 'EINVAL');
  return err;
}
