/**
 * `--scale`: how ctrace's memory, start-up and cost per event grow with the host it watches.
 * Three set-ups, each with its own ctrace:
 *  - N live containers (1, 100, 1,000): a few real runc containers with a sleeping init, the
 *    rest cheap equivalents: a cgroup /docker/<64 hex> in the v2 hierarchy and in the v1
 *    hierarchy ctrace keys on, holding a process that is PID 1 of its own PID namespace
 *    (bench/workloads/cgholders.c). Measures start-up (the process walk ctrace reports, and
 *    spawn to its "tracing" line), peak RSS, and ctrace's CPU per event over a fixed exec
 *    storm in one more (runc) container;
 *  - M host processes (10,000): the start-up walk;
 *  - K short-lived cgroups (20,000), each created, given one exec, removed, while ctrace
 *    runs: RSS before, during (sampled) and after.
 * Every cgroup this makes has an id beginning with cbe0c0de; clean-up removes them all,
 * including those an interrupted run left.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { REPO_ROOT } from './build.js';
import { runContainer, startDetached } from './container.js';
import { startCtrace } from './tracers.js';
import { cpuNs, median, peakRssFromNow, run, sleep, statusKb } from './util.js';

export const SCALE_ID_PREFIX = 'cbe0c0de';
const CG = '/sys/fs/cgroup';

/** The hierarchies a scale cgroup is made in: v2, and the v1 controller ctrace keys on (src/host.ts). */
export async function cgroupRoots() {
  const { v1SubsysId } = await import(pathToFileURL(join(REPO_ROOT, 'dist', 'util', 'host.js')).href);
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8');
  const roots = [];
  const v2 = [...mounts.matchAll(/ (\/sys\/fs\/cgroup[^ ]*) .* - cgroup2 /g)].map((m) => m[1]);
  if (v2.length) roots.push(v2[0]);
  const v1 = v1SubsysId().name;
  if (v1 && mounts.includes(` ${join(CG, v1)} `) && !roots.includes(join(CG, v1))) roots.push(join(CG, v1));
  for (const r of roots) mkdirSync(join(r, 'docker'), { recursive: true });
  return roots;
}

/** A 64-hex container id the clean-up recognises. */
export function scaleId(seq) {
  return SCALE_ID_PREFIX + process.pid.toString(16).padStart(8, '0') + seq.toString(16).padStart(48, '0');
}

