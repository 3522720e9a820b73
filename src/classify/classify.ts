/**
 * Cgroup path → container attribution (DESIGN.md, "Classification").
 *
 * Pure functions over strings: no I/O, no hidden state. Every decision comes from one
 * table, RULES, read from the leaf of the path upwards, so the innermost container wins:
 * in `/docker/<A>/docker/<B>` the process runs in B, and B is the container whose
 * processes we see (A only holds B's runtime). A path that matches no container row is
 * `host` only when a host row proves it, and only when the path is complete; everything
 * else is `unknown`, reported, never hidden.
 *
 * Paths are relative to the hierarchy root and look the same in cgroup v1 (any
 * controller's hierarchy) and v2. A path may be cut at the top by the kernel, which
 * captures only the last few components: such a path is written `…/<last>/<components>`.
 * Container rows can still match it (they look at the leaf end); it can never be host.
 */
import type { ContainerInfo, QosClass, Runtime, Scope } from '../events/event.js';

/** What a cgroup path tells about a container; enrichment (src/enrich/) adds the rest. */
export type CgroupContainer = Pick<ContainerInfo, 'id' | 'runtime' | 'podUid' | 'qos'> &
  Partial<ContainerInfo> & {
    /** a nested container's outer container (kind's node, docker in docker) */
    outerId?: string;
    outerRuntime?: Runtime;
  };

const full = new WeakMap<CgroupContainer, ContainerInfo>();
/** The container of an event: every field present (null when not known), one object per input. */
export function fullContainer(c: CgroupContainer): ContainerInfo {
  if (c.name !== undefined && c.image !== undefined && c.podName !== undefined && c.podNamespace !== undefined) {
    return c as ContainerInfo;
  }
  let f = full.get(c);
  if (f === undefined) {
    f = { name: null, image: null, podName: null, podNamespace: null, ...c };
    full.set(c, f);
  }
  return f;
}

export interface Classification {
  scope: Scope;
  /** {id, runtime, podUid, qos} when scope === 'container', else null */
  container: CgroupContainer | null;
  /** name of the table row that decided (e.g. 'docker-cgroupfs', 'host-root'), or 'unknown' */
  rule: string;
}

/** Marks a path the kernel cut at the top: `…/a/b/c`. */
export const TRUNCATION_MARK = '…';

// ---- the table ---------------------------------------------------------------------------

/**
 * What a row means when it matches:
 * - `container`: this cgroup is a container's; named group `id` is its id.
 * - `monitor`: a runtime's host-side helper (conmon, lxc monitor, the nspawn supervisor).
 *   Not a container; the search goes on above the components it matched, and if nothing
 *   above is a container, the path is host (when complete).
 * - `pod`: a Kubernetes pod cgroup. Gives the container directly below it its pod UID
 *   (named group `pod`) and QoS class (named group `qos`; absent = guaranteed). On its own
 *   (a path that stops at the pod) it is no container and no proof of host: `unknown`.
 * - `host`: the whole path is provably host. Consulted only when no row above matched.
 */
export type RuleKind = 'container' | 'monitor' | 'pod' | 'host';

/** A row that looks at one cgroup's name (`leaf`), and optionally its parent's. */
export interface ComponentRule {
  kind: 'container' | 'monitor' | 'pod';
  name: string;
  /** container rows: which runtime the match means */
  runtime?: Runtime;
  /** the cgroup's own name */
  leaf: RegExp;
  /**
   * the parent cgroup's name must match; 'kube-pod': the parent must be a `pod` row;
   * 'not-host': the cgroups above must not be a known host path (nor the root)
   */
  parent?: RegExp | 'kube-pod' | 'not-host';
  /** the row's topmost component must sit at the hierarchy root, or directly in another container's cgroup */
  top?: true;
  /** the id is a systemd-escaped unit name part (`\x2d` for `-`): unescape it */
  escaped?: true;
}

/** A row that looks at the whole (complete) path. */
export interface PathRule {
  kind: 'host';
  name: string;
  path: RegExp;
}

export type Rule = ComponentRule | PathRule;

/** `re\`...\`` builds a RegExp from a raw template, so rows can share the fragments below. */
const re = (s: TemplateStringsArray, ...parts: string[]): RegExp => new RegExp(String.raw(s, ...parts));

