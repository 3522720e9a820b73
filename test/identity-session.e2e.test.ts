/**
 * The terminal and the audit session an exec carries, with a real pseudo-terminal and a real
 * login uid: `script` gives a shell a pty as its controlling terminal, and writing
 * /proc/self/loginuid (what pam_loginuid does at login) starts an audit session. Someone who
 * enters a container from that session (`runc exec`, as `kubectl exec` would) keeps its audit
 * ids: the exec inside the container shows the host user's login uid and session. runc gives
 * the entered process a session of its own without a terminal (no `-t`): its tty is null, the
 * truth, while a process on the pty shows it.
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { Tracer } from '../src/tracer/tracer.js';
import type { ExecEvent, TraceEvent } from '../src/events/event.js';
import { privileged } from './helpers/privileges.js';
import { cleanupAllContainers, dockerId, runContainer } from './helpers/runc.js';

const execFileAsync = promisify(execFile);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const LOGIN_UID = 4242;

/** The audit ids exist (CONFIG_AUDIT) and this process may start a session (unset login uid, or a mutable one). */
function canSetLoginUid(): boolean {
  if (!existsSync('/proc/self/loginuid')) return false;
  const immutable = existsSync('/proc/sys/kernel/loginuid_immutable') ? readFileSync('/proc/sys/kernel/loginuid_immutable', 'utf8').trim() : '0';
  return immutable !== '1' || readFileSync('/proc/self/loginuid', 'utf8').trim() === '4294967295';
}

describe.runIf(privileged() && canSetLoginUid())('the terminal and the audit session of an exec', () => {
  const tracers: Tracer[] = [];
  afterEach(async () => {
    for (const t of tracers.splice(0)) await t.close();
  });
  afterAll(async () => {
    await cleanupAllContainers();
  });

  it('a `runc exec` from a login session keeps the host login uid and session; a process on the pty shows its terminal; the container init has neither', async () => {
    const tracer = new Tracer({ events: ['exec'], all: true });
    tracers.push(tracer);
    const events: TraceEvent[] = [];
    tracer.onEvent((ev) => events.push(ev));
    const id = dockerId();
    const box = await runContainer({ id, cgroupsPath: `/docker/${id}`, args: ['/bin/sh', '-c', 'exec /bin/sleep 60'] });
    try {
      // a login (the uid written to loginuid starts a session), then a terminal, then the entry
      const login = `echo ${LOGIN_UID} > /proc/self/loginuid && cat /proc/self/sessionid && echo && exec script -qec 'tty; /bin/true on-the-pty; runc exec ${id} /bin/true session-probe' /dev/null`;
      const r = await execFileAsync('sh', ['-c', login], { encoding: 'utf8', timeout: 20_000 });
      const [session, tty] = r.stdout.split(/\r?\n/).map((l) => l.trim());
      expect(Number(session)).toBeGreaterThan(0);
      expect(tty).toMatch(/^\/dev\/pts\/\d+$/);

      const execs = () => events.filter((e): e is ExecEvent => e.type === 'exec' && e.container?.id === id);
      let probe: ExecEvent | undefined;
      for (const end = Date.now() + 15_000; !probe && Date.now() < end; await sleep(20)) {
        probe = execs().find((e) => e.exec.argv.includes('session-probe'));
      }
      expect(probe, 'the exec of the probe inside the container').toBeDefined();
      expect(probe!.exec).toMatchObject({
        entry: true,
        loginUid: LOGIN_UID,
        sessionId: Number(session),
        tty: null,
      });
      const onPty = events.find((e): e is ExecEvent => e.type === 'exec' && e.exec.argv.includes('on-the-pty'));
      expect(onPty, 'the exec on the pty').toBeDefined();
      expect(onPty!.exec).toMatchObject({ tty: tty!.slice('/dev/'.length), loginUid: LOGIN_UID, sessionId: Number(session) });

      // the init was started by runc from this test's process: no terminal, no login
      const init = execs().find((e) => e.nspid === 1)!;
      expect(init.exec.tty).toBeNull();
      expect(init.exec.loginUid).toBe(readFileSync('/proc/self/loginuid', 'utf8').trim() === '4294967295' ? null : Number(readFileSync('/proc/self/loginuid', 'utf8')));
    } finally {
      await box.remove();
    }
  });
});
