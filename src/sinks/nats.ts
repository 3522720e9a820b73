/**
 * `--nats`: every record (start, events, lost, stop) to a NATS JetStream stream, on subject
 * `ctrace.<host>.<type>`, with the official client. A record counts as delivered when the
 * stream acknowledged it. Each message carries a `Nats-Msg-Id` (host, boot id, run, record
 * sequence), so a publish tried again after a timeout or a leader fail-over is stored once: the
 * server drops the copy within the stream's duplicate window.
 *
 * Where records wait: in memory while the servers keep up; on disk (src/sinks/nats-spool.ts, bounded
 * by size) while they are unreachable or behind, and sent from there in order when they are
 * back. Once the spool is full, records are counted lost and said so on stderr. The order of
 * the queue holds by one rule: while anything is on disk, new records go to disk too, and when
 * records first go to disk, those waiting in memory go before them.
 */
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import type { LostReport, TraceEvent } from '../events/event.js';
import { laneLineType } from '../format/json.js';
import { RecordTally, startRecord, type Entry, type LossSource, type StartOptions } from '../events/records.js';
import type { Exporter, ExporterStats } from './exporter.js';
import { DiskSpool, type SpoolMessage } from './nats-spool.js';
import { natsEncoder, type NatsFormat } from './nats-format.js';
import { BatchPublisher } from './nats-publish.js';
import { MemoryQueue } from './nats-memory.js';
import type { Sink } from './sink.js';
import { atMostEvery } from '../util/clock.js';

/** How often records lost to a full spool are said on stderr while they go on. */
const LOSS_NOTE_MS = 10_000;

/**
 * Records wait in memory up to this many bytes (and NatsSinkOptions.memoryRecords) while the
 * servers are behind (src/sinks/nats-memory.ts); beyond, the queue goes to the spool: ctrace's
 * memory stays bounded whatever the record sizes (an exec with a long argv is kilobytes).
 */
export const NATS_MEMORY_BYTES = 4 * 1024 * 1024;

export const NATS_DEFAULTS = {
  stream: 'CTRACE',
  format: 'json' as NatsFormat,
  spool: '/var/lib/ctrace/nats-spool',
  spoolSize: 1024 * 1024 * 1024,
  replicas: 1,
};

export interface NatsSinkOptions {
  servers: string[];
  stream?: string;
  format?: NatsFormat;
  spoolDir?: string;
  /** bytes */
  spoolSize?: number;
  /** replicas of the stream when ctrace creates it */
  replicas?: number;
  start: StartOptions;
  onNote(message: string): void;
  /** host name in subjects and message ids (default: hostname()) */
  host?: string;
  /** records sent before their acknowledgements are awaited */
  window?: number;
  /** records held in memory before the queue goes to disk */
  memoryRecords?: number;
  /** bytes of records held in memory before the queue goes to disk */
  memoryBytes?: number;
  /** ms to wait for an acknowledgement */
  ackTimeoutMs?: number;
  /** ms close() waits for the queue to drain before leaving the rest in the spool */
  drainTimeoutMs?: number;
}

/** A subject token: no dots, wildcards or spaces. */
export function subjectToken(s: string): string {
  return s.replace(/[.*>\s]/g, '_') || '_';
}

function bootId(): string {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return 'unknown-boot';
  }
}

export class NatsSink implements Sink, Exporter {
  readonly name = 'nats';
  private readonly tally = new RecordTally();
  private readonly mem: MemoryQueue;
  /** bumped whenever the memory queue moves to disk: acknowledgements for the old copies are ignored */
  private spills = 0;
  private seq = 0;
  private readonly idPrefix: string;
  private readonly subjectPrefix: string;
  /** subject per record type, made once */
  private readonly subjects: Partial<Record<Entry['type'], string>> = {};
  private nc: NatsConnection | null = null;
  private publisher: BatchPublisher | null = null;
  private connected = false;
  private closing = false;
  private stopped = false;
  private wake: (() => void) | null = null;
  private readonly st = { delivered: 0, retries: 0, lost: 0, replayed: 0, spooled: 0 };
  /** a full spool is said at most this often */
  private readonly lossNoteDue = atMostEvery(LOSS_NOTE_MS);
  private pumpDone: Promise<void> = Promise.resolve();
  private readonly window: number;
  /** the message body is the record's JSON line: the tracer's lane can feed this sink */
  readonly acceptsLines: boolean;

  private constructor(
    private readonly o: NatsSinkOptions,
    private readonly encode: (e: Entry) => Uint8Array,
    readonly spool: DiskSpool,
  ) {
    this.acceptsLines = (o.format ?? NATS_DEFAULTS.format) === 'json';
    const host = subjectToken(o.host ?? hostname());
    this.subjectPrefix = `ctrace.${host}.`;
    // a run's start (monotonic ns) keeps ids apart across restarts within one boot
    this.idPrefix = `${host}:${bootId()}:${process.hrtime.bigint()}:`;
    this.window = o.window ?? 256;
    this.mem = new MemoryQueue(o.memoryBytes ?? NATS_MEMORY_BYTES, o.memoryRecords ?? 8192, (seq) => this.idOf(seq));
  }

