/**
 * The OCSF form: every kind of ctrace record maps to an OCSF 1.7.0 event that
 * the schema's own files accept (test/helpers/ocsf-schema.ts), with the values
 * the mapping table in the README promises; the validator itself rejects what
 * the schema forbids; and an OCSF audit log keeps a hash chain `ctrace verify` checks.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditLog } from '../src/audit/log.js';
import { startOptions, type MetaRecord } from '../src/events/records.js';
import { toJsonObject } from '../src/format/json.js';
import { verifyLogs } from '../src/audit/verify.js';
import { isoToMs, ocsfRecordType, toOcsf, type OcsfContext } from '../src/format/ocsf.js';
import { entryFromOcsf } from '../src/format/ocsf-decode.js';
import { DOCKER_ID, execEvent, exitEvent, mountEvent, podContainer, POD_UID } from './helpers/events.js';
import { OcsfSchema } from './helpers/ocsf-schema.js';

const ctx: OcsfContext = { host: 'node-1', kernel: '6.18.0', bootId: '3f1c9a52-7d0e-4b8e-9a55-0c2b1d4e6f70', machineId: 'a'.repeat(32), version: '0.1.0', pid: 777 };
const schema = new OcsfSchema();
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = Record<string, any>;
const clone = (o: unknown): Json => JSON.parse(JSON.stringify(o)) as Json;

describe('the OCSF validator reads the 1.7.0 schema files', () => {
  it('knows the classes ctrace uses', () => {
    expect(schema.version).toBe('1.7.0');
    expect(schema.classUids.get(1007)).toBe('process_activity');
    expect(schema.classUids.get(1001)).toBe('file_activity');
    expect(schema.classUids.get(1008)).toBe('event_log_actvity'); // sic: the schema's own spelling
    expect(schema.profileNames).toContain('container');
  });

  it('rejects what the schema forbids', () => {
    const good = clone(toOcsf(execEvent(1), ctx));
    expect(schema.validate(good)).toEqual([]);
    const cases: Array<[string, (o: Json) => void, RegExp]> = [
      ['required attribute missing', (o) => delete o.process, /process_activity\.process: required, missing/],
      ['required in an object', (o) => delete o.metadata.product, /metadata\.product: required/],
      ['unknown attribute', (o) => (o.process.command = 'sh'), /process\.command: not an attribute of process/],
      ['unknown top-level attribute', (o) => (o.container = { uid: 'x' }), /\.container: not an attribute/],
      ['enum value', (o) => (o.activity_id = 7), /activity_id: 7 is not in its enum/],
      ['sibling caption', (o) => (o.activity_name = 'Start'), /activity_name: 'Start' is not the caption/],
      ['type', (o) => (o.process.pid = '42'), /process\.pid: "42" is not a integer_t/],
      ['type_uid', (o) => (o.type_uid = 100702), /type_uid 100702 is not/],
      ['profile not declared', (o) => (o.metadata.profiles = ['datetime']), /process\.container: needs profile 'container'/],
      ['regex of a derived type', (o) => (o.process.container.pod_uuid = 'not-a-uuid'), /pod_uuid: 'not-a-uuid' does not match uuid_t/],
      ['null value', (o) => (o.process.name = null), /process\.name: null/],
      ['deprecated attribute', (o) => (o.process.tid = 5), /process\.tid: deprecated/],
      ['at_least_one constraint', (o) => (o.actor = {}), /actor: needs at least one of/],
    ];
    for (const [what, mutate, re] of cases) {
      const o = clone(good);
      o.process.container.pod_uuid = POD_UID;
      mutate(o);
      const errs = schema.validate(o);
      expect(errs.join('\n'), what).toMatch(re);
    }
  });
});

describe('toOcsf', () => {
  const metas: MetaRecord[] = [
    { type: 'start', time: '2026-11-18T00:00:00.000000001Z', version: '0.1.0', host: 'node-1', kernel: '6.18.0', pid: 777, options: startOptions() },
    { type: 'lost', time: '2026-11-18T00:00:01.000000000Z', count: 12, total: 30, source: 'kernel' },
    { type: 'rotate', time: '2026-11-18T00:00:02.000000000Z', reason: 'size' },
    { type: 'continuation', time: '2026-11-18T00:00:02.000000001Z', previousFile: 'ctrace.log.20261118T000002.000Z' },
    { type: 'stop', time: '2026-11-18T00:00:03.000000000Z', reason: 'SIGTERM', events: { exec: 1, exit: 1, mount: 1 }, lost: 12 },
  ];
  const events = [
    execEvent(3),
    execEvent(4, { container: podContainer }),
    execEvent(5, { container: null }),
    exitEvent(6),
    exitEvent(7, { code: 0, signal: 9, coreDumped: true }),
    mountEvent(8),
    mountEvent(9, { ret: -1, container: podContainer }),
  ];

  it('every record of every kind is valid OCSF 1.7.0', () => {
    for (const r of [...metas, ...events]) {
      const o = toOcsf(r, ctx);
      expect(schema.validate(clone(o)), `${r.type}: ${JSON.stringify(o)}`).toEqual([]);
      expect(ocsfRecordType(o)).toBe(r.type);
      expect(Object.keys(o).at(-1)).toBe('unmapped');
    }
  });

  it('reads back (ctrace read of an OCSF log): the JSON form of every record is kept', () => {
    for (const r of [...metas, ...events]) {
      const back = entryFromOcsf(clone(toOcsf(r, ctx)));
      expect(toJsonObject(back), r.type).toEqual(toJsonObject(r));
    }
    expect(() => entryFromOcsf({ class_uid: 1007, unmapped: {} })).toThrow(/unmapped\.type/);
  });

  it('exec: Process Activity Launch with the command line, the executable and the container', () => {
    const ev = execEvent(4, { container: podContainer });
    const o = toOcsf(ev, ctx) as Json;
    expect(o).toMatchObject({
      class_uid: 1007,
      category_uid: 1,
      activity_id: 1,
      type_uid: 100701,
      severity_id: 1,
      status_id: 1,
      time: isoToMs(ev.time),
      time_dt: ev.time,
      metadata: { product: { name: 'ctrace', version: '0.1.0' }, version: '1.7.0', profiles: ['container', 'datetime'] },
      device: { hostname: 'node-1', os: { type_id: 200, kernel_release: '6.18.0' }, boot_uid: ctx.bootId },
      actor: { process: { pid: ev.ppid } },
      process: {
        pid: ev.pid,
        name: 'sh',
        cmd_line: ev.exec.argv.join(' '),
        file: { name: 'sh', path: '/bin/sh' },
        parent_process: { pid: ev.ppid },
        user: { uid: String(ev.uid) },
        namespace_pid: ev.nspid,
        container: { uid: podContainer.id, name: 'web', runtime: 'containerd', pod_uuid: POD_UID, orchestrator: 'Kubernetes' },
      },
      unmapped: { type: 'exec', cgroupId: ev.cgroupId, pidNs: ev.pidNs, container: { podName: 'web-7d9c', podNamespace: 'prod', image: 'nginx:1.27' } },
    });
    expect(o.time).toBe(Date.parse(ev.time.slice(0, 23) + 'Z'));
  });

  it('exit: Terminate with exit_code; a signal is said in status_detail', () => {
    const o = toOcsf(exitEvent(7, { code: 0, signal: 9 }), ctx) as Json;
    expect(o).toMatchObject({ class_uid: 1007, activity_id: 2, type_uid: 100702, exit_code: 0, status_detail: 'killed by SIGKILL' });
    expect(o.process.terminated_time - o.process.created_time).toBe(2); // 1.834 ms, rounded
    expect(toOcsf(exitEvent(7), ctx)).toMatchObject({ exit_code: 7, process: { container: { uid: DOCKER_ID } } });
  });

  it('mount: File System Activity Mount on the target folder; a failed mount is a Failure with its errno', () => {
    const ok = toOcsf(mountEvent(8), ctx) as Json;
    expect(ok).toMatchObject({ class_uid: 1001, activity_id: 12, type_uid: 100112, status_id: 1, file: { type_id: 2 } });
    expect(ok.file.path).toBe(mountEvent(8).mount.target);
    const bad = toOcsf(mountEvent(9, { ret: -1 }), ctx) as Json;
    expect(bad).toMatchObject({ status_id: 2, status: 'Failure', status_code: '-1', status_detail: 'EPERM' });
  });

  it('start, stop and lost: Event Log Activity Start, Stop and "Events Lost" with the count', () => {
    const [start, lost, , , stop] = metas.map((m) => toOcsf(m, ctx) as Json);
    expect(start).toMatchObject({ class_uid: 1008, activity_id: 6, type_uid: 100806, log_name: 'ctrace', actor: { process: { pid: 777 } } });
    expect(stop).toMatchObject({ class_uid: 1008, activity_id: 7, unmapped: { type: 'stop', reason: 'SIGTERM', lost: 12 } });
    expect(lost).toMatchObject({ class_uid: 1008, activity_id: 99, count: 12, severity_id: 3, status_id: 2 });
  });
});

describe('the OCSF audit log', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'ctrace-ocsf-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  async function writeLog(path: string, n: number): Promise<void> {
    const log = await AuditLog.open({ path, format: 'ocsf', fsync: 'never', start: startOptions({ log: path, logFormat: 'ocsf' }) });
    for (let i = 0; i < n; i++) log.write(i % 3 === 0 ? execEvent(i) : i % 3 === 1 ? exitEvent(i) : mountEvent(i));
    log.noteLost({ lost: 2, total: 2 });
    await log.close('SIGTERM');
  }

  it('every line is valid OCSF, the chain verifies across two runs, and any edit is found', async () => {
    const path = join(dir, 'a.ocsf');
    await writeLog(path, 30);
    await writeLog(path, 5); // a second run appends and links to the first
    const lines = readFileSync(path, 'utf8').trimEnd().split('\n');
    expect(lines.length).toBe(2 * 3 + 35);
    for (const line of lines) {
      const o = JSON.parse(line) as Json;
      expect(schema.validate(o), line).toEqual([]);
      expect(o.unmapped.hash).toMatch(/^[0-9a-f]{64}$/);
      expect(line.endsWith(`,"hash":"${o.unmapped.hash}"}}`)).toBe(true);
    }
    const v = await verifyLogs([path]);
    expect(v.problem).toBeNull();
    expect(v).toMatchObject({ ok: true, records: lines.length, runs: 2, events: 35, lost: 4 });

    // change one attribute of one event: verify names that line
    const bad = join(dir, 'b.ocsf');
    const edited = [...lines];
    edited[10] = edited[10]!.replace(/"pid":(\d+)/, (_m, p: string) => `"pid":${Number(p) + 1}`);
    writeFileSync(bad, edited.join('\n') + '\n');
    const vb = await verifyLogs([bad]);
    expect(vb.ok).toBe(false);
    expect(vb.problem).toMatchObject({ index: 11, what: 'altered: its content does not match its hash' });
    // remove a line
    writeFileSync(bad, lines.filter((_, i) => i !== 12).join('\n') + '\n');
    expect((await verifyLogs([bad])).problem?.what).toMatch(/1 record removed/);
  });

  it('refuses to append OCSF to a JSONL log (one chain holds one form)', async () => {
    const path = join(dir, 'c.log');
    const log = await AuditLog.open({ path, format: 'jsonl', fsync: 'never', start: startOptions() });
    await log.close('SIGTERM');
    await expect(AuditLog.open({ path, format: 'ocsf', fsync: 'never', start: startOptions() })).rejects.toThrow(/is not a ctrace ocsf log \(it looks like jsonl\)/);
  });
});
