/**
 * The OTLP sink's queue against a collector that is behind (the receiver stands in for a
 * collector and answers nothing until told): what waits is bounded in bytes as well as in
 * records, the rest is counted lost and said, and everything queued is delivered once the
 * collector answers.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { OtlpSink, recordBytes, otlpAttributes, otlpBody } from '../src/sinks/otlp.js';
import { execEvent } from './helpers/events.js';
import { startOtlpReceiver, type OtlpReceiver } from './helpers/otlp-receiver.js';

let receiver: OtlpReceiver | null = null;
afterEach(async () => {
  await receiver?.close();
  receiver = null;
});

/** An exec with 64 KiB of arguments, as --argv-max 32K and a hostile container make them. */
const longExec = (i: number) => execEvent(i, { argv: ['sh', '-c', `: ${String(i).padStart(6, '0')} ${'x'.repeat(64 * 1024)}`] });

describe('OtlpSink queue', () => {
  it('counts a record by its strings', () => {
    const e = longExec(1);
    const n = recordBytes(otlpBody(e), otlpAttributes(e));
    // the argv twice (the body names it too), not much else
    expect(n).toBeGreaterThan(2 * 64 * 1024);
    expect(n).toBeLessThan(2 * 64 * 1024 + 4096);
  });

  it('holds at most maxQueueBytes for a collector that is behind: the rest is lost, counted and said; what was queued arrives', async () => {
    let release!: () => void;
    receiver = await startOtlpReceiver({ hold: new Promise<void>((r) => (release = r)) });
    const notes: string[] = [];
    const sink = new OtlpSink({ endpoint: `${receiver.url}/v1/logs`, onNote: (m) => notes.push(m), maxQueueBytes: 2 * 1024 * 1024 });
    for (let i = 0; i < 100; i++) sink.write(longExec(i));
    const s = sink.stats();
    // ~131 KiB a record: 15 fit in 2 MiB
    expect(s.emitted).toBe(100);
    expect(s.dropped).toBe(100 - 15);
    expect(s.pending).toBe(15);
    expect(notes).toEqual([expect.stringMatching(/^otlp: queue full \(15 records, \d+ KiB waiting for http:\/\/127\.0\.0\.1:\d+\/v1\/logs\): 1 records lost so far$/)]);
    release();
    await sink.flush();
    // room again once the collector has taken them
    sink.write(longExec(100));
    await sink.close();
    expect(sink.stats()).toMatchObject({ emitted: 101, exported: 16, failed: 0, dropped: 85 });
    const seq = receiver.logs.map((l) => Number(/: (\d{6}) /.exec(String((l.attributes['process.command_args'] as string[])[2]))![1]));
    expect(seq).toEqual([...Array.from({ length: 15 }, (_, i) => i), 100]);
  });
});
