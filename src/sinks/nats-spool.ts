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
 *
 * Memory stays bounded whatever the spool holds: the oldest segment is read a chunk at a time
 * (READ_CHUNK_BYTES, or one frame when a frame is bigger) from the first frame not yet
 * acknowledged, and segments are counted at start by walking their frame lengths, chunk by
 * chunk. Reading a whole segment at each look cost a replay behind a storm, while the storm was
 * still being appended to the same segment, re-reading it for every batch and RSS in tens of MB.
 */
import { closeSync, fstatSync, mkdirSync, openSync, readdirSync, readSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';

export interface SpoolMessage {
  subject: string;
  /** the message id the server de-duplicates on */
  id: string;
  payload: Uint8Array;
}

const SEGMENT_RE = /^seg-(\d{12})\.spool$/;

/** Bytes of a segment read at once, for a replay and for counting at start. */
const READ_CHUNK_BYTES = 256 * 1024;

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

/** Reads up to `len` bytes at `pos` (fewer at the end of the file). */
function readAt(fd: number, pos: number, len: number): Buffer {
  const buf = Buffer.allocUnsafe(len);
  let got = 0;
  while (got < len) {
    const n = readSync(fd, buf, got, len - got, pos + got);
    if (n === 0) break;
    got += n;
  }
  return got < len ? buf.subarray(0, got) : buf;
}

/** Writes all of buf at the fd's position. */
function writeAll(fd: number, buf: Buffer): void {
  for (let off = 0; off < buf.length; ) off += writeSync(fd, buf, off);
}

/**
 * The whole frames of a segment file from its start, by their lengths alone: how many, and
 * where the last whole one ends (a torn frame after it is not counted).
 */
function scanFrames(fd: number, fileBytes: number): { count: number; end: number } {
  let pos = 0;
  let count = 0;
  while (pos + 4 <= fileBytes) {
    const chunk = readAt(fd, pos, Math.min(READ_CHUNK_BYTES, fileBytes - pos));
    let o = 0;
    while (o + 4 <= chunk.length) {
      const len = chunk.readUInt32LE(o);
      if (len < 4 || pos + o + 4 + len > fileBytes) return { count, end: pos + o };
      o += 4 + len;
      count++;
    }
    // the next frame starts at or past the chunk's end (or its length straddles it)
    if (o === 0) break;
    pos += o;
  }
  return { count, end: pos };
}

/** A segment file: its number, its bytes (appended ones included before they are written) and its messages not yet acknowledged. */
interface Segment {
  n: number;
  size: number;
  count: number;
}

export class DiskSpool {
  /** segments on disk, oldest first, with their size once what is pending is written */
  private readonly segments: Segment[] = [];
  /**
   * The oldest segment as far as it is read: `acked` bytes from its start are acknowledged;
   * `frames` are decoded from the chunk at that offset, `next` of them acknowledged since.
   */
  private reading: { n: number; acked: number; frames: Array<SpoolMessage & { bytes: number }>; next: number } | null = null;
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
      const fd = openSync(join(dir, name), 'r');
      let found: { count: number; end: number };
      try {
        found = scanFrames(fd, fstatSync(fd).size);
      } finally {
        closeSync(fd);
      }
      if (found.count === 0) {
        unlinkSync(join(dir, name));
        continue;
      }
      // a torn last frame (ctrace killed mid-write) is not part of the segment: it is never
      // appended to again (appends go to a new segment), and it ends where its frames do
      s.segments.push({ n: Number(m[1]), size: found.end, count: found.count });
      s.count += found.count;
      s.size += found.end;
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
    seg.count++;
    this.size += frame.length;
    this.count++;
    if (this.pendingBytes >= 256 * 1024) this.flush();
    else if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
    return true;
  }

  /**
   * Up to `n` of the oldest messages, not removed (ack() removes them); never past the chunk
   * of the oldest segment being read, so possibly fewer while more wait.
   */
  peek(n: number): SpoolMessage[] {
    const r = this.loadOldest();
    return r ? r.frames.slice(r.next, r.next + n) : [];
  }

  /** The `n` oldest messages (from peek()) were acknowledged: drop them, deleting a segment read through. */
  ack(n: number): void {
    const r = this.reading;
    if (!r) return;
    const k = Math.min(n, r.frames.length - r.next);
    for (let i = r.next; i < r.next + k; i++) {
      this.size -= r.frames[i]!.bytes;
      r.acked += r.frames[i]!.bytes;
    }
    r.next += k;
    this.count -= k;
    const seg = this.segments[0];
    if (seg?.n === r.n) seg.count -= k;
    // done with it only when every frame it will hold was acknowledged (the newest may still grow)
    if (seg?.n === r.n && r.acked >= seg.size) this.dropOldest();
  }

  /** The oldest segment goes, with whatever it still counts (nothing, unless it was unreadable). */
  private dropOldest(): void {
    const seg = this.segments.shift()!;
    this.count -= seg.count;
    this.size -= seg.size - (this.reading?.n === seg.n ? this.reading.acked : 0);
    if (this.segments.length === 0 && this.writeFd >= 0) {
      this.flush();
      closeSync(this.writeFd);
      this.writeFd = -1;
    }
    unlinkSync(join(this.dir, segName(seg.n)));
    this.reading = null;
  }

  /** Writes what is pending, closes the newest segment and cuts the oldest to what was not acknowledged. */
  close(): void {
    this.flush();
    if (this.writeFd >= 0) closeSync(this.writeFd);
    this.writeFd = -1;
    const r = this.reading;
    if (r && r.acked > 0) cutFront(join(this.dir, segName(r.n)), r.acked);
    this.reading = null;
  }

  private flush(): void {
    this.flushScheduled = false;
    if (this.pendingBytes === 0 || this.writeFd < 0) return;
    const buf = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending, this.pendingBytes);
    this.pending = [];
    this.pendingBytes = 0;
    writeAll(this.writeFd, buf);
  }

  /** The oldest segment's chunk, the next one read once the last is acknowledged. */
  private loadOldest(): DiskSpool['reading'] {
    const seg = this.segments[0];
    if (!seg) return null;
    if (this.readChunk(seg)) return this.reading;
    // what is left of it does not decode (cut or overwritten behind our back): it goes, and
    // the queue goes on with the next segment rather than stalling on this one
    this.dropOldest();
    return this.loadOldest();
  }

  /** Makes `reading` hold unacknowledged frames of `seg`, reading its next chunk if need be; false when none decode. */
  private readChunk(seg: Segment): boolean {
    if (this.reading?.n !== seg.n) this.reading = { n: seg.n, acked: 0, frames: [], next: 0 };
    const r = this.reading;
    if (r.next < r.frames.length || r.acked >= seg.size) return true;
    // the oldest segment may also be the one appended to: what this tick appended goes to disk first
    if (this.segments.length === 1) this.flush();
    const fd = openSync(join(this.dir, segName(seg.n)), 'r');
    try {
      const head = readAt(fd, r.acked, 4);
      const first = head.length === 4 ? 4 + head.readUInt32LE(0) : 0;
      const chunk = readAt(fd, r.acked, Math.min(Math.max(READ_CHUNK_BYTES, first), seg.size - r.acked));
      r.frames = decodeFrames(chunk);
      r.next = 0;
    } finally {
      closeSync(fd);
    }
    return r.frames.length > 0;
  }

  private newSegment(): Segment {
    this.flush();
    if (this.writeFd >= 0) closeSync(this.writeFd);
    const n = (this.segments[this.segments.length - 1]?.n ?? this.lastNumber()) + 1;
    const path = join(this.dir, segName(n));
    this.writeFd = openSync(path, 'a', 0o600);
    const seg = { n, size: statSync(path).size, count: 0 };
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

/** Drops a file's first `bytes` (acknowledged frames), copying the rest a chunk at a time. */
function cutFront(path: string, bytes: number): void {
  const size = statSync(path).size;
  if (bytes >= size) {
    unlinkSync(path);
    return;
  }
  const src = openSync(path, 'r');
  const dst = openSync(`${path}.tmp`, 'w', 0o600);
  try {
    for (let pos = bytes; pos < size; ) {
      const chunk = readAt(src, pos, Math.min(READ_CHUNK_BYTES, size - pos));
      if (chunk.length === 0) break;
      writeAll(dst, chunk);
      pos += chunk.length;
    }
  } finally {
    closeSync(src);
    closeSync(dst);
  }
  renameSync(`${path}.tmp`, path);
}
