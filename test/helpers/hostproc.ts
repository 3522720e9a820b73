/**
 * Host processes that look a little like containers and must not be reported as ones:
 * a process in a new PID namespace but the host's cgroups (`unshare -p -f`), and a
 * process in a systemd-style service cgroup (`/system.slice/foo.service`).
 */
import { spawn } from 'node:child_process';
import { makeCgroup, mountedHierarchies } from './cgroups.js';

export interface HostRun {
  /** host pid of the process spawned (for runInCgroup: the process that execs `args`) */
  pid: number;
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
}

function runToExit(cmd: string, argv: string[], timeoutMs: number): Promise<HostRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ pid: child.pid!, code, signal, stdout, stderr });
    });
  });
}

/**
 * `unshare -p -f --mount-proc <args>` from this process's cgroups: `args` runs as PID 1
 * of a new PID namespace (with its own /proc, hence its own mount namespace) on the host.
 * `pid` is unshare's; the process running `args` is its child.
 */
export function runUnsharePidns(args: string[], timeoutMs = 30_000): Promise<HostRun> {
  return runToExit('unshare', ['--pid', '--fork', '--mount-proc', '--', ...args], timeoutMs);
}

/** Where systemd puts a service on a hybrid host: its name=systemd and pids v1 cgroups and the unified one. */
const SERVICE_HIERARCHIES = ['systemd', 'pids', 'unified'];

/**
 * Runs `args` in the cgroup `cgroupRelPath` (e.g. `/system.slice/foo.service`), created
 * for the run in the v1 name=systemd and pids hierarchies and in the unified one (or in
 * `hierarchies`): a shell moves itself in and execs `args`, so `pid` is the pid of the
 * process running `args` and its exec is the first thing it does there. The cgroups
 * (and the parents made for them) are removed after the process has exited.
 */
export async function runInCgroup(
  cgroupRelPath: string,
  args: string[],
  opts: { hierarchies?: string[]; timeoutMs?: number } = {},
): Promise<HostRun> {
  const path = '/' + cgroupRelPath.split('/').filter(Boolean).join('/');
  const mounted = mountedHierarchies();
  const hierarchies = (opts.hierarchies ?? SERVICE_HIERARCHIES).filter((h) => mounted.includes(h));
  if (hierarchies.length === 0) throw new Error(`none of ${opts.hierarchies ?? SERVICE_HIERARCHIES} is mounted under /sys/fs/cgroup`);
  const cg = makeCgroup(path, hierarchies);
  try {
    return await runToExit('/bin/sh', ['-c', `${cg.joinScript()} && exec "$@"`, 'ctrace-incgroup', ...args], opts.timeoutMs ?? 30_000);
  } finally {
    await cg.remove();
  }
}
