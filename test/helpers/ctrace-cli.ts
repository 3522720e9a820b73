/**
 * Runs the real `ctrace` CLI (bin/ctrace.js over dist/) as a child process and
 * collects what it writes: JSON events from stdout, lines from stderr.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = resolve(fileURLToPath(import.meta.url), '../../..');
export const ctraceBin = resolve(repoRoot, 'bin/ctrace.js');

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type JsonEvent = Record<string, any>;

export interface CtraceRun {
  child: ChildProcess;
  events: JsonEvent[];
  stdout(): string;
  stderr(): string;
  /** Resolves once `pred` holds over the events seen so far; rejects after `timeoutMs` with what was seen. */
  waitFor(pred: (events: JsonEvent[]) => boolean, timeoutMs?: number, what?: string): Promise<void>;
  /** Sends `signal` and resolves with the exit code and stderr once the process has exited. */
  stop(signal?: NodeJS.Signals): Promise<{ code: number | null; stderr: string }>;
}

export function spawnCtrace(args: string[]): ChildProcess {
  return spawn(process.execPath, [ctraceBin, ...args], { stdio: ['ignore', 'pipe', 'pipe'], cwd: repoRoot });
}

/**
 * Starts `ctrace run <args> --output json` and waits until it reports its hooks attached.
 * `command` runs another ctrace (an installed one, one in a container) instead of the repository's.
 */
export async function startCtrace(args: string[] = [], readyTimeoutMs = 20_000, command?: string[]): Promise<CtraceRun> {
  const runArgs = ['run', '--output', 'json', ...args];
  const child = command
    ? spawn(command[0], [...command.slice(1), ...runArgs], { stdio: ['ignore', 'pipe', 'pipe'] })
    : spawnCtrace(runArgs);
  const events: JsonEvent[] = [];
  let out = '';
  let err = '';
  let partial = '';
  child.stdout!.setEncoding('utf8');
  child.stderr!.setEncoding('utf8');
  child.stdout!.on('data', (d: string) => {
    out += d;
    partial += d;
    const lines = partial.split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) if (line) events.push(JSON.parse(line));
  });
  child.stderr!.on('data', (d: string) => (err += d));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));

  await new Promise<void>((resolveReady, reject) => {
    const timer = setTimeout(() => reject(new Error(`ctrace did not start: ${err}`)), readyTimeoutMs);
    const check = () => {
      if (/tracing .*hooks:/.test(err)) {
        clearTimeout(timer);
        resolveReady();
      }
    };
    child.stderr!.on('data', check);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`ctrace exited with ${code} before attaching: ${err}`));
    });
  });

  return {
    child,
    events,
    stdout: () => out,
    stderr: () => err,
    async waitFor(pred, timeoutMs = 10_000, what = 'condition') {
      const deadline = Date.now() + timeoutMs;
      while (!pred(events)) {
        if (Date.now() > deadline) {
          throw new Error(`timed out waiting for ${what}; saw ${events.length} events:\n${out.slice(-4000)}`);
        }
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    async stop(signal = 'SIGINT') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      const code = await exited;
      return { code, stderr: err };
    },
  };
}
