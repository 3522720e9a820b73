/**
 * The verdict of `ctrace doctor`: host facts (./facts.ts) → one line per check, each `ok`,
 * `warn` (tracing works, something is degraded or worth knowing) or `fail` (tracing would
 * not start). Pure, so every branch is testable without the host it describes.
 */
import { CAP, CAPABILITIES, CAPABILITY_TEXT, canLoadBpf } from '../util/capabilities.js';
import { BTF_PATH, HOOKS, type HostFacts } from './facts.js';

export type Status = 'ok' | 'warn' | 'fail';

export interface Check {
  name: string;
  status: Status;
  detail: string;
}

export type CgroupMode = 'v2' | 'v1' | 'hybrid' | 'none';

/** The ring buffer ctrace asks for (src/tracer/tracer.ts default), and what its maps add. */
const RING_BYTES = 8 << 20;
const MEMLOCK_NEEDED = 16 << 20;

const MiB = (n: number) => `${(n / (1 << 20)).toFixed(1).replace(/\.0$/, '')} MiB`;

export function kernelVersion(release: string): [number, number] {
  const m = /^(\d+)\.(\d+)/.exec(release);
  return m ? [Number(m[1]), Number(m[2])] : [0, 0];
}

const atLeast = (release: string, major: number, minor: number) => {
  const [a, b] = kernelVersion(release);
  return a > major || (a === major && b >= minor);
};

/** v2: only the unified hierarchy; v1: only controllers; hybrid: v1 controllers with cgroup2 beside them. */
export function cgroupMode(facts: Pick<HostFacts, 'cgroups'>): CgroupMode {
  const v1 = facts.cgroups.v1.size > 0;
  const v2 = facts.cgroups.v2 !== null;
  return v1 && v2 ? 'hybrid' : v1 ? 'v1' : v2 ? 'v2' : 'none';
}

function has(facts: HostFacts, cap: bigint): boolean {
  return facts.caps === -1n || (facts.caps & (1n << cap)) !== 0n;
}

function privileges(f: HostFacts): Check {
  const who = f.uid === 0 ? 'root' : `uid ${f.uid}`;
  const missing = CAPABILITIES.filter((c) => !has(f, CAP[c]));
  if (!canLoadBpf(f.caps)) {
    return { name: 'privileges', status: 'fail', detail: `${who} lacks ${missing.join(', ')}: run as root, or with ${CAPABILITY_TEXT}` };
  }
  const detail = missing.length ? `${who}, without ${missing.join(', ')}` : `${who} with ${CAPABILITY_TEXT}`;
  return { name: 'privileges', status: 'ok', detail };
}

function tracefs(f: HostFacts): Check {
  const t = f.tracefs;
  const mode = t.mode === null ? '' : ` (mode ${t.mode.toString(8).padStart(4, '0')})`;
  if (t.accessError === null) return { name: 'tracefs', status: 'ok', detail: `${t.path}${mode}, readable` };
  if (t.mounted && t.accessError === 'EACCES') {
    return {
      name: 'tracefs',
      status: 'fail',
      detail: `${t.path} is mounted${mode} but this user may not read it: run as root, or with ${CAPABILITY_TEXT}`,
    };
  }
  if (!t.mounted && has(f, CAP.CAP_SYS_ADMIN)) {
    return { name: 'tracefs', status: 'warn', detail: `not mounted at ${t.path}: ctrace mounts it (it holds CAP_SYS_ADMIN)` };
  }
  return {
    name: 'tracefs',
    status: 'fail',
    detail: t.mounted ? `${t.path}: ${t.accessError}` : `not mounted at ${t.path}: mount -t tracefs nodev ${t.path} (as root)`,
  };
}

function hooks(f: HostFacts): Check[] {
  return HOOKS.map((h) => {
    const present = f.hooks[h.name];
    const where = h.section.startsWith('tp_btf/') ? 'BTF tracepoint' : 'tracepoint';
    const name = `hook ${h.name}`;
    if (present === true) return { name, status: 'ok', detail: `${where} present` };
    const what = present === null ? `${where} not checkable (see ${h.section.startsWith('tp_btf/') ? 'BTF' : 'tracefs'})` : `${where} missing`;
    if (h.required) return { name, status: 'fail', detail: `${what}: required` };
    return { name, status: 'warn', detail: `${what}: optional, ${h.name.replace('sys_exit_', '')} calls are not traced` };
  });
}

