#!/usr/bin/env node
/**
 * Userland micro-benchmark: raw record batches, as the addon hands them to JavaScript,
 * pushed through decode → classify → JSON serialisation on one core (run it under
 * `taskset -c <cpu>`; bench/run.js does). Imports the built library from dist/.
 *
 *   node bench/micro.js [--batches FILE] [--seconds S] [--json]
 *
 * FILE holds real batches captured from the kernel by bench/run.js (u32 little-endian
 * length, then the batch, repeated). Without it, batches are synthesised with the exact
 * layout of src/decode/abi.ts (OFF/SIZE): a container exec storm's mix of exec and exit records
 * plus some mounts, over a few docker containers.
 *
 * Stages, each timed on its own over the same batches (warm; the first, cold pass is
 * reported apart: the pipeline runs first, so its first pass is a cold start). A stage's
 * events/s is the median of ten equal slices of its time; the slices' range and the window's
 * mean are in --json too:
 *  - decode:   decodeBatch with a CgroupPathCache
 *  - classify: decode + classifyCgroupPath for every record (no per-key cache)
 *  - pipeline: decode + classify cached per cgroup key (as the Tracer does) + the event
 *              object + toJsonLine, lines joined per batch as the stdout sink does
 *  - tracer:   the real Tracer's batch handler (decode, classify, verdict write-back to the
 *              real maps, process table, binary, event) with a JSON-line listener, on a Tracer
 *              made as ctrace makes one (hooks for mounts only); it calls a private method by
 *              name and says which when that changes
 *  - lane:     the addon's JSON-lines lane (what `ctrace run --output json` runs for every
 *              event of a cgroup it has classified): JsonLane.format() over the batches,
 *              every cgroup registered as the tracer registers it; on the JS thread here, on
 *              the poll thread in ctrace. It formats the event types the addon formats (the
 *              share of each is reported) and passes the others on raw. format() hands its
 *              output back as a new Buffer, a copy (and fresh pages) the poll thread does not
 *              pay: on small VMs that copy is much of this stage's time
 *  - path:     the lane, then the JavaScript pipeline over the records it passed on raw: all
 *              of ctrace's userland work per batch, whichever types the lane takes
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { median } from './lib/util.js';

const REPO = dirname(dirname(fileURLToPath(import.meta.url)));
const dist = (m) => import(pathToFileURL(join(REPO, 'dist', m)).href);

const abi = await dist('decode/abi.js');
const { classifyCgroupPath } = await dist('classify/classify.js');
const { toJsonLine } = await dist('format/json.js');
const { WallClock } = await dist('util/clock.js');

const args = process.argv.slice(2);
const opt = (name, def) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : def;
};
const seconds = Number(opt('--seconds', process.env.BENCH_MICRO_SECONDS ?? '3'));
const batchFile = opt('--batches', null);
const asJson = args.includes('--json');

// ---- input ---------------------------------------------------------------------------------

function readBatches(file) {
  const buf = readFileSync(file);
  const out = [];
  for (let o = 0; o + 4 <= buf.length; ) {
    const len = buf.readUInt32LE(o);
    out.push(asTraced(Buffer.from(buf.subarray(o + 4, o + 4 + len))));
    o += 4 + len;
  }
  return out;
}

/**
 * The capture ran with no userland writing verdicts back, so the kernel flagged the container's
 * records F_ISOLATED (a task in its own PID namespace, its cgroup undecided). In ctrace the
 * cgroup has its container verdict from its first record on, and its records come unflagged:
 * the flag is cleared here on records of cgroups that classify as a container.
 */
function asTraced(batch) {
  const paths = new abi.CgroupPathCache();
  for (let o = 0; o + abi.SIZE.hdr <= batch.length; ) {
    const size = batch.readUInt32LE(o + abi.OFF.hdr.size);
    if (size < abi.SIZE.hdr || o + size > batch.length) break;
    const rec = abi.decodeBatch(batch.subarray(o, o + size), paths)[0];
    if (rec && classifyCgroupPath(rec.task.cgroupPath).scope === 'container') {
      const flags = batch.readUInt16LE(o + abi.OFF.hdr.flags);
      batch.writeUInt16LE(flags & ~abi.F_ISOLATED, o + abi.OFF.hdr.flags);
    }
    o += size;
  }
  return batch;
}

