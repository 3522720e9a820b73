/**
 * `ctrace run`: trace until SIGINT/SIGTERM or until stdout is closed, then
 * detach, flush, and print a summary to stderr.
 */
import type { EventType } from '../events/event.js';
import { startOptions } from '../events/records.js';
import { Outputs, type OutputFormat, type RecordOptions } from '../sinks/outputs.js';
import { isNativeError } from '../addon/native.js';
import { Tracer, type TracerFilter } from '../tracer/tracer.js';
import { noContainerMatches } from './known.js';
import { StdoutLossReporter } from '../sinks/stdout-loss.js';

/** How long a stop waits for stdout's reader to take what is queued: a stuck one costs no more. */
const STDOUT_FLUSH_MS = 2000;
import type { Endpoint } from '../metrics/server.js';

export interface RunOptions {
  output?: OutputFormat;
  /** --quiet, --log..., --socket */
  record?: RecordOptions;
  events?: EventType[];
  all: boolean;
  pidnsOnly: boolean;
  filter: TracerFilter;
  statsSeconds: number;
  /** --ring-size (default: the tracer's) */
  ringBytes?: number;
  /** --argv-max, --ancestors, --no-hash, --hash-max (default: the tracer's) */
  argvMax?: number;
  ancestors?: number;
  hashBinaries?: boolean;
  hashMaxBytes?: number;
  /** bytes of binaries hashed per second at most (0: no limit) */
  hashBudget?: number;
  /** --metrics: serve /metrics, /healthz, /readyz */
  metrics?: Endpoint;
}

const joined = (v: string | readonly string[] | undefined) => (v === undefined ? null : [v].flat().join(',') || null);

function log(line: string): void {
  process.stderr.write(`ctrace: ${line}\n`);
}

