/**
 * Who did it, against real runc containers and the real kernel: identity across PID reuse,
 * lineage through processes that are gone, entry into a container from outside (`runc exec`),
 * the binary (overlayfs upper layer, memfd, hash), more of the exec (cwd, audit ids,
 * capabilities, user namespace), long argv and a custom cgroup parent.
 *
 * Each test filters on its own container ids: other suites run containers at the same time.
 */
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Tracer, type TracerOptions } from '../src/tracer/tracer.js';
import { toJsonLine } from '../src/format/json.js';
import type { ExecEvent, TraceEvent } from '../src/events/event.js';
import { privileged } from './helpers/privileges.js';
import { buildRootfs } from './helpers/rootfs.js';
import { cleanupAllContainers, createContainer, dockerId, runContainer, runContainerToExit } from './helpers/runc.js';
import { ctraceBin, startCtrace, type JsonEvent } from './helpers/ctrace-cli.js';

const repoRoot = resolve(fileURLToPath(import.meta.url), '../..');
const execFileAsync = promisify(execFile);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A tracer that keeps every event of the given containers. */
function collect(opts: TracerOptions = {}) {
  const tracer = new Tracer({ events: ['exec', 'exit'], ...opts });
  const events: TraceEvent[] = [];
  tracer.onEvent((ev) => events.push(ev));
  const execs = (id: string) => events.filter((e): e is ExecEvent => e.type === 'exec' && e.container?.id === id);
  async function waitFor<T>(find: () => T | undefined, what: string, ms = 15_000): Promise<T> {
    for (const end = Date.now() + ms; Date.now() < end; await sleep(20)) {
      const v = find();
      if (v !== undefined) return v;
    }
    throw new Error(`timed out waiting for ${what}`);
  }
  return { tracer, events, execs, waitFor };
}

const withArg = (evs: ExecEvent[], arg: string) => evs.find((e) => e.exec.argv.includes(arg));