/** One record with the exact layout of src/decode/abi.ts. */
function synthRecord(type, i, c) {
  const { OFF, SIZE } = abi;
  const argv = Buffer.from(`/bin/true\0${1763860000000000000n + BigInt(i) * 1000n}\0bsynth\0`);
  const filename = '/bin/true';
  // the cgroup's names (the kernel sends them until the cgroup has a verdict: here always), leaf
  // first; an exec's lead its data, then the filename and the cwd with their NULs, and argv
  const namesAt = type === abi.EV_EXEC ? OFF.exec.data : type === abi.EV_EXIT ? OFF.exit.cgroupNames : OFF.mount.cgroupNames;
  const fileAt = OFF.exec.data + 2 * abi.CG_NAME_LEN;
  const cwd = '/';
  const argvAt = fileAt + filename.length + 1 + cwd.length + 1;
  const size = type === abi.EV_EXEC ? argvAt + argv.length : type === abi.EV_EXIT ? SIZE.exit : SIZE.mount;
  const b = Buffer.alloc(size);
  b.writeUInt16LE(type, OFF.hdr.type);
  b.writeUInt16LE(0, OFF.hdr.flags);
  b.writeUInt32LE(size, OFF.hdr.size);
  b.writeBigUInt64LE(1000000000n + BigInt(i) * 10000n, OFF.hdr.ktime);
  const pid = 100000 + (i % 30000);
  b.writeUInt32LE(pid, OFF.task.pid);
  b.writeUInt32LE(pid, OFF.task.tgid);
  b.writeUInt32LE(99000 + c.n, OFF.task.ppid);
  b.writeUInt32LE(2 + (i % 5000), OFF.task.nspid);
  b.writeUInt32LE(4026532200 + c.n, OFF.task.pidnsIno);
  b.writeUInt32LE(4026532300 + c.n, OFF.task.mntnsIno);
  b.writeBigUInt64LE(BigInt(c.key), OFF.task.cgroupKey);
  b[OFF.task.verdict] = abi.VERDICT_CONTAINER;
  b[OFF.task.cgDepth] = 2;
  b.write(type === abi.EV_MOUNT ? 'mountstorm' : 'true', OFF.task.comm, 'latin1');
  b.write(c.id, namesAt, 'latin1');
  b.write('docker', namesAt + abi.CG_NAME_LEN, 'latin1');
  if (type === abi.EV_EXEC) {
    b.writeUInt32LE(3, OFF.exec.argc);
    b.writeUInt32LE(argv.length, OFF.exec.argvLen);
    b.writeUInt32LE(filename.length, OFF.exec.filenameLen);
    b.write(filename, fileAt, 'latin1');
    b.writeUInt32LE(cwd.length, OFF.exec.cwdLen);
    b.write(cwd, fileAt + filename.length + 1, 'latin1');
    argv.copy(b, argvAt);
  } else if (type === abi.EV_EXIT) {
    b.writeUInt32LE(0, OFF.exit.exitCode);
    b.writeBigUInt64LE(999000000n + BigInt(i) * 10000n, OFF.exit.startNs);
  } else {
    b.writeBigInt64LE(0n, OFF.mount.ret);
    b.writeUInt32LE(abi.MOUNT_OP_MOUNT, OFF.mount.op);
    b.write('ctrace-bench', OFF.mount.source, 'latin1');
    b.write('/mnt/b-synth', OFF.mount.target, 'latin1');
    b.write('tmpfs', OFF.mount.fstype, 'latin1');
  }
  return b;
}

