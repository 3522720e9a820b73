/**
 * A bounded first-in first-out queue of messages on disk: where records wait while the servers
 * of an exporter are away (src/sinks/nats.ts). Segment files `seg-<n>.spool` (0600, in a 0700
 * directory) hold frames `u32 length | u16 subject length | subject | u16 id length | id |
 * payload`; the oldest segment is read, the newest appended to, and a segment is deleted once
 * every message in it was acknowledged. What is left when ctrace stops is sent by the next run
 * first (partly sent segments are cut to what was not acknowledged).
 *
 * Frames appended in one event-loop tick are written together at its end (synchronously: the
 * spool is used only while the servers are unreachable or behind). The spool is not fsynced:
 * it is there for outages of the servers, not of this host.
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
  /** segments on disk, oldest first, with their size once what is pending is written */
  private readonly segments: Array<{ n: number; size: number }> = [];
  /** the oldest segment, read into memory, and how many of its messages were acknowledged */
  private reading: { n: number; frames: Array<SpoolMessage & { bytes: number }>; next: number; loaded: number } | null = null;
  /** the newest segment's fd, while it takes appends */
  private writeFd = -1;
  /** frames appended in this tick, written together */
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private flushScheduled = false;
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
      const buf = readFileSync(join(dir, name));
      const frames = decodeFrames(buf);
      if (frames.length === 0) {
        unlinkSync(join(dir, name));
        continue;
      }
      s.segments.push({ n: Number(m[1]), size: buf.length });
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

  /**
   * Appends one message; false (nothing written) when it would take the spool past its bound.
   * Frames are written at the end of the event-loop tick (or sooner, when many), together.
   */
  append(m: SpoolMessage): boolean {
    const frame = encodeFrame(m);
    if (this.size + frame.length > this.maxBytes) return false;
    let seg = this.writeFd >= 0 ? this.segments[this.segments.length - 1]! : null;
    if (!seg || seg.size + frame.length > this.segmentBytes) seg = this.newSegment();
    this.pending.push(frame);
    this.pendingBytes += frame.length;
    seg.size += frame.length;
    this.size += frame.length;
    this.count++;
    if (this.pendingBytes >= 256 * 1024) this.flush();
    else if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
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
    const seg = this.segments[0];
    // done with it only when every frame it will hold was read (the newest may still grow)
    if (r.next < r.frames.length || !seg || seg.n !== r.n || r.loaded < seg.size) return;
    this.segments.shift();
    if (this.segments.length === 0 && this.writeFd >= 0) {
      this.flush();
      closeSync(this.writeFd);
      this.writeFd = -1;
    }
    unlinkSync(join(this.dir, segName(r.n)));
    this.reading = null;
  }

  /** Writes what is pending, closes the newest segment and cuts the oldest to what was not acknowledged. */
  close(): void {
    this.flush();
    if (this.writeFd >= 0) closeSync(this.writeFd);
    this.writeFd = -1;
    const r = this.reading;
    if (r && r.next > 0) {
      const path = join(this.dir, segName(r.n));
      const rest = readFileSync(path).subarray(r.frames.slice(0, r.next).reduce((a, f) => a + f.bytes, 0));
      if (rest.length === 0) unlinkSync(path);
      else {
        writeFileSync(`${path}.tmp`, rest, { mode: 0o600 });
        renameSync(`${path}.tmp`, path);
      }
    }
    this.reading = null;
  }

  private flush(): void {
    this.flushScheduled = false;
    if (this.pendingBytes === 0 || this.writeFd < 0) return;
    const buf = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending, this.pendingBytes);
    this.pending = [];
    this.pendingBytes = 0;
    for (let off = 0; off < buf.length; ) off += writeSync(this.writeFd, buf, off);
  }

  private loadOldest(): DiskSpool['reading'] {
    const seg = this.segments[0];
    if (!seg) return null;
    // the oldest segment may also be the one appended to: pick up what was added since it was read
    if (this.reading?.n !== seg.n || this.reading.loaded < seg.size) {
      if (this.segments.length === 1) this.flush();
      const buf = readFileSync(join(this.dir, segName(seg.n)));
      const next = this.reading?.n === seg.n ? this.reading.next : 0;
      this.reading = { n: seg.n, frames: decodeFrames(buf), next, loaded: buf.length };
    }
    return this.reading;
  }

  private newSegment(): { n: number; size: number } {
    this.flush();
    if (this.writeFd >= 0) closeSync(this.writeFd);
    const n = (this.segments[this.segments.length - 1]?.n ?? this.lastNumber()) + 1;
    const path = join(this.dir, segName(n));
    this.writeFd = openSync(path, 'a', 0o600);
    const seg = { n, size: statSync(path).size };
    this.segments.push(seg);
    return seg;
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
