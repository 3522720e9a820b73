/**
 * `ctrace` command line: a thin layer over the library. Each command's module is
 * imported when the command runs, so `run` does not load what `read` needs. One error handler
 * prints one line and sets the exit code: 2 for bad usage, 1 for failures.
 */
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { RUNTIMES, type EventType, type Runtime } from './event.js';
import { parseCount, parseFsync, parseSize, recordOptionsProblem } from './sinks/outputs.js';
import { parseEndpoint } from './metrics/server.js';
import { NATS_FORMATS } from './sinks/nats-format.js';
import { natsOptionsProblem, parseNatsServers, parseReplicas, parseStreamName } from './sinks/nats-options.js';

export class UsageError extends Error {}

const EVENT_TYPES: EventType[] = ['exec', 'exit', 'mount'];

function parseEvents(value: string): EventType[] {
  const list = value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const e of list) {
    if (!EVENT_TYPES.includes(e as EventType)) {
      throw new InvalidArgumentError(`unknown event type '${e}' (expected ${EVENT_TYPES.join(', ')})`);
    }
  }
  if (list.length === 0) throw new InvalidArgumentError('no event types given');
  return list as EventType[];
}

function parsePid(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError(`not a PID: '${value}'`);
  return n;
}

function parseSeconds(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError(`not a number of seconds: '${value}'`);
  return n;
}

