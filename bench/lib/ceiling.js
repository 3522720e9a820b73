/**
 * The drop-free ceiling: the highest exec rate, with long argv (4 KiB, ctrace's default
 * --argv-max), at which ctrace with its default ring loses nothing. Every storm runs in a
 * runc container (host execs never reach the ring) under a fresh `ctrace run`, whose
 * summary line says how many events were lost.
 *  1. the machine's own limit: the storm unthrottled with two workers and no tracer (the
 *     fastest of a few);
 *  2. the same under ctrace (a few times): if nothing is lost there, the ceiling is the rate
 *     those storms reached (ctrace's own CPU slows them below the machine's limit); and under
 *     `ctrace run -q --log`, whose reader drains on a slower timer (its lines wait for the log
 *     anyway), so a burst leans on the ring's wakeup threshold rather than the timer;
 *  3. otherwise bisection of the rate (execstorm paces its workers) between 0 and the limit.
 */
import { runContainer } from './container.js';
import { startCtrace } from './tracers.js';
import { sleep } from './util.js';

function parse(stdout) {
  const m = /elapsed_ns=(\d+) execs=(\d+) failed=(\d+)/.exec(stdout);
  return m ? { elapsedNs: Number(m[1]), execs: Number(m[2]), failed: Number(m[3]) } : null;
}

/** One storm of `n` execs at `rate` execs/s (0: as fast as it goes), optionally under ctrace. */
async function storm(ctx, { n, workers, argvBytes, rate, traced, ringSize, mode = 'null' }) {
  let ct = null;
  if (traced) {
    ct = await startCtrace({ mode, extraArgs: ringSize ? ['--ring-size', ringSize] : [] });
    ctx.cleanups.add(ct.stop);
  }
  try {
    await sleep(300);
    const r = await runContainer({
      rootfs: ctx.rootfs,
      args: ['/bench/execstorm', String(n), String(workers), '/bin/true', 'bceil', String(argvBytes), String(rate)],
    });
    const t = parse(r.stdout);
    if (!t) throw new Error(`execstorm: ${r.stderr.trim() || r.stdout.trim()}`);
    const out = { n, rate, achievedPerSec: n / (t.elapsedNs / 1e9), elapsedS: t.elapsedNs / 1e9 };
    if (ct) {
      await ct.drain();
      const stop = await ct.stop();
      ctx.cleanups.delete(ct.stop);
      out.lost = stop.summary?.lost ?? null;
      out.events = stop.summary?.events ?? null;
      if (!stop.summary) throw new Error(`no summary line from ctrace: ${stop.stderr.trim().slice(-200)}`);
    }
    return out;
  } catch (e) {
    if (ct) {
      await ct.stop().catch(() => {});
      ctx.cleanups.delete(ct.stop);
    }
    throw e;
  }
}

/**
 * @param {object} ctx {rootfs, log, cleanups, interrupted}
 * @param {object} o {n (execs of the unthrottled storms), seconds (per paced step), workers, argvBytes, steps, ringSize}
 */
export async function ceilingPhase(ctx, o) {
  const base = { workers: o.workers, argvBytes: o.argvBytes, ringSize: o.ringSize };
  // the machine's limit: the fastest of `repeats` bare storms (other work only ever slows one)
  const bares = [];
  for (let i = 0; i < (o.repeats ?? 1) && !ctx.interrupted(); i++) bares.push(await storm(ctx, { ...base, n: o.n, rate: 0, traced: false }));
  const bare = bares.reduce((a, b) => (b.achievedPerSec > a.achievedPerSec ? b : a));
  const limit = bare.achievedPerSec;
  ctx.log(`ceiling: machine limit ${limit.toFixed(0)} execs/s (${o.workers} workers, ${o.argvBytes} B argv, no tracer)`);
  // unthrottled under ctrace, `repeats` times (a loaded machine loses in one storm and not the
  // next): the storm with the most lost is the one reported
  const tries = [];
  for (let i = 0; i < (o.repeats ?? 1) && !ctx.interrupted(); i++) {
    const t = await storm(ctx, { ...base, n: o.n, rate: 0, traced: true });
    ctx.log(`ceiling: unthrottled under ctrace ${t.achievedPerSec.toFixed(0)} execs/s, ${t.lost} lost`);
    tries.push(t);
  }
  const atLimit = tries.reduce((a, b) => (b.lost > a.lost ? b : a));
  // the audit log alone (-q --log): the reader's timer drains every 50 ms there
  const heldTries = [];
  for (let i = 0; i < (o.repeats ?? 1) && !ctx.interrupted(); i++) {
    const t = await storm(ctx, { ...base, n: o.n, rate: 0, traced: true, mode: 'qlog' });
    ctx.log(`ceiling: unthrottled under ctrace -q --log ${t.achievedPerSec.toFixed(0)} execs/s, ${t.lost} lost`);
    heldTries.push(t);
  }
  const heldAtLimit = heldTries.length ? heldTries.reduce((a, b) => (b.lost > a.lost ? b : a)) : null;
  const out = {
    params: { ...o, ringSize: o.ringSize ?? 'default' },
    machineLimitPerSec: limit,
    bare,
    bareTries: bares,
    unthrottled: atLimit,
    unthrottledTries: tries,
    heldUnthrottled: heldAtLimit,
    heldTries,
    steps: [],
  };
  if (atLimit.lost === 0) {
    out.ceilingPerSec = Math.min(...tries.map((t) => t.achievedPerSec));
    out.lossAtLimit = false;
    return out;
  }
  out.lossAtLimit = true;
  // bisection: lo loses nothing (or is 0), hi loses
  let lo = 0;
  let hi = limit;
  for (let i = 0; i < o.steps && !ctx.interrupted(); i++) {
    const rate = Math.round((lo + hi) / 2);
    const s = await storm(ctx, { ...base, n: Math.max(200, Math.round(rate * o.seconds)), rate, traced: true });
    out.steps.push(s);
    ctx.log(`ceiling: ${rate} execs/s asked, ${s.achievedPerSec.toFixed(0)} achieved, ${s.lost} lost`);
    // a paced storm that could not keep its rate is judged by the rate it achieved
    if (s.lost === 0) lo = Math.max(lo, Math.min(rate, s.achievedPerSec));
    else hi = Math.min(rate, s.achievedPerSec);
    if (hi - lo < 0.03 * limit) break;
  }
  out.ceilingPerSec = lo;
  return out;
}
