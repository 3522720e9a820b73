/**
 * The native addon (native/, built by scripts/build-native.sh into build/Release/ctrace.node):
 * where it is, how it is loaded, and the types of what it exports. The addon is loaded on first
 * use, so modules that only need these types never require a build.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface NativeProgramOptions {
  /** inode of the host PID namespace (/proc/self/ns/pid of ctrace) */
  hostPidnsIno: number;
  /** strict screen: tasks in the host PID namespace are never emitted */
  pidnsOnly: boolean;
  /** emit host tasks too (--all) */
  emitHost: boolean;
  /** bit (1 << CTRACE_EV_EXEC) etc. */
  eventMask: number;
  /** the kernel submits without waking the reader until this many bytes are queued; 0 wakes per record */
  wakeupBytes: number;
  /** cgroup_subsys_id of the v1 controller that names a task's cgroup when its v2 cgroup is the root; -1 none */
  v1SubsysId: number;
  /** argv bytes an exec records (default 4096, at most 32768) */
  argvMax?: number;
  /** ancestors an exec records (default 8, at most 16) */
  ancestors?: number;
  /** ring buffer bytes, a power of 2 (default 8 MiB) */
  ringBytes?: number;
  /** the poll thread drains the ring at least this often (default 10 ms) */
  pollMs?: number;
}

export interface NativeStats {
  /** records written to the ring */
  emitted: number;
  /** records dropped because the ring was full */
  lost: number;
  mapErrors: number;
  /** events screened out in kernel */
  droppedHost: number;
  readErrors: number;
  /** ring records the reader dropped because their header contradicted their length */
  malformed: number;
  /** batches of PID verdicts the JSON lane could not write */
  verdictErrors: number;
  /** times the poll thread woke up: about one per pollMs while records flow, none while idle */
  readerWakeups: number;
  /** times the poll thread waited for JavaScript to answer for a record before reading on (a new container's first records) */
  readerAsks: number;
}

export interface NativeHook {
  /** program name (mirrors its SEC()) */
  name: string;
  attached: boolean;
  /** true for exec, exit and mount enter/exit: the tracer fails without them */
  required: boolean;
  /** why it is not attached, when known (tracepoint missing, attach error, closed) */
  reason?: string;
}

/**
 * A batch is the raw records of one poll cycle, concatenated: each starts with struct ctrace_hdr
 * (type u16 @0, flags u16 @2, size u32 @4, ktime u64 @8) and is `size` bytes long, unpadded.
 * With a JsonLane it is a lane batch instead (src/tracer/lane.ts): chunks of raw records and of
 * JSON lines, in ring order, in memory the addon reuses: valid during the callback only.
 */
export type BatchCallback = (err: Error | null, batch: Buffer | null, written?: boolean) => void;

export interface NativeProgram {
  /** Attaches every loaded program; returns the names attached. Throws if a required one fails. */
  attach(): string[];
  /**
   * Starts the poll thread. Poll errors arrive as onBatch(err, null); the thread's last call is
   * onBatch(null, null), after every batch it read. Keeps the tracer (and the loop) alive until close().
   */
  start(onBatch: BatchCallback, lane?: NativeJsonLane): void;
  /** Many verdicts in one map batch update; the three arrays have one entry per pid. */
  setVerdicts(pids: Uint32Array, verdicts: Uint8Array, cgroupKeys: BigUint64Array): void;
  setCgroupVerdict(key: bigint, verdict: number): void;
  /** A removed cgroup's verdict (no error when there is none). */
  deleteCgroupVerdict(key: bigint): void;
  /** Kernel counters summed over CPUs; after close(), the values read at close. */
  stats(): NativeStats;
  hooks(): NativeHook[];
  /** CLOCK_REALTIME - CLOCK_MONOTONIC in ns: add to a record's ktime for wall time. */
  clockOffsetNs(): bigint;
  /**
   * Idempotent: detaches the hooks, drains what the ring still holds, joins the poll thread and
   * unloads. Batches read before close() are still delivered to onBatch on later event-loop
   * turns (await a setImmediate or two); nothing after that.
   */
  close(): void;
  /** How full the ring buffer is now: bytes written by the kernel and not yet read, of `size`. */
  ringFill(): { used: number; size: number };
}

