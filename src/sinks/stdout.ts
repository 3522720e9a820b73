/**
 * Live stream to stdout: table lines on a TTY, JSON lines otherwise (or OCSF lines), written once
 * per tick (src/sinks/stdout-writer.ts); a closed pipe is reported through `onClosed`.
 */
import type { Writable } from 'node:stream';
import type { TraceEvent } from '../events/event.js';
import { toJsonLine } from '../format/json.js';
import { tableHeader, toTableLine } from '../format/table.js';
import { toOcsfLine } from '../format/ocsf.js';
import type { StdoutOutput } from './sink.js';
import { TickWriter } from './stdout-writer.js';

export type StdoutFormat = 'table' | 'json' | 'ocsf';

export class StdoutSink implements StdoutOutput {
  private readonly writer: TickWriter<string>;
  private headerDone = false;

  constructor(
    out: Writable,
    private readonly format: StdoutFormat,
    onClosed: (err: Error) => void = () => {},
  ) {
    this.writer = new TickWriter<string>(out, (lines) => lines.join('\n') + '\n', onClosed);
  }

  write(event: TraceEvent): void {
    if (this.format === 'table' && !this.headerDone) {
      this.headerDone = true;
      this.writer.push(tableHeader());
    }
    this.writer.push(this.format === 'json' ? toJsonLine(event) : this.format === 'ocsf' ? toOcsfLine(event) : toTableLine(event));
  }

  /** Lines carry events only: `ctrace run` tells kernel loss on stderr, not in the stream. */
  noteLost(): void {}

  /** Events stdout did not take: dropped (its buffer was full) and undelivered (at close). */
  get loss(): { dropped: number; undelivered: number } {
    return { dropped: this.writer.dropped, undelivered: this.writer.undelivered };
  }

  close(): Promise<void> {
    return this.writer.end();
  }
}
