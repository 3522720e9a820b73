/**
 * The tracer configurations a workload runs under: none, `ctrace run` (stdout to
 * /dev/null, to a pipe the harness reads, or with --log to a file) and the peers from
 * Debian. Each start() resolves once the tracer is attached; stop() ends it and says
 * what it delivered and lost.
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { BUILD_DIR, REPO_ROOT } from './build.js';
import { bpfProgCounters, cpuNs, cpuNsByThread, monoNowNs, runSync, sleep, statusKb } from './util.js';

export const OUT_DIR = join(BUILD_DIR, 'out');
const CTRACE_BIN = join(REPO_ROOT, 'bin', 'ctrace.js');
/** The node flags of bin/ctrace.js's `#!/usr/bin/env -S node ...` line: how the installed `ctrace` runs. */
const INSTALLED_NODE_FLAGS = (/^#!.*\bnode\b(.*)$/m.exec(readFileSync(CTRACE_BIN, 'utf8').split('\n')[0] ?? '')?.[1] ?? '').split(/\s+/).filter(Boolean);
const SUMMARY_RE = /stopped \([^)]*\): (\d+) events \(exec (\d+), exit (\d+), mount (\d+)\), (\d+) lost/;
const READY_RE = /tracing .*\(hooks: /;

/** Whether this build of `ctrace run` has an option (e.g. --log), from its --help. */
export function ctraceHasOption(opt) {
  const r = runSync(process.execPath, [CTRACE_BIN, 'run', '--help'], { cwd: REPO_ROOT });
  return r.code === 0 && new RegExp(`(^|[\\s,])${opt}[\\s=<,]`, 'm').test(r.stdout);
}

/** Tracer processes this harness started and that have not exited: an interrupted run kills them. */
export const liveChildren = new Set();
function track(child) {
  liveChildren.add(child);
  child.once('exit', () => liveChildren.delete(child));
  return child;
}

function waitExit(child, timeoutMs) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), timeoutMs);
    child.once('exit', () => {
      clearTimeout(t);
      resolve(true);
    });
  });
}

async function stopChild(child, signal = 'SIGINT', timeoutMs = 15_000) {
  if (child.exitCode === null && child.signalCode === null) child.kill(signal);
  if (!(await waitExit(child, timeoutMs))) {
    child.kill('SIGKILL');
    await waitExit(child, 5_000);
    return false;
  }
  return true;
}

/** fds of kinds that show BPF attachment (programs, links, perf events) */
function attachFds(pid) {
  let n = 0;
  let progs = 0;
  try {
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      let l;
      try {
        l = readlinkSync(`/proc/${pid}/fd/${fd}`);
      } catch {
        continue;
      }
      if (l === 'anon_inode:bpf-prog') progs++;
      if (l === 'anon_inode:bpf-prog' || l === 'anon_inode:bpf_link' || l === 'anon_inode:[perf_event]') n++;
    }
  } catch {
    return null;
  }
  return { n, progs };
}

// ---- ctrace -------------------------------------------------------------------------------

const STARTUP_RE = /(\d+) running processes classified \((\d+) in containers, (\d+) cgroups pre-loaded\) in (\d+) ms/;

/** `N running processes classified (C in containers, G cgroups pre-loaded) in T ms` (src/commands/run.ts). */
export function parseStartup(stderr) {
  const m = STARTUP_RE.exec(stderr);
  return m ? { processes: +m[1], containerProcesses: +m[2], cgroups: +m[3], elapsedMs: +m[4] } : null;
}

/**
 * `ctrace run --output json`. mode: 'null' (stdout to /dev/null), 'pipe' (the harness
 * reads every line: delivered counts and exec→line latency), 'file' (stdout to a file: the same
 * bytes to disk as the log), 'log' (--log <file>, stdout to /dev/null), 'qlog' (`--quiet --log
 * <file>`: the log alone).
 */
