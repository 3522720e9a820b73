/**
 * Hand-made cgroups (root only): a directory at the same path in the chosen hierarchies of
 * this host (`unified` for v2, v1 controller names such as `pids`), and processes put
 * into it by the shell itself before it execs, so the exec is the first thing the
 * process does there.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const CGROUP_ROOT = '/sys/fs/cgroup';

/** Hierarchies mounted here, by the name of their directory: 'unified', 'pids', 'memory', ... */
export function mountedHierarchies(): string[] {
  const out: string[] = [];
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const m = / (\/sys\/fs\/cgroup\/[^ ]+) .* - (cgroup2?) /.exec(line);
    if (m) out.push(m[1]!.slice(CGROUP_ROOT.length + 1));
  }
  return out;
}

export interface TestCgroup {
  path: string;
  hierarchies: string[];
  dir(hierarchy: string): string;
  /** `echo $$ > .../cgroup.procs` for every hierarchy: a shell prefix that moves the shell in */
  joinScript(): string;
  /** rmdir, deepest first, retrying while the last processes leave */
  remove(): Promise<void>;
}

export function makeCgroup(path: string, hierarchies: string[]): TestCgroup {
  for (const h of hierarchies) {
    const parts = path.split('/').filter(Boolean);
    for (let depth = 1; depth <= parts.length; depth++) {
      const d = join(CGROUP_ROOT, h, ...parts.slice(0, depth));
      mkdirSync(d, { recursive: true });
      // a new v1 cpuset cgroup has no CPUs and no memory nodes: it takes no task until given its parent's
      if (h === 'cpuset') {
        for (const f of ['cpuset.cpus', 'cpuset.mems']) {
          if (readFileSync(join(d, f), 'utf8').trim() === '') writeFileSync(join(d, f), readFileSync(join(d, '..', f)));
        }
      }
    }
  }
  const dir = (h: string) => join(CGROUP_ROOT, h, path);
  return {
    path,
    hierarchies,
    dir,
    joinScript: () => hierarchies.map((h) => `echo $$ > ${dir(h)}/cgroup.procs`).join(' && '),
    async remove() {
      const parts = path.split('/').filter(Boolean);
      for (const h of hierarchies) {
        for (let depth = parts.length; depth > 0; depth--) {
          const d = join(CGROUP_ROOT, h, ...parts.slice(0, depth));
          for (let i = 0; i < 50 && existsSync(d); i++) {
            try {
              rmdirSync(d);
            } catch {
              if (depth < parts.length) break; // a parent other cgroups still use (/docker): leave it
              await new Promise((r) => setTimeout(r, 100)); // the last processes are still leaving
            }
          }
        }
      }
    },
  };
}

/** A process group of `n` sleeping processes (one shell, n sleeps), started after `prefix` (a shell command). */
export async function spawnSleepers(n: number, prefix = 'true'): Promise<{ shell: ChildProcess; kill(): Promise<void> }> {
  const shell = spawn('/bin/sh', ['-c', `${prefix} && i=0; while [ $i -lt ${n} ]; do sleep 600 & i=$((i+1)); done; echo ready; wait`], {
    detached: true,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve, reject) => {
    shell.stdout!.on('data', (d: Buffer) => d.toString().includes('ready') && resolve());
    shell.on('exit', (code) => reject(new Error(`sleepers shell exited with ${code}`)));
  });
  const exited = new Promise<void>((r) => shell.on('exit', () => r()));
  return {
    shell,
    async kill() {
      try {
        process.kill(-shell.pid!, 'SIGKILL');
      } catch {
        // gone already
      }
      await exited;
      // until the whole group is gone (reaped, not only dead), so a later walk does not count it
      for (let i = 0; i < 100; i++) {
        try {
          process.kill(-shell.pid!, 0);
        } catch {
          return;
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    },
  };
}