/** The JSON lane (native/json_lane.h, bound in native/json_lane_binding.h): what userland decided per cgroup key. */
export interface NativeJsonLane {
  /**
   * Records of this cgroup become JSON lines in the addon: `fragment` is the JSON between
   * mntNs and the event detail (`,"container":…,"cgroupV1":…`), `emit` false drops them as
   * filtered, `verdict` is the PID verdict written for their execs, `v1` the cgroupV1 flag.
   * `pidnsPending`: the cgroup's first record from a PID namespace other than the host's still
   * comes raw (once; setting the cgroup again does not re-arm it).
   */
  set(key: bigint, fragment: string, emit: boolean, verdict: number, v1: boolean, pidnsPending: boolean): void;
  delete(key: bigint): boolean;
  clear(): void;
  size(): number;
  /** lines written per event type, records filtered, records passed on raw, lane records the process table missed (takeNoted's bound) */
  counts(): { exec: number; exit: number; mount: number; filtered: number; raw: number; notedDropped: number };
  /** The lane batch the poll thread would build from these raw records (tests, benchmark). */
  format(batch: Buffer): Buffer;
  /**
   * What userland found for an exec it got raw, so that the next exec with the same ancestors
   * and binary takes the lane (native/exec_memory.h): an ancestor's binary (null: not known; an
   * exec record's own filename is never replaced), and what src/enrich/binary-hash.ts cached.
   */
  filenameFound(pid: number, startNs: bigint, filename: string | null): void;
  binaryFound(dev: number, ino: bigint, ctimeNs: bigint, hostPath: string | null, sha256: string | null, hashError: string | null): void;
  /** The filename bytes an exec record of the process (pid, start ns) named, in ring order; undefined when none was read. */
  filenameOf(pid: number, startNs: bigint): Buffer | null | undefined;
  /** The exec and exit records the lane took (written or filtered) since the last call, concatenated; null when none. */
  takeNoted(): Buffer | null;
  /**
   * The fd the lane writes lines to (-1: none; the caller keeps it open). The poll thread then
   * writes batches of lines itself (they arrive with `written` true, or not at all unless
   * setDeliverWritten(true)); JS writes the others with write(), synchronously, in order.
   */
  setOutput(fd: number, maxBytes?: number): void;
  /**
   * Queues bytes for the output (never waits: what does not fit in the bounded queue is dropped
   * and counted). Throws a NativeError (step 'stdout', e.g. EPIPE) once the output failed.
   */
  write(bytes: Buffer | string): void;
  /** The output queue's counters. */
  outputStats(): NativeOutputStats;
  /** Stops the output's writer thread; what is still queued becomes undeliveredLines. */
  closeOutput(): void;
  setDeliverWritten(on: boolean): void;
  /**
   * Without an fd: lines reach JS in batches held up to 250 ms or 1 MiB (they go before any batch
   * JS must see, in ring order), for a consumer that writes them to a file rather than a live one.
   */
  setHoldLines(on: boolean): void;
  /** Whether the exec and exit records the lane takes are kept for takeNoted() (default true). */
  setNoting(on: boolean): void;
  /**
   * The audit log whose writer this is takes the lines of batches JavaScript would only have
   * sealed and written (native/log_writer.h): the poll thread seals and queues them itself. Before
   * the tracer starts; once.
   */
  setLog(writer: NativeLogWriter): void;
}

/**
 * A JSONL audit log's records sealed and written off the JavaScript thread (native/log_writer.h).
 * While it exists it holds the log's chain and is the one writer of the current file: every
 * record goes through sealRecord() or sealLines(), in the order of the chain.
 */
export interface NativeLogWriter {
  /** One record's JSON object without its chain fields (src/audit/codecs.ts jsonlBody): 0, or a negative errno (not sealed). */
  sealRecord(body: string, head: boolean): number;
  /** The lane's lines: err 0, or a negative errno (nothing sealed); the events sealed by type. */
  sealLines(lines: Buffer): { err: number; exec: number; exit: number; mount: number };
  /** What is sealed from now on goes to the next file. */
  switchFile(): void;
  /** The writer has written everything before the oldest pending switch and waits for resume(). */
  atSwitch(): boolean;
  /** Go on in the next file: its fd (kept open by the caller) and the bytes it holds. */
  resume(fd: number, sizeOnDisk: number): void;
  /** Write what is collected now, without waiting out the writer's hold. */
  flush(): void;
  /** Writes what is queued (unless failed or at a switch), then stops the writer thread. */
  close(): void;
  state(): NativeLogWriterState;
}

export interface NativeLogWriterState {
  seq: number;
  head: string;
  /** records sealed by the writer, all of them */
  records: number;
  /** events of the lines the poll thread took */
  exec: number;
  exit: number;
  mount: number;
  /** the current file's bytes once everything queued is written */
  fileSize: number;
  queuedBytes: number;
  writtenBytes: number;
  writes: number;
  /** fsyncs after writes (fsync 'always') */
  syncs: number;
  /** the current file reached its size limit */
  full: boolean;
  /** nothing queued, nothing being written */
  idle: boolean;
  /** a write (or its fsync) failed with this errno; the file was cut at its last complete record */
  errno: number;
  /** cutting off the partial record failed with this errno */
  truncateErrno: number;
}

