/**
 * The kernel<->user ABI is defined once, in bpf/ctrace.h; src/decode/abi.ts mirrors it.
 * Compile the header with the host C compiler and check every offset and size
 * the decoder relies on, then decode records laid out by that compiler.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import * as abi from '../src/decode/abi.js';

const root = resolve(fileURLToPath(import.meta.url), '../..');

const FIELDS: Array<[string, string, number]> = [
  ['struct ctrace_hdr', 'type', abi.OFF.hdr.type],
  ['struct ctrace_hdr', 'flags', abi.OFF.hdr.flags],
  ['struct ctrace_hdr', 'size', abi.OFF.hdr.size],
  ['struct ctrace_hdr', 'ktime_ns', abi.OFF.hdr.ktime],
  ...(
    [
      ['pid', abi.OFF.task.pid],
      ['tgid', abi.OFF.task.tgid],
      ['ppid', abi.OFF.task.ppid],
      ['nspid', abi.OFF.task.nspid],
      ['uid', abi.OFF.task.uid],
      ['gid', abi.OFF.task.gid],
      ['pidns_ino', abi.OFF.task.pidnsIno],
      ['mntns_ino', abi.OFF.task.mntnsIno],
      ['cgroup_key', abi.OFF.task.cgroupKey],
      ['start_ns', abi.OFF.task.startNs],
      ['parent_start_ns', abi.OFF.task.parentStartNs],
      ['verdict', abi.OFF.task.verdict],
      ['cg_depth', abi.OFF.task.cgDepth],
      ['comm', abi.OFF.task.comm],
    ] as Array<[string, number]>
  ).map(([f, off]): [string, string, number] => ['struct ctrace_exec', `task.${f}`, off]),
  ['struct ctrace_exec', 'exe_ino', abi.OFF.exec.exeIno],
  ['struct ctrace_exec', 'exe_size', abi.OFF.exec.exeSize],
  ['struct ctrace_exec', 'exe_ctime_ns', abi.OFF.exec.exeCtimeNs],
  ['struct ctrace_exec', 'exe_dev', abi.OFF.exec.exeDev],
  ['struct ctrace_exec', 'xflags', abi.OFF.exec.xflags],
  ['struct ctrace_exec', 'cap_effective', abi.OFF.exec.capEffective],
  ['struct ctrace_exec', 'loginuid', abi.OFF.exec.loginuid],
  ['struct ctrace_exec', 'sessionid', abi.OFF.exec.sessionid],
  ['struct ctrace_exec', 'userns_ino', abi.OFF.exec.usernsIno],
  ['struct ctrace_exec', 'userns_level', abi.OFF.exec.usernsLevel],
  ['struct ctrace_exec', 'n_ancestors', abi.OFF.exec.nAncestors],
  ['struct ctrace_exec', 'exec_seq', abi.OFF.exec.execSeq],
  ['struct ctrace_exec', 'tty', abi.OFF.exec.tty],
  ['struct ctrace_ancestor', 'start_ns', abi.OFF.ancestor.startNs],
  ['struct ctrace_ancestor', 'cgroup_key', abi.OFF.ancestor.cgroupKey],
  ['struct ctrace_ancestor', 'tgid', abi.OFF.ancestor.tgid],
  ['struct ctrace_ancestor', 'nspid', abi.OFF.ancestor.nspid],
  ['struct ctrace_ancestor', 'pidns_ino', abi.OFF.ancestor.pidnsIno],
  ['struct ctrace_ancestor', 'comm', abi.OFF.ancestor.comm],
  ['struct ctrace_exec', 'argc', abi.OFF.exec.argc],
  ['struct ctrace_exec', 'argv_len', abi.OFF.exec.argvLen],
  ['struct ctrace_exec', 'filename_len', abi.OFF.exec.filenameLen],
  ['struct ctrace_exec', 'cwd_len', abi.OFF.exec.cwdLen],
  ['struct ctrace_exec', 'data', abi.OFF.exec.data],
  ['struct ctrace_exit', 'exit_code', abi.OFF.exit.exitCode],
  ['struct ctrace_exit', 'start_ns', abi.OFF.exit.startNs],
  ['struct ctrace_exit', 'cgroup_names', abi.OFF.exit.cgroupNames],
  ['struct ctrace_mount', 'ret', abi.OFF.mount.ret],
  ['struct ctrace_mount', 'flags', abi.OFF.mount.flags],
  ['struct ctrace_mount', 'op', abi.OFF.mount.op],
  ['struct ctrace_mount', 'mflags', abi.OFF.mount.mflags],
  ['struct ctrace_mount', 'source', abi.OFF.mount.source],
  ['struct ctrace_mount', 'target', abi.OFF.mount.target],
  ['struct ctrace_mount', 'fstype', abi.OFF.mount.fstype],
  ['struct ctrace_mount', 'cgroup_names', abi.OFF.mount.cgroupNames],
];

const SIZES: Array<[string, number]> = [
  ['struct ctrace_hdr', abi.SIZE.hdr],
  ['struct ctrace_task', abi.SIZE.task],
  ['struct ctrace_exec', abi.SIZE.exec],
  ['struct ctrace_ancestor', abi.SIZE.ancestor],
  ['struct ctrace_exit', abi.SIZE.exit],
  ['struct ctrace_mount', abi.SIZE.mount],
  ['struct ctrace_pid_verdict', abi.SIZE.pidVerdict],
];

const CONSTANTS: Array<[string, number]> = [
  ['CTRACE_ABI_VERSION', abi.ABI_VERSION],
  ['CTRACE_COMM_LEN', abi.COMM_LEN],
  ['CTRACE_CG_LEVELS', abi.CG_LEVELS],
  ['CTRACE_CG_NAME_LEN', abi.CG_NAME_LEN],
  ['CTRACE_CG_AREA', abi.CG_AREA],
  ['CTRACE_FILENAME_LEN', abi.FILENAME_LEN],
  ['CTRACE_ARGV_LEN', abi.ARGV_LEN],
  ['CTRACE_ARGV_DEFAULT', abi.ARGV_DEFAULT],
  ['CTRACE_MAX_ANCESTORS', abi.MAX_ANCESTORS],
  ['CTRACE_ANC_AREA', abi.ANC_AREA],
  ['CTRACE_TTY_LEN', abi.TTY_LEN],
  ['CTRACE_XF_OVERLAY', abi.XF_OVERLAY],
  ['CTRACE_XF_UPPER', abi.XF_UPPER],
  ['CTRACE_XF_MEMFD', abi.XF_MEMFD],
  ['CTRACE_XF_DELETED', abi.XF_DELETED],
  ['CTRACE_XF_CWD_TRUNC', abi.XF_CWD_TRUNC],
  ['CTRACE_XF_ANC_MORE', abi.XF_ANC_MORE],
  ['CTRACE_XF_NO_CWD', abi.XF_NO_CWD],
  ['CTRACE_XF_NO_AUDIT', abi.XF_NO_AUDIT],
  ['CTRACE_PATH_LEN', abi.PATH_LEN],
  ['CTRACE_FSTYPE_LEN', abi.FSTYPE_LEN],
  ['CTRACE_EV_EXEC', abi.EV_EXEC],
  ['CTRACE_EV_EXIT', abi.EV_EXIT],
  ['CTRACE_EV_MOUNT', abi.EV_MOUNT],
  ['CTRACE_F_ARGV_TRUNC', abi.F_ARGV_TRUNC],
  ['CTRACE_F_CG_TRUNC', abi.F_CG_TRUNC],
  ['CTRACE_F_CG_V1', abi.F_CG_V1],
  ['CTRACE_F_HOST_PIDNS', abi.F_HOST_PIDNS],
  ['CTRACE_F_FILENAME_TRUNC', abi.F_FILENAME_TRUNC],
  ['CTRACE_F_ISOLATED', abi.F_ISOLATED],
  ['CTRACE_F_CG_KNOWN', abi.F_CG_KNOWN],
  ['CTRACE_MF_ARGS_CHANGED', abi.MF_ARGS_CHANGED],
  ['CTRACE_MF_ARGS_UNVERIFIED', abi.MF_ARGS_UNVERIFIED],
  ['CTRACE_MF_SOURCE_TRUNC', abi.MF_SOURCE_TRUNC],
  ['CTRACE_MF_TARGET_TRUNC', abi.MF_TARGET_TRUNC],
  ['CTRACE_MF_FSTYPE_TRUNC', abi.MF_FSTYPE_TRUNC],
  ['CTRACE_MF_KERNEL_VIEW', abi.MF_KERNEL_VIEW],
  ['CTRACE_VERDICT_HOST', abi.VERDICT_HOST],
  ['CTRACE_VERDICT_CONTAINER', abi.VERDICT_CONTAINER],
  ['CTRACE_VERDICT_UNCLASSIFIED', abi.VERDICT_UNCLASSIFIED],
  ['CTRACE_MOUNT_OP_MOVE_MOUNT', abi.MOUNT_OP_MOVE_MOUNT],
  ['CTRACE_STAT_LOST', abi.STAT.LOST],
  ['CTRACE_STAT_MAX', abi.STAT.MAX],
];

/** Compile a C program against bpf/ctrace.h and return what it prints. */
function runC(body: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'ctrace-abi-'));
  const src = join(dir, 'probe.c');
  writeFileSync(
    src,
    `#include <stddef.h>\n#include <stdio.h>\n#include <string.h>\n#include "ctrace.h"\nint main(void) {\n${body}\nreturn 0; }\n`,
  );
  execFileSync('cc', ['-Wall', '-I', join(root, 'bpf'), '-o', join(dir, 'probe'), src]);
  return execFileSync(join(dir, 'probe')).toString();
}

