/**
 * The protobuf stream (`--output protobuf`): length-delimited ctrace.v1.Record
 * messages to a byte stream, usually stdout. A start record first, events and
 * lost records as they come, a stop record on close(). Written once per tick
 * (src/sinks/stdout-writer.ts); a closed pipe is reported through `onClosed`.
 */
import type { Writable } from 'node:stream';
import type { LostReport, TraceEvent } from '../events/event.js';
import { RecordTally, startRecord, type Entry, type LossSource, type StartOptions } from '../events/records.js';
import { encodeDelimited } from '../format/protobuf.js';
import type { StdoutOutput } from './sink.js';
import { TickWriter } from './stdout-writer.js';

export class ProtobufStreamSink implements StdoutOutput {
  private readonly writer: TickWriter<Buffer>;
  private readonly tally = new RecordTally();

  constructor(out: Writable, start: StartOptions, onClosed: (err: Error) => void = () => {}) {
    this.writer = new TickWriter<Buffer>(out, (frames) => Buffer.concat(frames), onClosed);
    this.push(startRecord(start));
  }

  write(event: TraceEvent): void {
    if (this.writer.closed) return;
    this.tally.event(event);
    this.push(event);
  }

  noteLost(report: LostReport, source?: LossSource): void {
    if (this.writer.closed) return;
    this.push(this.tally.lostRecord(report, source));
  }

  /** Records stdout did not take: dropped (its buffer was full) and undelivered (at close). */
  get loss(): { dropped: number; undelivered: number } {
    return { dropped: this.writer.dropped, undelivered: this.writer.undelivered };
  }

  private push(e: Entry): void {
    this.writer.push(encodeDelimited(e));
  }

  /** Writes the stop record and what is pending, and waits until the stream has taken it. */
  async close(reason = 'closed'): Promise<void> {
    if (this.writer.closed) return;
    this.push(this.tally.stopRecord(reason));
    await this.writer.end();
  }
}
