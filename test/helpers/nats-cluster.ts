/**
 * A real three-server NATS cluster (Debian's `nats-server`) with JetStream on, on loopback and
 * random free ports, each server with its own temporary store directory. Servers can be killed
 * and started again with the same store, one at a time or all together.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { freePort, waitForPort } from './ports.js';

export interface NatsServer {
  name: string;
  port: number;
  clusterPort: number;
  conf: string;
  child: ChildProcess | null;
  log: string;
}

export interface NatsCluster {
  servers: NatsServer[];
  /** nats://127.0.0.1:<port>, one per server */
  urls: string[];
  start(name: string): Promise<void>;
  /** SIGKILL: no goodbye to the others */
  kill(name: string): Promise<void>;
  stopAll(): Promise<void>;
  startAll(): Promise<void>;
  /** a client connection to the cluster (closed by destroy()) */
  client(): Promise<{ nc: NatsConnection; jsm: JetStreamManager }>;
  /** resolves once JetStream answers (a meta leader is elected) */
  waitForJetStream(timeoutMs?: number): Promise<void>;
  destroy(): Promise<void>;
}

export async function startNatsCluster(size = 3): Promise<NatsCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'ctrace-nats-'));
  const servers: NatsServer[] = [];
  for (let i = 1; i <= size; i++) servers.push({ name: `n${i}`, port: await freePort(), clusterPort: await freePort(), conf: '', child: null, log: '' });
  for (const s of servers) {
    const store = join(dir, s.name);
    mkdirSync(store);
    s.conf = join(dir, `${s.name}.conf`);
    writeFileSync(
      s.conf,
      [
        `server_name: ${s.name}`,
        `listen: 127.0.0.1:${s.port}`,
        `jetstream { store_dir: "${store}", max_memory_store: 64MB, max_file_store: 1GB }`,
        // one server alone is not a cluster (JetStream would wait for peers)
        ...(size > 1
          ? [
              'cluster {',
              '  name: ctrace-test',
              `  listen: 127.0.0.1:${s.clusterPort}`,
              `  routes: [${servers.filter((o) => o !== s).map((o) => `nats-route://127.0.0.1:${o.clusterPort}`).join(', ')}]`,
              '}',
            ]
          : []),
        '',
      ].join('\n'),
    );
  }
  const byName = (name: string) => {
    const s = servers.find((x) => x.name === name);
    if (!s) throw new Error(`no NATS server ${name}`);
    return s;
  };
  const clients: NatsConnection[] = [];

  const start = async (name: string) => {
    const s = byName(name);
    if (s.child) return;
    const child = spawn('nats-server', ['-c', s.conf], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.on('data', (d) => (s.log += d));
    child.stderr!.on('data', (d) => (s.log += d));
    s.child = child;
    await waitForPort(s.port);
  };
  const kill = async (name: string) => {
    const s = byName(name);
    const child = s.child;
    if (!child) return;
    s.child = null;
    if (child.exitCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
  };
  const cluster: NatsCluster = {
    servers,
    urls: servers.map((s) => `nats://127.0.0.1:${s.port}`),
    start,
    kill,
    stopAll: async () => {
      await Promise.all(servers.map((s) => kill(s.name)));
    },
    startAll: async () => {
      await Promise.all(servers.map((s) => start(s.name)));
    },
    async client() {
      const nc = await connect({ servers: cluster.urls, maxReconnectAttempts: -1, reconnectTimeWait: 250 });
      clients.push(nc);
      return { nc, jsm: await jetstreamManager(nc, { timeout: 5000, checkAPI: false }) };
    },
    async waitForJetStream(timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      const { jsm } = await cluster.client();
      for (;;) {
        try {
          await jsm.getAccountInfo();
          return;
        } catch (err) {
          if (Date.now() > deadline) throw new Error(`JetStream not up: ${(err as Error).message}\n${servers.map((s) => s.log.slice(-1500)).join('\n')}`);
          await new Promise((r) => setTimeout(r, 250));
        }
      }
    },
    async destroy() {
      await Promise.all(clients.map((c) => c.close().catch(() => {})));
      await cluster.stopAll();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  await cluster.startAll();
  return cluster;
}

export interface StoredMessage {
  seq: number;
  subject: string;
  /** the Nats-Msg-Id header it was published with */
  msgId: string | null;
  data: Uint8Array;
}

/** `fn` again while it times out, until `ms` have passed. */
async function retryTimeouts<T>(fn: () => Promise<T>, ms: number): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    try {
      return await fn();
    } catch (e) {
      if ((e as Error).name !== 'TimeoutError' || Date.now() >= end) throw e;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

/** Every message a stream holds now, in stream order (an ordered consumer from the start). */
export async function readStream(nc: NatsConnection, stream: string): Promise<StoredMessage[]> {
  // after a server restart the cluster's meta group may still be electing: its JetStream API
  // answers nothing until then, so ask again (a stream that is not there still throws at once)
  const info = await retryTimeouts(async () => (await jetstreamManager(nc, { timeout: 5000 })).streams.info(stream), 30_000);
  const out: StoredMessage[] = [];
  if (info.state.messages === 0) return out;
  const { jetstream } = await import('@nats-io/jetstream');
  const consumer = await jetstream(nc).consumers.get(stream);
  const msgs = await consumer.consume();
  for await (const m of msgs) {
    out.push({ seq: m.seq, subject: m.subject, msgId: m.headers?.get('Nats-Msg-Id') ?? null, data: m.data });
    if (m.seq >= info.state.last_seq) break;
  }
  await msgs.close();
  return out;
}