function synthBatches(nBatches = 200, perBatch = 128) {
  const containers = Array.from({ length: 8 }, (_, n) => ({
    n,
    key: 5000 + n,
    id: Buffer.from(Array.from({ length: 32 }, (_, k) => (n * 37 + k * 11) & 0xff)).toString('hex'),
  }));
  const out = [];
  let i = 0;
  for (let b = 0; b < nBatches; b++) {
    const recs = [];
    for (let r = 0; r < perBatch; r++, i++) {
      const c = containers[(i >> 6) % containers.length];
      const type = i % 10 === 9 ? abi.EV_MOUNT : i % 2 ? abi.EV_EXIT : abi.EV_EXEC;
      recs.push(synthRecord(type, i, c));
    }
    out.push(Buffer.concat(recs));
  }
  return out;
}

let batches;
let source;
if (batchFile && existsSync(batchFile)) {
  batches = readBatches(batchFile);
  source = `captured (${batchFile.replace(REPO + '/', '')})`;
} else {
  batches = synthBatches();
  source = 'synthesised (src/decode/abi.ts layout)';
}
const recordsPerPass = batches.reduce((s, b) => s + abi.decodeBatch(b, new abi.CgroupPathCache()).length, 0);
const bytesPerPass = batches.reduce((s, b) => s + b.length, 0);

// ---- stages ----------------------------------------------------------------------------------

const CLOCK_OFFSET = 1763000000000000000n;
const clock = new WallClock(CLOCK_OFFSET);
// the tracer's own record → event mapping (src/events/build.ts)
const { buildEvent } = await dist('events/build.js');
const VERDICT_OF = { host: abi.VERDICT_HOST, container: abi.VERDICT_CONTAINER, unknown: abi.VERDICT_UNCLASSIFIED };

/** The event object as src/tracer/tracer.ts builds it (without the process table and enrichment). */
function toEvent(rec, cls) {
  return buildEvent(rec, { time: clock.iso(rec.ktimeNs), scope: cls.scope, container: cls.container, nspid: rec.task.nspid });
}

function stageDecode() {
  const paths = new abi.CgroupPathCache();
  let n = 0;
  return () => {
    for (const b of batches) n += abi.decodeBatch(b, paths).length;
    return n;
  };
}

function stageClassify() {
  const paths = new abi.CgroupPathCache();
  let n = 0;
  return () => {
    for (const b of batches) {
      for (const rec of abi.decodeBatch(b, paths)) if (classifyCgroupPath(rec.task.cgroupPath).scope) n++;
    }
    return n;
  };
}

/**
 * The JavaScript pipeline over one batch of raw records: decode, classify cached per cgroup key
 * (in `classes`), the event object, its JSON line; the lines joined as the stdout sink joins
 * them. Returns their length.
 */
function pipelineBytes(batch, paths, classes) {
  const lines = [];
  for (const rec of abi.decodeBatch(batch, paths)) {
    let cls = classes.get(rec.task.cgroupKey);
    if (!cls) classes.set(rec.task.cgroupKey, (cls = classifyCgroupPath(rec.task.cgroupPath)));
    lines.push(toJsonLine(toEvent(rec, cls)));
  }
  return (lines.join('\n') + '\n').length;
}

function stagePipeline() {
  const paths = new abi.CgroupPathCache();
  const classes = new Map();
  let bytes = 0;
  return () => {
    for (const b of batches) bytes += pipelineBytes(b, paths, classes);
    return bytes;
  };
}

/**
 * The real Tracer's batch handler: a Tracer made as ctrace makes one (its BPF loaded and
 * attached, for mounts only so that the host adds nothing meanwhile; no pre-load, no runtime
 * look-ups), each batch handed to its private handleBatch as the poll thread's callback would,
 * events to a JSON-line listener. Private members are reached by name: a rename says so.
 */
