/**
 * The HTTP face of `--metrics`: `GET /metrics` (Prometheus text format), `GET /healthz` (200
 * while the hooks are attached and the reader runs, 503 with the reason otherwise) and
 * `GET /readyz` (200 once the start-up /proc walk is done). Nothing else; no request body is read.
 */
import { createServer, type Server } from 'node:http';
import { InvalidArgumentError } from 'commander';
import type { TracerMetrics } from './registry.js';

export interface Endpoint {
  host: string;
  port: number;
}

/** `9464`, `:9464`, `0.0.0.0:9464`, `[::1]:9464`; a bare port binds to 127.0.0.1. */
export function parseEndpoint(value: string): Endpoint {
  const m = /^(?:(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]*):)?(\d{1,5})$/.exec(value.trim());
  const port = m ? Number(m[2]) : NaN;
  if (!m || port > 65535) throw new InvalidArgumentError(`not a host:port or port: '${value}' (e.g. 9464, 0.0.0.0:9464)`);
  const host = m[1] ? m[1].replace(/^\[(.*)\]$/, '$1') : '127.0.0.1';
  return { host, port };
}

export type Probe = () => { ok: true } | { ok: false; reason: string };

export class MetricsServer {
  private constructor(
    private readonly server: Server,
    readonly address: Endpoint,
  ) {}

  /** Listens; rejects (EADDRINUSE, EACCES) before anything is traced. */
  static async listen(at: Endpoint, metrics: TracerMetrics, probes: { health: Probe; ready: Probe }): Promise<MetricsServer> {
    const server = createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { allow: 'GET, HEAD' }).end();
        return;
      }
      if (path === '/metrics') {
        metrics.metrics().then(
          (text) => res.writeHead(200, { 'content-type': metrics.contentType }).end(text),
          (err: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${err.message}\n`),
        );
        return;
      }
      const probe = path === '/healthz' ? probes.health : path === '/readyz' ? probes.ready : null;
      if (!probe) {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /metrics, /healthz, /readyz\n');
        return;
      }
      let r: ReturnType<Probe>;
      try {
        r = probe();
      } catch (err) {
        r = { ok: false, reason: (err as Error).message };
      }
      res.writeHead(r.ok ? 200 : 503, { 'content-type': 'text/plain' }).end(r.ok ? 'ok\n' : `${r.reason}\n`);
    });
    // a scraper that keeps its connection open must not hold ctrace's exit
    server.keepAliveTimeout = 5000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) => {
        // `listen EADDRINUSE: address already in use 127.0.0.1:9464` -> `address already in use (EADDRINUSE)`
        const what = err.message.replace(/^listen \w+: /, '').replace(/ \S+:\d+$/, '');
        reject(new Error(`--metrics ${at.host}:${at.port}: ${what}${err.code ? ` (${err.code})` : ''}`));
      });
      server.listen(at.port, at.host, () => resolve());
    });
    const a = server.address();
    return new MetricsServer(server, { host: at.host, port: typeof a === 'object' && a ? a.port : at.port });
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
