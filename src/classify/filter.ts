/**
 * One filter vocabulary for `run`, `read` and `ps`: which events (or containers) to show.
 * Values of one field are alternatives (OR: `-c web -c db`), different fields must all
 * match (AND: `-c web -u 0`). It is applied to enriched events, so a container's name and
 * its pod's namespace/name (from the runtime's state) match as well as ids do.
 *
 * - container: an id prefix, or the container's name (a glob: `web*`)
 * - pod: a pod UID prefix, `namespace/name`, or a pod name (globs)
 * - namespace: a Kubernetes namespace (glob)
 * - runtime: docker, containerd, cri-o, cri, podman, lxc, systemd-nspawn
 * - events: exec, exit, mount
 * - comm: the task's comm (glob)
 * - binary: an exec's file (glob; a pattern without `/` matches the file's base name)
 * - uid: a user id
 */
import type { ContainerInfo, EventType, Runtime, TraceEvent } from '../events/event.js';

type OneOrMore<T> = T | readonly T[];

export interface EventFilter {
  container?: OneOrMore<string>;
  runtime?: OneOrMore<Runtime>;
  pod?: OneOrMore<string>;
  namespace?: OneOrMore<string>;
  events?: readonly EventType[];
  comm?: OneOrMore<string>;
  binary?: OneOrMore<string>;
  uid?: OneOrMore<number>;
}

function list<T>(v: OneOrMore<T> | undefined): readonly T[] {
  if (v === undefined || v === null) return [];
  return Array.isArray(v) ? (v as readonly T[]) : [v as T];
}

/** A shell glob (`*`, `?`, `[...]`) as an anchored regular expression. */
export function globToRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const ch = glob[i]!;
    if (ch === '*') re += '.*';
    else if (ch === '?') re += '.';
    else if (ch === '[') {
      const end = glob.indexOf(']', i + 2);
      if (end < 0) re += '\\[';
      else {
        let body = glob.slice(i + 1, end).replace(/\\/g, '\\\\');
        if (body.startsWith('!')) body = '^' + body.slice(1);
        re += `[${body}]`;
        i = end;
      }
    } else re += ch.replace(/[.+^${}()|\\/]/g, '\\$&');
  }
  return new RegExp(`^${re}$`, 's');
}

const isGlob = (s: string) => /[*?[]/.test(s);

function matcher(pattern: string): (s: string | null | undefined) => boolean {
  if (!isGlob(pattern)) return (s) => s === pattern;
  const re = globToRegExp(pattern);
  return (s) => s != null && re.test(s);
}

export interface CompiledFilter {
  /** no field set: everything matches */
  readonly empty: boolean;
  /** fields that are about the container (container, pod, namespace, runtime) */
  readonly selectsContainers: boolean;
  /**
   * Whether a decision made once per cgroup holds for all its events: only the runtime
   * (known from the cgroup path) is asked. Names come from runtime state that may appear
   * after a container's first event; comm, binary, uid and type differ per event.
   */
  readonly perCgroup: boolean;
  /**
   * Whether the decision for this container holds for all its later events: always when
   * `perCgroup`; with name filters, once its names are known (`namesKnown`: the runtime's
   * state was found) or for a host process (no container); never with per-event fields.
   */
  finalFor(c: ContainerInfo | null, namesKnown: boolean): boolean;
  container(c: ContainerInfo | null): boolean;
  event(ev: TraceEvent): boolean;
}

export function compileFilter(f: EventFilter | undefined): CompiledFilter {
  const containers = list(f?.container).map((v) => {
    const name = matcher(v);
    return (c: ContainerInfo) => c.id.startsWith(v) || name(c.name);
  });
  const runtimes = list(f?.runtime);
  const pods = list(f?.pod).map((v) => {
    const m = matcher(v);
    return (c: ContainerInfo) =>
      (!!c.podUid && c.podUid.startsWith(v)) ||
      (v.includes('/') ? m(c.podNamespace && c.podName ? `${c.podNamespace}/${c.podName}` : null) : m(c.podName));
  });
  const namespaces = list(f?.namespace).map(matcher);
  const events = list(f?.events);
  const comms = list(f?.comm).map(matcher);
  const binaries = list(f?.binary).map((v) => {
    const m = matcher(v);
    return v.includes('/') ? m : (file: string) => m(file.slice(file.lastIndexOf('/') + 1));
  });
  const uids = list(f?.uid);

  const selectsContainers = !!(containers.length || runtimes.length || pods.length || namespaces.length);
  const container = (c: ContainerInfo | null): boolean => {
    if (!selectsContainers) return true;
    if (!c) return false;
    if (containers.length && !containers.some((m) => m(c))) return false;
    if (runtimes.length && !runtimes.includes(c.runtime)) return false;
    if (pods.length && !pods.some((m) => m(c))) return false;
    if (namespaces.length && !namespaces.some((m) => m(c.podNamespace))) return false;
    return true;
  };
  const perEvent = !!(events.length || comms.length || binaries.length || uids.length);
  const perCgroup = !containers.length && !pods.length && !namespaces.length && !perEvent;
  return {
    empty: !selectsContainers && !perEvent,
    selectsContainers,
    perCgroup,
    finalFor: (c, namesKnown) => perCgroup || (!perEvent && (c === null || namesKnown)),
    container,
    event(ev) {
      if (events.length && !events.includes(ev.type)) return false;
      if (uids.length && !uids.includes(ev.uid)) return false;
      if (comms.length && !comms.some((m) => m(ev.comm))) return false;
      if (binaries.length && (ev.type !== 'exec' || !binaries.some((m) => m(ev.exec.filename)))) return false;
      return container(ev.container);
    },
  };
}

/** `-c web -n prod`: the container-selecting part of a filter, for the "matches nothing" note. */
export function describeContainerFilter(f: EventFilter): string {
  const parts: string[] = [];
  for (const [flag, v] of [
    ['--container', f.container],
    ['--pod', f.pod],
    ['--namespace', f.namespace],
    ['--runtime', f.runtime],
  ] as const) {
    for (const x of list<string>(v as OneOrMore<string> | undefined)) parts.push(`${flag} ${x}`);
  }
  return parts.join(' ');
}
