/**
 * The NATS sink and its disk spool against a real nats-server (Debian's, JetStream on, one
 * server on a loopback port, its own store): acknowledged publishes with message ids, both
 * message forms, a server that is down when ctrace starts, and a spool too small to hold an
 * outage.
 */
import { appendFileSync, closeSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startOptions } from '../src/events/records.js';
import { toJsonLine } from '../src/format/json.js';
import { decodeRecordObject } from '../src/format/protobuf.js';
import { NatsSink } from '../src/sinks/nats.js';
import { headers } from '@nats-io/transport-node';
import { BatchPublisher, msgIdHeader } from '../src/sinks/nats-publish.js';
import { DiskSpool, decodeFrames } from '../src/sinks/nats-spool.js';
import { sampleEvents } from './helpers/events.js';
import { readStream, startNatsCluster, type NatsCluster } from './helpers/nats-cluster.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'ctrace-nats-unit-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('DiskSpool', () => {
  it('keeps messages in order across segments and runs, and refuses past its bound', () => {
    const path = join(dir, 'spool-a');
    const msg = (i: number) => ({ subject: `s.${i}`, id: `id-${i}`, payload: Buffer.from(`payload ${i} `.repeat(50)) });
    let s = DiskSpool.open(path, 512 * 1024); // 64 KiB segments
    for (let i = 0; i < 400; i++) expect(s.append(msg(i))).toBe(true);
    expect(readdirSync(path).length).toBeGreaterThan(2);
    const got: string[] = [];
    for (let k = 0; k < 3; k++) {
      const batch = s.peek(50);
      got.push(...batch.map((m) => m.id));
      s.ack(batch.length);
    }
    s.close();
    // the next run starts where this one was acknowledged
    s = DiskSpool.open(path, 512 * 1024);
    expect(s.length).toBe(400 - got.length);
    while (s.length) {
      const batch = s.peek(64);
      got.push(...batch.map((m) => m.id));
      expect(batch[0]!.subject).toBe(`s.${got.length - batch.length}`);
      s.ack(batch.length);
    }
    expect(got).toEqual(Array.from({ length: 400 }, (_, i) => `id-${i}`));
    expect(s.bytes).toBe(0);
    expect(readdirSync(path)).toEqual([]);
    // the bound: ~700-byte frames in 8 KiB
    const small = DiskSpool.open(join(dir, 'spool-b'), 8 * 1024);
    let taken = 0;
    while (small.append(msg(taken))) taken++;
    expect(taken).toBe(Math.floor((8 * 1024) / (small.bytes / taken)));
    expect(small.length).toBe(taken);
    small.close();
  });
});