async function stageTracer() {
  let t = null;
  try {
    const { Tracer } = await dist('tracer/tracer.js');
    t = new Tracer({ events: ['mount'], enrich: false, preload: false });
    const handle = t.handleBatch ?? t.onRecords;
    if (typeof handle !== 'function') throw new Error('Tracer has neither handleBatch nor onRecords (src/tracer.ts changed): update bench/micro.js');
    const viaHandleBatch = handle === t.handleBatch;
    let pending = [];
    let bytes = 0;
    let errors = 0;
    let lastError = null;
    let events = 0;
    t.onEvent((ev) => {
      events++;
      pending.push(toJsonLine(ev));
    });
    t.onError((e) => {
      errors++;
      lastError = e;
    });
    const run = () => {
      for (const b of batches) {
        if (viaHandleBatch) handle.call(t, null, b, false);
        else handle.call(t, b);
        bytes += (pending.join('\n') + '\n').length;
        pending = [];
      }
      if (errors) throw new Error(`${errors} batch errors: ${lastError?.message}`);
      return bytes;
    };
    run(); // proves it works before it is timed
    if (events !== recordsPerPass) throw new Error(`the tracer delivered ${events} of ${recordsPerPass} records`);
    return { run, close: () => t.close() };
  } catch (e) {
    await t?.close().catch(() => {});
    return { error: e.message.split('\n')[0] };
  }
}

/**
 * The lane over the same batches, every cgroup registered as the tracer registers it. It
 * formats what the addon formats (which event types, it decides: the share per type is
 * reported) and passes the rest on raw. Returns the lane alone, and `path`: the lane plus
 * the JavaScript pipeline over its raw records, the whole of ctrace's userland per batch.
 */
async function stageLane() {
  try {
    const { loadNative } = await dist('addon/native.js');
    const { JsonLane, forEachChunk } = await dist('tracer/lane.js');
    const lane = new JsonLane(new (loadNative().JsonLane)(CLOCK_OFFSET));
    const paths = new abi.CgroupPathCache();
    const byType = { exec: 0, exit: 0, mount: 0 };
    for (const b of batches) {
      for (const rec of abi.decodeBatch(b, paths)) {
        byType[rec.type]++;
        // what the tracer tells the lane once it has looked at an exec: its binary (hashed once
        // per file) and each ancestor's filename (from its own exec, /proc, or unknown). Without
        // it every exec would go raw, as only a container's first execs of a binary do in ctrace.
        if (rec.type === 'exec') {
          const f = rec.facts;
          lane.native.binaryFound(f.exeDev, f.exeIno, f.exeCtimeNs, null, '0'.repeat(64), null);
          for (const a of f.ancestors) lane.native.filenameFound(a.pid, a.startNs, null);
        }
        const cls = classifyCgroupPath(rec.task.cgroupPath);
        if (cls.scope === 'unknown') continue; // the tracer keeps these on the object path
        if (!lane.has(rec.task.cgroupKey)) {
          lane.register(rec.task.cgroupKey, { cls, cgroupPath: rec.task.cgroupPath, cgroupV1: rec.task.cgroupV1, emit: true, verdict: VERDICT_OF[cls.scope] });
        }
      }
    }
    let bytes = 0;
    const run = () => {
      for (const b of batches) bytes += lane.native.format(b).length;
      return bytes;
    };
    const c0 = lane.native.counts();
    run();
    const c1 = lane.native.counts();
    const wrote = { exec: c1.exec - c0.exec, exit: c1.exit - c0.exit, mount: c1.mount - c0.mount };
    const lines = wrote.exec + wrote.exit + wrote.mount;
    const raw = c1.raw - c0.raw;
    if (lines + raw + (c1.filtered - c0.filtered) !== recordsPerPass) {
      throw new Error(`the lane accounted for ${lines} lines + ${raw} raw of ${recordsPerPass} records`);
    }
    // the types it formats: the share of each type's records that became lines
    const formats = Object.fromEntries(Object.entries(wrote).filter(([k]) => byType[k]).map(([k, v]) => [k, v / byType[k]]));
    // lane + JavaScript for its raw records, as ctrace runs a batch
    const classes = new Map();
    const jsPaths = new abi.CgroupPathCache();
    let pathBytes = 0;
    const path = () => {
      for (const b of batches) {
        forEachChunk(
          lane.native.format(b),
          (l) => (pathBytes += l.length),
          (rawRecs) => (pathBytes += pipelineBytes(rawRecs, jsPaths, classes)),
        );
      }
      return pathBytes;
    };
    path();
    return { run, path, share: lines / recordsPerPass, formats, raw: raw / recordsPerPass };
  } catch (e) {
    return { error: e.message.split('\n')[0] };
  }
}