/** A docker/containerd/cri-o/podman/CRI container id. Lower case only, as every runtime writes it. */
const HEX64 = '[0-9a-f]{64}';
/** A pod UID: a UUID (`_` instead of `-` inside systemd slice names), or the 32-hex hash of a static pod. */
const POD_UID = '[0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12}|[0-9a-f]{32}';
/** A containerd identifier (containerd/identifiers: alphanumerics joined by single `.`, `_` or `-`). */
const CONTAINERD_ID = '[A-Za-z0-9]+(?:[._-][A-Za-z0-9]+)*';
/**
 * containerd namespaces whose containers live at `/<namespace>/<id>`: containerd's default
 * OCI spec sets that cgroupsPath when the client gives none (ctr, nerdctl with cgroupfs).
 * `default` is ctr's and nerdctl's namespace, `k8s.io` the CRI plugin's (used by
 * `ctr/nerdctl -n k8s.io`). `moby` is left out on purpose: dockerd owns it but always sets
 * `/docker/<id>` (or a docker-<id>.scope) itself, so a `/moby/...` cgroup is not a docker
 * container, and a bare `/<word>/<name>` is too weak to claim. Add a namespace here.
 */
const CTR_NAMESPACES = String.raw`default|k8s\.io`;
/** systemd unit types that get a cgroup of their own and hold processes. */
const UNIT_LEAF = 'service|scope|socket|mount|swap';

/**
 * The one table. Component rows are tried in this order at each cgroup, from the leaf up;
 * the first row that matches decides for that cgroup. Host rows are tried last, on the whole path.
 * One row per layout; a comment says where the layout comes from.
 */