  /**
   * Opens the spool and starts connecting in the background: servers that are down at start
   * are a spooled outage like any other, not a reason to refuse to trace.
   */
  static async open(o: NatsSinkOptions): Promise<NatsSink> {
    const dir = o.spoolDir ?? NATS_DEFAULTS.spool;
    let spool: DiskSpool;
    try {
      spool = DiskSpool.open(dir, o.spoolSize ?? NATS_DEFAULTS.spoolSize);
    } catch (err) {
      throw new Error(`--nats-spool ${dir}: ${(err as Error).message}`);
    }
    const sink = new NatsSink(o, await natsEncoder(o.format ?? NATS_DEFAULTS.format), spool);
    if (spool.length) o.onNote(`nats: ${spool.length} records left in the spool ${spool.dir} by an earlier run: sending them first`);
    sink.push(startRecord(o.start));
    sink.pumpDone = sink.run();
    return sink;
  }

  write(event: TraceEvent): void {
    if (this.closing) return;
    this.tally.event(event);
    this.push(event);
  }

  /**
   * Events as JSON lines from the tracer's lane (json format only), each ended by a newline:
   * each line is the body write() would build for the same event. The batch is the reader's
   * reused block: each line is copied into the memory queue's block (or into the spool).
   */
  writeLines(lines: Buffer): void {
    if (this.closing) return;
    if (!this.acceptsLines) throw new Error(`JSON lines go to --nats-format json only`);
    let start = 0;
    for (let nl = lines.indexOf(0x0a); nl >= 0; nl = lines.indexOf(0x0a, start)) {
      const type = laneLineType(lines, start);
      this.tally.count(type);
      this.enqueue(type, lines.subarray(start, nl));
      start = nl + 1;
    }
  }

  noteLost(report: LostReport, source?: LossSource): void {
    if (this.closing) return;
    this.push(this.tally.lostRecord(report, source));
  }

  stats(): ExporterStats & { replayed: number; spooled: number; spoolBytes: number; duplicates: number } {
    return {
      duplicates: this.publisher?.duplicates ?? 0,
      delivered: this.st.delivered,
      queued: this.mem.length + this.spool.length,
      retries: this.st.retries,
      lost: this.st.lost,
      connected: this.connected,
      replayed: this.st.replayed,
      spooled: this.st.spooled,
      spoolBytes: this.spool.bytes,
    };
  }

  private push(e: Entry): void {
    this.enqueue(e.type, this.encode(e));
  }

  /** A record's message id (Nats-Msg-Id): the run's prefix and the record's sequence number. */
  private idOf(seq: number): string {
    return this.idPrefix + seq;
  }

  /** A record, to memory or to disk; the payload is copied before this returns. */
  private enqueue(type: Entry['type'], payload: Uint8Array): void {
    const subject = (this.subjects[type] ??= this.subjectPrefix + type);
    const seq = this.seq++;
    if (!(this.spool.length === 0 && this.connected && this.mem.push(subject, seq, payload))) {
      this.spill();
      this.toDisk({ subject, id: this.idOf(seq), payload });
    }
    this.wake?.();
  }

  /** What waits in memory goes to disk first, so the disk queue stays in order. */
  private spill(): void {
    if (this.mem.length === 0) return;
    this.spills++;
    for (const m of this.mem.release()) this.toDisk(m);
  }

  private toDisk(m: SpoolMessage): void {
    if (this.spool.append(m)) {
      this.st.spooled++;
      return;
    }
    this.st.lost++;
    if (this.lossNoteDue()) {
      this.o.onNote(`nats: spool ${this.spool.dir} full (${this.spool.bytes} bytes): ${this.st.lost} records lost so far`);
    }
  }

  /** Connects (retrying for ever), makes sure of the stream, then publishes until closed. */
  private async run(): Promise<void> {
    let noted = false;
    for (let delay = 500; !this.stopped; delay = Math.min(delay * 2, 5000)) {
      try {
        this.nc = await connect({
          servers: this.o.servers,
          name: `ctrace ${hostname()}`,
          // once connected, the client itself reconnects for ever
          maxReconnectAttempts: -1,
          reconnectTimeWait: 500,
          timeout: 5000,
          pingInterval: 5000,
          maxPingOut: 2,
        });
        break;
      } catch (err) {
        if (!noted) this.o.onNote(`nats: cannot connect to ${this.o.servers.join(',')}: ${(err as Error).message} (spooling, retrying)`);
        noted = true;
        await this.sleep(delay);
      }
    }
    if (!this.nc) return;
    if (this.stopped) {
      await this.nc.close().catch(() => {});
      return;
    }
    if (noted) this.o.onNote(`nats: connected to ${this.nc.getServer()}`);
    this.watchStatus(this.nc);
    this.publisher = new BatchPublisher(this.nc);
    await this.ensureStream();
    this.connected = true;
    this.wake?.();
    await this.pump();
  }

