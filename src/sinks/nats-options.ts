/** Parsing and checking of the --nats options (commander argParsers: bad values are usage errors). */
import { InvalidArgumentError } from 'commander';

/** nats://host:port[,nats://host:port...]; a bare host:port is taken as nats:// */
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

/** JetStream stream names: no spaces, dots, wildcards or path separators. */
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