export const RULES: readonly Rule[] = [
  // -- runtime monitors: host-side processes beside the container, not in it ------------------
  // cri-o's conmon: conmon_cgroup="pod" puts it in the pod slice (or a crio-conmon-<id> dir with cgroupfs), or system.slice
  { kind: 'monitor', name: 'crio-conmon', leaf: re`^crio-conmon-${HEX64}(?:\.scope)?$` },
  // podman's conmon, systemd driver (rootful under machine.slice, rootless under user@.service)
  { kind: 'monitor', name: 'libpod-conmon', leaf: re`^libpod-conmon-${HEX64}(?:\.scope)?$` },
  // podman's conmon, cgroupfs driver: /libpod_parent/conmon
  { kind: 'monitor', name: 'libpod-conmon', parent: /^libpod_parent$/, leaf: /^conmon$/ },
  // LXC >= 4 monitor process: /lxc.monitor.<name>
  { kind: 'monitor', name: 'lxc-monitor', leaf: /^lxc\.monitor\..+$/ },
  // LXC 3.x monitor process: /lxc.monitor/<name>
  { kind: 'monitor', name: 'lxc-monitor', parent: /^lxc\.monitor$/, leaf: /^.+$/ },
  // systemd-nspawn itself when run as a unit: <unit>/supervisor beside <unit>/payload (nspawn-cgroup.c)
  { kind: 'monitor', name: 'nspawn-supervisor', parent: /^(?:systemd-nspawn@.+\.service|machine-.+\.scope)$/, leaf: /^supervisor$/ },

  // -- containers ------------------------------------------------------------------------------
  // docker, systemd driver: <slice>/docker-<id>.scope (system.slice, a custom slice, a pod slice, user@.service for rootless)
  { kind: 'container', name: 'docker-systemd', runtime: 'docker', leaf: re`^docker-(?<id>${HEX64})\.scope$` },
  // docker, cgroupfs driver: /docker/<id> (also nested: docker in docker, kind nodes)
  { kind: 'container', name: 'docker-cgroupfs', runtime: 'docker', parent: /^docker$/, leaf: re`^(?<id>${HEX64})$` },
  // containerd CRI, systemd driver: <pod slice>/cri-containerd-<id>.scope
  { kind: 'container', name: 'containerd-cri-systemd', runtime: 'containerd', leaf: re`^cri-containerd-(?<id>${HEX64})\.scope$` },
  // containerd CRI with kubelet on systemd but runc on cgroupfs: runc takes "slice:prefix:id" as a literal
  // directory under containerd's own cgroup: /system.slice/containerd.service/<pod slice>:cri-containerd:<id>
  { kind: 'container', name: 'containerd-cri-colon', runtime: 'containerd', leaf: re`^(?<slice>[^:]+\.slice):cri-containerd:(?<id>${HEX64})$` },
  // nerdctl, systemd driver: system.slice (rootless: user.slice) + ":nerdctl:" + id → nerdctl-<id>.scope
  { kind: 'container', name: 'nerdctl-systemd', runtime: 'containerd', leaf: re`^nerdctl-(?<id>${HEX64})\.scope$` },
  // plain containerd (ctr, nerdctl with cgroupfs): /<namespace>/<id>, see CTR_NAMESPACES
  { kind: 'container', name: 'containerd-namespace', runtime: 'containerd', parent: re`^(?:${CTR_NAMESPACES})$`, top: true, leaf: re`^(?<id>${CONTAINERD_ID})$` },
  // cri-o: crio-<id>.scope (systemd driver) or crio-<id> (cgroupfs), in the pod's cgroup
  { kind: 'container', name: 'crio', runtime: 'cri-o', leaf: re`^crio-(?<id>${HEX64})(?:\.scope)?$` },
  // podman, systemd driver: libpod-<id>.scope (machine.slice, a pod's machine-libpod_pod_<id>.slice, rootless user@.service)
  { kind: 'container', name: 'podman-systemd', runtime: 'podman', leaf: re`^libpod-(?<id>${HEX64})\.scope$` },
  // podman, cgroupfs driver: /libpod_parent/libpod-<id>, /libpod_parent/<pod id>/libpod-<id>
  { kind: 'container', name: 'podman-cgroupfs', runtime: 'podman', leaf: re`^libpod-(?<id>${HEX64})$` },
  // Kubernetes, cgroupfs driver: /kubepods[/<qos>]/pod<uid>/<id>; the path does not name the runtime
  { kind: 'container', name: 'kube-cgroupfs', runtime: 'cri', parent: 'kube-pod', leaf: re`^(?<id>${HEX64})$` },
  // docker's cgroupfs driver under --cgroup-parent=/<anything> (CI runners, custom slices):
  // a 64-hex leaf under a parent that is no host path is a container, docker's by default
  { kind: 'container', name: 'docker-cgroup-parent', runtime: 'docker', parent: 'not-host', leaf: re`^(?<id>${HEX64})$` },
  // LXC <= 3 / LXD 3: /lxc/<name>; LXC 3.x: /lxc.payload/<name>
  { kind: 'container', name: 'lxc', runtime: 'lxc', parent: /^lxc(?:\.payload)?$/, leaf: /^(?<id>.+)$/ },
  // LXC >= 4 / LXD: /lxc.payload.<name>
  { kind: 'container', name: 'lxc-payload', runtime: 'lxc', leaf: /^lxc\.payload\.(?<id>.+)$/ },
  // systemd-nspawn as a unit (machinectl start, systemd-nspawn@.service); the payload lives in <unit>/payload
  { kind: 'container', name: 'nspawn-service', runtime: 'systemd-nspawn', escaped: true, leaf: /^systemd-nspawn@(?<id>.+)\.service$/ },
  // systemd-nspawn run by hand registers with machined, which makes machine-<name>.scope. The same slice holds
  // libvirt's machine-qemu\x2d<n>\x2d<vm>.scope (a VM's qemu: not a container) and machine-lxc\x2d<pid>\x2d<name>.scope
  // (libvirt-lxc, not LXC): left to unknown.
  { kind: 'container', name: 'nspawn-machined', runtime: 'systemd-nspawn', escaped: true, parent: /^machine\.slice$/, leaf: /^machine-(?!qemu\\x2d|lxc\\x2d)(?<id>.+)\.scope$/ },

  // -- Kubernetes pods: context for the container below, not a container ---------------------------
  // systemd driver: kubepods[-<qos>]-pod<uid>.slice, also with a --cgroup-root prefix (kind: kubelet-kubepods-...)
  { kind: 'pod', name: 'kube-pod-systemd', leaf: re`^(?:.+-)?kubepods(?:-(?<qos>burstable|besteffort))?-pod(?<pod>${POD_UID})\.slice$` },
  // cgroupfs driver: kubepods/pod<uid> (guaranteed), kubepods/<qos>/pod<uid>
  { kind: 'pod', name: 'kube-pod-cgroupfs', parent: /^(?:kubepods|(?<qos>burstable|besteffort))$/, leaf: re`^pod(?<pod>${POD_UID})$` },

  // -- provably host: the whole, complete path -------------------------------------------------------
  // the root cgroup: kernel threads, and everything on a host without a cgroup manager
  { kind: 'host', name: 'host-root', path: /^\/$/ },
  // PID 1 (systemd)
  { kind: 'host', name: 'host-init', path: /^\/init\.scope$/ },
  // system services: /system.slice[/<nested>.slice...][/<unit>]; a container scope in it matched above already.
  // A directory under a unit (a delegated subtree: containerd.service/<x>) is not proof: unknown.
  { kind: 'host', name: 'host-system', path: re`^/system\.slice(?:/[^/]+\.slice)*(?:/[^/]+\.(?:${UNIT_LEAF}))?$` },
  // user sessions and user managers: /user.slice/... made only of unit names (rootless containers matched above)
  { kind: 'host', name: 'host-user', path: re`^/user\.slice(?:/[^/]+\.(?:slice|${UNIT_LEAF}))*$` },
  // mount/swap units at the top (dev-hugepages.mount, ...): systemd running a mount helper
  { kind: 'host', name: 'host-mount-unit', path: /^\/[^/]+\.(?:mount|swap)$/ },
  // machine.slice itself (its children are machines, or unknown)
  { kind: 'host', name: 'host-machine-slice', path: /^\/machine\.slice$/ },
  // the kubelet's parents themselves, no pod: /kubepods[/<qos>], /kubepods.slice[/kubepods-<qos>.slice]
  { kind: 'host', name: 'host-kubepods', path: /^\/kubepods(?:\/(?:burstable|besteffort))?$|^\/kubepods\.slice(?:\/kubepods-(?:burstable|besteffort)\.slice)?$/ },
];

