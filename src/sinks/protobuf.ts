/**
 * The protobuf stream (`--output protobuf`): length-delimited ctrace.v1.Record
 * messages to a byte stream, usually stdout. A start record first, events and
 * lost records as they come, a stop record on close(). Written once per tick,
 * like the stdout sink; a closed pipe is reported through `onClosed`.
 */
import type { Writable } from 'node:stream';
import type { EventType, TraceEvent } from '../event.js';
import { nowIso, startRecord, type RecordSink, type StartOptions } from '../audit/records.js';
import { encodeDelimited } from '../format/protobuf.js';
import type { Entry } from '../audit/records.js';

export class ProtobufStreamSink implements RecordSink {
  private pending: Buffer[] = [];
  private scheduled = false;
  private closed = false;
  private readonly counts: Record<EventType, number> = { exec: 0, exit: 0, mount: 0 };
  private lost = 0;

  constructor(
    private readonly out: Writable,
    start: StartOptions,
    private readonly onClosed: (err: Error) => void = () => {},
  ) {
    out.on('error', (err: Error) => {
      if (this.closed) return;
      this.closed = true;
      this.pending = [];
      this.onClosed(err);
    });
    this.push(startRecord(start));
  }

  write(event: TraceEvent): void {
    if (this.closed) return;
    this.counts[event.type]++;
    this.push(event);
  }

  noteLost(report: { lost: number; total: number }): void {
    if (this.closed) return;
    this.lost = Math.max(this.lost + report.lost, report.total);
    this.push({ type: 'lost', time: nowIso(), count: report.lost, total: report.total, source: 'kernel' });
  }

  private push(e: Entry): void {
    this.pending.push(encodeDelimited(e));
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  private flush(): void {
    this.scheduled = false;
    if (this.closed || this.pending.length === 0) return;
    const chunk = Buffer.concat(this.pending);
    this.pending = [];
    this.out.write(chunk);
  }

  /** Writes the stop record and what is pending, and waits until the stream has taken it. */
  async close(reason = 'closed'): Promise<void> {
    if (this.closed) return;
    this.push({ type: 'stop', time: nowIso(), reason, events: { ...this.counts }, lost: this.lost });
    this.flush();
    this.closed = true;
    await new Promise<void>((resolve) => {
      if (this.out.writableNeedDrain) this.out.once('drain', () => resolve());
      else resolve();
      this.out.once('error', () => resolve());
    });
  }
}
