/**
 * `ctrace inspect <pid>`: which container a host PID belongs to and why — the cgroup
 * the kernel keys it by, the path and the classifier rule that decided — with its PID
 * inside the container, its binary's host path, its namespaces, and the container's
 * names when the runtime's state has them. Pure /proc; no BPF.
 */
import type { Writable } from 'node:stream';
import { CGKEY_V1 } from '../decode/abi.js';
import { escapeControl } from '../util/bytes.js';
import { containerJsonObject } from '../format/json.js';
import { parseProcCgroup } from '../classify/classify.js';
import { resolveBinary, type BinaryInfo } from '../enrich/binary.js';
import { ContainerCatalog } from '../enrich/containers.js';
import type { ContainerMeta } from '../enrich/state.js';
import type { ContainerInfo, Scope } from '../events/event.js';
import { hostPidnsIno } from '../util/host.js';
import { CgroupResolver, readProcInfo } from '../classify/inventory.js';
import { readCgroupText, readNamespaces, readStatus, type Namespaces } from '../util/procfs.js';

export interface InspectResult {
  pid: number;
  /** the thread group the PID belongs to (differs from pid for a thread id) */
  tgid: number;
  ppid: number;
  /** the PID in the process's own (innermost) PID namespace */
  nspid: number;
  /** the PID in every namespace, outermost first (NSpid) */
  nspids: number[];
  uid: number;
  gid: number;
  comm: string;
  argv: string[];
  scope: Scope;
  /** the classifier rule that decided (src/classify/classify.ts RULES) */
  rule: string;
  /** why, in a sentence */
  reason: string;
  /** the cgroup the kernel keys this process by */
  cgroupPath: string;
  cgroupHierarchy: string;
  cgroupV1: boolean;
  /** kernfs id of that cgroup (events' cgroupId); null when it could not be stat()ed */
  cgroupId: number | null;
  /** every line of /proc/PID/cgroup: hierarchy ("unified" or its controllers) → path */
  cgroups: Record<string, string>;
  container: Required<ContainerInfo> | null;
  /** where the runtime keeps the container's state, when found */
  runtimeState: { stateFile: string; kind: string; bundle: string | null; rootfs: string | null; initPid: number | null; created: string | null } | null;
  binary: BinaryInfo | null;
  namespaces: Namespaces & { hostPidNs: boolean };
}

export class NoSuchProcessError extends Error {}

export function inspectPid(pid: number, catalog = new ContainerCatalog({ lookup: 'sync' })): InspectResult {
  const text = readCgroupText(pid);
  const status = text === null ? null : readStatus(pid);
  if (text === null || status === null) throw new NoSuchProcessError(`no process with PID ${pid}`);
  const tgid = status.tgid || pid;
  const cg = new CgroupResolver().resolve(text);
  const info = readProcInfo(tgid, cg);
  if (!info) throw new NoSuchProcessError(`no process with PID ${pid}`);

  const parsed = parseProcCgroup(text);
  const cgroups: Record<string, string> = {};
  if (parsed.v2 !== null) cgroups.unified = parsed.v2;
  for (const h of parsed.v1) cgroups[h.controllers.join(',') || `hierarchy-${h.hierarchyId}`] = h.path;

  let container: Required<ContainerInfo> | null = null;
  let meta: ContainerMeta | null = null;
  if (info.container) {
    const e = catalog.enrich(info.container);
    meta = catalog.peek(info.container.id);
    container = containerJsonObject(e);
  }
  const ns = readNamespaces(tgid);
  const cls = cg.classification;
  const where = `${cg.path} (${cg.hierarchy === 'unified' ? 'cgroup v2' : `cgroup v1 ${cg.hierarchy} hierarchy`})`;
  const reason =
    cls.scope === 'container'
      ? `cgroup ${where} matches rule ${cls.rule}: ${cls.container!.runtime} container ${cls.container!.id}`
      : cls.scope === 'host'
        ? `cgroup ${where} is provably host (rule ${cls.rule})`
        : `cgroup ${where} matches no container rule and is not provably host (${cls.rule})`;

  return {
    pid,
    tgid,
    ppid: info.ppid,
    nspid: info.nspid,
    nspids: status.nspid,
    uid: info.uid,
    gid: info.gid,
    comm: info.comm,
    argv: info.argv,
    scope: cls.scope,
    rule: cls.rule,
    reason,
    cgroupPath: cg.path,
    cgroupHierarchy: cg.hierarchy,
    cgroupV1: cg.v1,
    cgroupId: cg.key === null ? null : Number(cg.key & ~CGKEY_V1),
    cgroups,
    container,
    runtimeState: meta
      ? { stateFile: meta.stateFile, kind: meta.kind, bundle: meta.bundle, rootfs: meta.rootfs, initPid: meta.pid, created: meta.created }
      : null,
    binary: resolveBinary(tgid, meta?.rootfs ?? null, info.startTicks),
    namespaces: { ...ns, hostPidNs: ns.pid !== null && ns.pid === hostPidnsIno() },
  };
}