const COMPONENT_RULES: readonly ComponentRule[] = RULES.filter((r): r is ComponentRule => r.kind !== 'host');
const POD_RULES: readonly ComponentRule[] = COMPONENT_RULES.filter((r) => r.kind === 'pod');
const HOST_RULES: readonly PathRule[] = RULES.filter((r): r is PathRule => r.kind === 'host');

// ---- matching ----------------------------------------------------------------------------

/** A cgroup path cut into names. `rooted` is false when the top of the path is not known. */
export interface SplitPath {
  parts: string[];
  rooted: boolean;
}

/**
 * Split a cgroup path into its components. "" and "/" are the root; trailing and doubled "/"
 * are ignored; a leading "…" marks a path cut at the top. A ".." component (a path seen from
 * outside a cgroup namespace) also leaves the top unknown.
 */
export function splitCgroupPath(path: string): SplitPath {
  let rest = path;
  let rooted = true;
  if (rest.startsWith(TRUNCATION_MARK)) {
    rooted = false;
    rest = rest.slice(TRUNCATION_MARK.length);
  }
  const parts = rest.split('/').filter((c) => c !== '' && c !== '.');
  if (parts.includes('..')) rooted = false;
  return { parts, rooted };
}

interface Hit {
  rule: ComponentRule;
  /** named groups of the leaf match, and of the parent match when the row has one */
  groups: Record<string, string | undefined>;
  /** how many components the row matched: 1, or 2 when it matched the parent too */
  width: number;
}

