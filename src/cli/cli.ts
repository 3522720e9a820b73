/**
 * `ctrace` command line: a thin layer over the library. Each command's module is
 * imported when the command runs, so `run` does not load what `read` needs. One error handler
 * prints one line and sets the exit code: 2 for bad usage, 1 for failures.
 */
import { Argument, Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import {
  addFilterOptions,
  addTableOptions,
  applyConfigFile,
  filterFromOptions,
  parseHeadHash,
  parseRingSize,
  parseHashBudget,
  parseTimeBound,
  tableOptionsFor,
} from './options.js';
import {
  natsOptionsProblem,
  parseCount,
  parseFsync,
  parseNatsServers,
  parseOtlpEndpoint,
  parseReplicas,
  parseSize,
  parseSocketPath,
  parseStreamName,
  recordOptionsProblem,
} from './outputs.js';
import { TIMER_MAX_MS } from '../util/clock.js';
import { parseEndpoint } from '../metrics/server.js';
import { NATS_FORMATS } from '../sinks/nats-format.js';

export class UsageError extends Error {}

/** `--argv-max`: bytes of argv an exec records, 256 to 32K (the kernel's capture). */
function parseArgvMax(value: string): number {
  const m = /^(\d+)([Kk])?$/.exec(value.trim());
  const n = m ? Number(m[1]) * (m[2] ? 1024 : 1) : NaN;
  if (!Number.isSafeInteger(n) || n < 256 || n > 32768) {
    throw new InvalidArgumentError(`argv size must be from 256 to 32K bytes: '${value}'`);
  }
  return n;
}

/** `--ancestors`: 0 to 16. */
function parseAncestors(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n > 16) throw new InvalidArgumentError(`ancestors must be from 0 to 16: '${value}'`);
  return n;
}

function parsePid(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError(`not a PID: '${value}'`);
  return n;
}

/** --stats: 0.1 s (a line every tick would drown stderr) up to what a Node.js timer takes. */
function parseStatsSeconds(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0) throw new InvalidArgumentError(`not a number of seconds: '${value}'`);
  if (n < 0.1) throw new InvalidArgumentError(`stats interval too short: '${value}' (at least 0.1 seconds)`);
  if (n * 1000 > TIMER_MAX_MS) throw new InvalidArgumentError(`stats interval too long: '${value}' (at most ${Math.floor(TIMER_MAX_MS / 1000)} seconds)`);
  return n;
}

