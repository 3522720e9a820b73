/**
 * Small shared pieces of the bench harness: running commands, reading /proc,
 * BPF program counters, and the statistics the report uses.
 */
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, openSync, readdirSync, readFileSync, readlinkSync, writeFileSync, writeSync } from 'node:fs';

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * CLOCK_MONOTONIC now in ns, the clock execstorm stamps its argv with. Not the wall clock: this
 * VM's was stepped by 16 s during a 74-minute run, which made every latency negative.
 */
export function monoNowNs() {
  return Number(process.hrtime.bigint());
}

/** Runs a command to completion; resolves {code, signal, stdout, stderr}. Never rejects on a non-zero exit. */
export function run(cmd, args, opts = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
    let stdout = '';
    let stderr = '';
    child.stdout?.setEncoding('utf8').on('data', (d) => (stdout += d));
    child.stderr?.setEncoding('utf8').on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr, pid: child.pid }));
  });
}

export function runSync(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', ...opts });
  return { code: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '', error: r.error };
}

export function which(name) {
  const r = runSync('sh', ['-c', `command -v ${name}`]);
  return r.code === 0 ? r.stdout.trim() : null;
}

/**
 * Calls fn(tid, ns) with each thread's CPU time, the scheduler's own ns count
 * (/proc/PID/task/TID/schedstat); false when the process is gone.
 */
function eachThreadNs(pid, fn) {
  let tids;
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return false;
  }
  for (const tid of tids) {
    try {
      fn(tid, Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]));
    } catch {
      /* the thread ended meanwhile */
    }
  }
  return true;
}

/** utime+stime of a process in ns, all threads, or null when it is gone. */
export function cpuNs(pid) {
  // schedstat's ns: /proc/<pid>/stat counts 10 ms ticks, too coarse for a few µs per event over a
  // storm (it is the fallback when schedstat is missing)
  let ns = 0;
  if (eachThreadNs(pid, (_tid, n) => (ns += n)) && ns > 0) return ns;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields after comm: state(3) ... utime(14) stime(15) => index 11, 12 here
    const ticks = Number(f[11]) + Number(f[12]);
    return (ticks * 1e9) / CLK_TCK;
  } catch {
    return null;
  }
}
const CLK_TCK = Number(runSync('getconf', ['CLK_TCK']).stdout.trim()) || 100;

/**
 * ctrace's CPU time in ns by thread: `js` its main thread (JavaScript, and the addon's work it
 * calls: a lane batch's copy), `reader` the poll thread (`ctrace-ring`: the ring, the lane's JSON
 * lines, the audit log's chain over them), `other` the rest (stdout's writer, the log's writer
 * `ctrace-log`, V8's collector, libuv's fsyncs); null when the process is gone or schedstat
 * counts nothing.
 */
export function cpuNsByThread(pid) {
  const out = { js: 0, reader: 0, other: 0 };
  const gone = !eachThreadNs(pid, (tid, ns) => {
    const part = tid === String(pid) ? 'js' : readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim() === 'ctrace-ring' ? 'reader' : 'other';
    out[part] += ns;
  });
  return gone || out.js + out.reader + out.other === 0 ? null : out;
}

/** A field of /proc/PID/status in kB (VmHWM, VmRSS), or null. */
export function statusKb(pid, field) {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

/**
 * The peak resident memory of a process from now on. Reads VmHWM (the peak so far, start-up
 * included), then resets the kernel's high-water mark (`5` to /proc/PID/clear_refs), so
 * peak() later reads the peak since this call (kB, null if unreadable). Exact where sampling
 * VmRSS could miss a short peak, and nothing runs during the storm: a 25 ms sampler in the
 * harness cost the storm ~1 %, in the tracer runs only (bench/README.md, finding 15).
 */
export function peakRssFromNow(pid) {
  const startKb = statusKb(pid, 'VmHWM');
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
  } catch {
    return { startKb, peak: () => null };
  }
  return { startKb, peak: () => statusKb(pid, 'VmHWM') };
}

