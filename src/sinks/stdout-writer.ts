/**
 * Chunks for one byte stream, written together once per event-loop tick: one write
 * per ring-buffer batch, not one per event. A stream error (EPIPE: the reader of
 * `ctrace run | head` went away) is reported once through `onClosed` and ends
 * writing, so the tracer shuts down cleanly instead of dying on it.
 *
 * The stream's buffer is bounded: while the stream holds more than `maxBytes`
 * not yet taken by its reader, new chunks are dropped and counted (`dropped`),
 * so a stalled reader (a paused terminal, `| less` left open) costs the memory
 * of one bound, not of everything traced since. end() waits a bounded time.
 */
import type { Writable } from 'node:stream';

/** What stdout may hold that its reader has not taken (the JSON lane's queue in the addon has the same bound). */
export const STDOUT_MAX_BYTES = 4 * 1024 * 1024;

export class TickWriter<T extends string | Buffer> {
  private pending: T[] = [];
  private scheduled = false;
  private ended = false;
  /** chunks dropped because the stream's buffer was full */
  dropped = 0;
  /** chunks handed to the stream and not yet written out by it */
  private inFlight = 0;

  constructor(
    private readonly out: Writable,
    private readonly join: (chunks: T[]) => string | Buffer,
    private readonly onClosed: (err: Error) => void = () => {},
    private readonly maxBytes = STDOUT_MAX_BYTES,
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

  /** Chunks written to the stream that it has not passed on yet. */
  get undelivered(): number {
    return this.inFlight + this.pending.length;
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
    const n = this.pending.length;
    if (this.out.writableLength >= this.maxBytes) {
      this.dropped += n;
      this.pending = [];
      return;
    }
    const chunk = this.join(this.pending);
    this.pending = [];
    this.inFlight += n;
    this.out.write(chunk, () => {
      this.inFlight -= n;
      if (this.inFlight === 0) this.onIdle?.();
    });
  }
  private onIdle: (() => void) | undefined;

  /**
   * Writes what is pending and waits until the stream has taken it, for at most
   * timeoutMs; what it has not taken by then stays in `undelivered`.
   */
  async end(timeoutMs = 2000): Promise<void> {
    this.flush();
    if (this.ended) return;
    this.ended = true;
    let timer: NodeJS.Timeout | undefined;
    await new Promise<void>((resolve) => {
      if (this.inFlight === 0) resolve();
      else this.onIdle = resolve;
      this.out.once('error', () => resolve());
      timer = setTimeout(resolve, timeoutMs);
    });
    clearTimeout(timer);
  }
}