export async function startCtrace({ mode = 'null', extraArgs = [], onLine } = {}) {
  mkdirSync(OUT_DIR, { recursive: true });
  const logFile = join(OUT_DIR, 'ctrace-bench.log');
  // BENCH_CTRACE_NODE_ARGS: node flags for the ctrace process, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof"
  const nodeArgs = [...INSTALLED_NODE_FLAGS, ...(process.env.BENCH_CTRACE_NODE_ARGS ?? '').split(' ').filter(Boolean)];
  const args = [...nodeArgs, CTRACE_BIN, 'run', ...(mode === 'qlog' ? ['--quiet'] : ['--output', 'json']), ...extraArgs];
  if (mode === 'log' || mode === 'qlog') {
    rmSync(logFile, { force: true });
    for (const f of existsSync(OUT_DIR) ? readdirSync(OUT_DIR) : []) if (f.startsWith('ctrace-bench.log')) rmSync(join(OUT_DIR, f), { force: true });
    args.push('--log', logFile);
  }
  const outFile = join(OUT_DIR, 'ctrace-bench.out');
  const nullFd = mode === 'pipe' ? null : openSync(mode === 'file' ? outFile : '/dev/null', 'w');
  const child = track(
    spawn(process.execPath, args, {
      cwd: REPO_ROOT,
      stdio: ['ignore', nullFd ?? 'pipe', 'pipe'],
    }),
  );
  if (nullFd !== null) closeSync(nullFd);
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d));
  let lines = 0;
  if (mode === 'pipe') {
    let partial = '';
    child.stdout.setEncoding('utf8').on('data', (d) => {
      const at = monoNowNs();
      const parts = (partial + d).split('\n');
      partial = parts.pop();
      lines += parts.length;
      if (onLine) for (const l of parts) onLine(l, at);
    });
  }
  const startedAt = performance.now();
  await new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`ctrace did not attach within 60 s:\n${stderr}`)), 60_000);
    const check = () => {
      if (READY_RE.test(stderr)) {
        clearTimeout(t);
        child.stderr.off('data', check);
        resolve();
      }
    };
    child.stderr.on('data', check);
    child.once('exit', (code) => {
      clearTimeout(t);
      reject(new Error(`ctrace exited (${code}) before attaching:\n${stderr.trim()}`));
    });
  });
  const attachMs = performance.now() - startedAt;
  const pid = child.pid;

  return {
    name: 'ctrace',
    pid,
    attachMs,
    lines: () => lines,
    stderr: () => stderr,
    /** ctrace's start-up report: the process walk (src/tracer.ts StartupReport), or null */
    startup: () => parseStartup(stderr),
    cpuNs: () => cpuNs(pid),
    /** CPU ns by thread group (JS main thread, poll thread, the rest) */
    cpuByThread: () => cpuNsByThread(pid),
    bpf: () => bpfProgCounters(pid),
    /** waits until ctrace has gone quiet: its CPU time stops moving (or `until()` holds) */
    async drain({ until, maxMs = 15_000 } = {}) {
      const t0 = performance.now();
      let last = cpuNs(pid);
      let still = 0;
      await sleep(60);
      while (performance.now() - t0 < maxMs) {
        if (until && until()) break;
        await sleep(50);
        const c = cpuNs(pid);
        if (c === last) {
          if (++still >= 3 && !until) break;
        } else still = 0;
        last = c;
      }
    },
    async stop() {
      const hwmKb = statusKb(pid, 'VmHWM');
      const cpu = cpuNs(pid);
      // SIGTERM, not SIGINT: a harness started from a non-interactive shell's background
      // job passes SIGINT on ignored, and ctrace then would not stop
      const clean = await stopChild(child, 'SIGTERM');
      const m = SUMMARY_RE.exec(stderr);
      const res = {
        clean,
        exitCode: child.exitCode,
        hwmKb,
        cpuNs: cpu,
        stderr,
        summary: m
          ? { events: +m[1], exec: +m[2], exit: +m[3], mount: +m[4], lost: +m[5] }
          : null,
        lostLines: [...stderr.matchAll(/(\d+) events lost/g)].map((x) => +x[1]),
      };
      if (mode === 'log' || mode === 'qlog') res.logFile = logFile;
      if (mode === 'file') rmSync(outFile, { force: true });
      return res;
    },
  };
}

// ---- peers --------------------------------------------------------------------------------

/**
 * The syscall tracepoints ctrace's mount hooks attach to, read from the BPF source. Any program
 * on a syscall tracepoint turns on the kernel's slower syscall path for every task, so a count
 * on these measures what tracing mounts costs on a kernel without kprobes, fentry or BPF-LSM.
 */