export async function runCommand(opts: RunOptions): Promise<number> {
  const rec = opts.record ?? {};
  const format: OutputFormat | null = rec.quiet ? null : (opts.output ?? (process.stdout.isTTY ? 'table' : 'json'));
  let stop!: (reason: string) => void;
  const stopped = new Promise<string>((resolve) => (stop = resolve));
  let exitCode = 0;
  // JSON on stdout, and every other output takes JSON lines too: the tracer (its addon, for
  // known cgroups) writes stdout itself, and wakes JavaScript only for what else needs it
  const direct =
    format === 'json' && !rec.socket && !rec.otlp && (!rec.nats || (rec.nats.format ?? 'json') === 'json') && (rec.logFormat ?? 'jsonl') === 'jsonl';
  // first of all: a busy port fails before anything is opened, and /healthz answers during start-up
  const fleet = opts.metrics ? await (await import('../metrics/wire.js')).startMetrics(opts.metrics) : null;
  // the log and the socket first: an unwritable path fails before BPF is loaded
  const sink = await Outputs.open({
    ...rec,
    stdout: direct ? null : format,
    start: startOptions({
      events: opts.events ?? ['exec', 'exit', 'mount'],
      all: opts.all,
      pidnsOnly: opts.pidnsOnly,
      container: joined(opts.filter.container),
      runtime: joined(opts.filter.runtime),
      pod: joined(opts.filter.pod),
      output: format,
      log: rec.log ?? null,
      logFormat: rec.log ? (rec.logFormat ?? 'jsonl') : null,
      logMaxSize: rec.log ? (rec.logMaxSize ?? 100 * 1024 * 1024) : 0,
      logKeep: rec.log ? (rec.logKeep ?? 10) : 0,
      logFsync: rec.log ? (rec.logFsync ?? '1s') : null,
      socket: rec.socket ?? null,
    }),
    onStdoutClosed: () => stop('stdout closed'),
    onFatal: (message) => {
      log(message);
      exitCode = 1;
      stop('error: audit log failed');
    },
    onNote: (message) => log(message),
  }).catch(async (err: unknown) => {
    await fleet?.close();
    throw err;
  });
  let tracer: Tracer;
  try {
    tracer = new Tracer({
      events: opts.events,
      all: opts.all,
      pidnsOnly: opts.pidnsOnly,
      filter: opts.filter,
      ringBytes: opts.ringBytes,
      argvMax: opts.argvMax,
      ancestors: opts.ancestors,
      hashBinaries: opts.hashBinaries,
      hashMaxBytes: opts.hashMaxBytes,
      hashBudget: opts.hashBudget,
      // every output writes JSON lines: let the addon write them for known cgroups
      jsonLane: sink.acceptsLines,
      jsonLaneFd: direct ? 1 : undefined,
      // without stdout the lines' only consumer is the log: batched, they wake us far less often
      jsonLaneHold: !direct,
      // and the log alone: the addon seals and writes them, JavaScript is not woken for them
      jsonLaneLog: sink.laneLog() ?? undefined,
      // nothing here asks the tracer's process table: the lane keeps no copy of its execs for it
      processTable: false,
    });
  } catch (err) {
    await sink.close(`error: ${(err as Error).message}`);
    await fleet?.close();
    throw err;
  }
  fleet?.attach(tracer, sink);

  tracer.onEvent((ev) => sink.write(ev));
  // stdout is the tracer's own: only the log and NATS want the lines (without them, the addon never wakes us for them)
  if (sink.wantsLines) tracer.onLines((lines) => sink.writeLines(lines));
  tracer.onLost((r) => {
    log(`${r.lost} events lost: ring buffer full (${r.total} since start)`);
    sink.noteLost(r);
  });
  tracer.onError((err) => {
    if (isNativeError(err) && err.step === 'stdout') {
      // as the stdout sink does: the reader went away (ctrace run | head), or stdout failed
      if (err.code !== 'EPIPE') {
        log(err.message);
        exitCode = 1;
      }
      stop('stdout closed');
      return;
    }
    log(`reader failed: ${err.message}`);
    exitCode = 1;
    stop('error');
  });

  const onSignal = (sig: NodeJS.Signals) => stop(sig);
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  // external log rotation; without a log there is nothing to reopen, and a hangup must not kill the record
  const onHup = () => (rec.log ? sink.reopen() : log('SIGHUP ignored (no --log to reopen)'));
  process.on('SIGHUP', onHup);
  const statsTimer =
    opts.statsSeconds > 0 ? setInterval(() => log(statsLine(tracer)), opts.statsSeconds * 1000) : undefined;
  // a slow stdout costs stdout lines only (bounded queues), and each drop is said
  const stdoutLoss = new StdoutLossReporter(
    () => (tracer.outputStats()?.droppedLines ?? 0) + (sink.stdoutLoss()?.dropped ?? 0),
    (r) => {
      log(`stdout too slow: ${r.lost} events not written to stdout (${r.total} since start; the log and socket have them)`);
      sink.noteStdoutLost(r);
    },
  );
  const lossTimer = setInterval(() => stdoutLoss.check(), 1000);

  const nothing = noContainerMatches(opts.filter);
  if (nothing) log(nothing);
  const st = tracer.startup;
  if (st) {
    log(
      `${st.processes} running processes classified (${st.containerProcesses} in containers, ` +
        `${st.cgroups} cgroups pre-loaded) in ${st.elapsedMs.toFixed(0)} ms`,
    );
  }
  // the ready line: scripts (and our tests) wait for it before starting a workload
  log(`tracing ${(opts.events ?? ['exec', 'exit', 'mount']).join(',')} (hooks: ${tracer.hooks().join(', ')})`);
  const reason = await stopped;
  clearInterval(statsTimer);
  clearInterval(lossTimer);
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  process.off('SIGHUP', onHup);
  // a second signal while stopping must not kill the process before the log is closed
  const onLate = () => log('stopping: flushing stdout (bounded) and the log');
  process.on('SIGINT', onLate);
  process.on('SIGTERM', onLate);

  await tracer.close(); // resolves after the last record read has been delivered
  // stdout gets a bounded time; what it did not take is reported before the stop records
  stdoutLoss.check();
  const [native] = await Promise.all([tracer.closeOutput(STDOUT_FLUSH_MS), sink.closeStdout(reason)]);
  const undelivered = (native?.undeliveredLines ?? 0) + (sink.stdoutLoss()?.undelivered ?? 0);
  stdoutLoss.check();
  if (undelivered > 0) {
    log(`stdout did not take ${undelivered} events before exit (the log and socket have them)`);
    sink.noteStdoutLost({ lost: undelivered, total: stdoutLoss.total + undelivered });
  }
  await sink.close(reason);
  await fleet?.close();
  log(`stopped (${reason}): ${statsLine(tracer)}${stdoutLoss.total + undelivered ? `, ${stdoutLoss.total + undelivered} not written to stdout` : ''}`);
  for (const line of sink.summary()) log(line);
  process.off('SIGINT', onLate);
  process.off('SIGTERM', onLate);
  // a write a stuck reader never takes would keep the process alive: done is done
  setTimeout(() => process.exit(), 100).unref();
  return exitCode;
}

function statsLine(tracer: Tracer): string {
  const s = tracer.stats();
  const total = s.events.exec + s.events.exit + s.events.mount;
  return (
    `${total} events (exec ${s.events.exec}, exit ${s.events.exit}, mount ${s.events.mount}), ` +
    `${s.lost} lost, ${s.droppedInKernel} host tasks screened in kernel` +
    (s.hashSkipped ? `, ${s.hashSkipped} execs not hashed (more new binaries than --hash-budget a second)` : '') +
    (s.cgroupsUnnamed ? `, ${s.cgroupsUnnamed} events of cgroups gone before their path was found (unclassified)` : '')
  );
}