/**
 * The BPF programs a process holds open, from /proc/PID/fdinfo: prog_id,
 * run_time_ns and run_cnt (non-zero only while kernel.bpf_stats_enabled=1).
 * Attributes programs to their owner without bpftool's pid iterator.
 */
export function bpfProgCounters(pid) {
  const out = new Map();
  let fds;
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return out;
  }
  for (const fd of fds) {
    let link;
    try {
      link = readlinkSync(`/proc/${pid}/fd/${fd}`);
    } catch {
      continue;
    }
    if (link !== 'anon_inode:bpf-prog') continue;
    try {
      const info = readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8');
      const get = (k) => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(info)?.[1] ?? NaN);
      const id = get('prog_id');
      out.set(id, { id, runTimeNs: get('run_time_ns'), runCnt: get('run_cnt') });
    } catch {
      // closed meanwhile
    }
  }
  return out;
}

/** Program names by id, from `bpftool prog show -j` (empty when bpftool is missing). */
export function bpfProgNames() {
  const r = runSync('bpftool', ['prog', 'show', '-j']);
  const names = new Map();
  if (r.code !== 0) return names;
  try {
    for (const p of JSON.parse(r.stdout)) names.set(p.id, p.name);
  } catch {
    // leave empty
  }
  return names;
}

/** Ids of every loaded BPF program (for "has this peer loaded its programs yet"). */
export function bpfProgIds() {
  return new Set(bpfProgNames().keys());
}

const STATS_SYSCTL = '/proc/sys/kernel/bpf_stats_enabled';

/** Turns kernel.bpf_stats_enabled on; returns a function that restores the previous value. */
export function enableBpfStats() {
  const before = readFileSync(STATS_SYSCTL, 'utf8').trim();
  writeFileSync(STATS_SYSCTL, '1');
  let restored = false;
  const restore = () => {
    if (restored) return;
    restored = true;
    writeFileSync(STATS_SYSCTL, before);
  };
  return restore;
}

/**
 * Keeps idle CPUs polling instead of halting while the returned release() is not called: a
 * PM QoS request of 0 µs exit latency on /dev/cpu_dma_latency (as cyclictest and tuned's
 * latency-performance profile make), which the kernel drops when the fd closes, so a killed
 * harness cannot leave it behind. On a VM a halted vCPU takes an exit to the hypervisor to
 * wake, and the mount storm waits for such wakeups on every umount: 0.85 s of halt against
 * 0.32 s of polling here, and most of its run-to-run variance (bench/README.md, finding 15).
 * Returns { release, error }; error says why the request could not be made.
 */
export function holdIdlePoll() {
  let fd;
  try {
    fd = openSync('/dev/cpu_dma_latency', 'w');
    const v = Buffer.alloc(4);
    v.writeInt32LE(0);
    writeSync(fd, v);
  } catch (e) {
    if (fd !== undefined) closeSync(fd);
    return { release: () => {}, error: e.message };
  }
  let open = true;
  return {
    release: () => {
      if (open) closeSync(fd);
      open = false;
    },
    error: null,
  };
}

// ---- statistics -------------------------------------------------------------------------