/** The lane output's bounded queue (native/out_queue.h). */
export interface NativeOutputStats {
  writtenBytes: number;
  /** write() calls that wrote something (a regular file's are collected: see native/out_queue.h) */
  writes: number;
  /** lines that did not fit in the queue (stdout too slow) */
  droppedLines: number;
  droppedBytes: number;
  queuedBytes: number;
  /** lines still queued when the output was closed */
  undeliveredLines: number;
  /** the output failed with this errno (0: it did not) */
  errno: number;
}

export interface NativeProgramConstructor {
  new (opts: NativeProgramOptions): NativeProgram;
  /** enum cgroup_subsys_id value of a controller (v1 names: blkio is io) from vmlinux BTF, or -1. */
  cgroupSubsysId(controller: string): number;
}

/** The ABI the addon was compiled against (bpf/ctrace.h as the C++ compiler saw it). */
export interface NativeAbi {
  version: number;
  sizes: { hdr: number; task: number; exec: number; ancestor: number; exit: number; mount: number; pidVerdict: number; cgroupVerdict: number };
  statMax: number;
}

export interface NativeAddon {
  /** the loaded BPF program: its hooks, maps and ring reader (native/program.h) */
  Program: NativeProgramConstructor;
  /** new JsonLane(clockOffsetNs, bootId?, capabilityNames?): capability names by bit (src/events/identity.ts CAP_NAMES; a bit without one is CAP_<n>) */
  JsonLane: new (clockOffsetNs: bigint, bootId?: string, capabilityNames?: readonly string[]) => NativeJsonLane;
  /** new LogWriter(fd, fileSize, recordsInFile, seq, head, maxSize, fsyncAlways, holdMs): see NativeLogWriter */
  LogWriter: new (
    fd: number,
    fileSize: number,
    recordsInFile: number,
    seq: number,
    head: string,
    maxSize: number,
    fsyncAlways: boolean,
    holdMs: number,
  ) => NativeLogWriter;
  abi: NativeAbi;
  /**
   * The audit log's chain (src/audit/chain.ts) over lines the JSON lane wrote, each an event's
   * JSON object ended by '\n': each becomes a record with `seq` (from `seq` on) and `hash` (linked
   * from `head`, 64 hex), written to into[0, size). Returns the new head and how many lines of
   * each type there were; only `size` when `into` is too short (nothing sealed). Throws a
   * TypeError on a line the lane would not write (native/chain_seal.h).
   */
  sealLines(
    lines: Uint8Array,
    seq: number,
    head: string,
    into: Buffer,
  ): { size: number; head?: string; exec?: number; exit?: number; mount?: number };
}

/**
 * What a native failure carries: message "<step> failed: <strerror> (<code>): <hint>".
 * Wrong argument types throw a plain TypeError, out-of-range values a RangeError.
 */
export interface NativeError extends Error {
  /** errno name, e.g. 'EPERM' */
  code: string;
  /** positive errno */
  errno: number;
  /** 'open' | 'tracefs' | 'load' | 'ringbuf' | 'attach' | 'start' | 'map' | 'poll' | 'consume' */
  step: string;
  hint?: string;
  /** libbpf's warnings around the failure (the verifier log's tail on a load failure) */
  libbpfLog?: string[];
}

export function isNativeError(e: unknown): e is NativeError {
  return e instanceof Error && typeof (e as NativeError).step === 'string' && typeof (e as NativeError).errno === 'number';
}

/** The package root: the nearest directory above this module with ctrace's package.json (src/ or dist/ alike). */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg)) {
      try {
        if ((JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'ctrace-ebpf') return dir;
      } catch {
        // not ours: keep climbing
      }
    }
    const up = dirname(dir);
    if (up === dir) throw new Error(`ctrace: no package.json above ${fileURLToPath(import.meta.url)}`);
    dir = up;
  }
}

/**
 * The addon to load: the one built here (build/Release/, a clone or a fallback build at install)
 * or else the one the package carries for this platform (prebuilds/, scripts/prebuild.sh).
 */
export function addonPath(): string {
  const root = packageRoot();
  const built = join(root, 'build', 'Release', 'ctrace.node');
  const prebuilt = join(root, 'prebuilds', `${process.platform}-${process.arch}`, 'ctrace.node');
  return existsSync(built) || !existsSync(prebuilt) ? built : prebuilt;
}

let addon: NativeAddon | undefined;

/** Loads the addon (addonPath()) once. */
export function loadNative(): NativeAddon {
  if (addon) return addon;
  const path = addonPath();
  if (!existsSync(path)) {
    throw new Error(`ctrace: native addon not built (${path} is missing): run \`npm run setup\` or \`bash scripts/build-native.sh\``);
  }
  addon = createRequire(import.meta.url)(path) as NativeAddon;
  return addon;
}