function matchRule(rule: ComponentRule, parts: readonly string[], i: number, rooted: boolean): Hit | null {
  const name = parts[i];
  if (name === undefined) return null;
  const leaf = rule.leaf.exec(name);
  if (!leaf) return null;
  let groups: Record<string, string | undefined> = { ...leaf.groups };
  let width = 1;
  if (rule.parent !== undefined) {
    if (rule.parent === 'kube-pod') {
      if (!podAt(parts, i - 1, rooted)) return null;
    } else if (rule.parent === 'not-host') {
      // only on a whole path: a cut one hides what the parent is (a pod's, a host slice)
      if (!rooted || i === 0 || isHostPath('/' + parts.slice(0, i).join('/'))) return null;
    } else {
      const parentName = parts[i - 1];
      const parent = parentName === undefined ? null : rule.parent.exec(parentName);
      if (!parent) return null;
      groups = { ...parent.groups, ...groups };
      width = 2;
    }
  }
  if (rule.top) {
    const topmost = i - width + 1;
    const atRoot = topmost === 0 && rooted;
    if (!atRoot && !(topmost > 0 && firstHit(parts, topmost - 1, rooted)?.rule.kind === 'container')) return null;
  }
  return { rule, groups, width };
}

function isHostPath(normalized: string): boolean {
  return HOST_RULES.some((r) => r.path.test(normalized));
}

/** The first component row that matches the cgroup at index i. */
function firstHit(parts: readonly string[], i: number, rooted: boolean): Hit | null {
  if (i < 0) return null;
  for (const rule of COMPONENT_RULES) {
    const hit = matchRule(rule, parts, i, rooted);
    if (hit) return hit;
  }
  return null;
}

interface Pod {
  uid: string;
  qos: QosClass;
}

/** The Kubernetes pod whose cgroup is at index i, if it is one. */
function podAt(parts: readonly string[], i: number, rooted: boolean): Pod | null {
  if (i < 0) return null;
  for (const rule of POD_RULES) {
    const groups = matchRule(rule, parts, i, rooted)?.groups;
    if (groups?.pod !== undefined) {
      // slice names spell the UID with '_' (systemd uses '-' as the slice hierarchy separator)
      return { uid: groups.pod.replaceAll('_', '-'), qos: (groups.qos as QosClass | undefined) ?? 'guaranteed' };
    }
  }
  return null;
}