describe('DiskSpool replay', () => {
  const msg = (i: number, size = 700) => ({ subject: `s.${i}`, id: `id-${i}`, payload: Buffer.alloc(size, 97 + (i % 26)) });
  const tick = () => new Promise((r) => setImmediate(r));

  it('replays a segment still being appended to from a bounded chunk, in order, whatever the segment holds', async () => {
    const path = join(dir, 'spool-replay');
    const s = DiskSpool.open(path, 1024 * 1024 * 1024); // 8 MiB segments: one segment here
    let appended = 0;
    const got: string[] = [];
    let biggest = 0;
    // appends outpace the replay (300 a tick against 256 taken): the one segment keeps growing
    while (got.length < 12_000) {
      for (let i = 0; i < 300 && appended < 12_000; i++) expect(s.append(msg(appended++))).toBe(true);
      await tick();
      const batch = s.peek(256);
      for (const m of batch) biggest = Math.max(biggest, m.payload.buffer.byteLength);
      got.push(...batch.map((m) => m.id));
      s.ack(batch.length);
    }
    expect(got).toEqual(Array.from({ length: 12_000 }, (_, i) => `id-${i}`));
    expect(readdirSync(path)).toEqual([]);
    expect(s.length).toBe(0);
    expect(s.bytes).toBe(0);
    // what a look holds in memory: a chunk, not the segment (8 MB of frames went through it)
    expect(biggest).toBeGreaterThan(0);
    expect(biggest).toBeLessThanOrEqual(256 * 1024);
    s.close();
  });

  it('reads a frame bigger than a chunk whole, and the next run resumes mid-chunk exactly', () => {
    const path = join(dir, 'spool-big');
    let s = DiskSpool.open(path, 64 * 1024 * 1024);
    s.append(msg(0));
    s.append(msg(1, 600 * 1024));
    for (let i = 2; i < 10; i++) s.append(msg(i));
    const first = s.peek(1);
    expect(first.map((m) => m.id)).toEqual(['id-0']);
    s.ack(1);
    const big = s.peek(10);
    expect(big[0]!.id).toBe('id-1');
    expect(big[0]!.payload.length).toBe(600 * 1024);
    expect(big[0]!.payload.every((b) => b === 98)).toBe(true);
    s.close(); // id-0 acknowledged: the file is cut to the rest
    s = DiskSpool.open(path, 64 * 1024 * 1024);
    expect(s.length).toBe(9);
    const rest: string[] = [];
    while (s.length) {
      const b = s.peek(3);
      rest.push(...b.map((m) => m.id));
      s.ack(b.length);
    }
    expect(rest).toEqual(Array.from({ length: 9 }, (_, i) => `id-${i + 1}`));
    s.close();
  });

  it('counts a segment with a torn last frame without it, and a segment that no longer decodes does not stall the queue', () => {
    const path = join(dir, 'spool-torn');
    let s = DiskSpool.open(path, 512 * 1024); // 64 KiB segments
    for (let i = 0; i < 200; i++) s.append(msg(i));
    s.close();
    const segs = readdirSync(path).sort();
    expect(segs.length).toBeGreaterThan(2);
    // ctrace killed mid-write: half a frame at the end of the newest segment
    appendFileSync(join(path, segs.at(-1)!), Buffer.from([200, 2, 0, 0, 1, 2, 3]));
    // the oldest segment overwritten after its first frame (not by us)
    const oldest = join(path, segs[0]!);
    const firstFrame = readFileSync(oldest).readUInt32LE(0) + 4;
    const lostInOldest = decodeFrames(readFileSync(oldest)).length - 1;
    const fd = openSync(oldest, 'r+');
    writeSync(fd, Buffer.alloc(8, 0), 0, 8, firstFrame);
    closeSync(fd);
    s = DiskSpool.open(path, 512 * 1024);
    // the scan walks lengths only: the zeroed frame ends the oldest segment's count there
    expect(s.length).toBe(200 - lostInOldest);
    const got: string[] = [];
    for (let guard = 0; s.length && guard < 1000; guard++) {
      const b = s.peek(50);
      got.push(...b.map((m) => m.id));
      s.ack(b.length);
    }
    expect(s.length).toBe(0);
    expect(got[0]).toBe('id-0');
    expect(got.slice(1)).toEqual(Array.from({ length: 199 - lostInOldest }, (_, i) => `id-${i + 1 + lostInOldest}`));
    expect(readdirSync(path)).toEqual([]);
    s.close();
  });
});

/** Close drains only while connected (with the servers away the spool keeps everything). */
async function connected(sink: NatsSink): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!sink.stats().connected && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
}

describe('msgIdHeader', () => {
  it("is the client's own wire form of the one header", () => {
    const id = 'node-1_example:0b1c2d3e-0000-4000-8000-000000000000:123456789:42';
    const h = headers();
    h.set('Nats-Msg-Id', id);
    expect(Buffer.from(msgIdHeader(id).encode()).toString('latin1')).toBe(Buffer.from(h.encode()).toString('latin1'));
  });
});