describe('ABI mirror of bpf/ctrace.h', () => {
  it('has the same offsets, sizes and constants as the C compiler sees', () => {
    const lines = [
      ...FIELDS.map(([t, f]) => `printf("%zu\\n", offsetof(${t}, ${f}));`),
      ...SIZES.map(([t]) => `printf("%zu\\n", sizeof(${t}));`),
      ...CONSTANTS.map(([c]) => `printf("%llu\\n", (unsigned long long)(${c}));`),
    ];
    const got = runC(lines.join('\n')).trim().split('\n').map(Number);
    const want = [...FIELDS.map((f) => f[2]), ...SIZES.map((s) => s[1]), ...CONSTANTS.map((c) => c[1])];
    const names = [...FIELDS.map((f) => `${f[0]}.${f[1]}`), ...SIZES.map((s) => `sizeof ${s[0]}`), ...CONSTANTS.map((c) => c[0])];
    expect(Object.fromEntries(names.map((n, i) => [n, got[i]]))).toEqual(
      Object.fromEntries(names.map((n, i) => [n, want[i]])),
    );
  });

  it('decodes records laid out by the C compiler', () => {
    // An exec record (its cgroup names between its one ancestor and its filename, argv cut to
    // its used length), an exit record with the names, and a mount record without them.
    const hex = runC(`
      static unsigned char buf[sizeof(struct ctrace_exec) + sizeof(struct ctrace_exit) + sizeof(struct ctrace_mount)];
      size_t n = 0;
      struct ctrace_exec e; memset(&e, 0, sizeof e);
      const char args[] = "sh\\0-c\\0echo \\xff\\xfe ok";
      e.hdr.type = CTRACE_EV_EXEC; e.hdr.flags = CTRACE_F_CG_V1; e.hdr.ktime_ns = 123456789ULL;
      e.task.pid = 4243; e.task.tgid = 4242; e.task.ppid = 4200; e.task.nspid = 1; e.task.uid = 1000; e.task.gid = 100;
      e.task.pidns_ino = 4026532178U; e.task.mntns_ino = 4026532177U; e.task.cgroup_key = 5120ULL | CTRACE_CGKEY_V1;
      e.task.verdict = CTRACE_VERDICT_CONTAINER; e.task.cg_depth = 2;
      strcpy(e.task.comm, "sh");
      e.n_ancestors = 1;
      struct ctrace_ancestor a; memset(&a, 0, sizeof a); a.tgid = 4200; strcpy(a.comm, "containerd-shim");
      memcpy(e.data, &a, sizeof a);
      char *names = e.data + sizeof a;
      strcpy(names, "a4c123b1612dd272d1371c17149d439536b3216fdaeeb975729fae923d5a4fd1");
      strcpy(names + CTRACE_CG_NAME_LEN, "docker");
      char *file = names + 2 * CTRACE_CG_NAME_LEN;
      strcpy(file, "/bin/sh"); e.filename_len = 7; e.hdr.flags |= CTRACE_F_FILENAME_TRUNC;
      strcpy(file + 8, "/srv/app"); e.cwd_len = 8;
      e.argc = 3; memcpy(file + 17, args, sizeof args); e.argv_len = sizeof args;
      e.hdr.size = (file + 17 - (char *)&e) + e.argv_len;
      memcpy(buf + n, &e, e.hdr.size); n += e.hdr.size;
      struct ctrace_exit x; memset(&x, 0, sizeof x);
      x.hdr.type = CTRACE_EV_EXIT; x.hdr.size = sizeof x; x.hdr.ktime_ns = 2000000000ULL; x.task = e.task;
      x.task.cgroup_key = 77; x.task.cg_depth = 1; strcpy(x.cgroup_names[0], "user.slice");
      x.exit_code = (7 << 8); x.start_ns = 1000000000ULL;
      memcpy(buf + n, &x, sizeof x); n += sizeof x;
      struct ctrace_mount m; memset(&m, 0, sizeof m);
      m.hdr.type = CTRACE_EV_MOUNT; m.hdr.flags = CTRACE_F_CG_V1 | CTRACE_F_CG_KNOWN; m.hdr.size = offsetof(struct ctrace_mount, cgroup_names);
      m.task = e.task; m.task.cg_depth = 0; m.ret = -1; m.flags = 0x1000; m.op = CTRACE_MOUNT_OP_MOUNT;
      m.mflags = CTRACE_MF_ARGS_CHANGED | CTRACE_MF_TARGET_TRUNC;
      strcpy(m.source, "none"); strcpy(m.target, "/tmp"); strcpy(m.fstype, "tmpfs");
      memcpy(buf + n, &m, m.hdr.size); n += m.hdr.size;
      for (size_t i = 0; i < n; i++) printf("%02x", buf[i]);
    `);
    const recs = abi.decodeBatch(Buffer.from(hex, 'hex'), new abi.CgroupPathCache());
    expect(recs.map((r) => r.type)).toEqual(['exec', 'exit', 'mount']);
    const [e, x, m] = recs;
    if (e?.type !== 'exec' || x?.type !== 'exit' || m?.type !== 'mount') throw new Error('wrong types');
    expect(e.task).toMatchObject({
      tid: 4243,
      tgid: 4242,
      ppid: 4200,
      nspid: 1,
      uid: 1000,
      gid: 100,
      pidnsIno: 4026532178,
      mntnsIno: 4026532177,
      cgroupId: 5120,
      cgroupV1: true,
      verdict: abi.VERDICT_CONTAINER,
      comm: 'sh',
      cgroupPath: '/docker/a4c123b1612dd272d1371c17149d439536b3216fdaeeb975729fae923d5a4fd1',
    });
    expect(e.task.cgroupKey).toBe(5120n | abi.CGKEY_V1);
    expect(e.ktimeNs).toBe(123456789n);
    expect(e.filename).toBe('/bin/sh');
    expect(e.argc).toBe(3);
    expect(e.argv).toEqual(['sh', '-c', 'echo \udcff\udcfe ok']); // invalid bytes: surrogate escapes
    expect(e.argvTruncated).toBe(false);
    expect(e.filenameTruncated).toBe(true);
    expect(e.facts.ancestors).toMatchObject([{ pid: 4200, comm: 'containerd-shim' }]);
    expect(e.facts.cwd).toBe('/srv/app');
    expect(x.task.cgroupPath).toBe('/user.slice');
    // the mount left the names out: its cgroup's path is the one the exec brought
    expect(m.task.cgroupPath).toBe(e.task.cgroupPath);
    expect(x.status).toBe(7 << 8);
    expect(x.startNs).toBe(1000000000n);
    expect(m).toMatchObject({ op: 'mount', ret: -1, flags64: 0x1000, source: 'none', target: '/tmp', fstype: 'tmpfs' });
    expect(m.mflags).toBe(abi.MF_ARGS_CHANGED | abi.MF_TARGET_TRUNC);
  });

  it('finds the path of a cgroup whose names a record leaves out: remembered, removed a moment ago, or looked up', () => {
    const rec = (key: bigint): Buffer => {
      const b = Buffer.alloc(abi.OFF.exit.cgroupNames);
      b.writeUInt16LE(abi.EV_EXIT, abi.OFF.hdr.type);
      b.writeUInt16LE(abi.F_CG_KNOWN, abi.OFF.hdr.flags);
      b.writeUInt32LE(b.length, abi.OFF.hdr.size);
      b.writeBigUInt64LE(key, abi.OFF.task.cgroupKey);
      return b;
    };
    const asked: bigint[] = [];
    const paths = new abi.CgroupPathCache((key) => (asked.push(key), key === 3n ? '/found/by/search' : null));
    paths.remember(1n, '/preloaded');
    paths.remember(2n, '/removed');
    paths.forget(2n);
    const got = abi.decodeBatch(Buffer.concat([rec(1n), rec(2n), rec(3n), rec(3n), rec(4n), rec(4n)]), paths);
    expect(got.map((r) => r.task.cgroupPath)).toEqual(['/preloaded', '/removed', '/found/by/search', '/found/by/search', abi.CGROUP_PATH_UNKNOWN, abi.CGROUP_PATH_UNKNOWN]);
    // one search per cgroup: one not found then is gone for good
    expect(asked).toEqual([3n, 4n]);
    expect(paths.unnamed).toBe(2);
  });

  it('rejects a record whose size runs past the batch', () => {
    const b = Buffer.alloc(32);
    b.writeUInt16LE(abi.EV_EXEC, 0);
    b.writeUInt32LE(4096, 4);
    expect(() => abi.decodeBatch(b, new abi.CgroupPathCache())).toThrow(/corrupt record batch/);
  });

  it('keeps every argument the capture holds, however many and however long', () => {
    const parts = Array.from({ length: 25 }, (_, i) => (i === 1 ? 'x'.repeat(300) : `a${i}`));
    const block = Buffer.from(parts.join('\0') + '\0');
    const argv = abi.splitArgv(block, 0, block.length);
    expect(argv).toHaveLength(25);
    expect(argv[1]).toHaveLength(300);
    expect(argv[24]).toBe('a24');
  });
});