export function buildProgram(): Command {
  const program = new Command('ctrace')
    .description('Trace exec, exit and mount events of the processes inside containers, live and for the record.')
    .version('0.1.0')
    .exitOverride()
    .configureOutput({ outputError: () => {} }) // printed once by main()
    .showHelpAfterError(false);

  const run = program
    .command('run')
    .description('trace container processes (the main job): events to stdout until SIGINT/SIGTERM')
    .addOption(
      new Option('-o, --output <format>', 'stdout format (default: table on a terminal, json otherwise)').choices([
        'table',
        'json',
        'protobuf',
        'ocsf',
      ]),
    )
    .option('-a, --all', 'also show host processes')
    .option('--pidns-only', 'strict screen: ignore tasks in the host PID namespace (misses --pid=host containers)')
    .option('--stats <seconds>', 'print a stats line to stderr every N seconds (at least 0.1)', parseStatsSeconds)
    .option('-q, --quiet', 'nothing on stdout (with --log or --socket)')
    .option('--log <path>', 'append every event to this audit log (0600, hash-chained; see ctrace verify)')
    .addOption(new Option('--log-format <format>', 'audit log format (default: jsonl)').choices(['jsonl', 'protobuf', 'ocsf']))
    .option('--log-max-size <size>', 'rotate the log at this size, e.g. 100M, 1G; 0: never (default: 100M)', parseSize)
    .option('--log-keep <n>', 'rotated log files to keep; 0: all (default: 10)', parseCount)
    .option('--log-fsync <policy>', 'fsync the log: an interval (1s, 200ms), always (every write), never (default: 1s)', parseFsync)
    .option('--log-allow-unsafe', 'append to a log owned by another user, or in a directory others can write (refused by default)')
    .option('--socket <path>', 'serve the protobuf stream to local clients on this Unix socket (0600)', parseSocketPath)
    .option(
      '--ring-size <size>',
      'kernel ring buffer, a power of two from 4K to 1G (default 2M); it costs its size in kernel memory and twice its size in ctrace\'s RSS (64M: 64 MiB + 128 MiB), and a larger ring makes each event cost the traced task more',
      parseRingSize,
    )
    .option('--argv-max <size>', "bytes of an exec's argv to record, 256 to 32K; a longer argv is cut and says so (default 4K)", parseArgvMax)
    .option('--ancestors <n>', "ancestors an exec records (up to the container's init or the process that entered it), 0 to 16 (default 8)", parseAncestors)
    .option('--no-hash', "do not hash exec'd binaries (binary.sha256 null)")
    .option(
      '--hash-budget <size>',
      'bytes of new binaries hashed per second at most; past it an exec has no hash and hashError says why, 0: no limit (default 64M)',
      parseHashBudget,
    )
    .option('--otlp <endpoint>', 'export every event as an OpenTelemetry log record to this OTLP/HTTP endpoint, e.g. http://127.0.0.1:4318', parseOtlpEndpoint)
    .option('--metrics <[host:]port>', 'serve Prometheus /metrics, /healthz and /readyz here (a bare port: 127.0.0.1)', parseEndpoint)
    .option('--nats <url[,url...]>', 'publish every record to a NATS JetStream stream through these servers', parseNatsServers)
    .option('--nats-stream <name>', 'the JetStream stream, created if missing with subjects ctrace.> (default: CTRACE)', parseStreamName)
    .addOption(new Option('--nats-format <format>', 'message body (default: json)').choices([...NATS_FORMATS]))
    .option('--nats-spool <dir>', 'where records wait while the servers are away (default: /var/lib/ctrace/nats-spool)')
    .option('--nats-spool-size <size>', 'bound of the spool; records past it are counted lost (default: 1G)', parseSize)
    .option('--nats-replicas <n>', 'replicas of the stream when ctrace creates it (default: 1)', parseReplicas)
    .option('--config <file>', 'read options from a YAML or JSON file (keys: the long option names); flags on the command line win');
  addFilterOptions(run, { events: true });
  addTableOptions(run);
  run.action(async (opts) => {
      const record = {
        quiet: !!opts.quiet,
        log: opts.log,
        logFormat: opts.logFormat,
        logMaxSize: opts.logMaxSize,
        logKeep: opts.logKeep,
        logFsync: opts.logFsync,
        logAllowUnsafe: opts.logAllowUnsafe ? true : undefined,
        socket: opts.socket,
        otlp: opts.otlp,
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
      const { runCommand } = await import('../commands/run.js');
      const { configureTable } = await import('../format/table.js');
      configureTable(tableOptionsFor(process.stdout, opts));
      process.exitCode = await runCommand({
        output: opts.output,
        record,
        events: opts.events,
        all: !!opts.all,
        pidnsOnly: !!opts.pidnsOnly,
        filter: filterFromOptions(opts),
        statsSeconds: opts.stats ?? 0,
        ringBytes: opts.ringSize,
        argvMax: opts.argvMax,
        ancestors: opts.ancestors,
        hashBinaries: opts.hash !== false,
        hashBudget: opts.hashBudget,
        metrics: opts.metrics,
      });
    });

  program
    .command('classify')
    .description('classify cgroup paths (as in /proc/PID/cgroup) and print the result as JSON lines')
    .argument('<cgroup-path...>', 'cgroup paths')
    .action(async (paths: string[]) => {
      const { classifyCommand } = await import('../commands/classify.js');
      process.exitCode = classifyCommand(paths, process.stdout);
    });

  program
    .command('verify')
    .description('check the hash chain of audit logs; exit 1 at the first altered, removed or inserted record')
    .argument('<log...>', 'log files, oldest first; a log with rotated files beside it (<log>.<time>) stands for them all')
    .option('--open', 'accept a log still being written (its last run has no stop record yet)')
    .option('--head <hash>', 'a chain head kept elsewhere (printed when ctrace stops): the chain must contain it', parseHeadHash)
    .option('--no-expand', 'check only the files given, not the rotated files beside them')
    .action(async (paths: string[], opts) => {
      const { verifyCommand } = await import('../commands/verify.js');
      process.exitCode = await verifyCommand(
        paths,
        { open: !!opts.open, head: opts.head, expand: opts.expand },
        process.stdout,
        process.stderr,
      );
    });

  const read = program
    .command('read')
    .description('print a JSONL or protobuf log or stream (a file, - for stdin, or a --socket) in the table or JSON form')
    .argument('<file>', 'what ctrace wrote: --log file, saved --output json|protobuf, -, or a socket path')
    .addOption(
      new Option('-o, --output <format>', 'output format (default: table on a terminal, json otherwise)').choices([
        'table',
        'json',
      ]),
    )
    .addOption(new Option('--format <format>', 'input format (default: detected)').choices(['jsonl', 'protobuf']))
    .option('-f, --follow', 'keep reading as the log grows, and across its rotation (tail -F); stop with Ctrl-C')
    .option('--since <time>', 'only records from this time on: RFC 3339 (2026-11-30T12:00:00Z) or a time ago (10m, 2h, 1d)', (v) =>
      parseTimeBound(v),
    )
    .option('--until <time>', 'only records up to this time (as --since)', (v) => parseTimeBound(v))
    .option('--tree', "print the process tree rebuilt from the events' processId, parentProcessId and ancestors");
  addFilterOptions(read, { events: true });
  addTableOptions(read);
  read.action(async (file: string, opts) => {
      const { readCommand } = await import('../commands/read.js');
      const { configureTable } = await import('../format/table.js');
      configureTable(tableOptionsFor(process.stdout, opts));
      process.exitCode = await readCommand(
        file,
        {
          output: opts.output ?? (process.stdout.isTTY ? 'table' : 'json'),
          format: opts.format,
          follow: !!opts.follow,
          sinceMs: opts.since,
          untilMs: opts.until,
          tree: !!opts.tree,
          filter: { ...filterFromOptions(opts), events: opts.events },
        },
        process.stdout,
        process.stderr,
      );
    });

  const ps = program
    .command('ps')
    .description('list every container on the host with its processes (from /proc; no BPF needed)')
    .addOption(new Option('-o, --output <format>', 'output format').choices(['table', 'json']).default('table'));
  addFilterOptions(ps, { events: false });
  ps.action(async (opts) => {
    const { psCommand } = await import('../commands/ps.js');
    process.exitCode = psCommand({ output: opts.output, filter: filterFromOptions(opts) }, process.stdout, process.stderr);
  });

  program
    .command('inspect')
    .description('show which container a host PID belongs to and why: cgroup, rule, PID inside, binary, namespaces')
    .argument('<pid>', 'host PID', parsePid)
    .addOption(new Option('-o, --output <format>', 'output format').choices(['table', 'json']).default('table'))
    .action(async (pid: number, opts) => {
      const { inspectCommand } = await import('../commands/inspect.js');
      process.exitCode = inspectCommand(pid, { output: opts.output }, process.stdout);
    });

  program
    .command('completion')
    .description('print a shell completion script: source <(ctrace completion bash)')
    .addArgument(new Argument('<shell>', 'the shell').choices(['bash', 'zsh', 'fish']))
    .action(async (shell: 'bash' | 'zsh' | 'fish') => {
      const { completionScript } = await import('./completion.js');
      process.stdout.write(completionScript(program, shell));
    });

  // --config: its values fill in what the command line left unset, before the action runs
  program.hook('preAction', (_root, cmd) => {
    const file = cmd.getOptionValue('config') as string | undefined;
    if (!file) return;
    try {
      applyConfigFile(cmd, file);
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
  });

  program
    .command('doctor')
    .description('check whether this host can run ctrace and say why not (exit 1 when tracing would not start)')
    .addOption(new Option('-o, --output <format>', 'output format').choices(['table', 'json']).default('table'))
    .action(async (opts) => {
      const { doctorCommand } = await import('../commands/doctor.js');
      process.exitCode = doctorCommand({ output: opts.output }, process.stdout);
    });

  return program;
}

/** Runs the CLI; resolves with the exit code. */
export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  if (argv.length <= 2) {
    // no command: the help, on stdout, exit 0 (as docker, kubectl and tetra do)
    process.stdout.write(program.helpInformation());
    return 0;
  }
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