export function ctraceSyscallTracepoints() {
  const src = readFileSync(join(REPO_ROOT, 'bpf', 'ctrace.bpf.c'), 'utf8');
  return [...src.matchAll(/SEC\("tp\/syscalls\/(\w+)"\)/g)].map((m) => m[1]);
}

/** Peer command lines. Output goes to a file (counted afterwards), stderr to another. */
export function peerCommand(name, bins) {
  switch (name) {
    case 'execsnoop':
      return [bins.execsnoop, []];
    case 'exitsnoop':
      return [bins.exitsnoop, []];
    case 'mountsnoop':
      return [bins.mountsnoop, []];
    case 'bpftrace':
      return [
        bins.bpftrace,
        ['-e', 'tracepoint:syscalls:sys_enter_execve { printf("%d %s %s\\n", pid, comm, str(args->filename)); }'],
      ];
    case 'floor':
      // the least any tracer of mounts pays here: a count on the same syscall tracepoints
      return [bins.floor, ['-e', `${ctraceSyscallTracepoints().map((t) => `tracepoint:syscalls:${t}`).join(',')} { @hits = count(); }`]];
    default:
      throw new Error(`unknown peer ${name}`);
  }
}

/**
 * Starts a peer tracer with stdout and stderr to files. Attached = its BPF programs,
 * links and perf events are open and their number has stopped changing for 300 ms, plus
 * a 200 ms settle (the peers print their header before they poll, into a buffered file).
 */
export async function startPeer(name, bins) {
  mkdirSync(OUT_DIR, { recursive: true });
  const outFile = join(OUT_DIR, `${name}.out`);
  const errFile = join(OUT_DIR, `${name}.err`);
  const [cmd, args] = peerCommand(name, bins);
  const out = openSync(outFile, 'w');
  const err = openSync(errFile, 'w');
  const child = track(spawn(cmd, args, { stdio: ['ignore', out, err] }));
  closeSync(out);
  closeSync(err);
  const t0 = performance.now();
  let last = -1;
  let stableSince = performance.now();
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`${name} exited (${child.exitCode ?? child.signalCode}) before attaching: ${readFileSync(errFile, 'utf8').trim().slice(-400)}`);
    }
    if (performance.now() - t0 > 60_000) {
      await stopChild(child, 'SIGKILL');
      throw new Error(`${name} did not attach within 60 s`);
    }
    const a = attachFds(child.pid);
    if (a && a.n !== last) {
      last = a.n;
      stableSince = performance.now();
    } else if (a && a.progs > 0 && performance.now() - stableSince >= 300) break;
    await sleep(25);
  }
  await sleep(200);
  const attachMs = performance.now() - t0;
  return {
    name,
    pid: child.pid,
    attachMs,
    cpuNs: () => cpuNs(child.pid),
    /** at least 300 ms, then until its CPU time stops moving (it may still be printing) */
    async drain({ maxMs = 15_000 } = {}) {
      const t0 = performance.now();
      await sleep(300);
      let last = cpuNs(child.pid);
      let still = 0;
      while (performance.now() - t0 < maxMs && still < 3) {
        await sleep(50);
        const c = cpuNs(child.pid);
        still = c === last ? still + 1 : 0;
        last = c;
      }
    },
    async stop() {
      const hwmKb = statusKb(child.pid, 'VmHWM');
      const cpu = cpuNs(child.pid);
      const clean = await stopChild(child, 'SIGINT');
      const stdout = readFileSync(outFile, 'utf8');
      const stderr = readFileSync(errFile, 'utf8');
      const lost = [...(stdout + '\n' + stderr).matchAll(/lost (\d+) (?:events|samples)/gi)].reduce((s, m) => s + Number(m[1]), 0);
      return { clean, exitCode: child.exitCode, hwmKb, cpuNs: cpu, stdout, stderr, lost };
    },
  };
}

/** Whether a peer starts and attaches here; resolves null when it does, else the reason. */
export async function probePeer(name, bins) {
  if (!bins[name]) return 'not installed';
  try {
    const p = await startPeer(name, bins);
    const r = await p.stop();
    if (!r.clean) return 'did not stop on SIGINT';
    return null;
  } catch (e) {
    return e.message.split('\n')[0];
  }
}
