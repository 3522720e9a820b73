/**
 * `--socket <path>`: a Unix socket, created 0600, that serves the protobuf stream
 * (length-delimited ctrace.v1.Record, as `--output protobuf`) to any number of
 * local clients. Each client gets the run's start record when it connects, then
 * every record from then on, and the stop record when ctrace stops.
 *
 * The tracer never waits for a client: records are encoded once per tick and
 * handed to every client's socket; a client whose unsent backlog would exceed
 * `maxClientBuffer` is disconnected, and the records it did not get are counted
 * and reported (onClientDropped).
 */
import { lstat, chmod, rename, unlink } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { dirname, join } from 'node:path';
import type { LostReport, TraceEvent } from '../events/event.js';
import { RecordTally, startRecord, type Entry, type LossSource, type StartOptions } from '../events/records.js';
import { encodeDelimited } from '../format/protobuf.js';
import { describeFsError, ensureDir, MAX_SOCKET_PATH_BYTES } from '../util/fs-util.js';
import type { Sink } from './sink.js';

export interface SocketSinkOptions {
  path: string;
  start: StartOptions;
  /** bytes a client may have queued before it is dropped (default 8 MiB) */
  maxClientBuffer?: number;
  onClientDropped?: (d: DroppedClient) => void;
  onClientConnected?: (id: number) => void;
}

export interface DroppedClient {
  id: number;
  /** records this client did not receive */
  undelivered: number;
  /** bytes queued for it when it was dropped */
  backlog: number;
}

export interface SocketStats {
  /** connected now */
  clients: number;
  /** served since start */
  served: number;
  /** dropped for being too slow */
  dropped: number;
  /** records not delivered to dropped clients, summed */
  undelivered: number;
}

interface Client {
  id: number;
  sock: Socket;
  /** chunks handed to the socket and not yet flushed to the kernel: record counts, in order */
  inflight: number[];
  /** bytes of those */
  queued: number;
}

export class SocketSink implements Sink {
  readonly path: string;
  private readonly maxClientBuffer: number;
  private readonly clients = new Map<number, Client>();
  private readonly startFrame: Buffer;
  private pending: Buffer[] = [];
  private scheduled = false;
  private closed = false;
  /** the socket file this instance created: it removes that file only, never a successor's */
  private ino = -1;
  private dev = -1;
  private nextId = 1;
  private readonly tally = new RecordTally();
  private readonly st: SocketStats = { clients: 0, served: 0, dropped: 0, undelivered: 0 };

  private constructor(
    private readonly server: Server,
    private readonly opts: SocketSinkOptions,
  ) {
    this.path = opts.path;
    this.maxClientBuffer = opts.maxClientBuffer ?? 8 * 1024 * 1024;
    this.startFrame = encodeDelimited(startRecord(opts.start));
    server.on('connection', (sock) => this.accept(sock));
  }

