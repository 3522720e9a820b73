/**
 * The tracer's consumers: listeners by kind (events, lane lines, losses, errors, batch timings)
 * and the async iterators, each an EventQueue. Everything the tracer hands out goes through here.
 */
import type { LostReport, TraceEvent } from '../events/event.js';

export type EventListener = (ev: TraceEvent) => void;
export type LinesListener = (lines: Buffer) => void;
export type LostListener = (r: LostReport) => void;
export type ErrorListener = (err: Error) => void;
/** A batch from the reader was handled: its size and the JavaScript time it took. */
export type BatchListener = (bytes: number, seconds: number) => void;

export class Fanout {
  readonly events: EventListener[] = [];
  readonly lines: LinesListener[] = [];
  readonly lost: LostListener[] = [];
  readonly errors: ErrorListener[] = [];
  readonly batches: BatchListener[] = [];
  private readonly iterators = new Set<EventQueue>();

  event(ev: TraceEvent): void {
    for (const fn of this.events) fn(ev);
    for (const q of this.iterators) q.push(ev);
  }

  linesOf(lines: Buffer): void {
    for (const fn of this.lines) fn(lines);
  }

  lostReport(r: LostReport): void {
    for (const fn of this.lost) fn(r);
  }

  error(err: Error): void {
    for (const fn of this.errors) fn(err);
  }

  batchDone(bytes: number, seconds: number): void {
    for (const fn of this.batches) fn(bytes, seconds);
  }

  /** A new iterator; already ended when the tracer is. */
  iterator(ended: boolean): AsyncIterator<TraceEvent> {
    const q = new EventQueue(() => this.iterators.delete(q));
    this.iterators.add(q);
    if (ended) q.end();
    return q;
  }

  /** Ends every iterator (after the last event). */
  end(): void {
    for (const q of this.iterators) q.end();
  }
}

/** An unbounded-by-design async queue per iterator; a consumer that stops reading should `return()`. */
class EventQueue implements AsyncIterator<TraceEvent> {
  private buf: TraceEvent[] = [];
  private waiting: ((r: IteratorResult<TraceEvent>) => void) | null = null;
  private done = false;

  constructor(private readonly onDone: () => void) {}

  push(ev: TraceEvent): void {
    if (this.done) return;
    if (this.waiting) {
      const w = this.waiting;
      this.waiting = null;
      w({ value: ev, done: false });
    } else this.buf.push(ev);
  }

  end(): void {
    this.done = true;
    if (this.waiting && this.buf.length === 0) {
      const w = this.waiting;
      this.waiting = null;
      w({ value: undefined, done: true });
    }
  }

  next(): Promise<IteratorResult<TraceEvent>> {
    const ev = this.buf.shift();
    if (ev) return Promise.resolve({ value: ev, done: false });
    if (this.done) {
      this.onDone();
      return Promise.resolve({ value: undefined, done: true });
    }
    return new Promise((r) => (this.waiting = r));
  }

  return(): Promise<IteratorResult<TraceEvent>> {
    this.done = true;
    this.buf = [];
    this.onDone();
    return Promise.resolve({ value: undefined, done: true });
  }
}
