/**
 * The Unix socket server (`--socket`): 0600, any number of clients each getting
 * the whole protobuf stream, a slow client dropped with a counted loss, stale
 * socket files replaced, live ones refused.
 */
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { createConnection, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOptions, type Entry } from '../src/events/records.js';
import { decodeRecordObject, entryFromProto, FrameSplitter } from '../src/format/protobuf.js';
import { SocketSink, type DroppedClient } from '../src/sinks/socket.js';
import { toJsonObject } from '../src/format/json.js';
import { sampleEvents } from './helpers/events.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'ctrace-sock-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const sockPath = () => join(dir, `s${++n}.sock`);

interface TestClient {
  sock: Socket;
  entries: Entry[];
  ended: Promise<void>;
  waitFor(count: number, timeoutMs?: number): Promise<void>;
}

function connect(path: string, { paused = false } = {}): Promise<TestClient> {
  return new Promise((resolve, reject) => {
    const sock = createConnection(path);
    const entries: Entry[] = [];
    const frames = new FrameSplitter();
    sock.on('data', (d: Buffer) => {
      for (const f of frames.push(d)) entries.push(entryFromProto(decodeRecordObject(f.bytes)));
    });
    const ended = new Promise<void>((r) => sock.on('close', () => r()));
    sock.on('error', () => {});
    sock.once('connect', () => {
      if (paused) sock.pause();
      resolve({
        sock,
        entries,
        ended,
        async waitFor(count, timeoutMs = 5000) {
          const until = Date.now() + timeoutMs;
          while (entries.length < count) {
            if (Date.now() > until) throw new Error(`got ${entries.length} records, wanted ${count}`);
            await new Promise((r) => setTimeout(r, 5));
          }
        },
      });
    });
    sock.once('error', reject);
  });
}

const tick = () => new Promise((r) => setImmediate(r));

describe('socket server', () => {
  it('is created 0600 and removed on close', async () => {
    const path = sockPath();
    const sink = await SocketSink.listen({ path, start: startOptions() });
    const st = statSync(path);
    expect(st.isSocket()).toBe(true);
    expect(st.mode & 0o777).toBe(0o600);
    await sink.close();
    expect(existsSync(path)).toBe(false);
  });

  it('two clients both receive the start record, every event, lost records and the stop record', async () => {
    const path = sockPath();
    const sink = await SocketSink.listen({ path, start: startOptions({ socket: path }) });
    const a = await connect(path);
    const b = await connect(path);
    await a.waitFor(1);
    await b.waitFor(1); // both registered: they have their start record
    expect(sink.stats().clients).toBe(2);

    const events = sampleEvents(1000);
    for (let i = 0; i < events.length; i++) {
      sink.write(events[i]!);
      if (i === 499) sink.noteLost({ lost: 2, total: 2 });
      if (i % 100 === 99) await tick();
    }
    await sink.close('SIGTERM');
    await Promise.all([a.ended, b.ended]);

    for (const c of [a, b]) {
      expect(c.entries).toHaveLength(1 + 1000 + 1 + 1);
      expect(c.entries[0]).toMatchObject({ type: 'start', options: { socket: path } });
      expect(c.entries[501]).toMatchObject({ type: 'lost', count: 2, total: 2 });
      expect(c.entries.at(-1)).toMatchObject({ type: 'stop', reason: 'SIGTERM', lost: 2, events: { exec: 375, exit: 375, mount: 250 } });
      const evs = c.entries.filter((e) => e.type === 'exec' || e.type === 'exit' || e.type === 'mount');
      expect(evs.map(toJsonObject)).toEqual(events.map((e) => toJsonObject(e)));
    }
    expect(sink.stats()).toMatchObject({ served: 2, dropped: 0, undelivered: 0 });
  });

  it('drops a client that does not read, counts what it missed, and keeps serving the others', async () => {
    const path = sockPath();
    const drops: DroppedClient[] = [];
    let writtenAtDrop = -1;
    let written = 0;
    const sink = await SocketSink.listen({
      path,
      start: startOptions(),
      maxClientBuffer: 64 * 1024,
      onClientDropped: (d) => {
        drops.push(d);
        writtenAtDrop = written;
      },
    });
    const slow = await connect(path, { paused: true });
    const fast = await connect(path);
    await fast.waitFor(1);
    await new Promise((r) => setTimeout(r, 20));

    const events = sampleEvents(5000);
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < events.length; i++) {
      sink.write(events[i]!);
      written++;
      if (i % 200 === 199) await tick();
    }
    const writeMs = Number(process.hrtime.bigint() - t0) / 1e6;
    await sink.close('SIGTERM');
    await fast.ended;

    expect(fast.entries).toHaveLength(1 + 5000 + 1);
    expect(drops).toHaveLength(1);
    expect(drops[0]!.undelivered).toBeGreaterThan(0);
    expect(sink.stats()).toMatchObject({ served: 2, dropped: 1 });
    expect(sink.stats().undelivered).toBe(drops[0]!.undelivered);

    // what the slow client did get, plus what was counted as undelivered, covers everything sent to it
    slow.sock.resume();
    await slow.ended;
    const got = slow.entries.length;
    expect(got).toBeLessThan(1 + writtenAtDrop);
    expect(got + drops[0]!.undelivered).toBeGreaterThanOrEqual(1 + writtenAtDrop);
    expect(slow.entries[0]!.type).toBe('start');
    expect(writeMs).toBeLessThan(5000);
  });

  it('replaces a stale socket file, refuses a live socket and a regular file', async () => {
    const stale = sockPath();
    // a server that was killed and left its socket file behind
    spawnSync(process.execPath, [
      '-e',
      `require('net').createServer().listen(${JSON.stringify(stale)}, () => process.kill(process.pid, 'SIGKILL'))`,
    ]);
    expect(statSync(stale).isSocket()).toBe(true);
    const sink = await SocketSink.listen({ path: stale, start: startOptions() });
    await expect(SocketSink.listen({ path: stale, start: startOptions() })).rejects.toThrow(/another process is serving on it/);
    await sink.close();

    const file = join(dir, 'regular');
    writeFileSync(file, 'x');
    await expect(SocketSink.listen({ path: file, start: startOptions() })).rejects.toThrow(/exists and is not a socket/);
    await expect(SocketSink.listen({ path: join(file, 'x.sock'), start: startOptions() })).rejects.toThrow(
      /cannot create the directory of socket .*\((ENOTDIR|EEXIST)\)$/,
    );
    // a directory it creates is 0700
    const deep = join(dir, 'new', 'run', 'ctrace.sock');
    const s2 = await SocketSink.listen({ path: deep, start: startOptions() });
    expect(statSync(join(dir, 'new', 'run')).mode & 0o777).toBe(0o700);
    await s2.close();
  });
});