const SLICES = 10;

function time(fn, secs) {
  // the first pass runs cold (interpreter, then baseline code): what ctrace pays at the start of a storm
  const c0 = performance.now();
  fn();
  const firstPassNsPerEvent = ((performance.now() - c0) * 1e6) / recordsPerPass;
  // warm-up: a third of the time
  const warm = performance.now() + (secs * 1000) / 3;
  while (performance.now() < warm) fn();
  // Ten slices, and the median: a stall of the VM over a few slices does not set the result.
  // Not the fastest slice (timeit's rule): with a garbage collector, the fastest slice is
  // also the one that collected least (slices of a quiet run are 1.4-1.8x apart here).
  const slices = [];
  let passes = 0;
  const t0 = performance.now();
  for (let i = 0; i < SLICES; i++) {
    const s0 = performance.now();
    const end = s0 + (secs * 1000) / SLICES;
    let n = 0;
    do {
      fn();
      n++;
    } while (performance.now() < end);
    slices.push((n * recordsPerPass) / ((performance.now() - s0) / 1000));
    passes += n;
  }
  const ms = performance.now() - t0;
  const eventsPerSec = median(slices);
  return {
    passes,
    ms,
    eventsPerSec,
    nsPerEvent: 1e9 / eventsPerSec,
    meanEventsPerSec: (passes * recordsPerPass) / (ms / 1000),
    sliceRange: [Math.min(...slices), Math.max(...slices)],
    firstPassNsPerEvent,
  };
}

const results = {
  source,
  batches: batches.length,
  records: recordsPerPass,
  bytes: bytesPerPass,
  cpu: readFileSync('/proc/self/status', 'utf8').match(/Cpus_allowed_list:\s*(\S+)/)?.[1] ?? null,
  stages: {},
};
results.eventBuilder = 'dist/events/build.js';
// --stage NAME runs one stage only (to profile it: node --cpu-prof bench/micro.js --stage pipeline)
const only = opt('--stage', null);
const want = (name) => !only || only === name;
// pipeline first, so that its first pass is a cold start (later stages share its code, warm)
if (want('pipeline')) results.stages.pipeline = time(stagePipeline(), seconds);
if (want('tracer')) {
  const tr = await stageTracer();
  results.stages.tracer = tr.run ? time(tr.run, seconds) : { error: tr.error };
  await tr.close?.();
}
if (want('lane') || want('path')) {
  const ln = await stageLane();
  if (want('lane')) results.stages.lane = ln.run ? { ...time(ln.run, seconds), share: ln.share, formats: ln.formats } : { error: ln.error };
  if (want('path')) results.stages.path = ln.path ? { ...time(ln.path, seconds), laneShare: ln.share, rawShare: ln.raw } : { error: ln.error };
}
if (want('decode')) results.stages.decode = time(stageDecode(), seconds);
if (want('classify')) results.stages.classify = time(stageClassify(), seconds);

if (asJson) {
  process.stdout.write(JSON.stringify(results) + '\n');
} else {
  console.log(`${results.records} records in ${results.batches} batches, ${source}, cpus ${results.cpu}`);
  for (const [k, v] of Object.entries(results.stages)) {
    console.log(
      v.error
        ? `${k.padEnd(9)} FAILED: ${v.error}`
        : `${k.padEnd(9)} ${Math.round(v.eventsPerSec).toLocaleString('en')} events/s  (${v.nsPerEvent.toFixed(0)} ns/event; slices ${(v.sliceRange[1] / v.sliceRange[0]).toFixed(2)}x apart; first pass ${v.firstPassNsPerEvent.toFixed(0)} ns/event)`,
    );
  }
}