export function buildProgram(): Command {
  const program = new Command('ctrace')
    .description('Trace exec, exit and mount events of the processes inside containers, live and for the record.')
    .version('0.1.0')
    .exitOverride()
    .configureOutput({ outputError: () => {} }) // printed once by main()
    .showHelpAfterError(false);

  program
    .command('run')
    .description('trace container processes (the main job): events to stdout until SIGINT/SIGTERM')
    .addOption(
      new Option('-o, --output <format>', 'stdout format (default: table on a terminal, json otherwise)').choices([
        'table',
        'json',
        'protobuf',
      ]),
    )
    .option('-e, --events <list>', 'event types, comma-separated: exec,exit,mount', parseEvents)
    .option('-a, --all', 'also show host processes')
    .option('--pidns-only', 'strict screen: ignore tasks in the host PID namespace (misses --pid=host containers)')
    .option('-c, --container <id-prefix>', 'only this container')
    .addOption(new Option('-r, --runtime <name>', 'only containers of this runtime').choices([...RUNTIMES]))
    .option('-p, --pod <uid>', 'only containers of this Kubernetes pod (UID or prefix)')
    .option('--stats <seconds>', 'print a stats line to stderr every N seconds', parseSeconds)
    .option('-q, --quiet', 'nothing on stdout (with --log or --socket)')
    .option('--log <path>', 'append every event to this audit log (0600, hash-chained; see ctrace verify)')
    .addOption(new Option('--log-format <format>', 'audit log format (default: jsonl)').choices(['jsonl', 'protobuf']))
    .option('--log-max-size <size>', 'rotate the log at this size, e.g. 100M, 1G; 0: never (default: 100M)', parseSize)
    .option('--log-keep <n>', 'rotated log files to keep; 0: all (default: 10)', parseCount)
    .option('--log-fsync <policy>', 'fsync the log: an interval (1s, 200ms), always (every write), never (default: 1s)', parseFsync)
    .option('--socket <path>', 'serve the protobuf stream to local clients on this Unix socket (0600)')
    .option('--metrics <[host:]port>', 'serve Prometheus /metrics, /healthz and /readyz here (a bare port: 127.0.0.1)', parseEndpoint)
    .option('--nats <url[,url...]>', 'publish every record to a NATS JetStream stream through these servers', parseNatsServers)
    .option('--nats-stream <name>', 'the JetStream stream, created if missing with subjects ctrace.> (default: CTRACE)', parseStreamName)
    .addOption(new Option('--nats-format <format>', 'message body (default: json)').choices([...NATS_FORMATS]))
    .option('--nats-spool <dir>', 'where records wait while the servers are away (default: /var/lib/ctrace/nats-spool)')
    .option('--nats-spool-size <size>', 'bound of the spool; records past it are counted lost (default: 1G)', parseSize)
    .option('--nats-replicas <n>', 'replicas of the stream when ctrace creates it (default: 1)', parseReplicas)
    .action(async (opts) => {
      const record = {
        quiet: !!opts.quiet,
        log: opts.log,
        logFormat: opts.logFormat,
        logMaxSize: opts.logMaxSize,
        logKeep: opts.logKeep,
        logFsync: opts.logFsync,
        socket: opts.socket,
        nats: opts.nats
          ? {
              servers: opts.nats as string[],
              stream: opts.natsStream,
              format: opts.natsFormat,
              spool: opts.natsSpool,
              spoolSize: opts.natsSpoolSize,
              replicas: opts.natsReplicas,
            }
          : undefined,
      };
      const problem = natsOptionsProblem(opts) ?? recordOptionsProblem({ ...record, output: opts.output }, !!process.stdout.isTTY);
      if (problem) throw new UsageError(problem);
      const { runCommand } = await import('./commands/run.js');
      process.exitCode = await runCommand({
        output: opts.output,
        record,
        events: opts.events,
        all: !!opts.all,
        pidnsOnly: !!opts.pidnsOnly,
        filter: {
          container: opts.container,
          runtime: opts.runtime as Runtime | undefined,
          pod: opts.pod,
        },
        statsSeconds: opts.stats ?? 0,
        metrics: opts.metrics,
      });
    });

  program
    .command('classify')
    .description('classify cgroup paths (as in /proc/PID/cgroup) and print the result as JSON lines')
    .argument('<cgroup-path...>', 'cgroup paths')
    .action(async (paths: string[]) => {
      const { classifyCommand } = await import('./commands/classify.js');
      process.exitCode = classifyCommand(paths, process.stdout);
    });

  program
    .command('verify')
    .description('check the hash chain of audit logs; exit 1 at the first altered, removed or inserted record')
    .argument('<log...>', 'log files, oldest first; a log with rotated files beside it (<log>.<time>) stands for them all')
    .option('--open', 'accept a log still being written (its last run has no stop record yet)')
    .option('--head <hash>', 'a chain head kept elsewhere (printed when ctrace stops): the chain must contain it')
    .option('--no-expand', 'check only the files given, not the rotated files beside them')
    .action(async (paths: string[], opts) => {
      const { verifyCommand } = await import('./commands/verify.js');
      process.exitCode = await verifyCommand(
        paths,
        { open: !!opts.open, head: opts.head, expand: opts.expand },
        process.stdout,
        process.stderr,
      );
    });

  program
    .command('read')
    .description('print a JSONL or protobuf log or stream (a file, - for stdin, or a --socket) in the table or JSON form')
    .argument('<file>', 'what ctrace wrote: --log file, saved --output json|protobuf, -, or a socket path')
    .addOption(
      new Option('-o, --output <format>', 'output format (default: table on a terminal, json otherwise)').choices([
        'table',
        'json',
      ]),
    )
    .addOption(new Option('-f, --format <format>', 'input format (default: detected)').choices(['jsonl', 'protobuf']))
    .action(async (file: string, opts) => {
      const { readCommand } = await import('./commands/read.js');
      process.exitCode = await readCommand(
        file,
        { output: opts.output ?? (process.stdout.isTTY ? 'table' : 'json'), format: opts.format },
        process.stdout,
        process.stderr,
      );
    });

  program
    .command('ps')
    .description('list every container on the host with its processes (from /proc; no BPF needed)')
    .addOption(new Option('-o, --output <format>', 'output format').choices(['table', 'json']).default('table'))
    .option('-c, --container <id-prefix>', 'only this container (id prefix or name)')
    .action(async (opts) => {
      const { psCommand } = await import('./commands/ps.js');
      process.exitCode = psCommand({ output: opts.output, container: opts.container }, process.stdout);
    });

  program
    .command('inspect')
    .description('show which container a host PID belongs to and why: cgroup, rule, PID inside, binary, namespaces')
    .argument('<pid>', 'host PID', parsePid)
    .addOption(new Option('-o, --output <format>', 'output format').choices(['table', 'json']).default('table'))
    .action(async (pid: number, opts) => {
      const { inspectCommand } = await import('./commands/inspect.js');
      process.exitCode = inspectCommand(pid, { output: opts.output }, process.stdout);
    });

  return program;
}

/** Runs the CLI; resolves with the exit code. */
export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.exitCode === 0) return 0;
      if (err.code === 'commander.help') return 0;
      process.stderr.write(`ctrace: ${err.message.replace(/^error: /, '')}\n`);
      return 2;
    }
    if (err instanceof UsageError) {
      process.stderr.write(`ctrace: ${err.message}\n`);
      return 2;
    }
    process.stderr.write(`ctrace: ${(err as Error).message}\n`);
    return 1;
  }
}
