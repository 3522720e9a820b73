/**
 * What OCI runtimes leave on disk about a running container, parsed. Pure functions over
 * the text of the files; src/enrich/state.ts finds and reads them.
 *
 * runc (seen on this machine, runc 1.1.5): <root>/<id>/state.json, root /run/runc by
 * default, /run/docker/runtime-runc/moby under dockerd, /run/containerd/runc/<namespace>
 * under containerd. `config.rootfs` is the absolute rootfs path; `config.labels` holds
 * "bundle=<dir>" and every OCI annotation as "key=value", so one file gives all we need.
 * crun: <root>/<id>/status (JSON: pid, bundle, rootfs relative to the bundle or absolute,
 * cgroup-path, created) beside a copy of the spec in <root>/<id>/config.json.
 * docker keeps the container's name and image in /var/lib/docker/containers/<id>/config.v2.json.
 */
import { isAbsolute, join } from 'node:path';

export interface OciState {
  id: string;
  /** 'runc' (state.json) or 'crun' (status) */
  kind: 'runc' | 'crun';
  /** the container's init, host PID */
  pid: number | null;
  bundle: string | null;
  /** absolute host path of the container's root filesystem */
  rootfs: string | null;
  /** OCI annotations, when the state file carries them (runc does, as labels) */
  annotations: Record<string, string> | null;
  created: string | null;
  /** the cgroupsPath the runtime was given */
  cgroupsPath: string | null;
}

type Json = Record<string, unknown>;

function obj(v: unknown): Json | null {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : null;
}
function str(v: unknown): string | null {
  return typeof v === 'string' && v !== '' ? v : null;
}
function num(v: unknown): number | null {
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

/** A path from a spec, made absolute against the bundle (OCI: root.path may be relative to it). */
export function resolveRootfs(bundle: string | null, rootPath: string | null): string | null {
  if (rootPath === null) return null;
  if (isAbsolute(rootPath)) return rootPath;
  return bundle === null ? null : join(bundle, rootPath);
}

/** runc's state.json (libcontainer's State). Throws on text that is not JSON. */
export function parseRuncState(text: string): OciState {
  const s = obj(JSON.parse(text)) ?? {};
  const config = obj(s.config) ?? {};
  let bundle: string | null = null;
  let annotations: Record<string, string> | null = null;
  if (Array.isArray(config.labels)) {
    annotations = {};
    for (const label of config.labels) {
      if (typeof label !== 'string') continue;
      const eq = label.indexOf('=');
      if (eq <= 0) continue;
      const key = label.slice(0, eq);
      const value = label.slice(eq + 1);
      // runc adds its own "bundle" label to the spec's annotations (libcontainer/specconv)
      if (key === 'bundle') bundle = value;
      else annotations[key] = value;
    }
  }
  const cgroups = obj(config.cgroups) ?? {};
  return {
    id: str(s.id) ?? '',
    kind: 'runc',
    pid: num(s.init_process_pid),
    bundle,
    rootfs: resolveRootfs(bundle, str(config.rootfs)),
    annotations,
    created: str(s.created),
    cgroupsPath: str(cgroups.path) ?? str(cgroups.Path),
  };
}

/** crun's status file. `id` is not in it: it is the state directory's name. */
export function parseCrunStatus(text: string, id: string): OciState {
  const s = obj(JSON.parse(text)) ?? {};
  const bundle = str(s.bundle);
  return {
    id,
    kind: 'crun',
    pid: num(s.pid),
    bundle,
    rootfs: resolveRootfs(bundle, str(s.rootfs)),
    annotations: null,
    created: str(s.created),
    cgroupsPath: str(s['cgroup-path']),
  };
}

export interface OciConfig {
  /** root.path as written: relative to the bundle or absolute */
  rootPath: string | null;
  annotations: Record<string, string>;
  hostname: string | null;
}

/** An OCI runtime spec (a bundle's config.json). */
export function parseOciConfig(text: string): OciConfig {
  const c = obj(JSON.parse(text)) ?? {};
  const annotations: Record<string, string> = {};
  for (const [k, v] of Object.entries(obj(c.annotations) ?? {})) if (typeof v === 'string') annotations[k] = v;
  return { rootPath: str(obj(c.root)?.path), annotations, hostname: str(c.hostname) };
}

export interface DockerConfig {
  /** without docker's leading "/" */
  name: string | null;
  image: string | null;
}

/** dockerd's /var/lib/docker/containers/<id>/config.v2.json: the name and the image the user asked for. */
export function parseDockerConfig(text: string): DockerConfig {
  const c = obj(JSON.parse(text)) ?? {};
  const name = str(c.Name);
  return { name: name === null ? null : name.replace(/^\//, ''), image: str(obj(c.Config)?.Image) };
}

/** The names enrichment adds to ContainerInfo. */
export interface ContainerNames {
  name: string | null;
  image: string | null;
  podName: string | null;
  podNamespace: string | null;
}

/**
 * Annotation keys, most specific first, for each name. One line per runtime convention;
 * add a key here to support another.
 */
export const ANNOTATION_KEYS: Readonly<Record<keyof ContainerNames, readonly string[]>> = {
  name: [
    'io.kubernetes.cri.container-name', // containerd CRI
    'io.kubernetes.container.name', // kubelet (cri-o, cri-dockerd)
    'io.kubernetes.cri-o.ContainerName', // cri-o's own (k8s_<name>_<pod>_...: the above wins)
    'nerdctl/name', // nerdctl
    'io.podman.annotations.name', // podman, when set (podman keeps names in its own database)
    'org.opencontainers.container.name',
  ],
  image: [
    'io.kubernetes.cri.image-name', // containerd CRI
    'io.kubernetes.cri-o.ImageName', // cri-o
    'io.kubernetes.cri-o.Image',
    'nerdctl/image',
    'org.opencontainers.image.ref.name',
  ],
  podName: [
    'io.kubernetes.pod.name', // kubelet (cri-o), also set by many tools
    'io.kubernetes.cri.sandbox-name', // containerd CRI
    'io.kubernetes.cri-o.KubeName',
  ],
  podNamespace: [
    'io.kubernetes.pod.namespace', // kubelet (cri-o)
    'io.kubernetes.cri.sandbox-namespace', // containerd CRI
    'io.kubernetes.cri-o.Namespace',
  ],
};

/** Names from annotations: for each name the first key of ANNOTATION_KEYS that is set and not empty. */
export function namesFromAnnotations(annotations: Readonly<Record<string, string>> | null): ContainerNames {
  const pick = (keys: readonly string[]): string | null => {
    if (!annotations) return null;
    for (const k of keys) {
      const v = annotations[k];
      if (v) return v;
    }
    return null;
  };
  return {
    name: pick(ANNOTATION_KEYS.name),
    image: pick(ANNOTATION_KEYS.image),
    podName: pick(ANNOTATION_KEYS.podName),
    podNamespace: pick(ANNOTATION_KEYS.podNamespace),
  };
}
