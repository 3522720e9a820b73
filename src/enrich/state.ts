/**
 * Finding a container's OCI state on this host, by container id. The lookup is written
 * once, as a generator of file reads, and driven either synchronously (readFileSync) or
 * asynchronously (fs/promises): the same steps, the caller chooses whether it may block.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Runtime } from '../events/event.js';
import {
  namesFromAnnotations,
  parseCrunStatus,
  parseDockerConfig,
  parseOciConfig,
  parseRuncState,
  resolveRootfs,
  type ContainerNames,
  type OciState,
} from './oci.js';

/** Where runtimes keep state. A trailing "/*" means: every directory in it (containerd namespaces). */
export interface StateRoots {
  /** roots of runc-style state: <root>/<id>/state.json */
  runc: readonly string[];
  /** roots of crun state: <root>/<id>/status, <root>/<id>/config.json */
  crun: readonly string[];
  /** dockerd's containers directory: <dir>/<id>/config.v2.json */
  docker: string | null;
}

export const DEFAULT_STATE_ROOTS: StateRoots = {
  runc: [
    '/run/runc', // runc's default root: plain runc, cri-o, podman with runc
    '/run/docker/runtime-runc/moby', // dockerd (containerd-shim's --root for the moby namespace)
    '/run/containerd/runc/*', // containerd: one directory per namespace (k8s.io, default, moby)
  ],
  crun: ['/run/crun'],
  docker: '/var/lib/docker/containers',
};

/** What enrichment knows of one container. */
export interface ContainerMeta extends ContainerNames {
  id: string;
  /** the state file it came from */
  stateFile: string;
  kind: OciState['kind'];
  pid: number | null;
  bundle: string | null;
  rootfs: string | null;
  annotations: Record<string, string>;
  created: string | null;
}

type Request = { file: string } | { dir: string };
type Reply = string | string[] | null;
type Steps = Generator<Request, ContainerMeta | null, Reply>;

/**
 * An OCI config.json beside the state: its annotations, and the rootfs when the state
 * did not name one. Null when the file does not parse (a bundle being written or removed).
 */
function applySpec(state: OciState, spec: string): Record<string, string> | null {
  try {
    const cfg = parseOciConfig(spec);
    state.rootfs ??= resolveRootfs(state.bundle, cfg.rootPath);
    return cfg.annotations;
  } catch {
    return null;
  }
}

/** A container id is one path component: never let one walk out of a state root. */
export function safeId(id: string): boolean {
  return id !== '' && id !== '.' && id !== '..' && !id.includes('/') && !id.includes('\0');
}

function* expand(root: string): Generator<Request, string[], Reply> {
  if (!root.endsWith('/*')) return [root];
  const parent = root.slice(0, -2);
  const names = (yield { dir: parent }) as string[] | null;
  return (names ?? []).map((n) => join(parent, n));
}

function* lookupSteps(id: string, roots: StateRoots, runtime: Runtime | null): Steps {
  if (!safeId(id)) return null;
  let state: OciState | null = null;
  let stateFile = '';
  let annotations: Record<string, string> | null = null;

  for (const pattern of roots.runc) {
    for (const root of yield* expand(pattern)) {
      const file = join(root, id, 'state.json');
      const text = (yield { file }) as string | null;
      if (text === null) continue;
      try {
        state = parseRuncState(text);
        stateFile = file;
      } catch {
        continue; // being rewritten: try the next root, or the next lookup
      }
      break;
    }
    if (state) break;
  }
  if (!state) {
    for (const root of roots.crun) {
      const file = join(root, id, 'status');
      const text = (yield { file }) as string | null;
      if (text === null) continue;
      try {
        state = parseCrunStatus(text, id);
        stateFile = file;
      } catch {
        continue;
      }
      // crun keeps a copy of the spec beside its status
      const spec = (yield { file: join(root, id, 'config.json') }) as string | null;
      if (spec !== null) annotations = applySpec(state, spec) ?? annotations; // else keep what status gave
      break;
    }
  }
  if (state) annotations ??= state.annotations;
  // no annotations in the state: the bundle's config.json has them
  if (state && annotations === null && state.bundle !== null) {
    const spec = (yield { file: join(state.bundle, 'config.json') }) as string | null;
    if (spec !== null) annotations = applySpec(state, spec);
  }

  const names = namesFromAnnotations(annotations);
  // docker writes no names into the spec; dockerd's own record has them
  if ((runtime === 'docker' || runtime === null) && roots.docker !== null && (names.name === null || names.image === null)) {
    const text = (yield { file: join(roots.docker, id, 'config.v2.json') }) as string | null;
    if (text !== null) {
      try {
        const d = parseDockerConfig(text);
        names.name ??= d.name;
        names.image ??= d.image;
        stateFile ||= join(roots.docker, id, 'config.v2.json');
      } catch {
        // ignore
      }
    }
  }
  if (!state && !stateFile) return null;
  return {
    id,
    stateFile,
    kind: state?.kind ?? 'runc',
    pid: state?.pid ?? null,
    bundle: state?.bundle ?? null,
    rootfs: state?.rootfs ?? null,
    annotations: annotations ?? {},
    created: state?.created ?? null,
    ...names,
  };
}

function readSyncOrNull(req: Request): Reply {
  const path = 'file' in req ? req.file : req.dir;
  try {
    // a miss is the common case (every root but the runtime's own; a container not yet written,
    // or of a runtime we do not know): a stat that says so without an exception costs a tenth
    // of a failed read, whose Error and stack trace were what a miss cost
    if (statSync(path, { throwIfNoEntry: false }) === undefined) return null;
    return 'file' in req ? readFileSync(path, 'utf8') : readdirSync(path);
  } catch {
    return null;
  }
}

async function readAsyncOrNull(req: Request): Promise<Reply> {
  try {
    return 'file' in req ? await readFile(req.file, 'utf8') : await readdir(req.dir);
  } catch {
    return null;
  }
}

/** Look a container up now, blocking on the reads (a few stat()s and one small file, see ContainerCatalog). */
export function lookupContainerSync(id: string, runtime: Runtime | null = null, roots = DEFAULT_STATE_ROOTS): ContainerMeta | null {
  const steps = lookupSteps(id, roots, runtime);
  let r = steps.next();
  while (!r.done) r = steps.next(readSyncOrNull(r.value));
  return r.value;
}

/** The same lookup without blocking the event loop. */
export async function lookupContainer(id: string, runtime: Runtime | null = null, roots = DEFAULT_STATE_ROOTS): Promise<ContainerMeta | null> {
  const steps = lookupSteps(id, roots, runtime);
  let r = steps.next();
  while (!r.done) r = steps.next(await readAsyncOrNull(r.value));
  return r.value;
}
