/**
 * A local NATS server with JetStream (Debian's nats-server) for the `ctrace --nats`
 * configuration: started on first use on a free loopback port with its store under the bench's
 * output directory, killed when the harness exits.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { join } from 'node:path';
import { OUT_DIR } from './tracers.js';
import { sleep } from './util.js';

let server = null;

async function freePort() {
  const s = createServer();
  await new Promise((r) => s.listen(0, '127.0.0.1', r));
  const port = s.address().port;
  await new Promise((r) => s.close(r));
  return port;
}

/** { url, spool }: the server's URL and a spool directory for ctrace. */
export async function localNats() {
  if (server) return server;
  const port = await freePort();
  const dir = join(OUT_DIR, 'nats');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(join(dir, 'store'), { recursive: true });
  const child = spawn('nats-server', ['-js', '-a', '127.0.0.1', '-p', String(port), '-sd', join(dir, 'store')], { stdio: 'ignore' });
  // unref'd: a live child would keep the harness from ever exiting, and with it from this kill
  child.unref();
  process.once('exit', () => child.kill('SIGKILL'));
  for (let i = 0; i < 100; i++) {
    const ok = await new Promise((r) => {
      const c = connect(port, '127.0.0.1');
      c.once('connect', () => (c.destroy(), r(true)));
      c.once('error', () => r(false));
    });
    if (ok) break;
    await sleep(100);
  }
  server = { url: `nats://127.0.0.1:${port}`, spool: join(dir, 'spool') };
  return server;
}

/** ctrace's exit summary for NATS: records acknowledged, replayed from the spool, lost. */
export function natsSummary(stderr) {
  const m = /nats .*: (\d+) records acknowledged, (\d+) of them from the spool, (\d+) retries, (\d+) lost/.exec(stderr);
  return m ? { acked: +m[1], replayed: +m[2], retries: +m[3], lost: +m[4] } : null;
}