/** systemd unit-name escaping: `\x2d` → `-`. */
function unescapeUnitName(s: string): string {
  return s.replace(/\\x([0-9a-fA-F]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
}

function containerFrom(hit: Hit, parts: readonly string[], i: number, rooted: boolean): CgroupContainer | null {
  const { rule, groups } = hit;
  const rawId = groups.id;
  if (rawId === undefined || rule.runtime === undefined) return null;
  // The pod is the cgroup directly above the container's own (or, in the colon form, named
  // inside it). A row that matched its parent (docker/<id>, lxc/<name>) has a runtime
  // directory there, not a pod: a container nested in a pod's container is not the pod's.
  let pod: Pod | null = null;
  if (groups.slice !== undefined) pod = podAt([groups.slice], 0, false);
  else if (!(rule.parent instanceof RegExp)) pod = podAt(parts, i - 1, rooted);
  return {
    id: rule.escaped ? unescapeUnitName(rawId) : rawId,
    runtime: rule.runtime,
    podUid: pod?.uid ?? null,
    qos: pod?.qos ?? null,
  };
}

/** The nearest container whose cgroup holds index `from` and above (a nested container's host). */
function outerContainer(parts: readonly string[], from: number, rooted: boolean): CgroupContainer | null {
  for (let i = from; i >= 0; ) {
    const hit = firstHit(parts, i, rooted);
    if (!hit) {
      i -= 1;
      continue;
    }
    if (hit.rule.kind === 'container') {
      const c = containerFrom(hit, parts, i, rooted);
      if (c) return c;
    }
    i -= hit.width;
  }
  return null;
}

/**
 * Classify one cgroup path (see the module comment for the forms accepted).
 *
 * The path is read from the leaf up; at each cgroup the first matching row of RULES decides:
 * - a container row: that container (the innermost one), done;
 * - a monitor or pod row: remembered (innermost first), and the search goes on above it.
 * With no container anywhere: the innermost monitor makes it host (complete path) or
 * unknown (cut path); the innermost pod makes it unknown; otherwise a host row over the
 * complete path makes it host; otherwise unknown.
 */
export function classifyCgroupPath(path: string): Classification {
  const { parts, rooted } = splitCgroupPath(path);
  let note: ComponentRule | null = null;
  for (let i = parts.length - 1; i >= 0; ) {
    const hit = firstHit(parts, i, rooted);
    if (!hit) {
      i -= 1;
      continue;
    }
    if (hit.rule.kind === 'container') {
      const container = containerFrom(hit, parts, i, rooted);
      if (container) {
        // nested (kind, a CI runner's docker in docker): the process is the innermost
        // container's; the one that holds it is recorded
        const outer = outerContainer(parts, i - hit.width, rooted);
        if (outer) {
          container.outerId = outer.id;
          container.outerRuntime = outer.runtime;
        }
        return { scope: 'container', container, rule: hit.rule.name };
      }
    } else {
      note ??= hit.rule;
    }
    i -= hit.width;
  }
  if (note?.kind === 'monitor') {
    // conmon & co. are the runtime's own processes on the host side (host PID and mount
    // namespaces), not the workload; they sit in a pod slice or system.slice only for
    // accounting. A cut path may hide an enclosing container above, so it proves nothing.
    return { scope: rooted ? 'host' : 'unknown', container: null, rule: note.name };
  }
  if (note?.kind === 'pod') {
    // A process directly in a pod's cgroup: the kubelet puts none there, and there is no
    // container id to report. Say so rather than guess.
    return { scope: 'unknown', container: null, rule: note.name };
  }
  if (rooted) {
    const normalized = '/' + parts.join('/');
    for (const rule of HOST_RULES) {
      if (rule.path.test(normalized)) return { scope: 'host', container: null, rule: rule.name };
    }
  }
  return { scope: 'unknown', container: null, rule: 'unknown' };
}

// ---- /proc/PID/cgroup ----------------------------------------------------------------------

export interface ParsedProcCgroup {
  /** the unified hierarchy's path (the "0::" line), null when there is none */
  v2: string | null;
  /** each v1 hierarchy: its id, its controllers (a named hierarchy is "name=<x>"), its path */
  v1: Array<{ hierarchyId: number; controllers: string[]; path: string }>;
}

/** The kernel appends this to a v2 path whose cgroup has been removed (proc_cgroup_show). */
const DELETED_SUFFIX = ' (deleted)';

/**
 * Parse the text of /proc/PID/cgroup: lines `hierarchy-id:controller-list:path`. The path is
 * everything after the second ":" (it may contain ":" itself). Lines that do not parse are
 * skipped; an empty path is read as "/".
 */
export function parseProcCgroup(text: string): ParsedProcCgroup {
  const out: ParsedProcCgroup = { v2: null, v1: [] };
  for (const line of text.split(/\r?\n/)) {
    const first = line.indexOf(':');
    const second = first < 0 ? -1 : line.indexOf(':', first + 1);
    if (second < 0) continue;
    const idText = line.slice(0, first);
    if (!/^\d+$/.test(idText)) continue;
    const hierarchyId = Number(idText);
    const controllerText = line.slice(first + 1, second);
    let path = line.slice(second + 1);
    if (path.endsWith(DELETED_SUFFIX)) path = path.slice(0, -DELETED_SUFFIX.length);
    if (path === '') path = '/';
    if (hierarchyId === 0 && controllerText === '') out.v2 = path;
    else out.v1.push({ hierarchyId, controllers: controllerText === '' ? [] : controllerText.split(','), path });
  }
  return out;
}

/** v1 controllers whose hierarchy a runtime always places a container in, most telling first. */
export const V1_PREFERENCE: readonly string[] = ['pids', 'memory', 'devices', 'freezer', 'cpu', 'cpuacct', 'blkio', 'cpuset', 'name=systemd'];

const isRoot = (p: string): boolean => splitCgroupPath(p).parts.length === 0;

/**
 * The path to classify from a parsed /proc/PID/cgroup: the v2 path when it is not "/";
 * else the first v1 path that is not "/", by V1_PREFERENCE, then in file order; else "/".
 */
export function pickCgroupPath(parsed: ParsedProcCgroup): string {
  if (parsed.v2 !== null && !isRoot(parsed.v2)) return parsed.v2;
  for (const controller of V1_PREFERENCE) {
    const h = parsed.v1.find((e) => e.controllers.includes(controller) && !isRoot(e.path));
    if (h) return h.path;
  }
  return parsed.v1.find((e) => !isRoot(e.path))?.path ?? '/';
}
