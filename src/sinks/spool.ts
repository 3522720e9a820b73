/**
 * A bounded first-in first-out queue of messages on disk: where records wait while the servers
 * of an exporter are away (src/sinks/nats.ts). Segment files `seg-<n>.spool` (0600, in a 0700
 * directory) hold frames `u32 length | u16 subject length | subject | u16 id length | id |
 * payload`; the oldest segment is read, the newest appended to, and a segment is deleted once
 * every message in it was acknowledged. What is left when ctrace stops is sent by the next run
 * first (partly sent segments are cut to what was not acknowledged).
 *
 * Writes are synchronous: they happen only while the servers are unreachable or behind, and a
 * frame is then on disk before write() returns. The spool is not fsynced per message: it is
 * there for outages of the servers, not of this host.
 */
import { closeSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';

export interface SpoolMessage {
  subject: string;
  /** the message id the server de-duplicates on */
  id: string;
  payload: Uint8Array;
}

const SEGMENT_RE = /^seg-(\d{12})\.spool$/;

function segName(n: number): string {
  return `seg-${String(n).padStart(12, '0')}.spool`;
}

export function encodeFrame(m: SpoolMessage): Buffer {
  const subject = Buffer.from(m.subject);
  const id = Buffer.from(m.id);
  const len = 2 + subject.length + 2 + id.length + m.payload.length;
  const b = Buffer.allocUnsafe(4 + len);
  b.writeUInt32LE(len, 0);
  b.writeUInt16LE(subject.length, 4);
  subject.copy(b, 6);
  let o = 6 + subject.length;
  b.writeUInt16LE(id.length, o);
  id.copy(b, o + 2);
  o += 2 + id.length;
  Buffer.from(m.payload.buffer, m.payload.byteOffset, m.payload.length).copy(b, o);
  return b;
}

/** Frames of a segment; a torn last frame (ctrace killed mid-write) ends the list. */
export function decodeFrames(buf: Buffer): Array<SpoolMessage & { bytes: number }> {
  const out: Array<SpoolMessage & { bytes: number }> = [];
  let o = 0;
  while (o + 4 <= buf.length) {
    const len = buf.readUInt32LE(o);
    if (o + 4 + len > buf.length || len < 4) break;
    let p = o + 4;
    const sl = buf.readUInt16LE(p);
    const subject = buf.toString('utf8', p + 2, p + 2 + sl);
    p += 2 + sl;
    const il = buf.readUInt16LE(p);
    const id = buf.toString('utf8', p + 2, p + 2 + il);
    p += 2 + il;
    out.push({ subject, id, payload: buf.subarray(p, o + 4 + len), bytes: 4 + len });
    o += 4 + len;
  }
  return out;
}

export class DiskSpool {
  /** segment numbers on disk, oldest first */
  private readonly segments: number[] = [];
  /** the oldest segment, read into memory, and how many of its messages were acknowledged */
  private reading: { n: number; frames: Array<SpoolMessage & { bytes: number }>; next: number; loaded: number } | null = null;
  private writeFd = -1;
  private writeSize = 0;
  private size = 0;
  private count = 0;

  private constructor(
    readonly dir: string,
    readonly maxBytes: number,
    private readonly segmentBytes: number,
  ) {}

  /** Opens (creating) the spool directory; messages a previous run left there come out first. */
  static open(dir: string, maxBytes: number): DiskSpool {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const s = new DiskSpool(dir, maxBytes, Math.max(64 * 1024, Math.min(8 * 1024 * 1024, Math.floor(maxBytes / 8))));
    for (const name of readdirSync(dir).sort()) {
      const m = SEGMENT_RE.exec(name);
      if (!m) continue;
      const n = Number(m[1]);
      const frames = decodeFrames(readFileSync(join(dir, name)));
      if (frames.length === 0) {
        unlinkSync(join(dir, name));
        continue;
      }
      s.segments.push(n);
      s.count += frames.length;
      s.size += frames.reduce((a, f) => a + f.bytes, 0);
    }
    return s;
  }

  /** Messages waiting. */
  get length(): number {
    return this.count;
  }

  /** Bytes waiting. */
  get bytes(): number {
    return this.size;
  }

  /** Appends one message; false (nothing written) when it would take the spool past its bound. */
  append(m: SpoolMessage): boolean {
    const frame = encodeFrame(m);
    if (this.size + frame.length > this.maxBytes) return false;
    if (this.writeFd < 0 || this.writeSize + frame.length > this.segmentBytes) this.newSegment();
    writeSync(this.writeFd, frame);
    this.writeSize += frame.length;
    this.size += frame.length;
    this.count++;
    return true;
  }

  /** Up to `n` of the oldest messages, not removed (ack() removes them); never past the oldest segment. */
  peek(n: number): SpoolMessage[] {
    const r = this.loadOldest();
    return r ? r.frames.slice(r.next, r.next + n) : [];
  }

  /** The `n` oldest messages (from peek()) were acknowledged: drop them, deleting a segment read through. */
  ack(n: number): void {
    const r = this.reading;
    if (!r) return;
    const k = Math.min(n, r.frames.length - r.next);
    for (let i = r.next; i < r.next + k; i++) this.size -= r.frames[i]!.bytes;
    r.next += k;
    this.count -= k;
    if (r.next < r.frames.length) return;
    const appending = this.writeFd >= 0 && r.n === this.segments[this.segments.length - 1];
    // the segment being appended to may have grown since it was read: loadOldest() reads the rest
    if (appending && this.writeSize > r.loaded) return;
    this.segments.shift();
    if (appending) {
      closeSync(this.writeFd);
      this.writeFd = -1;
    }
    unlinkSync(join(this.dir, segName(r.n)));
    this.reading = null;
  }

  /** Closes the segment being written and cuts the one being read to what was not acknowledged. */
  close(): void {
    if (this.writeFd >= 0) closeSync(this.writeFd);
    this.writeFd = -1;
    const r = this.reading;
    if (r && r.next > 0) {
      const path = join(this.dir, segName(r.n));
      if (r.next >= r.frames.length) unlinkSync(path);
      else {
        writeFileSync(`${path}.tmp`, Buffer.concat(r.frames.slice(r.next).map((f) => encodeFrame(f))), { mode: 0o600 });
        renameSync(`${path}.tmp`, path);
      }
    }
    this.reading = null;
  }

  private loadOldest(): DiskSpool['reading'] {
    const n = this.segments[0];
    if (n === undefined) return null;
    const path = join(this.dir, segName(n));
    const appending = this.writeFd >= 0 && n === this.segments[this.segments.length - 1];
    // the oldest segment may also be the one appended to: pick up what was added since it was read
    if (this.reading?.n !== n || (appending && this.reading.loaded < this.writeSize)) {
      const buf = readFileSync(path);
      this.reading = { n, frames: decodeFrames(buf), next: this.reading?.n === n ? this.reading.next : 0, loaded: buf.length };
    }
    return this.reading;
  }

  private newSegment(): void {
    if (this.writeFd >= 0) closeSync(this.writeFd);
    const n = (this.segments[this.segments.length - 1] ?? this.lastNumber()) + 1;
    this.writeFd = openSync(join(this.dir, segName(n)), 'a', 0o600);
    this.writeSize = statSync(join(this.dir, segName(n))).size;
    this.segments.push(n);
  }

  /** The highest segment number ever used here, so numbers keep rising across runs. */
  private lastNumber(): number {
    let max = 0;
    for (const name of readdirSync(this.dir)) {
      const m = SEGMENT_RE.exec(name);
      if (m) max = Math.max(max, Number(m[1]));
    }
    return max;
  }
}
