/**
 * Live stream to stdout: table lines on a TTY, JSON lines otherwise, written once
 * per tick (src/sinks/tick-writer.ts); a closed pipe is reported through `onClosed`.
 * JSON lines come as events (one string each) or already written by the tracer's
 * JSON-lines lane (Buffers of newline-terminated lines), interleaved in order.
 */
import type { Writable } from 'node:stream';
import type { Sink, TraceEvent } from '../event.js';
import { toJsonLine } from '../format/json.js';
import { tableHeader, toTableLine } from '../format/table.js';
import { TickWriter } from './tick-writer.js';

export type StdoutFormat = 'table' | 'json';

export class StdoutSink implements Sink {
  private readonly writer: TickWriter<string | Buffer>;
  private headerDone = false;

  constructor(
    out: Writable,
    readonly format: StdoutFormat,
    onClosed: (err: Error) => void = () => {},
  ) {
    this.writer = new TickWriter<string | Buffer>(out, joinLines, onClosed);
  }

  /** JSON lines from the tracer's lane (json format only); copied: the tracer reuses its Buffer. */
  writeLines(lines: Buffer): void {
    this.writer.push(Buffer.from(lines));
  }

  write(event: TraceEvent): void {
    if (this.format === 'table' && !this.headerDone) {
      this.headerDone = true;
      this.writer.push(tableHeader());
    }
    this.writer.push(this.format === 'json' ? toJsonLine(event) : toTableLine(event));
  }

  close(): Promise<void> {
    return this.writer.end();
  }
}

/** One tick's output: strings are single lines, Buffers whole newline-terminated lane batches. */
function joinLines(chunks: Array<string | Buffer>): string | Buffer {
  if (chunks.length === 1) {
    const c = chunks[0]!;
    return typeof c === 'string' ? c + '\n' : c;
  }
  if (chunks.every((c) => typeof c === 'string')) return chunks.join('\n') + '\n';
  return Buffer.concat(chunks.map((c) => (typeof c === 'string' ? Buffer.from(c + '\n') : c)));
}