  /** Creates the socket (0600) and starts serving; rejects with a one-line reason. */
  static async listen(opts: SocketSinkOptions): Promise<SocketSink> {
    try {
      await ensureDir(dirname(opts.path)); // 0700 if ctrace creates it
    } catch (err) {
      throw new Error(`cannot create the directory of socket ${opts.path}: ${describeFsError(err)}`);
    }
    await clearStaleSocket(opts.path);
    const server = createServer({ pauseOnConnect: false });
    // Node removes the path it listened on when the server closes, whoever's socket is there by
    // then: listen on a private name and rename it into place, so close() decides (same inode only)
    const bindPath = privateName(opts.path);
    let oldMask: number | undefined;
    try {
      oldMask = process.umask(0o177); // the socket is born 0600 (bind happens inside listen())
    } catch {
      oldMask = undefined; // worker threads cannot change the umask: chmod below still applies
    }
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(bindPath, () => {
          server.off('error', reject);
          resolve();
        });
      });
    } catch (err) {
      throw new Error(`cannot listen on socket ${opts.path}: ${describeFsError(err)}`);
    } finally {
      if (oldMask !== undefined) process.umask(oldMask);
    }
    try {
      await chmod(bindPath, 0o600);
      if (bindPath !== opts.path) await rename(bindPath, opts.path);
    } catch (err) {
      server.close();
      throw new Error(`cannot listen on socket ${opts.path}: ${describeFsError(err)}`);
    }
    const sink = new SocketSink(server, opts);
    const st = await lstat(opts.path);
    sink.ino = st.ino;
    sink.dev = st.dev;
    return sink;
  }

  private accept(sock: Socket): void {
    if (this.closed) {
      sock.destroy();
      return;
    }
    const c: Client = { id: this.nextId++, sock, inflight: [], queued: 0 };
    this.clients.set(c.id, c);
    this.st.served++;
    this.st.clients = this.clients.size;
    sock.on('error', () => this.remove(c));
    sock.on('close', () => this.remove(c));
    sock.on('data', () => {}); // clients have nothing to say; keep their input from piling up
    this.send(c, this.startFrame, 1);
    this.opts.onClientConnected?.(c.id);
  }

  private remove(c: Client): void {
    if (this.clients.delete(c.id)) this.st.clients = this.clients.size;
  }

  private send(c: Client, chunk: Buffer, records: number): void {
    if (c.queued + chunk.length > this.maxClientBuffer && c.queued > 0) {
      this.drop(c, records);
      return;
    }
    c.inflight.push(records);
    c.queued += chunk.length;
    c.sock.write(chunk, () => {
      c.inflight.shift();
      c.queued -= chunk.length;
    });
  }

  private drop(c: Client, notSent: number): void {
    const undelivered = c.inflight.reduce((a, b) => a + b, 0) + notSent;
    const backlog = c.queued;
    this.remove(c);
    c.sock.destroy();
    this.st.dropped++;
    this.st.undelivered += undelivered;
    this.opts.onClientDropped?.({ id: c.id, undelivered, backlog });
  }

  write(event: TraceEvent): void {
    if (this.closed) return;
    this.tally.event(event);
    this.push(event);
  }

  noteLost(report: LostReport, source?: LossSource): void {
    if (this.closed) return;
    this.push(this.tally.lostRecord(report, source));
  }

  private push(e: Entry): void {
    if (this.clients.size === 0) return; // nobody listening: nothing to encode
    this.pending.push(encodeDelimited(e));
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  private flush(): void {
    this.scheduled = false;
    if (this.pending.length === 0) return;
    const records = this.pending.length;
    const chunk = Buffer.concat(this.pending);
    this.pending = [];
    for (const c of [...this.clients.values()]) this.send(c, chunk, records);
  }

  stats(): SocketStats {
    return { ...this.st };
  }

  /**
   * Sends the stop record, lets clients take what is queued (up to `graceMs`),
   * closes them and the server, and removes the socket file.
   */
  async close(reason = 'closed', graceMs = 2000): Promise<void> {
    if (this.closed) return;
    this.push(this.tally.stopRecord(reason));
    this.flush();
    this.closed = true;
    const serverClosed = new Promise<void>((r) => this.server.close(() => r()));
    await Promise.all(
      [...this.clients.values()].map(
        (c) =>
          new Promise<void>((resolve) => {
            const t = setTimeout(() => {
              c.sock.destroy();
              resolve();
            }, graceMs);
            t.unref();
            c.sock.end(() => {
              clearTimeout(t);
              resolve();
            });
            c.sock.once('close', () => {
              clearTimeout(t);
              resolve();
            });
          }),
      ),
    );
    for (const c of this.clients.values()) c.sock.destroy();
    this.clients.clear();
    await serverClosed;
    // only our own socket: another ctrace may serve at this path by now
    const st = await lstat(this.path).catch(() => null);
    if (st && st.isSocket() && st.ino === this.ino && st.dev === this.dev) await unlink(this.path).catch(() => {});
  }
}

/** A fresh name beside `path` to bind before the rename (or `path` itself when that would be too long). */
function privateName(path: string): string {
  const p = join(dirname(path), `.ctrace-${randomBytes(4).toString('hex')}.sock`);
  return Buffer.byteLength(p) <= MAX_SOCKET_PATH_BYTES ? p : path;
}

/** A socket file left by a ctrace that died is removed; a live one, or any other file, is an error. */
async function clearStaleSocket(path: string): Promise<void> {
  let st;
  try {
    st = await lstat(path);
  } catch {
    return;
  }
  if (!st.isSocket()) throw new Error(`cannot listen on socket ${path}: it exists and is not a socket`);
  const live = await new Promise<boolean>((resolve) => {
    const s = createConnection(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
  if (live) throw new Error(`cannot listen on socket ${path}: another process is serving on it`);
  await unlink(path);
}
