/**
 * The output options of `ctrace run` (--log*, --socket, --otlp, --nats*) as commander parses
 * them: a bad value is an InvalidArgumentError (a usage error: one line, exit 2). The sinks take
 * the parsed values and know nothing of commander.
 */
import { InvalidArgumentError } from 'commander';
import { fsyncPolicy } from '../audit/fsync.js';
import { MAX_SOCKET_PATH_BYTES } from '../util/fs-util.js';
import type { RecordOptions } from '../sinks/outputs.js';

/** The largest --log-max-size: beyond it a file size is no longer a number the code compares exactly. */
export const MAX_LOG_SIZE = 1024 ** 4;
export const MAX_LOG_KEEP = 1_000_000;

/** 100M, 512K, 1G, 1048576 (bytes; K/M/G/T are powers of 1024); 0 = never rotate. */
export function parseSize(value: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?$/i.exec(value.trim());
  if (!m) throw new InvalidArgumentError(`not a size: '${value}' (e.g. 100M, 512K, 1G)`);
  const mult = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }[m[2]!.toLowerCase() as '' | 'k' | 'm' | 'g' | 't'];
  const n = Math.floor(Number(m[1]) * mult);
  if (n !== 0 && n < 4096) throw new InvalidArgumentError(`log size too small: '${value}' (at least 4K, or 0 for no rotation)`);
  if (!(n <= MAX_LOG_SIZE)) throw new InvalidArgumentError(`log size too large: '${value}' (at most 1T, or 0 for no rotation)`);
  return n;
}

export function parseCount(value: string): number {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError(`not a count: '${value}'`);
  const n = Number(value);
  if (n > MAX_LOG_KEEP) throw new InvalidArgumentError(`count too large: '${value}' (at most ${MAX_LOG_KEEP}, or 0 for all)`);
  return n;
}

/** always | never | <n>s | <n>ms (a bare number is seconds); kept as given (the start record says it so). */
export function parseFsync(value: string): string {
  try {
    fsyncPolicy(value);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
  return value;
}

/** --socket: a path a Unix socket can have (Linux: 107 bytes). */
export function parseSocketPath(value: string): string {
  if (value === '') throw new InvalidArgumentError('empty socket path');
  const n = Buffer.byteLength(value);
  if (n > MAX_SOCKET_PATH_BYTES) {
    throw new InvalidArgumentError(`socket path too long: ${n} bytes (a Unix socket path has at most ${MAX_SOCKET_PATH_BYTES})`);
  }
  return value;
}

/**
 * --otlp: http(s)://host:port[/path]; with no path, OTLP's `/v1/logs` is added (as
 * OTEL_EXPORTER_OTLP_ENDPOINT does); a path is kept as given.
 */
export function parseOtlpEndpoint(value: string): string {
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    throw new InvalidArgumentError(`not a URL: '${value}' (e.g. http://127.0.0.1:4318)`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new InvalidArgumentError(`not an http(s) URL: '${value}' (OTLP/HTTP)`);
  if (u.pathname === '/' || u.pathname === '') u.pathname = '/v1/logs';
  return u.toString();
}

/** --nats: nats://host:port[,nats://host:port...]; a bare host:port is taken as nats:// */
export function parseNatsServers(value: string): string[] {
  const list = value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (list.length === 0) throw new InvalidArgumentError('no NATS server given');
  return list.map((s) => {
    const url = /^[a-z]+:\/\//i.test(s) ? s : `nats://${s}`;
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      throw new InvalidArgumentError(`not a NATS server URL: '${s}' (e.g. nats://10.0.0.5:4222)`);
    }
    if (!['nats:', 'tls:', 'ws:', 'wss:'].includes(u.protocol) || !u.hostname)
      throw new InvalidArgumentError(`not a NATS server URL: '${s}' (e.g. nats://10.0.0.5:4222)`);
    return url;
  });
}

/** --nats-stream: JetStream stream names have no spaces, dots, wildcards or path separators. */
export function parseStreamName(value: string): string {
  if (!/^[A-Za-z0-9_-]{1,255}$/.test(value)) throw new InvalidArgumentError(`not a stream name: '${value}' (letters, digits, - and _)`);
  return value;
}

export function parseReplicas(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1 || n > 5) throw new InvalidArgumentError(`not a replica count: '${value}' (1 to 5)`);
  return n;
}

/** A --nats-* option without --nats. */
export function natsOptionsProblem(o: Record<string, unknown>): string | null {
  if (o['nats']) return null;
  for (const [flag, key] of [
    ['--nats-stream', 'natsStream'],
    ['--nats-format', 'natsFormat'],
    ['--nats-spool', 'natsSpool'],
    ['--nats-spool-size', 'natsSpoolSize'],
    ['--nats-replicas', 'natsReplicas'],
  ] as const) {
    if (o[key] !== undefined) return `${flag} needs --nats <url>`;
  }
  return null;
}

/** A usage problem in how the output options combine, or null. */
export function recordOptionsProblem(o: RecordOptions & { output?: string }, stdoutIsTTY: boolean): string | null {
  if (!o.log) {
    for (const [flag, v] of [
      ['--log-format', o.logFormat],
      ['--log-max-size', o.logMaxSize],
      ['--log-keep', o.logKeep],
      ['--log-fsync', o.logFsync],
      ['--log-allow-unsafe', o.logAllowUnsafe || undefined],
    ] as const) {
      if (v !== undefined) return `${flag} needs --log <path>`;
    }
  }
  if (o.quiet && !o.log && !o.socket && !o.otlp && !o.nats) return '--quiet needs --log, --socket, --otlp or --nats (events would go nowhere)';
  if (o.quiet && o.output) return '--quiet and --output exclude each other (--quiet: nothing on stdout)';
  if (o.output === 'protobuf' && stdoutIsTTY) return 'refusing to write the protobuf stream to a terminal: redirect stdout, or use ctrace read';
  return null;
}
