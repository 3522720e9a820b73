/**
 * Kernel timestamps are CLOCK_MONOTONIC nanoseconds (bpf_ktime_get_ns); events
 * carry wall-clock time. The offset between the two clocks is taken once, at
 * start, by the addon (clock_gettime on both clocks, ns precision).
 */
export class WallClock {
  constructor(private readonly offsetNs: bigint) {}

  /** Wall-clock ns since the epoch for a monotonic timestamp. */
  wallNs(ktimeNs: bigint): bigint {
    return ktimeNs + this.offsetNs;
  }

  /** ISO-8601 UTC with nanoseconds: 2026-11-22T11:02:59.123456789Z */
  iso(ktimeNs: bigint): string {
    return isoNs(this.wallNs(ktimeNs));
  }
}

// the second being formatted: its first ns and its date part
let cachedSecNs = -1n;
let cachedPrefix = '';

export function isoNs(wallNs: bigint): string {
  // events come in bursts within the same second: a subtraction tells them apart, and the date
  // part (and a bigint division) is paid once per second
  let frac = wallNs - cachedSecNs;
  if (cachedSecNs < 0n || frac < 0n || frac >= 1_000_000_000n) {
    const sec = wallNs / 1_000_000_000n;
    cachedSecNs = sec * 1_000_000_000n;
    cachedPrefix = new Date(Number(sec) * 1000).toISOString().slice(0, 19) + '.'; // 2026-11-22T11:02:59.
    frac = wallNs - cachedSecNs;
  }
  return cachedPrefix + String(Number(frac)).padStart(9, '0') + 'Z';
}

/** The longest interval a Node.js timer takes (2^31 - 1 ms); beyond it a timer fires at once. */
export const TIMER_MAX_MS = 2 ** 31 - 1;

/**
 * A gate that opens at most once every `ms`: for a condition said on stderr while it lasts (a
 * full spool, a full queue), said again now and then rather than once per record.
 */
export function atMostEvery(ms: number, now: () => number = Date.now): () => boolean {
  let last = -Infinity;
  return () => {
    const t = now();
    if (t - last < ms) return false;
    last = t;
    return true;
  };
}
