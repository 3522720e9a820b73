/**
 * What the kernel side records can be believed (issue 12): a mount raced by a second thread
 * is recorded as the kernel did it or flagged; a container in a host-looking cgroup, or moved
 * out of its own, is still reported; a long filename is not cut. Real BPF, real runc
 * containers, the real CLI's JSON output.
 */
import { execFileSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CGROUP_ROOT, mountedHierarchies } from './helpers/cgroups.js';
import { repoRoot, startCtrace, type CtraceRun, type JsonEvent } from './helpers/ctrace-cli.js';
import { privileged } from './helpers/privileges.js';
import { buildRootfs } from './helpers/rootfs.js';
import { cleanupAllContainers, dockerId, runContainer, runContainerToExit } from './helpers/runc.js';

const RACES = 1500;

const ofContainer = (events: JsonEvent[], id: string, type?: string) =>
  events.filter((e) => e.container?.id === id && (!type || e.type === type));
const withMarker = (events: JsonEvent[], marker: string) =>
  events.filter((e) => e.type === 'exec' && (e.exec.argv as string[]).includes(marker));

describe.runIf(privileged())('what the kernel records can be believed', () => {
  let ct: CtraceRun;
  let rootfs: string;

  beforeAll(async () => {
    rootfs = await buildRootfs();
    for (const f of ['mountrace', 'longexec', 'newmount']) {
      execFileSync('cc', ['-static', '-O2', '-pthread', '-o', join(rootfs, `bin/${f}`), join(repoRoot, `test/fixtures/${f}.c`)]);
    }
    ct = await startCtrace();
  });
  afterAll(async () => {
    await ct?.stop('SIGTERM');
    await cleanupAllContainers();
  });

  it(`records each of ${RACES} mounts whose target a second thread rewrites as the kernel did it, or flags it`, async () => {
    const id = dockerId();
    const run = await runContainerToExit({
      id,
      cgroupsPath: `/docker/${id}`,
      args: ['/bin/mountrace', String(RACES)],
      capAdd: ['CAP_SYS_ADMIN'],
    });
    expect(run.code).toBe(0);
    // what the kernel did, call by call: "<i> <ret> <mounted target or ->"
    const truth = run.stdout.trim().split('\n').map((l) => {
      const [, ret, where] = l.split(' ');
      return { ret: Number(ret), where: where! };
    });
    expect(truth).toHaveLength(RACES);
    const mounts = () => ofContainer(ct.events, id, 'mount').filter((e) => e.comm === 'mountrace');
    await ct.waitFor(() => mounts().length >= RACES, 30_000, `${RACES} mount records of ${id}`);
    const recs = mounts();
    expect(recs).toHaveLength(RACES);

    let succeeded = 0;
    let changed = 0;
    let wrong = 0;
    let wrongUnflagged = 0;
    let unverified = 0;
    recs.forEach((e, i) => {
      const m = e.mount;
      const t = truth[i]!;
      expect(m.ret).toBe(t.ret); // the return value is the kernel's
      if (m.argsChanged) changed++;
      if (m.argsUnverified) unverified++;
      const flagged = m.argsChanged || m.argsUnverified;
      // a success names the mount that exists; a failure is only ever the caller's claim
      const isWrong = t.ret === 0 ? m.target !== t.where : !m.argsUnverified;
      if (t.ret === 0) succeeded++;
      if (isWrong) wrong++;
      if (isWrong && !flagged) wrongUnflagged++;
      if (t.ret === 0) {
        expect(m).toMatchObject({ kernelView: true, argsUnverified: false, source: 'ctrace-race', fstype: 'tmpfs' });
      } else {
        expect(m.argsUnverified).toBe(true);
      }
    });
    console.log(
      `mount race: ${RACES} mounts, ${succeeded} succeeded, ${changed} seen changed (argsChanged), ` +
        `${unverified} unverified (failed), ${wrong} recorded wrongly, ${wrongUnflagged} wrong and unflagged`,
    );
    expect(wrongUnflagged).toBe(0);
    expect(wrong).toBe(0);
    // the race really ran: the target flipped between calls (both outcomes happened); how many
    // calls saw it flip during the call (argsChanged) depends on scheduling, and is printed
    expect(succeeded).toBeGreaterThan(0);
    expect(succeeded).toBeLessThan(RACES);
  }, 120_000);

  it('reports a runc container in a /system.slice/<x>.service cgroup as isolated, scope unknown', async () => {
    const id = dockerId();
    const marker = `ctrace-hidden-${process.pid}-${Date.now()}`;
    const run = await runContainerToExit({
      id,
      cgroupsPath: `/system.slice/ctrace-hidden-${id.slice(0, 12)}.service`,
      args: ['/bin/sh', '-c', `/bin/true ${marker}; exit 3`],
    });
    expect(run.code).toBe(3);
    await ct.waitFor((ev) => withMarker(ev, marker).length > 0, 10_000, `exec of ${marker}`);
    const exec = withMarker(ct.events, marker)[0]!;
    expect(exec).toMatchObject({
      scope: 'unknown',
      container: null,
      reason: 'isolated process in a host cgroup',
      cgroupPath: `/system.slice/ctrace-hidden-${id.slice(0, 12)}.service`,
    });
    expect(exec.nspid).not.toBe(exec.pid); // its own PID namespace
    // the container's own process, start to end
    await ct.waitFor((ev) => ev.some((e) => e.type === 'exit' && e.pid === run.pid), 10_000, `exit of ${run.pid}`);
    const exit = ct.events.find((e) => e.type === 'exit' && e.pid === run.pid)!;
    expect(exit).toMatchObject({ scope: 'unknown', reason: 'isolated process in a host cgroup', exit: { code: 3 } });
  });

  it('keeps reporting a container process moved into the root cgroup of every hierarchy, and shows the move', async () => {
    const id = dockerId();
    const marker = `ctrace-moved-${process.pid}-${Date.now()}`;
    // the shell waits for a file the test writes (in the shared rootfs) once it has moved the shell
    const go = `ctrace-go-${id.slice(0, 12)}`;
    const c = await runContainer({
      id,
      cgroupsPath: `/docker/${id}`,
      args: ['/bin/sh', '-c', `while [ ! -e /${go} ]; do /bin/sleep 0.05; done; /bin/true ${marker}; exit 4`],
    });
    try {
      await ct.waitFor((ev) => ofContainer(ev, id, 'exec').some((e) => e.pid === c.pid), 10_000, `exec of ${id}`);
      for (const h of mountedHierarchies()) writeFileSync(join(CGROUP_ROOT, h, 'cgroup.procs'), `${c.pid}\n`);
      writeFileSync(join(rootfs, go), '');
      const exit = await c.exited;
      expect(exit.code).toBe(4);
      await ct.waitFor((ev) => ev.some((e) => e.type === 'exit' && e.pid === c.pid), 10_000, `exit of ${c.pid}`);
    } finally {
      await c.remove();
      rmSync(join(rootfs, go), { force: true });
    }
    // the shell's child, exec'd in the root cgroup, and the shell's own exit: both still
    // reported, with the new cgroup, the container they came from and why
    const moved = { scope: 'unknown', cgroupPath: '/', reason: 'container process moved to a host cgroup', container: { id } };
    expect(withMarker(ct.events, marker)[0]).toMatchObject(moved);
    expect(ct.events.find((e) => e.type === 'exit' && e.pid === c.pid)).toMatchObject({ ...moved, exit: { code: 4 } });
  });

  it('captures a 3,000-byte filename whole, and says when one is cut', async () => {
    const id = dockerId();
    const dir = '/tmp/' + Array.from({ length: 12 }, (_, i) => `${i}`.padStart(3, '0') + 'd'.repeat(247)).join('/');
    const file = `${dir}/true`; // busybox: the applet is the file's name
    expect(file.length).toBeGreaterThan(3000);
    const run = await runContainerToExit({
      id,
      cgroupsPath: `/docker/${id}`,
      args: ['/bin/sh', '-c', `mkdir -p ${dir} && cp /bin/true ${file} && ${file} long`],
    });
    expect(run.code).toBe(0);
    await ct.waitFor((ev) => ofContainer(ev, id, 'exec').some((e) => e.exec.argv[1] === 'long'), 10_000, `exec of ${file}`);
    const exec = ofContainer(ct.events, id, 'exec').find((e) => e.exec.argv[1] === 'long')!;
    expect(exec.exec.filename).toBe(file);
    expect(exec.exec.filenameTruncated).toBe(false);
  });

  it('flags a filename the kernel names beyond PATH_MAX (execveat through a directory fd) as cut', async () => {
    const id = dockerId();
    const run = await runContainerToExit({ id, cgroupsPath: `/docker/${id}`, args: ['/bin/longexec', '/tmp', '/bin/true', 'cut'] });
    expect(run.code).toBe(0);
    expect(Number(run.stdout.trim())).toBe(4090); // the relative path given to execveat
    await ct.waitFor((ev) => ofContainer(ev, id, 'exec').some((e) => e.exec.argv[1] === 'cut'), 10_000, `exec in ${id}`);
    const exec = ofContainer(ct.events, id, 'exec').find((e) => e.exec.argv[1] === 'cut')!;
    expect(exec.exec.filename).toMatch(/^\/dev\/fd\/\d+\/aaaa/);
    expect(exec.exec.filename).toHaveLength(4095);
    expect(exec.exec.filenameTruncated).toBe(true);
  });

  it('flags a mount source and mount point longer than the record holds as cut', async () => {
    const id = dockerId();
    const source = 's'.repeat(300);
    const deep = `/tmp/${'p'.repeat(200)}/${'q'.repeat(200)}`;
    const run = await runContainerToExit({
      id,
      cgroupsPath: `/docker/${id}`,
      args: ['/bin/sh', '-c', `mount -t tmpfs ${source} /tmp && mkdir -p ${deep} && mount -t tmpfs short ${deep}`],
      capAdd: ['CAP_SYS_ADMIN'],
    });
    expect(run.code).toBe(0);
    const mountsBy = (ev: JsonEvent[]) => ofContainer(ev, id, 'mount').filter((e) => e.comm === 'mount');
    await ct.waitFor((ev) => mountsBy(ev).length >= 2, 10_000, `mounts in ${id}`);
    const [first, second] = mountsBy(ct.events);
    expect(first!.mount).toMatchObject({ kernelView: true, sourceTruncated: true, targetTruncated: false, target: '/tmp', ret: 0 });
    expect(first!.mount.source).toBe(source.slice(0, 255));
    // the kernel's path is built leaf first: a cut one keeps its last components
    expect(second!.mount).toMatchObject({ kernelView: true, sourceTruncated: false, targetTruncated: true, source: 'short', ret: 0 });
    expect(second!.mount.target).toBe(`/${'q'.repeat(200)}`);
  });

  it('leaves a remount, which creates no mount, as the caller\'s claim', async () => {
    const id = dockerId();
    const run = await runContainerToExit({
      id,
      cgroupsPath: `/docker/${id}`,
      args: ['/bin/sh', '-c', 'mkdir /tmp/r && mount -t tmpfs fresh /tmp/r && mount -o remount,ro /tmp/r'],
      capAdd: ['CAP_SYS_ADMIN'],
    });
    expect(run.code).toBe(0);
    const mountsBy = (ev: JsonEvent[]) => ofContainer(ev, id, 'mount').filter((e) => e.comm === 'mount');
    await ct.waitFor((ev) => mountsBy(ev).length >= 2, 10_000, `mounts in ${id}`);
    const [created, remount] = mountsBy(ct.events);
    expect(created!.mount).toMatchObject({ source: 'fresh', target: '/tmp/r', fstype: 'tmpfs', kernelView: true, argsUnverified: false });
    expect(remount!.mount).toMatchObject({ target: '/tmp/r', ret: 0, kernelView: false, argsUnverified: true, argsChanged: false });
  });

  // The exit hook finds the call's mount without a walk when it is the namespace's only new one;
  // a recursive bind makes two, and must still be told apart from a single bind.
  it('verifies a bind from its one new mount, and flags a recursive bind that made two', async () => {
    const id = dockerId();
    const run = await runContainerToExit({
      id,
      cgroupsPath: `/docker/${id}`,
      args: [
        '/bin/sh',
        '-c',
        'mkdir -p /tmp/a /tmp/b /tmp/c && mount -t tmpfs top /tmp/a && mkdir /tmp/a/sub && mount -t tmpfs inner /tmp/a/sub' +
          ' && mount -o rbind /tmp/a /tmp/b && mount -o bind /tmp/a /tmp/c',
      ],
      capAdd: ['CAP_SYS_ADMIN'],
    });
    expect(run.code).toBe(0);
    const mountsBy = (ev: JsonEvent[]) => ofContainer(ev, id, 'mount').filter((e) => e.comm === 'mount');
    await ct.waitFor((ev) => mountsBy(ev).length >= 4, 10_000, `mounts in ${id}`);
    const [top, inner, rbind, bind] = mountsBy(ct.events);
    expect(top!.mount).toMatchObject({ source: 'top', target: '/tmp/a', kernelView: true, argsUnverified: false });
    expect(inner!.mount).toMatchObject({ source: 'inner', target: '/tmp/a/sub', kernelView: true, argsUnverified: false });
    // the call's own mount is the first of the two (the submount's copy comes after it)
    expect(rbind!.mount).toMatchObject({ source: 'top', target: '/tmp/b', ret: 0, kernelView: true, argsUnverified: true });
    expect(bind!.mount).toMatchObject({ source: 'top', target: '/tmp/c', ret: 0, kernelView: true, argsUnverified: false });
  });

  it('reports a move_mount (fsopen, fsconfig, fsmount) from the mount itself, verified', async () => {
    const id = dockerId();
    const run = await runContainerToExit({
      id,
      cgroupsPath: `/docker/${id}`,
      args: ['/bin/newmount', '/mnt', 'ctrace-verified-src'],
      capAdd: ['CAP_SYS_ADMIN'],
    });
    expect(run.code).toBe(0);
    await ct.waitFor((ev) => ofContainer(ev, id, 'mount').some((e) => e.mount.op === 'move_mount'), 10_000, `move_mount in ${id}`);
    const move = ofContainer(ct.events, id, 'mount').find((e) => e.mount.op === 'move_mount')!;
    expect(move.mount).toMatchObject({
      target: '/mnt',
      source: 'ctrace-verified-src',
      fstype: 'tmpfs',
      ret: 0,
      kernelView: true,
      argsUnverified: false,
      argsChanged: false,
    });
  });

  it('writes an invalid byte and the text \\xff in argv differently in the JSON line', async () => {
    const id = dockerId();
    const run = await runContainerToExit({
      id,
      cgroupsPath: `/docker/${id}`,
      args: ['/bin/sh', '-c', `/bin/true "$(printf '\\377')" '\\xff' bidi`],
    });
    expect(run.code).toBe(0);
    await ct.waitFor((ev) => ofContainer(ev, id, 'exec').some((e) => e.exec.argv[3] === 'bidi'), 10_000, `exec in ${id}`);
    const line = ct
      .stdout()
      .split('\n')
      .find((l) => l.includes(id) && l.includes('"bidi"'))!;
    expect(line).toContain('"argv":["/bin/true","\\udcff","\\\\xff","bidi"]');
    expect(JSON.parse(line).exec.argv.slice(1, 3)).toEqual(['\udcff', '\\xff']);
  });
});