describe('NatsSink on a real nats-server', () => {
  let cluster: NatsCluster;
  beforeAll(async () => {
    cluster = await startNatsCluster(1);
    await cluster.waitForJetStream();
  });
  afterAll(async () => cluster?.destroy());
  let n = 0;
  const notes: string[] = [];
  afterEach(async () => {
    notes.length = 0;
    // every stream takes ctrace.>: one at a time
    const { jsm } = await cluster.client();
    await jsm.streams.delete(`S${n}`).catch(() => {});
  });
  const open = (o: Partial<Parameters<typeof NatsSink.open>[0]> = {}) =>
    NatsSink.open({
      servers: cluster.urls,
      stream: `S${++n}`,
      spoolDir: join(dir, `spool-${n}`),
      start: startOptions(),
      onNote: (m) => notes.push(m),
      host: 'node-1.example',
      ...o,
    });

  it('refuses a spool directory it cannot make, naming it', async () => {
    await expect(open({ spoolDir: '/dev/null/spool' })).rejects.toThrow(/^--nats-spool \/dev\/null\/spool: ENOTDIR/);
  });

  it('creates the stream and publishes every record as JSON, each acknowledged once with its message id', async () => {
    const sink = await open();
    await connected(sink);
    const events = sampleEvents(300);
    for (const e of events) sink.write(e);
    sink.noteLost({ lost: 3, total: 3 });
    await sink.close('SIGTERM');
    expect(sink.stats()).toMatchObject({ delivered: 303, queued: 0, lost: 0 });
    const { nc, jsm } = await cluster.client();
    const info = await jsm.streams.info(`S${n}`);
    expect(info.config.subjects).toEqual(['ctrace.>']);
    const msgs = await readStream(nc, `S${n}`);
    expect(msgs).toHaveLength(303);
    const bodies = msgs.map((m) => JSON.parse(Buffer.from(m.data).toString()));
    expect(bodies.map((b) => b.type)).toEqual(['start', ...events.map((e) => e.type), 'lost', 'stop']);
    expect(msgs.map((m) => m.subject)).toEqual(bodies.map((b) => `ctrace.node-1_example.${b.type}`));
    expect(bodies[1]).toMatchObject({ type: events[0]!.type, pid: events[0]!.pid, time: events[0]!.time });
    expect(bodies.at(-1)).toMatchObject({ type: 'stop', reason: 'SIGTERM', lost: 3 });
    const ids = msgs.map((m) => m.msgId!);
    expect(new Set(ids).size).toBe(303);
    expect(ids[0]).toMatch(/^node-1_example:[0-9a-f-]{36}:\d+:0$/);
    expect(ids.at(-1)).toMatch(/:302$/);
    expect(notes).toContain(`nats: created stream S${n} (subjects ctrace.>, 1 replicas)`);
  });

  it("takes the JSON lane's lines as they are: each line one message, the body write() would build, in order with write()'s", async () => {
    const sink = await open();
    expect(sink.acceptsLines).toBe(true);
    await connected(sink);
    const events = sampleEvents(90);
    const lines = (es: typeof events) => Buffer.from(es.map((e) => toJsonLine(e) + '\n').join(''));
    // the reader's block is reused after the call: what the sink keeps must be its own copy
    const block = lines(events.slice(0, 40));
    sink.writeLines(block);
    block.fill(0x20);
    for (const e of events.slice(40, 50)) sink.write(e);
    sink.writeLines(lines(events.slice(50)));
    expect(() => sink.writeLines(Buffer.from('{"type":"start","time":"x"}\n'))).toThrow(/not a JSON-lane event line/);
    await sink.close('SIGTERM');
    const { nc } = await cluster.client();
    const msgs = await readStream(nc, `S${n}`);
    expect(msgs.map((m) => Buffer.from(m.data).toString())).toEqual([
      expect.stringMatching(/^\{"type":"start"/),
      ...events.map((e) => toJsonLine(e)),
      expect.stringMatching(/^\{"type":"stop"/),
    ]);
    expect(msgs.slice(1, -1).map((m) => m.subject)).toEqual(events.map((e) => `ctrace.node-1_example.${e.type}`));
    const counts = { exec: 0, exit: 0, mount: 0 };
    for (const e of events) counts[e.type]++;
    expect(JSON.parse(Buffer.from(msgs.at(-1)!.data).toString())).toMatchObject({ type: 'stop', events: counts });
    expect(counts.exec * counts.exit * counts.mount).toBeGreaterThan(0);
  });

  it('takes no lines in another format', async () => {
    const sink = await open({ format: 'protobuf' });
    expect(sink.acceptsLines).toBe(false);
    expect(() => sink.writeLines(Buffer.from(toJsonLine(sampleEvents(1)[0]!) + '\n'))).toThrow(/--nats-format json only/);
    await sink.close();
  });

  it('publishes the protobuf form with --nats-format protobuf', async () => {
    const sink = await open({ format: 'protobuf' });
    await connected(sink);
    const events = sampleEvents(5);
    for (const e of events) sink.write(e);
    await sink.close('SIGINT');
    const { nc } = await cluster.client();
    const recs = (await readStream(nc, `S${n}`)).map((m) => decodeRecordObject(m.data));
    expect(recs).toHaveLength(7);
    expect(Object.keys(recs[0]!)).toContain('start');
    expect((recs[1]!['event'] as { pid: number }).pid).toBe(events[0]!.pid);
    expect(Object.keys(recs[6]!)).toContain('stop');
  });

  it('publishes OCSF 1.7.0 with --nats-format ocsf', async () => {
    const sink = await open({ format: 'ocsf' });
    await connected(sink);
    const events = sampleEvents(5);
    for (const e of events) sink.write(e);
    await sink.close('SIGINT');
    const { nc } = await cluster.client();
    const bodies = (await readStream(nc, `S${n}`)).map((m) => JSON.parse(Buffer.from(m.data).toString()));
    expect(bodies).toHaveLength(7);
    // start and stop: Event Log Activity; the events: their OCSF classes, ctrace's type under unmapped
    expect(bodies[0]).toMatchObject({ class_uid: 1008, metadata: { version: '1.7.0' }, unmapped: { type: 'start' } });
    for (let i = 0; i < events.length; i++) {
      const want = events[i]!.type === 'mount' ? 1001 : 1007;
      expect(bodies[i + 1]).toMatchObject({ class_uid: want, unmapped: { type: events[i]!.type, time: events[i]!.time } });
    }
    expect(bodies[6]).toMatchObject({ class_uid: 1008, unmapped: { type: 'stop' } });
  });

  it('a batch sent again (an acknowledgement lost) is stored once: the server drops the copies by Nats-Msg-Id', async () => {
    const { nc, jsm } = await cluster.client();
    await jsm.streams.add({ name: 'SD', subjects: ['ctrace.>'], duplicate_window: 120e9 });
    const pub = new BatchPublisher(nc);
    const batch = Array.from({ length: 20 }, (_, i) => ({ subject: 'ctrace.h.exec', id: `h:boot:1:${i}`, payload: Buffer.from(`{"n":${i}}`) }));
    expect(await pub.send(batch, 3000)).toEqual(Array(20).fill(true));
    expect(pub.duplicates).toBe(0);
    expect(await pub.send(batch.slice(5, 15), 3000)).toEqual(Array(10).fill(true));
    expect(pub.duplicates).toBe(10);
    pub.close();
    const msgs = await readStream(nc, 'SD');
    await jsm.streams.delete('SD');
    expect(msgs.map((m) => m.msgId)).toEqual(batch.map((m) => m.id));
  });

  it('holds at most memoryBytes of records in memory: what comes faster than the server acknowledges waits in the spool, in order', async () => {
    const sink = await open({ memoryBytes: 4096 });
    await connected(sink);
    const events = sampleEvents(200);
    const lines = Buffer.from(events.slice(100).map((e) => toJsonLine(e) + '\n').join(''));
    // all at once: none acknowledged yet, and 4 KiB hold a few JSON events
    for (const e of events.slice(0, 100)) sink.write(e);
    sink.writeLines(lines);
    const s = sink.stats();
    expect(s.spooled).toBeGreaterThan(180);
    expect(s.queued + s.delivered).toBe(201); // the start record may be acknowledged already
    await sink.close('SIGTERM');
    expect(sink.stats()).toMatchObject({ delivered: 202, queued: 0, lost: 0 });
    const { nc } = await cluster.client();
    const msgs = await readStream(nc, `S${n}`);
    expect(msgs.map((m) => Number(m.msgId!.split(':').at(-1)))).toEqual(Array.from({ length: 202 }, (_, i) => i));
    expect(msgs.slice(1, -1).map((m) => Buffer.from(m.data).toString())).toEqual(events.map((e) => toJsonLine(e)));
  });

  it('leaves what it could not send in the spool, and the next run sends it first, ids unchanged', async () => {
    await cluster.stopAll();
    const spoolDir = join(dir, 'spool-restart');
    const first = await open({ stream: 'SR', spoolDir });
    const events = sampleEvents(50);
    for (const e of events) first.write(e);
    await first.close('SIGTERM');
    expect(first.stats()).toMatchObject({ delivered: 0, queued: 52 });
    expect(first.summary()).toMatch(/0 records acknowledged, .*52 left in the spool .*spool-restart for the next run/);

    await cluster.startAll();
    await cluster.waitForJetStream();
    const second = await open({ stream: 'SR', spoolDir });
    expect(notes).toContain(`nats: 52 records left in the spool ${spoolDir} by an earlier run: sending them first`);
    await connected(second);
    for (const e of sampleEvents(10)) second.write(e);
    await second.close('SIGINT');
    expect(second.stats()).toMatchObject({ delivered: 52 + 12, queued: 0 });
    const { nc, jsm } = await cluster.client();
    const msgs = await readStream(nc, 'SR');
    await jsm.streams.delete('SR');
    const runs = [...new Set(msgs.map((m) => m.msgId!.split(':').slice(0, 3).join(':')))];
    expect(runs).toHaveLength(2);
    const types = msgs.map((m) => JSON.parse(Buffer.from(m.data).toString()).type);
    expect(types.slice(0, 52)).toEqual(['start', ...events.map((e) => e.type), 'stop']);
    expect(msgs.slice(0, 52).every((m) => m.msgId!.startsWith(runs[0]!))).toBe(true);
    expect(msgs.slice(0, 52).map((m) => Number(m.msgId!.split(':')[3]))).toEqual(Array.from({ length: 52 }, (_, i) => i));
    expect(types.slice(52)).toEqual(['start', ...Array(10).fill(expect.any(String)), 'stop']);
    expect(readdirSync(spoolDir)).toEqual([]);
  });

  it('spools while the server is down, sends the spool in order once it is back, and counts what the bound refuses', async () => {
    await cluster.stopAll();
    const sink = await open({ spoolSize: 64 * 1024 });
    const events = sampleEvents(400);
    for (const e of events) sink.write(e);
    const s = sink.stats();
    expect(s.connected).toBe(false);
    expect(s.lost).toBeGreaterThan(0); // 64 KiB hold fewer than 400 JSON events
    const kept = s.queued;
    expect(kept + s.lost).toBe(401);
    expect(notes.some((m) => /spool .* full .* records lost so far/.test(m))).toBe(true);
    await cluster.startAll();
    await cluster.waitForJetStream();
    const deadline = Date.now() + 20_000;
    while (sink.stats().queued > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(sink.stats()).toMatchObject({ queued: 0, replayed: kept, delivered: kept, lost: s.lost });
    await sink.close('SIGTERM');
    const { nc } = await cluster.client();
    const msgs = await readStream(nc, `S${n}`);
    const seqs = msgs.map((m) => Number(m.msgId!.split(':').at(-1)));
    // in order, the start record first, and the stop record (sent once connected) last
    expect(seqs).toHaveLength(kept + 1);
    expect(seqs.slice(0, 3)).toEqual([0, 1, 2]);
    expect(seqs.at(-1)).toBe(401);
    for (let i = 1; i < seqs.length; i++) expect(seqs[i]).toBeGreaterThan(seqs[i - 1]!);
  });
});
