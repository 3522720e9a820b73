/**
 * A running container whose workload waits at a FIFO until the test lets it go:
 * start it before ctrace, so ctrace's /proc walk finds it already running with its
 * runtime state (names, pod) written, and every event of the workload carries them.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { RunningContainer } from './runc.js';

/** Prefix of a container's `sh -c` script: waits until openGate(). */
export const WAIT_AT_GATE = 'mkfifo /tmp/go && read x < /tmp/go && ';

/** Lets a container waiting at WAIT_AT_GATE go: writes to its FIFO through its root, from the host. */
export async function openGate(c: RunningContainer): Promise<void> {
  const fifo = `/proc/${c.pid}/root/tmp/go`;
  for (let i = 0; i < 250 && !existsSync(fifo); i++) await new Promise((r) => setTimeout(r, 20));
  const w = spawn('/bin/sh', ['-c', `echo go > ${fifo}`], { stdio: 'ignore' });
  await new Promise((r) => w.on('exit', r));
}
