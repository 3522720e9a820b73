/**
 * Chunks for one byte stream, written together once per event-loop tick: one write
 * per ring-buffer batch, not one per event. A stream error (EPIPE: the reader of
 * `ctrace run | head` went away) is reported once through `onClosed` and ends
 * writing, so the tracer shuts down cleanly instead of dying on it.
 */
import type { Writable } from 'node:stream';

export class TickWriter<T extends string | Buffer> {
  private pending: T[] = [];
  private scheduled = false;
  private ended = false;

  constructor(
    private readonly out: Writable,
    private readonly join: (chunks: T[]) => string | Buffer,
    private readonly onClosed: (err: Error) => void = () => {},
  ) {
    out.on('error', (err: Error) => {
      if (this.ended) return;
      this.ended = true;
      this.pending = [];
      this.onClosed(err);
    });
  }

  get closed(): boolean {
    return this.ended;
  }

  push(chunk: T): void {
    if (this.ended) return;
    this.pending.push(chunk);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  private flush(): void {
    this.scheduled = false;
    if (this.ended || this.pending.length === 0) return;
    const chunk = this.join(this.pending);
    this.pending = [];
    this.out.write(chunk);
  }

  /** Writes what is pending and waits until the stream has taken it. */
  async end(): Promise<void> {
    this.flush();
    if (this.ended) return;
    this.ended = true;
    await new Promise<void>((resolve) => {
      if (this.out.writableNeedDrain) this.out.once('drain', () => resolve());
      else resolve();
      this.out.once('error', () => resolve());
    });
  }
}
