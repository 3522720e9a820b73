/**
 * Outputs (src/sinks/outputs.ts): the fan-out behind the one Sink interface. Every output gets
 * every event and the kernel's losses; stdout's own loss goes to the audit log only (it has
 * those events), with source stdout; close() ends each output with its stop record.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { verifyLogs } from '../src/audit/verify.js';
import { startOptions, type Entry } from '../src/events/records.js';
import { decodeRecordObject, entryFromProto, FrameSplitter } from '../src/format/protobuf.js';
import { Outputs } from '../src/sinks/outputs.js';
import type { Sink } from '../src/sinks/sink.js';
import { sampleEvents } from './helpers/events.js';

const dir = mkdtempSync(join(tmpdir(), 'ctrace-outputs-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('Outputs', () => {
  it('fans events and losses out to the log and the socket, each ending with its own stop record', async () => {
    const log = join(dir, 'audit.log');
    const socket = join(dir, 'out.sock');
    const notes: string[] = [];
    const fatal: string[] = [];
    const outputs = await Outputs.open({
      stdout: null,
      log,
      socket,
      start: startOptions({ log, socket }),
      onStdoutClosed: () => {},
      onFatal: (m) => fatal.push(m),
      onNote: (m) => notes.push(m),
    });
    const sink: Sink = outputs; // the composite is a Sink like each of its parts

    // a client of the socket, reading the protobuf stream until the server closes it
    const got: Entry[] = [];
    const frames = new FrameSplitter();
    const client = createConnection(socket);
    const ended = new Promise<void>((r) => client.on('close', () => r()));
    client.on('data', (d: Buffer) => {
      for (const f of frames.push(d)) got.push(entryFromProto(decodeRecordObject(f.bytes)));
    });
    await new Promise<void>((r) => client.once('connect', () => r()));
    while (got.length < 1) await new Promise((r) => setTimeout(r, 5)); // the start record

    const events = sampleEvents(3);
    for (const ev of events) sink.write(ev);
    sink.noteLost({ lost: 2, total: 2 });
    outputs.noteStdoutLost({ lost: 5, total: 5 });
    await sink.close('done');
    await ended;

    const lines = readFileSync(log, 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.map((l) => l.type)).toEqual(['start', ...events.map((e) => e.type), 'lost', 'lost', 'stop']);
    expect(lines.filter((l) => l.type === 'lost').map((l) => [l.source, l.count])).toEqual([
      ['kernel', 2],
      ['stdout', 5],
    ]);
    // the stop record's `lost` counts the kernel's drops: stdout's are events the log has
    expect(lines.at(-1)).toMatchObject({ type: 'stop', reason: 'done', lost: 2 });
    expect((await verifyLogs([log])).ok).toBe(true);

    // the socket never missed stdout's events: no lost record of stdout's there
    expect(got.map((e) => e.type)).toEqual(['start', ...events.map((e) => e.type), 'lost', 'stop']);
    expect(got.find((e) => e.type === 'lost')).toMatchObject({ source: 'kernel', count: 2 });
    expect(got.at(-1)).toMatchObject({ type: 'stop', reason: 'done', lost: 2 });

    expect(fatal).toEqual([]);
    expect(outputs.summary().join('\n')).toMatch(/records written, chain head seq/);
  });
});