/** "key: value" lines for a terminal. */
export function formatInspect(r: InspectResult): string {
  const lines: Array<[string, string]> = [
    ['pid', r.tgid === r.pid ? String(r.pid) : `${r.pid} (thread of ${r.tgid})`],
    ['command', r.argv.length ? r.argv.join(' ') : `[${r.comm}]`],
    ['comm', r.comm],
    ['ppid', String(r.ppid)],
    ['pid in container', r.nspids.length > 1 ? `${r.nspid} (NSpid ${r.nspids.join(' ')})` : `${r.nspid} (host PID namespace)`],
    ['uid/gid', `${r.uid}/${r.gid}`],
    ['scope', r.scope],
    ['why', r.reason],
    ['cgroup id', r.cgroupId === null ? '-' : `${r.cgroupId}${r.cgroupV1 ? ' (v1)' : ''}`],
  ];
  if (r.container) {
    const c = r.container;
    lines.push(['container', c.id], ['runtime', c.runtime]);
    if (c.name) lines.push(['name', c.name]);
    if (c.image) lines.push(['image', c.image]);
    if (c.podUid) lines.push(['pod uid', `${c.podUid}${c.qos ? ` (${c.qos})` : ''}`]);
    if (c.podName) lines.push(['pod', c.podNamespace ? `${c.podNamespace}/${c.podName}` : c.podName]);
  }
  if (r.runtimeState) {
    lines.push(['runtime state', `${r.runtimeState.stateFile} (${r.runtimeState.kind})`]);
    if (r.runtimeState.bundle) lines.push(['bundle', r.runtimeState.bundle]);
    if (r.runtimeState.rootfs) lines.push(['rootfs', r.runtimeState.rootfs]);
  }
  if (r.binary) {
    lines.push(['binary', r.binary.exe + (r.binary.deleted ? ' (deleted)' : '')]);
    lines.push(['binary on host', r.binary.hostPath ? `${r.binary.hostPath} (via ${r.binary.via})` : '-']);
  }
  const ns = r.namespaces;
  lines.push(['namespaces', `pid:${ns.pid ?? '-'}${ns.hostPidNs ? ' (host)' : ''} mnt:${ns.mnt ?? '-'} net:${ns.net ?? '-'} cgroup:${ns.cgroup ?? '-'}`]);
  for (const [h, p] of Object.entries(r.cgroups)) lines.push([`cgroup ${h}`, p]);
  const w = Math.max(...lines.map(([k]) => k.length)) + 1;
  return lines.map(([k, v]) => `${(k + ':').padEnd(w)} ${escapeControl(v)}`).join('\n');
}

export function inspectCommand(pid: number, opts: { output: 'table' | 'json' }, out: Writable): number {
  const r = inspectPid(pid);
  out.write((opts.output === 'json' ? JSON.stringify(r) : formatInspect(r)) + '\n');
  return 0;
}
