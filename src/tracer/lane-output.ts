/**
 * The JSON lane's fd output (TracerOptions.jsonLaneFd): the poll thread writes the lines it
 * formats itself; JavaScript queues the others here, in ring order, through the same bounded
 * queue (native/out_queue.h). The first write failure (EPIPE: the reader went away) is reported
 * once; writing stops there.
 */
import type { NativeJsonLane, NativeOutputStats } from '../addon/native.js';

export class LaneOutput {
  private failed = false;

  constructor(
    private readonly lane: NativeJsonLane,
    fd: number,
    private readonly onError: (err: Error) => void,
  ) {
    lane.setOutput(fd);
  }

  /** Queues bytes, in order with the poll thread's writes. */
  write(bytes: Buffer | string): void {
    if (this.failed) return;
    try {
      this.lane.write(bytes);
    } catch (e) {
      this.fail(e as Error);
    }
  }

  /** The output failed (a write here, or the poll thread's, step 'stdout'): reported once. */
  fail(err: Error): void {
    if (this.failed) return;
    this.failed = true;
    this.onError(err);
  }

  /** The queue's counters (lines dropped because the reader was too slow). */
  stats(): NativeOutputStats {
    return this.lane.outputStats();
  }

  /**
   * Gives the queue up to timeoutMs to drain, then stops its writer. A stuck reader costs at
   * most that; what it did not take is `undeliveredLines`.
   */
  async close(timeoutMs: number): Promise<NativeOutputStats> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const s = this.lane.outputStats();
      if (s.queuedBytes === 0 || s.errno !== 0 || Date.now() >= deadline) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    this.lane.closeOutput();
    return this.lane.outputStats();
  }
}