export function runChecks(f: HostFacts): Check[] {
  const checks: Check[] = [];
  const kernelOk = atLeast(f.kernel, 5, 8);
  checks.push({ name: 'kernel', status: kernelOk ? 'ok' : 'fail', detail: `${f.kernel}${kernelOk ? '' : ': needs Linux >= 5.8 (BPF ring buffer, BTF)'}` });
  checks.push(
    !f.btf.present
      ? { name: 'BTF', status: 'fail', detail: `${BTF_PATH} missing: needs a kernel built with CONFIG_DEBUG_INFO_BTF=y` }
      : !f.btf.readable
        ? { name: 'BTF', status: 'fail', detail: `${BTF_PATH} is not readable by this user` }
        : { name: 'BTF', status: 'ok', detail: `${BTF_PATH} (${MiB(f.btf.bytes)}): one CO-RE object fits this kernel` },
  );
  checks.push(privileges(f));
  checks.push(tracefs(f));
  checks.push(...hooks(f));
  checks.push({
    name: 'ring buffer',
    status: kernelOk ? 'ok' : 'fail',
    detail: kernelOk ? `BPF ring buffer available, ${MiB(RING_BYTES)} per tracer` : 'BPF ring buffers need Linux >= 5.8',
  });
  // From 5.11 BPF memory is charged to the memory cgroup and RLIMIT_MEMLOCK no longer applies.
  const memlock = f.memlock === null ? 'unlimited' : MiB(f.memlock);
  if (atLeast(f.kernel, 5, 11)) {
    checks.push({ name: 'memlock', status: 'ok', detail: `${memlock}; not used for BPF memory on Linux >= 5.11 (memory cgroup accounting)` });
  } else {
    const enough = f.memlock === null || f.memlock >= MEMLOCK_NEEDED || has(f, CAP.CAP_SYS_RESOURCE);
    checks.push({
      name: 'memlock',
      status: enough ? 'ok' : 'fail',
      detail: enough ? memlock : `${memlock}: this kernel charges BPF maps to RLIMIT_MEMLOCK; raise it to ${MiB(MEMLOCK_NEEDED)} or more (ulimit -l, LimitMEMLOCK=), or grant CAP_SYS_RESOURCE (libbpf raises it then)`,
    });
  }
  const mode = cgroupMode(f);
  const where = [f.cgroups.v2 ? `cgroup2 at ${f.cgroups.v2.mountpoint}` : '', f.cgroups.v1.size ? `${f.cgroups.v1.size} v1 hierarchies` : '']
    .filter(Boolean)
    .join(', ');
  checks.push(
    mode === 'none'
      ? { name: 'cgroups', status: 'fail', detail: 'no cgroup hierarchy mounted: containers cannot be told apart' }
      : { name: 'cgroups', status: 'ok', detail: `${mode} (${where})` },
  );
  const { stateDirs, binaries } = f.runtimes;
  checks.push({
    name: 'runtimes',
    status: 'ok',
    detail:
      [binaries.length ? binaries.join(', ') : 'no runtime binary on PATH', stateDirs.length ? `state in ${stateDirs.join(', ')}` : 'no state directory'].join('; '),
  });
  const total = Object.values(f.containers).reduce((a, b) => a + b, 0);
  const by = Object.entries(f.containers)
    .map(([r, n]) => `${n} ${r}`)
    .join(', ');
  checks.push({ name: 'containers', status: 'ok', detail: total ? `${total} running (${by})` : 'none running' });
  checks.push(
    f.addon.error === null
      ? { name: 'addon', status: 'ok', detail: `${f.addon.path} loads` }
      : { name: 'addon', status: 'fail', detail: f.addon.error },
  );
  return checks;
}
