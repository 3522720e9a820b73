/**
 * The way back from an OCSF line to a ctrace record (`ctrace read` of an `--output ocsf` stream
 * or an OCSF audit log). The mapping itself is src/format/ocsf.ts.
 */
import type { Entry } from '../events/records.js';
import { fromJsonObject } from './json.js';
import { ocsfRecordType } from './ocsf.js';

type Obj = Record<string, unknown>;
const objOf = (v: unknown): Obj => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Obj) : {});

/**
 * A ctrace record back from the OCSF object toOcsf() made (`ctrace read` of an
 * OCSF log): the JSON form rebuilt from the OCSF attributes and `unmapped`, then
 * read as any JSON record. Throws when the object is not one of ours.
 */
export function entryFromOcsf(o: Obj): Entry {
  const u = objOf(o.unmapped);
  const type = ocsfRecordType(o);
  if (!type) throw new Error('an OCSF event without ctrace\'s unmapped.type');
  const { seq: _s, prev: _p, hash: _h, ...plain } = u;
  if (type !== 'exec' && type !== 'exit' && type !== 'mount') return fromJsonObject(plain);
  const proc = objOf(type === 'mount' ? objOf(o.actor).process : o.process);
  const c = objOf(proc.container);
  const uc = objOf(u.container);
  const json: Obj = {
    type,
    time: u.time,
    pid: proc.pid,
    tid: u.tid,
    ppid: objOf(proc.parent_process).pid,
    nspid: proc.namespace_pid,
    uid: Number(objOf(proc.user).uid),
    gid: u.gid,
    comm: proc.name,
    cgroupId: u.cgroupId,
    pidNs: u.pidNs,
    mntNs: u.mntNs,
    container: c.uid
      ? { id: c.uid, runtime: c.runtime, podUid: c.pod_uuid ?? null, qos: uc.qos ?? null, name: c.name ?? null, image: uc.image ?? null, podName: uc.podName ?? null, podNamespace: uc.podNamespace ?? null }
      : null,
    scope: u.scope,
    reason: u.reason ?? null,
    cgroupPath: u.cgroupPath,
    cgroupV1: u.cgroupV1,
    processId: proc.uid ?? null,
    parentProcessId: objOf(proc.parent_process).uid ?? null,
  };
  // the exec's detail came whole under unmapped (ancestors, cwd, binary...), less the file
  if (type === 'exec') json.exec = { filename: objOf(proc.file).path, ...objOf(u.exec) };
  else if (type === 'exit') json.exit = { code: o.exit_code, ...objOf(u.exit) };
  else json.mount = { ...objOf(u.mount), target: objOf(o.file).path ?? null };
  return fromJsonObject(json);
}