/** Whether a scale id belongs to another bench still running (its pid is in the id). */
function othersLive(id) {
  const pid = parseInt(id.slice(SCALE_ID_PREFIX.length, SCALE_ID_PREFIX.length + 8), 16);
  if (pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

const syncSleep = (ms) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

/** Removes every scale cgroup in these hierarchies, killing what is still in it. Returns how many. */
export function removeScaleCgroups(roots) {
  let n = 0;
  for (const r of roots) {
    const dir = join(r, 'docker');
    let names = [];
    try {
      names = readdirSync(dir).filter((d) => d.startsWith(SCALE_ID_PREFIX) && /^[0-9a-f]{64}$/.test(d) && !othersLive(d));
    } catch {
      continue;
    }
    for (const d of names) {
      const cg = join(dir, d);
      for (let i = 0; i < 50; i++) {
        try {
          for (const pid of readFileSync(join(cg, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean)) {
            try {
              process.kill(Number(pid), 'SIGKILL');
            } catch {
              // gone
            }
          }
          rmdirSync(cg);
          n++;
          break;
        } catch (e) {
          if (e.code === 'ENOENT') break;
          syncSleep(20); // its last processes are still leaving
        }
      }
    }
  }
  return n;
}

/** Starts `cgholders` with `args`, feeding it `input`; resolves when it prints "ready". */
async function startHolder(bin, args, input = '') {
  const child = spawn(bin, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stderr.setEncoding('utf8').on('data', (d) => (err += d));
  child.stdin.end(input);
  await new Promise((resolve, reject) => {
    child.stdout.setEncoding('utf8').on('data', (d) => {
      out += d;
      if (/ready \d+/.test(out)) resolve();
    });
    child.once('exit', (code) => reject(new Error(`cgholders ${args[0]} exited (${code}) before ready: ${err.trim()}`)));
  });
  return {
    pid: child.pid,
    async kill() {
      if (child.exitCode === null && child.signalCode === null) {
        const gone = new Promise((r) => child.once('exit', r));
        child.kill('SIGKILL'); // its children have PR_SET_PDEATHSIG
        await gone;
      }
    },
  };
}

/**
 * @param {object} ctx {bins, rootfs, log, cleanups:Set, interrupted:()=>boolean}
 * @param {object} opts {containers:number[], runc:number, hostProcs:number, churn:number, storm:number, workers:number}
 */
export async function scalePhase(ctx, opts) {
  const { bins, rootfs, log, cleanups } = ctx;
  const roots = await cgroupRoots();
  const leftover = removeScaleCgroups(roots);
  if (leftover) log(`scale: removed ${leftover} cgroups an earlier run left`);
  const out = { roots, params: opts, containers: [], hostProcesses: null, churn: null };
  let seq = 0;

  for (const n of opts.containers) {
    if (ctx.interrupted()) break;
    const real = Math.min(opts.runc, n);
    log(`scale: ${n} live containers (${real} runc, ${n - real} cgroup + PID namespace)`);
    const live = [];
    const tidy = async () => {
      for (const x of live.splice(0).reverse()) await x.remove();
      removeScaleCgroups(roots);
    };
    cleanups.add(tidy);
    try {
      for (let i = 0; i < real; i++) {
        const c = await startDetached({ rootfs, args: ['/bin/sleep', '3600'], id: scaleId(seq++) });
        live.push({ remove: async () => c.remove() });
      }
      if (n - real > 0) {
        const lines = [];
        for (let i = 0; i < n - real; i++) {
          const id = scaleId(seq++);
          for (const r of roots) mkdirSync(join(r, 'docker', id));
          lines.push(roots.map((r) => join(r, 'docker', id)).join(' '));
        }
        const h = await startHolder(bins.cgholders, ['hold'], lines.join('\n') + '\n');
        live.push({ remove: () => h.kill() });
      }
      out.containers.push({ containers: n, runc: real, ...(await measureUnderLoad(ctx, opts)) });
    } catch (e) {
      out.containers.push({ containers: n, runc: real, error: e.message.split('\n').slice(0, 3).join(' | ') });
    } finally {
      await tidy();
      cleanups.delete(tidy);
    }
  }

  if (opts.hostProcs > 0 && !ctx.interrupted()) {
    log(`scale: ${opts.hostProcs} host processes`);
    let h = null;
    const tidy = async () => h?.kill();
    cleanups.add(tidy);
    try {
      h = await startHolder(bins.cgholders, ['hosts', String(opts.hostProcs)]);
      const ct = await startCtrace({ mode: 'null' });
      cleanups.add(ct.stop);
      const startup = ct.startup();
      const stop = await ct.stop();
      cleanups.delete(ct.stop);
      out.hostProcesses = { processes: opts.hostProcs, startup, attachMs: ct.attachMs, hwmKb: stop.hwmKb };
    } catch (e) {
      out.hostProcesses = { processes: opts.hostProcs, error: e.message.split('\n')[0] };
    } finally {
      await tidy();
      cleanups.delete(tidy);
    }
  }

  if (opts.churn > 0 && !ctx.interrupted()) {
    log(`scale: ${opts.churn} short-lived cgroups`);
    const tidy = async () => removeScaleCgroups(roots);
    cleanups.add(tidy);
    try {
      out.churn = await churn(ctx, opts, roots);
    } catch (e) {
      out.churn = { cgroups: opts.churn, error: e.message.split('\n')[0] };
    } finally {
      await tidy();
      cleanups.delete(tidy);
    }
  }
  return out;
}

/** Measured storms per point of the curve. */
const STORM_REPEATS = 3;

/** One ctrace over the live containers: start-up, the fixed storm, memory. */
async function measureUnderLoad(ctx, opts) {
  // stdout to a pipe the harness reads: its line count is the events of the measured storm
  const ct = await startCtrace({ mode: 'pipe' });
  ctx.cleanups.add(ct.stop);
  try {
    const startup = ct.startup();
    const rss = peakRssFromNow(ct.pid);
    const storm = (n) =>
      runContainer({ rootfs: ctx.rootfs, args: ['/bench/execstorm', String(n), String(opts.workers), '/bin/true', 'bscale'] });
    // a warm-up storm first: the first events after attach pay for JIT compilation and the
    // start-up's garbage, which is not what grows with the number of containers
    await storm(Math.min(500, opts.storm));
    await ct.drain();
    // the storm STORM_REPEATS times: one storm's CPU per event varies by ±20 % here, more
    // than the flatness it is read for; the median of the storms is the point's figure
    const perStorm = [];
    let events = 0;
    let cpuStormNs = 0;
    for (let i = 0; i < STORM_REPEATS; i++) {
      const events0 = ct.lines();
      const cpu0 = ct.cpuNs();
      const r = await storm(opts.storm);
      if (r.code !== 0) throw new Error(`execstorm failed (${r.code}): ${r.stderr}`);
      await ct.drain();
      const cpu = ct.cpuNs() - cpu0;
      const n = ct.lines() - events0;
      events += n;
      cpuStormNs += cpu;
      if (n) perStorm.push(cpu / n / 1e3);
    }
    const rssKb = statusKb(ct.pid, 'VmRSS');
    const stop = await ct.stop();
    ctx.cleanups.delete(ct.stop);
    return {
      startup,
      attachMs: ct.attachMs,
      startupMs: startup?.elapsedMs ?? null,
      startupHwmKb: rss.startKb,
      hwmKb: Math.max(rss.startKb ?? 0, stop.hwmKb ?? 0) || null,
      rssKb,
      stormExecs: opts.storm,
      events,
      eventsInRun: stop.summary?.events ?? null,
      lost: stop.summary?.lost ?? null,
      cpuStormNs,
      cpuPerEventUs: perStorm.length ? median(perStorm) : null,
      cpuPerEventUsRange: perStorm.length ? [Math.min(...perStorm), Math.max(...perStorm)] : null,
    };
  } catch (e) {
    await ct.stop().catch(() => {});
    ctx.cleanups.delete(ct.stop);
    throw e;
  }
}

/** Least-squares slope of RSS over time, KB per second (null under two samples). */
export function slopeKbPerS(samples) {
  const xs = samples.filter((x) => x.rssKb != null);
  if (xs.length < 2) return null;
  const mt = xs.reduce((a, x) => a + x.s, 0) / xs.length;
  const mr = xs.reduce((a, x) => a + x.rssKb, 0) / xs.length;
  let num = 0;
  let den = 0;
  for (const x of xs) {
    num += (x.s - mt) * (x.rssKb - mr);
    den += (x.s - mt) ** 2;
  }
  return den > 0 ? num / den : null;
}

/** Short-lived cgroups under one ctrace, its RSS sampled every 500 ms (nothing here is timed). */
async function churn(ctx, opts, roots) {
  const ct = await startCtrace({ mode: 'null' });
  ctx.cleanups.add(ct.stop);
  try {
    await sleep(500);
    const beforeKb = statusKb(ct.pid, 'VmRSS');
    const cpu0 = cpuNs(ct.pid);
    const samples = [];
    const t0 = performance.now();
    let done = false;
    const job = run(ctx.bins.cgholders, ['churn', String(opts.churn), '/bin/true', ...roots]).finally(() => (done = true));
    while (!done) {
      await sleep(500);
      samples.push({ s: Math.round(performance.now() - t0) / 1000, rssKb: statusKb(ct.pid, 'VmRSS') });
    }
    const r = await job;
    const m = /elapsed_ns=(\d+) cgroups=(\d+) failed=(\d+)/.exec(r.stdout);
    await ct.drain();
    const cpu1 = cpuNs(ct.pid);
    const afterKb = statusKb(ct.pid, 'VmRSS');
    await sleep(2000);
    const settledKb = statusKb(ct.pid, 'VmRSS');
    const stop = await ct.stop();
    ctx.cleanups.delete(ct.stop);
    const third = Math.max(1, Math.floor(samples.length / 3));
    const maxOf = (xs) => Math.max(0, ...xs.map((x) => x.rssKb ?? 0));
    const rate = m && Number(m[1]) > 0 ? Number(m[2]) / (Number(m[1]) / 1e9) : null; // cgroups per second
    const events = stop.summary?.events ?? null;
    return {
      cgroups: opts.churn,
      failed: m ? Number(m[3]) : null,
      elapsedS: m ? Number(m[1]) / 1e9 : null,
      beforeKb,
      duringMaxKb: maxOf(samples),
      afterKb,
      settledKb,
      hwmKb: stop.hwmKb,
      // bounded, not growing: the first third is the warm-up (V8 grows its heap to its plateau
      // over the first ~10,000 cgroups here), so the last third is judged against the middle
      // one, and the slope over the last two thirds says what a leak per cgroup would look like
      firstThirdMaxKb: maxOf(samples.slice(0, third)),
      middleThirdMaxKb: maxOf(samples.slice(third, samples.length - third)),
      lastThirdMaxKb: maxOf(samples.slice(-third)),
      slopeKbPer1000: rate ? slopeKbPerS(samples.slice(third)) / rate * 1000 : null,
      samples,
      events,
      lost: stop.summary?.lost ?? null,
      cpuPerEventUs: events ? (cpu1 - cpu0) / events / 1e3 : null,
      error: r.code !== 0 ? `cgholders churn exited ${r.code}: ${r.stderr.trim().slice(-200)}` : undefined,
    };
  } catch (e) {
    await ct.stop().catch(() => {});
    ctx.cleanups.delete(ct.stop);
    throw e;
  }
}
