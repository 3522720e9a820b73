/**
 * Identity, lineage, entry and the process tree on strings and records made here: the rules
 * the e2e suite (identity.e2e.test.ts) exercises against real containers.
 */
import { describe, expect, it } from 'vitest';
import { F_HOST_PIDNS, XF_ANC_MORE, type RawAncestor, type RawExec } from '../src/decode/abi.js';
import { capabilityHex, capabilityNames, execId, processId } from '../src/events/identity.js';
import { lineage, LiveBinaryNames, startTicksOf } from '../src/enrich/lineage.js';
import { userDev } from '../src/enrich/binary-hash.js';
import { ProcessTree } from '../src/format/tree.js';
import type { AncestorInfo } from '../src/events/event.js';
import { execEvent, exitEvent, rawExec } from './helpers/events.js';

const BOOT = 'b00t';
const CONTAINER_NS = 4026532200;
const HOST_NS = 4026531836;
const CG = 5000n;

function anc(pid: number, o: Partial<RawAncestor> = {}): RawAncestor {
  return { pid, nspid: pid, startNs: BigInt(pid) * 1000n, cgroupKey: CG, pidnsIno: CONTAINER_NS, comm: `p${pid}`, ...o };
}

function exec(nspid: number, ancestors: RawAncestor[], flags = 0, xflags = 0): RawExec {
  return rawExec({
    flags,
    task: { nspid, pidnsIno: CONTAINER_NS, cgroupKey: CG, ppid: ancestors[0]?.pid ?? 0, parentStartNs: ancestors[0]?.startNs ?? 0n },
    facts: { xflags, ancestors },
  });
}

const runc = anc(900, { comm: 'runc', pidnsIno: HOST_NS, cgroupKey: 1n, nspid: 900 });
const none = () => null;

describe('processId and execId', () => {
  it('differ for the same pid at another start time, and per exec', () => {
    expect(processId(42, 1000n, BOOT)).toBe('b00t:1000:42');
    expect(processId(42, 2000n, BOOT)).not.toBe(processId(42, 1000n, BOOT));
    expect(execId('b00t:1000:42', 5)).not.toBe(execId('b00t:1000:42', 6));
    expect(processId(42, 0n, BOOT)).toBeNull(); // no start time: no identity rather than a weak one
  });

  it('names capabilities and prints the mask as 16 hex digits', () => {
    expect(capabilityNames(0b1n | (1n << 21n))).toEqual(['CAP_CHOWN', 'CAP_SYS_ADMIN']);
    expect(capabilityNames(1n << 63n)).toEqual(['CAP_63']);
    expect(capabilityHex(0xa80425fbn)).toBe('00000000a80425fb');
  });

  it('turns the kernel dev_t into the one stat() reports', () => {
    // 8:1 (sda1), and an overlay's anonymous 0:48
    expect(userDev((8 << 20) | 1)).toBe(0x801);
    expect(userDev(48)).toBe(48);
    expect(userDev((259 << 20) | 300)).toBe((300 & 0xff) | (259 << 8) | ((300 & ~0xff) << 12));
  });
});

describe('lineage and entry', () => {
  it('an exec whose parent is in another PID namespace and cgroup is an entry, with that parent first', () => {
    const l = lineage(exec(7, [runc]), (pid) => (pid === 900 ? '/usr/sbin/runc' : null), BOOT);
    expect(l.entry).toBe(true);
    expect(l.ancestors).toEqual<AncestorInfo[]>([{ processId: 'b00t:900000:900', pid: 900, comm: 'runc', filename: '/usr/sbin/runc', outside: true }]);
  });

  it('a child of the container init is not an entry, nor is the init itself', () => {
    const init = anc(100, { nspid: 1 });
    expect(lineage(exec(7, [init]), none, BOOT).entry).toBe(false);
    expect(lineage(exec(1, [runc]), none, BOOT).entry).toBe(false);
  });

  it('a process in a nested PID namespace of the same container is not an entry', () => {
    const unshare = anc(120, { pidnsIno: CONTAINER_NS + 1 });
    expect(lineage(exec(3, [unshare]), none, BOOT).entry).toBe(false);
  });

  it('a host process (host PID namespace) is never an entry', () => {
    expect(lineage(exec(7, [runc], F_HOST_PIDNS), none, BOOT).entry).toBe(false);
  });

  it('an unknown binary stays null, and a cut chain says so', () => {
    const l = lineage(exec(7, [anc(101), anc(100, { nspid: 1 })], 0, XF_ANC_MORE), none, BOOT);
    expect(l.ancestors.map((a) => a.filename)).toEqual([null, null]);
    expect(l.ancestorsTruncated).toBe(true);
  });

  it('LiveBinaryNames answers only for the process of that start time, and remembers', () => {
    let reads = 0;
    const names = new LiveBinaryNames((pid) => (reads++, pid === 7 ? { startTicks: startTicksOf(1_230_000_000n), exe: '/bin/x' } : null));
    expect(names.lookup(7, 1_230_000_000n)).toBe('/bin/x');
    expect(names.lookup(7, 9_990_000_000n)).toBeNull(); // the pid was reused: another process
    expect(names.lookup(7, 1_230_000_000n)).toBe('/bin/x');
    expect(reads).toBe(2);
  });
});

describe('the process tree from events alone', () => {
  it('links processes through parentProcessId and the ancestors, and marks the entry', () => {
    const tree = new ProcessTree();
    const shell = execEvent(1, {
      filename: '/bin/sh',
      argv: ['sh'],
      entry: true,
      ancestors: [{ processId: 'b:9:900', pid: 900, comm: 'runc', filename: null, outside: true }],
    });
    shell.processId = 'b:10:501';
    shell.parentProcessId = 'b:9:900';
    const ls = execEvent(2, { filename: '/bin/ls', argv: ['ls', '/'], ancestors: [{ processId: 'b:10:501', pid: 501, comm: 'sh', filename: '/bin/sh', outside: false }] });
    ls.processId = 'b:11:502';
    ls.parentProcessId = 'b:10:501';
    const done = exitEvent(2, { code: 0 });
    done.processId = 'b:11:502';
    tree.add(shell);
    tree.add(ls);
    tree.add(done);
    const lines = tree.lines();
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(/^900 runc\s+\[outside the container\]$/);
    expect(lines[1]).toMatch(/^└─ \d+ sh\s+\/bin\/sh\s+\[ENTRY, docker /);
    expect(lines[2]).toMatch(/^   └─ \d+ sh\s+\/bin\/ls \/\s+\[docker \w+, exit 0\]$/);
  });
});
