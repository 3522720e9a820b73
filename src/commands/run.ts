/**
 * `ctrace run`: trace until SIGINT/SIGTERM or until stdout is closed, then
 * detach, flush, and print a summary to stderr.
 */
import type { EventType } from '../event.js';
import { StdoutSink, type StdoutFormat } from '../sinks/stdout.js';
import { Tracer, type TracerFilter } from '../tracer.js';

export interface RunOptions {
  output?: StdoutFormat;
  events?: EventType[];
  all: boolean;
  pidnsOnly: boolean;
  filter: TracerFilter;
  statsSeconds: number;
}

function log(line: string): void {
  process.stderr.write(`ctrace: ${line}\n`);
}

export async function runCommand(opts: RunOptions): Promise<number> {
  const format: StdoutFormat = opts.output ?? (process.stdout.isTTY ? 'table' : 'json');
  const tracer = new Tracer({
    events: opts.events,
    all: opts.all,
    pidnsOnly: opts.pidnsOnly,
    filter: opts.filter,
  });

  let stop!: (reason: string) => void;
  const stopped = new Promise<string>((resolve) => (stop = resolve));
  const sink = new StdoutSink(process.stdout, format, () => stop('stdout closed'));
  let exitCode = 0;

  tracer.onEvent((ev) => sink.write(ev));
  tracer.onLost((r) => log(`${r.lost} events lost: ring buffer full (${r.total} since start)`));
  tracer.onError((err) => {
    log(`reader failed: ${err.message}`);
    exitCode = 1;
    stop('error');
  });

  const onSignal = (sig: NodeJS.Signals) => stop(sig);
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const statsTimer =
    opts.statsSeconds > 0 ? setInterval(() => log(statsLine(tracer)), opts.statsSeconds * 1000) : undefined;

  log(`tracing ${(opts.events ?? ['exec', 'exit', 'mount']).join(',')} (hooks: ${tracer.hooks().join(', ')})`);
  // ready line for scripts that wait for attachment
  const reason = await stopped;
  clearInterval(statsTimer);
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);

  await tracer.close();
  await sink.close();
  log(`stopped (${reason}): ${statsLine(tracer)}`);
  return exitCode;
}

function statsLine(tracer: Tracer): string {
  const s = tracer.stats();
  const total = s.events.exec + s.events.exit + s.events.mount;
  return (
    `${total} events (exec ${s.events.exec}, exit ${s.events.exit}, mount ${s.events.mount}), ` +
    `${s.lost} lost, ${s.droppedInKernel} host tasks screened in kernel`
  );
}
