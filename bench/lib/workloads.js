/**
 * The four workloads: an exec storm and a mount storm, each on the host and inside a
 * runc container. Each run gets a tag that makes its own events recognisable in a
 * tracer's output (exec storms pass it as argv[2] of every child, mount storms mount on
 * a directory named after it). Container workloads take the container id as their second
 * argument, so a reader can pick the container's events while it runs.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { dockerId, runContainer } from './container.js';
import { run } from './util.js';

export const WORKLOAD_NAMES = ['exec-host', 'exec-container', 'exec-shell-container', 'mount-host', 'mount-container'];

/** Executions of /bin/true in the shell-loop container storm, as in issue 18's own measurement. */
export const SHELL_EXECS = 3000;

function parseElapsed(stdout, what) {
  const m = /elapsed_ns=(\d+) \w+=(\d+) failed=(\d+)/.exec(stdout);
  if (!m) throw new Error(`${what}: no timing line in output: ${stdout.slice(-300)}`);
  return { elapsedNs: Number(m[1]), ops: Number(m[2]), failed: Number(m[3]) };
}

/**
 * @param {{n:number,w:number,m:number}} size
 * @param {{execstorm:string,mountstorm:string}} bins host paths of the workloads
 * @param {string} rootfs
 */
export function defineWorkloads(size, bins, rootfs) {
  const { n, w, m } = size;
  return {
    'exec-host': {
      kind: 'exec',
      container: false,
      ops: n,
      label: `exec storm, host (${n} execs of /bin/true, ${w} workers)`,
      async run(tag) {
        const r = await run(bins.execstorm, [String(n), String(w), '/bin/true', tag]);
        if (r.code !== 0) throw new Error(`execstorm failed (${r.code}): ${r.stderr}${r.stdout}`);
        return { ...parseElapsed(r.stdout, 'execstorm'), containerId: null };
      },
    },
    'exec-container': {
      kind: 'exec',
      container: true,
      ops: n,
      workers: w,
      label: `exec storm, runc container (${n} execs, ${w} workers)`,
      async run(tag, id = dockerId()) {
        const r = await runContainer({ id, rootfs, args: ['/bench/execstorm', String(n), String(w), '/bin/true', tag] });
        if (r.code !== 0) throw new Error(`execstorm in container failed (${r.code}): ${r.stderr}${r.stdout}`);
        return { ...parseElapsed(r.stdout, 'execstorm'), containerId: r.id };
      },
    },
    'exec-shell-container': {
      // issue 18's shape: a busybox shell loop of /bin/true as a runc container's init, timed
      // by the harness from `runc run` to its exit, so the container's whole life is measured
      // (runc's set-up and tear-down, the shell's forks) and not only a storm inside it
      kind: 'exec',
      container: true,
      shell: true,
      ops: SHELL_EXECS,
      workers: 1,
      label: `busybox shell loop of ${SHELL_EXECS} /bin/true in a runc container, runc run to exit`,
      /** the storm's own execs: /bin/true with this run's tag as its one argument */
      execRe: (tag) => new RegExp(`"argv":\\["/bin/true","${tag}"\\]`),
      async run(tag, id = dockerId()) {
        const loop = `i=0; while [ $i -lt ${SHELL_EXECS} ]; do /bin/true ${tag}; i=$((i+1)); done`;
        const r = await runContainer({ id, rootfs, args: ['/bin/sh', '-c', loop] });
        if (r.code !== 0) throw new Error(`shell loop in container failed (${r.code}): ${r.stderr}${r.stdout}`);
        return { elapsedNs: r.lifeNs, ops: SHELL_EXECS, failed: 0, containerId: r.id };
      },
    },
    'mount-host': {
      kind: 'mount',
      container: false,
      ops: m,
      label: `mount storm, host (${m} x mount+umount tmpfs, private mount ns)`,
      async run(tag) {
        const dir = `/tmp/ctrace-bench-mnt-${tag}`;
        try {
          const r = await run(bins.mountstorm, [String(m), dir]);
          if (r.code !== 0) throw new Error(`mountstorm failed (${r.code}): ${r.stderr}${r.stdout}`);
          return { ...parseElapsed(r.stdout, 'mountstorm'), containerId: null, target: dir };
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      },
    },
    'mount-container': {
      kind: 'mount',
      container: true,
      ops: m,
      label: `mount storm, runc container (${m} x mount+umount tmpfs, CAP_SYS_ADMIN)`,
      async run(tag, id = dockerId()) {
        const dir = `/mnt/b-${tag}`;
        try {
          const r = await runContainer({ id, rootfs, args: ['/bench/mountstorm', String(m), dir], capAdd: ['CAP_SYS_ADMIN'] });
          if (r.code !== 0) throw new Error(`mountstorm in container failed (${r.code}): ${r.stderr}${r.stdout}`);
          return { ...parseElapsed(r.stdout, 'mountstorm'), containerId: r.id, target: dir };
        } finally {
          rmSync(join(rootfs, dir), { recursive: true, force: true });
        }
      },
    },
  };
}