describe.runIf(privileged())('who did it: identity, lineage, entry, the binary', () => {
  const tracers: Tracer[] = [];
  const track = (c: ReturnType<typeof collect>) => (tracers.push(c.tracer), c);
  afterEach(async () => {
    for (const t of tracers.splice(0)) await t.close();
  });
  afterAll(async () => {
    await cleanupAllContainers();
  });

  it('flags `runc exec` into a running container as an entry, with runc as the outside ancestor; the container own children are not', async () => {
    const c = track(collect());
    const id = dockerId();
    const box = await runContainer({ id, cgroupsPath: `/docker/${id}`, args: ['/bin/sh', '-c', '/bin/true own-child; exec /bin/sleep 60'] });
    try {
      // asynchronously: the tracer (in this process) reads the events while runc still runs
      const r = await execFileAsync('runc', ['exec', '--cwd', '/tmp', id, '/bin/sh', '-c', '/bin/true entered-child; echo done; sleep 0.5'], {
        encoding: 'utf8',
        timeout: 20_000,
      });
      expect(r.stdout).toContain('done');
      const shell = await c.waitFor(() => withArg(c.execs(id), '/bin/true entered-child; echo done; sleep 0.5'), 'the exec of the entered shell');
      const child = await c.waitFor(() => withArg(c.execs(id), 'entered-child'), "the entered shell's child");
      const own = await c.waitFor(() => withArg(c.execs(id), 'own-child'), "the init's own child");
      const init = c.execs(id).find((e) => e.nspid === 1 && e.exec.filename === '/bin/sh')!;

      expect(shell.exec.entry).toBe(true);
      const outside = shell.exec.ancestors![0]!;
      expect(outside).toMatchObject({ comm: 'runc', outside: true, filename: expect.stringMatching(/runc$/) });
      expect(shell.exec.ancestors).toHaveLength(1);
      expect(shell.parentProcessId).toBe(outside.processId);
      expect(shell.exec.cwd).toBe('/tmp');
      // the audit ids are the host session's, kept through runc
      const loginuid = Number(readFileSync('/proc/self/loginuid', 'utf8'));
      expect(shell.exec.loginUid).toBe(loginuid === 0xffffffff ? null : loginuid);
      expect(shell.exec.capabilities).toContain('CAP_CHOWN');
      expect(shell.exec.capabilities).not.toContain('CAP_SYS_ADMIN');
      expect(shell.exec.hostRoot).toBe(true);
      expect(shell.exec.userNs).toBe(statSync('/proc/self/ns/user').ino);

      // the entered shell's child: not an entry, its chain runs through the shell to runc
      expect(child.exec.entry).toBe(false);
      expect(child.exec.ancestors!.map((a) => [a.processId, a.outside])).toEqual([
        [shell.processId, false],
        [outside.processId, true],
      ]);
      expect(child.exec.ancestors![0]!.filename).toBe('/bin/sh');
      // the container's own process and its init are not entries
      expect(own.exec.entry).toBe(false);
      expect(own.exec.ancestors![0]!.processId).toBe(init.processId);
      expect(init.exec.entry).toBe(false);
      expect(init.exec.ancestors![0]!.outside).toBe(true);
      // the init execs again (exec /bin/sleep): the same process, another exec
      const sleeper = await c.waitFor(() => c.execs(id).find((e) => e.pid === init.pid && e.exec.filename === '/bin/sleep'), 'the exec of sleep');
      expect(sleeper.processId).toBe(init.processId);
      expect(sleeper.exec.execId).not.toBe(init.exec.execId);
      expect(sleeper.exec.execId!.startsWith(`${init.processId}:`)).toBe(true);
    } finally {
      await box.remove();
    }
  });

  it('the CLI: the entry in the JSON form and the protobuf log, and `read --tree` rebuilds the tree from the log alone', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ctrace-identity-'));
    const log = join(dir, 'ctrace.log');
    const id = dockerId();
    const ct = await startCtrace(['--log', log, '--log-format', 'protobuf']);
    try {
      const box = await runContainer({ id, cgroupsPath: `/docker/${id}`, args: ['/bin/sh', '-c', 'exec /bin/sleep 60'] });
      try {
        await execFileAsync('runc', ['exec', id, '/bin/sh', '-c', '/bin/true cli-child; echo ok'], { timeout: 20_000 });
        const mine = (evs: JsonEvent[]) => evs.filter((e) => e.container?.id === id && e.type === 'exec');
        await ct.waitFor((evs) => mine(evs).some((e) => e.exec.argv.includes('cli-child')), 15_000, 'the entered child');
        const shell = mine(ct.events).find((e) => e.exec.argv[2] === '/bin/true cli-child; echo ok')!;
        expect(shell.exec).toMatchObject({ entry: true, ancestors: [{ comm: 'runc', outside: true }] });
        expect(shell.processId).toMatch(/^[0-9a-f]{32}:\d+:\d+$/);
        expect(shell.exec.execId).toBe(`${shell.processId}:${shell.exec.execId.split(':').pop()}`);
        // every key of the documented JSON form is there, absent data null
        for (const k of ['cwd', 'tty', 'loginUid', 'sessionId', 'capEffective', 'capabilities', 'userNs', 'hostRoot', 'binary']) {
          expect(shell.exec, k).toHaveProperty(k);
        }
        expect(shell.exec.binary).toMatchObject({ sha256: expect.stringMatching(/^[0-9a-f]{64}$/), upperLayer: false, memfd: false });
      } finally {
        await box.remove();
      }
    } finally {
      await ct.stop();
    }
    const json = spawnSync(process.execPath, [ctraceBin, 'read', '-o', 'json', log], { encoding: 'utf8' });
    const fromLog = json.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l)).filter((e) => e.container?.id === id && e.type === 'exec');
    const shell = fromLog.find((e) => e.exec.argv[2] === '/bin/true cli-child; echo ok')!;
    expect(shell.exec).toMatchObject({ entry: true, ancestors: [{ comm: 'runc', outside: true }] });
    const tree = spawnSync(process.execPath, [ctraceBin, 'read', '--tree', '-c', id.slice(0, 12), log], { encoding: 'utf8' });
    expect(tree.status).toBe(0);
    const lines = tree.stdout.split('\n').filter(Boolean);
    // runc (outside) → the entered shell → its child, as the log's events alone say
    const runcAt = lines.findIndex((l) => / runc +\[outside the container\]/.test(l) && lines.some((m) => m.includes('ENTRY')));
    expect(runcAt, tree.stdout).toBeGreaterThanOrEqual(0);
    const shellLine = lines.find((l) => l.includes('[ENTRY'))!;
    expect(shellLine).toMatch(/^\s*└─ \d+ sh +\/bin\/sh -c/);
    expect(lines[lines.indexOf(shellLine) + 1]).toMatch(/^\s+└─ \d+ \S+ +\/bin\/true cli-child/);
    rmSync(dir, { recursive: true, force: true });
  });

  it('gives a reused PID a new processId (ns_last_pid forces the reuse)', async () => {
    const c = track(collect());
    const id = dockerId();
    const box = await runContainer({
      id,
      cgroupsPath: `/docker/${id}`,
      args: ['/bin/sh', '-c', 'mkfifo /tmp/go; i=0; while [ $i -lt 40 ]; do read x < /tmp/go; /bin/true reuse-$x; i=$((i+1)); done'],
    });
    try {
      const fifo = `/proc/${box.pid}/root/tmp/go`;
      await c.waitFor(() => (existsSync(fifo) ? true : undefined), 'the fifo');
      // written without a fork of our own, which would take the PID
      writeFileSync(fifo, 'first\n');
      const first = await c.waitFor(() => withArg(c.execs(id), 'reuse-first'), 'the first process');
      await c.waitFor(() => c.events.find((e) => e.type === 'exit' && e.pid === first.pid), 'its exit');
      let second: ExecEvent | undefined;
      for (let i = 0; i < 30 && !second; i++) {
        writeFileSync('/proc/sys/kernel/ns_last_pid', String(first.pid - 1));
        writeFileSync(fifo, `try${i}\n`);
        const ev = await c.waitFor(() => withArg(c.execs(id), `reuse-try${i}`), `attempt ${i}`);
        if (ev.pid === first.pid) second = ev;
      }
      expect(second, 'the host gave the PID to another process first, 30 times').toBeDefined();
      expect(second!.pid).toBe(first.pid);
      expect(second!.processId).not.toBe(first.processId);
      expect(second!.exec.execId).not.toBe(first.exec.execId);
      const exits = c.events.filter((e) => e.type === 'exit' && e.pid === first.pid);
      expect(exits[0]!.processId).toBe(first.processId);
    } finally {
      await box.remove();
    }
  });

  it('records a chain through processes that exited, and the reaper that adopted an orphan', async () => {
    const c = track(collect());
    const id = dockerId();
    // init → B (sh) → C (sh) → D: C and B exit as soon as D has (likely before userland reads
    // D's exec; the chain is the kernel's, from the exec). Then an orphan: E forks F and exits;
    // F execs after E is gone, adopted by init.
    const script = [
      `/bin/sh -c '/bin/sh -c "/bin/true chain-leaf; exit 0"; exit 0'`,
      `/bin/sh -c '(sleep 0.5; exec /bin/echo orphan-leaf) & exit 0'`,
      'sleep 2',
    ].join('; ');
    const run = await runContainerToExit({ id, cgroupsPath: `/docker/${id}`, args: ['/bin/sh', '-c', script] });
    expect(run.code).toBe(0);
    const leaf = await c.waitFor(() => withArg(c.execs(id), 'chain-leaf'), 'the leaf');
    const orphan = await c.waitFor(() => withArg(c.execs(id), 'orphan-leaf'), 'the orphan');
    const execs = c.execs(id);
    const init = execs.find((e) => e.nspid === 1)!;
    const b = execs.find((e) => e.exec.argv[2]?.startsWith('/bin/sh -c "/bin/true chain-leaf'))!;
    const cc = execs.find((e) => e.exec.argv[2] === '/bin/true chain-leaf; exit 0')!;
    expect(leaf.exec.ancestors!.map((a) => a.processId)).toEqual([cc.processId, b.processId, init.processId]);
    expect(leaf.exec.ancestors!.map((a) => a.filename)).toEqual(['/bin/sh', '/bin/sh', '/bin/sh']);
    expect(leaf.parentProcessId).toBe(cc.processId);
    // the orphan's parent at its exec is the reaper (init); its first parent is not guessed
    expect(orphan.parentProcessId).toBe(init.processId);
    expect(orphan.exec.ancestors!.map((a) => a.processId)).toEqual([init.processId]);
    expect(orphan.exec.entry).toBe(false);
  });

  it('names the binary of an ancestor that started before ctrace (from the /proc walk at start), and its identity matches its later events', async () => {
    const id = dockerId();
    const box = await runContainer({ id, cgroupsPath: `/docker/${id}`, args: ['/bin/sh', '-c', 'mkfifo /tmp/go; read x < /tmp/go; /bin/true after-start; exit 3'] });
    try {
      const c = track(collect());
      const fifo = `/proc/${box.pid}/root/tmp/go`;
      await c.waitFor(() => (existsSync(fifo) ? true : undefined), 'the fifo');
      writeFileSync(fifo, 'go\n');
      const ev = await c.waitFor(() => withArg(c.execs(id), 'after-start'), 'the exec');
      const init = ev.exec.ancestors![0]!;
      expect(init.pid).toBe(box.pid);
      expect(init.filename).toMatch(/\/(sh|busybox)$/);
      // the init's own exit carries the same processId as its place in the chain
      const exit = await c.waitFor(() => c.events.find((e) => e.type === 'exit' && e.pid === box.pid), "the init's exit");
      expect(exit.processId).toBe(init.processId);
      expect(ev.parentProcessId).toBe(init.processId);
    } finally {
      await box.remove();
    }
  });

  it('bounds the chain with --ancestors and says it was cut', async () => {
    const c = track(collect({ ancestors: 2 }));
    const id = dockerId();
    await runContainerToExit({ id, cgroupsPath: `/docker/${id}`, args: ['/bin/sh', '-c', `/bin/sh -c '/bin/sh -c "/bin/true deep; exit 0"; exit 0'; exit 0`] });
    const leaf = await c.waitFor(() => withArg(c.execs(id), 'deep'), 'the leaf');
    expect(leaf.exec.ancestors).toHaveLength(2);
    expect(leaf.exec.ancestorsTruncated).toBe(true);
  });

  describe('the binary', () => {
    let work: string;
    let merged: string;
    beforeAll(async () => {
      const lower = await buildRootfs();
      work = mkdtempSync(join(tmpdir(), 'ctrace-overlay-'));
      for (const d of ['upper', 'work', 'merged']) mkdirSync(join(work, d));
      merged = join(work, 'merged');
      execFileSync('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${lower},upperdir=${work}/upper,workdir=${work}/work`, merged]);
      execFileSync('cc', ['-static', '-O2', '-o', join(work, 'memfdexec'), join(repoRoot, 'test/fixtures/memfdexec.c')]);
    });
    afterAll(() => {
      spawnSync('umount', [merged]);
      rmSync(work, { recursive: true, force: true });
    });

    it('tells a binary written into the overlayfs upper layer after start from one of the image, and a memfd exec', async () => {
      const c = track(collect());
      const id = dockerId();
      const box = await createContainer({
        id,
        cgroupsPath: `/docker/${id}`,
        rootfs: merged,
        args: ['/bin/sh', '-c', 'mkfifo /tmp/go; read x < /tmp/go; /bin/true from-lower; /bin/added from-upper; /bin/memfdexec /bin/busybox echo from-memfd; sleep 1; exit 0'],
      });
      try {
        await box.start();
        // copied in after the start, through the merged view: it lands in the upper dir
        copyFileSync('/bin/busybox', join(merged, 'bin/added'));
        copyFileSync(join(work, 'memfdexec'), join(merged, 'bin/memfdexec'));
        const fifo = `/proc/${box.pid}/root/tmp/go`;
        await c.waitFor(() => (existsSync(fifo) ? true : undefined), 'the fifo');
        writeFileSync(fifo, 'go\n');
        const lowerEv = await c.waitFor(() => withArg(c.execs(id), 'from-lower'), 'the lower exec');
        const upperEv = await c.waitFor(() => withArg(c.execs(id), 'from-upper'), 'the upper exec');
        const memfdEv = await c.waitFor(() => c.execs(id).find((e) => e.exec.argv[0] === 'echo' && e.exec.argv.includes('from-memfd')), 'the memfd exec');
        await box.exited;

        const busyboxHash = createHash('sha256').update(readFileSync('/bin/busybox')).digest('hex');
        expect(lowerEv.exec.binary).toMatchObject({ upperLayer: false, memfd: false, deleted: false, sha256: busyboxHash, hashError: null });
        expect(upperEv.exec.binary).toMatchObject({ upperLayer: true, memfd: false, sha256: busyboxHash });
        expect(upperEv.exec.binary!.hostPath).toMatch(/\/bin\/added$/);
        expect(memfdEv.exec.filename).toMatch(/^\/dev\/fd\/\d+$/);
        expect(memfdEv.exec.binary).toMatchObject({ memfd: true, deleted: true, upperLayer: false, hostPath: null });
        // the memfd holds busybox: its hash, or the reason it is missing (the echo may be gone already)
        const m = memfdEv.exec.binary!;
        expect(m.sha256 === busyboxHash || (m.sha256 === null && typeof m.hashError === 'string')).toBe(true);
      } finally {
        await box.remove();
      }
    });
  });

  it('a container that execs new large binaries in a loop gets them hashed within --hash-budget, every exec reported, the rest saying why', async () => {
    // 24 MiB: room for runc's own binary (runc init, once per ctrace) and whatever other suites'
    // containers bring meanwhile, before the flood (ten files of over 5 MiB) runs it dry
    const run = await startCtrace(['--hash-budget', '24M']);
    try {
      const id = dockerId();
      const n = 10;
      // each copy a new inode of over 5 MiB (busybox, then zeros, then its number): a flood of new binaries
      const script =
        'dd if=/dev/zero of=/tmp/pad bs=1048576 count=4 2>/dev/null; ' +
        `for i in $(seq ${n}); do cat /bin/busybox /tmp/pad > /tmp/busybox$i; echo $i >> /tmp/busybox$i; chmod +x /tmp/busybox$i; done; ` +
        `for i in $(seq ${n}); do /tmp/busybox$i true flood-$i; done; sleep 0.3`;
      const r = await runContainerToExit({ id, cgroupsPath: `/docker/${id}`, args: ['/bin/sh', '-c', script] });
      expect(r.code).toBe(0);
      const flood = (evs: JsonEvent[]) =>
        evs.filter((e) => e.type === 'exec' && e.container?.id === id && (e.exec?.argv as string[] | undefined)?.some((a) => a.startsWith('flood-')));
      await run.waitFor((evs) => flood(evs).length === n, 15_000, `the ${n} execs of ${id}`);
      const binaries = flood(run.events).map((e) => e.exec!.binary as { sha256: string | null; hashError: string | null; size: number });
      expect(binaries).toHaveLength(n);
      for (const b of binaries) expect(b.size).toBeGreaterThan(4 * 1024 * 1024);
      const hashed = binaries.filter((b) => b.sha256 !== null);
      const refused = binaries.filter((b) => b.hashError === 'not hashed: more than 24 MiB of new binaries a second (the hash budget)');
      // the first are read at once; the loop runs far faster than 24 MiB a second pays back
      expect(hashed.length).toBeGreaterThanOrEqual(1);
      expect(refused.length).toBeGreaterThanOrEqual(1);
      for (const b of hashed) expect(b.sha256).toMatch(/^[0-9a-f]{64}$/);
      // none is both, and every missing hash says why
      for (const b of binaries) expect((b.sha256 === null) !== (b.hashError === null)).toBe(true);
      // the stop summary counts them (other suites' execs may add to it)
      const { code, stderr } = await run.stop('SIGINT');
      expect(code, stderr).toBe(0);
      const skipped = /, (\d+) execs not hashed \(more new binaries than --hash-budget a second\)/.exec(stderr);
      expect(skipped, stderr).not.toBeNull();
      expect(Number(skipped![1])).toBeGreaterThanOrEqual(refused.length);
    } finally {
      await run.stop('SIGINT');
    }
  });

  it('records argv up to the configured total and flags the cut', async () => {
    const long = Array.from({ length: 60 }, (_, i) => `arg${i}-${'x'.repeat(100)}`); // ~6.5 KB
    for (const [argvMax, cut] of [
      [undefined, true],
      [32768, false],
    ] as const) {
      const c = track(collect(argvMax ? { argvMax } : {}));
      const id = dockerId();
      await runContainerToExit({ id, cgroupsPath: `/docker/${id}`, args: ['/bin/echo', ...long] });
      const ev = await c.waitFor(() => c.execs(id).find((e) => e.exec.filename === '/bin/echo'), 'the echo');
      expect(ev.exec.argvTruncated).toBe(cut);
      if (cut) {
        expect(ev.exec.argv.join('\0').length).toBeLessThanOrEqual(4096);
        expect(ev.exec.argv.length).toBeGreaterThan(20);
      } else {
        expect(ev.exec.argv).toEqual(['/bin/echo', ...long]);
      }
      await c.tracer.close();
    }
  });

  it("the addon's lane writes a container's later execs (ancestors, binary and hash as JavaScript resolved them for the first), the line the object path writes, and the process table still learns them", async () => {
    // two tracers on the same events: one with the lane, one with objects only
    const lane = track(collect({ jsonLane: true }));
    const objects = track(collect());
    const lines: string[] = [];
    lane.tracer.onLines((b) => lines.push(...b.toString('utf8').split('\n').filter(Boolean)));
    const id = dockerId();
    const box = await runContainer({
      id,
      cgroupsPath: `/docker/${id}`,
      // the pause lets JavaScript resolve the first execs (busybox: one binary for every applet)
      // and hand the addon what it found, however fast the loop then runs
      args: ['/bin/sh', '-c', '/bin/true warm-up; /bin/sleep 0.5; for i in 1 2 3 4 5 6 7 8 9 10 11 12; do /bin/true lane-$i; done; exec /bin/sleep 60'],
    });
    try {
      const isSleeper = (argv: string[]) => argv[0] === '/bin/sleep' && argv[1] === '60';
      const sleeper = await objects.waitFor(() => objects.execs(id).find((e) => isSleeper(e.exec.argv)), 'the exec of sleep');
      const mine = (l: string) => l.includes(`"id":"${id}"`) && l.startsWith('{"type":"exec"');
      await lane.waitFor(
        () => (lines.some((l) => mine(l) && l.includes('"argv":["/bin/sleep","60"]')) || lane.execs(id).some((e) => isSleeper(e.exec.argv)) ? true : undefined),
        "the lane tracer's exec of sleep",
      );
      const viaLane = lines.filter(mine);
      // after the first execs (the cgroup and its binaries new to JavaScript) the lane takes them
      expect(viaLane.length).toBeGreaterThan(3);
      // the time aside (each tracer reads the clock offset itself), the object path's very line
      const noTime = (l: string) => l.replace(/"time":"[^"]*"/, '');
      const byExecId = new Map(objects.execs(id).map((e) => [e.exec.execId, noTime(toJsonLine(e))]));
      for (const l of viaLane) expect(noTime(l)).toBe(byExecId.get(JSON.parse(l).exec.execId));
      const true5 = JSON.parse(viaLane.find((l) => l.includes('"lane-5"')) ?? viaLane[0]!);
      expect(true5.exec.ancestors[0]).toMatchObject({ comm: 'sh', filename: '/bin/sh', outside: false });
      expect(true5.exec.binary.sha256).toMatch(/^[0-9a-f]{64}$/);
      // the process table learnt the lane's exec of sleep (ps, process())
      const entry = lane.tracer.process(sleeper.pid);
      expect(entry).toMatchObject({ filename: '/bin/sleep', argv: ['/bin/sleep', '60'] });
      expect(lane.tracer.processes(id).map((p) => p.pid)).toContain(sleeper.pid);
    } finally {
      await box.remove();
    }
  });

  it('attributes a container under a custom cgroup parent (docker --cgroup-parent) to docker', async () => {
    const c = track(collect());
    const id = dockerId();
    await runContainerToExit({ id, cgroupsPath: `/ctrace-ci-runner/job-7/${id}`, args: ['/bin/true', 'custom-parent'] });
    const ev = await c.waitFor(() => c.execs(id).find((e) => e.exec.argv.includes('custom-parent')), 'the exec');
    expect(ev.scope).toBe('container');
    expect(ev.container).toMatchObject({ id, runtime: 'docker' });
  });
});