export function median(xs) {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (!v.length) return null;
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

/**
 * 90 % confidence interval of the median, by bootstrap (2,000 resamples, a fixed seed so a
 * results file always reports the same interval). Null under 5 values. With per-round ratios
 * that vary by several percent, it says whether a median near a target is on it or merely near.
 */
export function medianCi90(xs) {
  const v = xs.filter((x) => Number.isFinite(x));
  if (v.length < 5) return null;
  let seed = 0x9e3779b9;
  const rand = () => {
    // mulberry32
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const meds = [];
  const sample = new Array(v.length);
  for (let i = 0; i < 2000; i++) {
    for (let j = 0; j < v.length; j++) sample[j] = v[Math.floor(rand() * v.length)];
    meds.push(median(sample));
  }
  meds.sort((a, b) => a - b);
  return [meds[100], meds[1899]];
}

/** Nearest-rank percentile (p in 0..100) of an array of numbers. */
export function percentile(xs, p) {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (!v.length) return null;
  const rank = Math.min(v.length - 1, Math.max(0, Math.ceil((p / 100) * v.length) - 1));
  return v[rank];
}

export function range(xs) {
  const v = xs.filter((x) => Number.isFinite(x));
  if (!v.length) return null;
  return [Math.min(...v), Math.max(...v)];
}

/**
 * The order of round r: the configurations rotated by r and reversed every other round,
 * with the baseline (named `base`) run twice, just before and just after `paired`: the
 * configuration the targets judge is divided by the mean of two runs next to it, which
 * cancels a linear drift and most of the slower changes of this machine (finding 15).
 * `besides` (the floor, ctrace without mount hooks) run right after that trio (before it in a
 * reversed round), so each is within a run or two of `paired` and can be set against it
 * round by round. The group moves through the order like any configuration. Without `paired`
 * in the list, the baseline runs once, in the rotation.
 */
export function roundOrder(configs, r, base = 'none', paired = 'ctrace', besides = []) {
  const b = configs.find((c) => c.name === base);
  const p = configs.find((c) => c.name === paired);
  const near = b && p ? configs.filter((c) => besides.includes(c.name)) : [];
  const units = b && p
    ? [[b, p, b, ...near], ...configs.filter((c) => c !== b && c !== p && !near.includes(c)).map((c) => [c])]
    : configs.map((c) => [c]);
  const n = units.length;
  const rotated = units.map((_, i) => units[(i + r) % n]);
  return (r % 2 ? rotated.map((u) => [...u].reverse()).reverse() : rotated).flat();
}

/**
 * Voluntary context switches of each thread of a process (tid → count), from
 * /proc/PID/task/TID/status: each is the thread going to sleep, so each one's wake-up after
 * is a wakeup of that thread. Between two snapshots: how often the process was woken.
 */
export function threadSwitches(pid) {
  const out = new Map();
  let tids = [];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const tid of tids) {
    try {
      const m = /^voluntary_ctxt_switches:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8'));
      if (m) out.set(tid, Number(m[1]));
    } catch {
      // the thread ended
    }
  }
  return out;
}

/** Wakeups between two threadSwitches snapshots: all threads, and the thread woken most. */
export function wakeupDelta(before, after) {
  let total = 0;
  let busiest = 0;
  for (const [tid, n] of after) {
    const d = n - (before.get(tid) ?? 0);
    total += d;
    busiest = Math.max(busiest, d);
  }
  return { total, busiest };
}

/**
 * BPF run-time statistics on while the returned release() is not called: `bin` is
 * bench/workloads/bpfstats.c, which holds a BPF_ENABLE_STATS fd (counted, so another process
 * writing 0 to kernel.bpf_stats_enabled cannot turn them off under us) and dies with the
 * harness. Falls back to the sysctl (enableBpfStats) when the fd cannot be had.
 */
export async function holdBpfStats(bin) {
  const child = spawn(bin, [], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stderr.setEncoding('utf8').on('data', (d) => (err += d));
  const ok = await new Promise((resolve) => {
    child.stdout.setEncoding('utf8').on('data', (d) => {
      out += d;
      if (out.includes('ready')) resolve(true);
    });
    child.once('exit', () => resolve(false));
    child.once('error', () => resolve(false));
  });
  if (ok) {
    return {
      via: 'BPF_ENABLE_STATS fd',
      release: () => {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      },
    };
  }
  const restore = enableBpfStats();
  return { via: `kernel.bpf_stats_enabled (${err.trim() || 'bpfstats failed'})`, release: restore };
}
