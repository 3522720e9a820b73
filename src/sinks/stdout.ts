/**
 * Live stream to stdout: table lines on a TTY, JSON lines otherwise. Lines are
 * joined and written once per tick (one write per ring-buffer batch, not one
 * per event). A closed pipe (`ctrace run | head`) is reported through
 * `onClosed`, so the tracer shuts down cleanly instead of dying on EPIPE.
 */
import type { Writable } from 'node:stream';
import type { Sink, TraceEvent } from '../event.js';
import { toJsonLine } from '../format/json.js';
import { tableHeader, toTableLine } from '../format/table.js';

export type StdoutFormat = 'table' | 'json';

export class StdoutSink implements Sink {
  private pending: string[] = [];
  private scheduled = false;
  private closed = false;
  private headerDone = false;

  constructor(
    private readonly out: Writable,
    private readonly format: StdoutFormat,
    private readonly onClosed: (err: Error) => void = () => {},
  ) {
    out.on('error', (err: NodeJS.ErrnoException) => {
      if (this.closed) return;
      this.closed = true;
      this.pending = [];
      this.onClosed(err);
    });
  }

  write(event: TraceEvent): void {
    if (this.closed) return;
    if (this.format === 'table' && !this.headerDone) {
      this.headerDone = true;
      this.pending.push(tableHeader());
    }
    this.pending.push(this.format === 'json' ? toJsonLine(event) : toTableLine(event));
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  private flush(): void {
    this.scheduled = false;
    if (this.closed || this.pending.length === 0) return;
    const chunk = this.pending.join('\n') + '\n';
    this.pending = [];
    this.out.write(chunk);
  }

  /** Writes what is pending and waits until the stream has taken it. */
  async close(): Promise<void> {
    this.flush();
    if (this.closed) return;
    this.closed = true;
    await new Promise<void>((resolve) => {
      if (this.out.writableNeedDrain) this.out.once('drain', () => resolve());
      else resolve();
      this.out.once('error', () => resolve());
    });
  }
}