  private watchStatus(nc: NatsConnection): void {
    void (async () => {
      for await (const s of nc.status()) {
        if (s.type === 'disconnect') this.connected = false;
        else if (s.type === 'reconnect') {
          this.connected = true;
          this.wake?.();
        }
      }
    })().catch(() => {});
  }

  /** The stream, created when missing (subjects `ctrace.>`); retried while JetStream is not up. */
  private async ensureStream(): Promise<void> {
    const name = this.o.stream ?? NATS_DEFAULTS.stream;
    let noted = false;
    for (let delay = 250; !this.stopped; delay = Math.min(delay * 2, 5000)) {
      try {
        const jsm = await jetstreamManager(this.nc!, { timeout: this.o.ackTimeoutMs ?? 3000 });
        try {
          await jsm.streams.info(name);
        } catch (err) {
          if ((err as { code?: number }).code !== 10059 && (err as Error).name !== 'StreamNotFoundError') throw err;
          await jsm.streams.add({
            name,
            subjects: ['ctrace.>'],
            num_replicas: this.o.replicas ?? NATS_DEFAULTS.replicas,
            duplicate_window: 120 * 1e9,
          });
          this.o.onNote(`nats: created stream ${name} (subjects ctrace.>, ${this.o.replicas ?? NATS_DEFAULTS.replicas} replicas)`);
        }
        return;
      } catch (err) {
        if (!noted) this.o.onNote(`nats: stream ${name} not available yet: ${(err as Error).message} (retrying)`);
        noted = true;
        await this.sleep(delay);
      }
    }
  }

  /**
   * Sends up to `window` of the oldest records at once and waits for their acknowledgements;
   * the acknowledged prefix leaves the queue. The rest is sent again, with the same ids.
   */
  private async pump(): Promise<void> {
    let backoff = 100;
    while (!this.stopped) {
      const fromDisk = this.mem.length === 0;
      const batch = fromDisk ? this.spool.peek(this.window) : this.mem.peek(this.window);
      if (batch.length === 0 || !this.connected) {
        if (this.closing && batch.length === 0) return;
        await new Promise<void>((r) => {
          this.wake = r;
          setTimeout(r, batch.length ? 250 : 1000).unref();
        });
        this.wake = null;
        continue;
      }
      const spills = this.spills;
      const results = await this.publisher!.send(batch, this.o.ackTimeoutMs ?? 3000);
      let acked = 0;
      while (acked < results.length && results[acked]) acked++;
      if (!fromDisk && spills !== this.spills) continue; // moved to disk meanwhile: sent again from there, the server drops the copies
      if (fromDisk) {
        this.spool.ack(acked);
        this.st.replayed += acked;
      } else this.mem.shift(acked);
      this.st.delivered += acked;
      if (acked < results.length) {
        this.st.retries += results.length - acked;
        await this.sleep(backoff);
        backoff = Math.min(backoff * 2, 2000);
      } else backoff = 100;
    }
  }

  /** Waits of the background loops never hold the process: close() decides when it ends. */
  private sleep(ms: number): Promise<void> {
    return new Promise((r) => setTimeout(r, ms).unref());
  }

  /**
   * A stop record, then, while connected, up to drainTimeoutMs for everything to be
   * acknowledged; what is not stays in the spool for the next run.
   */
  async close(reason = 'closed'): Promise<void> {
    if (this.closing) return;
    this.push(this.tally.stopRecord(reason));
    this.closing = true;
    this.wake?.();
    let timer: NodeJS.Timeout | undefined;
    // with the servers away the spool keeps it all for the next run: no reason to hold the exit
    if (this.connected) await Promise.race([this.pumpDone, new Promise((r) => (timer = setTimeout(r, this.o.drainTimeoutMs ?? 5000)))]);
    clearTimeout(timer);
    this.stopped = true;
    this.wake?.();
    this.spill();
    this.spool.close();
    await this.nc?.close().catch(() => {});
  }

  /** Lines for the stderr summary at exit. */
  summary(): string {
    const s = this.stats();
    return (
      `nats ${this.o.servers.join(',')} stream ${this.o.stream ?? NATS_DEFAULTS.stream}: ${s.delivered} records acknowledged, ` +
      `${s.replayed} of them from the spool, ${s.retries} retries, ${s.lost} lost (spool full)` +
      (s.queued ? `, ${s.queued} left in the spool ${this.spool.dir} for the next run` : '') +
      (s.duplicates ? `; ${s.duplicates} copies sent again were already stored (de-duplicated by id)` : '')
    );
  }
}
