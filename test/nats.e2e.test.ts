/**
 * `ctrace run --nats` against a real three-server NATS cluster (Debian's nats-server, JetStream
 * on, the stream created by ctrace with 3 replicas; all on loopback, random free ports, each
 * server with its own temporary store): a burst of real runc containers while the stream's
 * leader is killed and restarted, and a 30 s outage of every server. In both, each event ctrace
 * reported must be in the stream exactly once.
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startCtrace, type CtraceRun, type JsonEvent } from './helpers/ctrace-cli.js';
import { readStream, startNatsCluster, type NatsCluster } from './helpers/nats-cluster.js';
import { freePort } from './helpers/ports.js';
import { privileged } from './helpers/privileges.js';
import { buildRootfs } from './helpers/rootfs.js';
import { cleanupAllContainers, dockerId, runContainerToExit } from './helpers/runc.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** One event, as both sides see it. */
const key = (e: JsonEvent) => `${e.type}/${e.time}/${e.pid}/${e.tid}`;

async function metric(port: number, series: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(series + ' '));
  return line ? Number(line.slice(series.length + 1)) : NaN;
}

async function until(pred: () => Promise<boolean> | boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  // a request failing during an election is a "not yet"
  while (!(await Promise.resolve().then(pred).catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(200);
  }
}

/** `nats ...: N records acknowledged, R of them from the spool, T retries, L lost (spool full)` */
function summary(stderr: string): { acked: number; replayed: number; retries: number; lost: number; duplicates: number } {
  const m = /nats .*: (\d+) records acknowledged, (\d+) of them from the spool, (\d+) retries, (\d+) lost.*?(?:; (\d+) copies sent again were already stored)?\n/.exec(stderr);
  if (!m) throw new Error(`no nats summary in:\n${stderr}`);
  return { acked: Number(m[1]), replayed: Number(m[2]), retries: Number(m[3]), lost: Number(m[4]), duplicates: Number(m[5] ?? 0) };
}

describe.runIf(privileged())('ctrace run --nats, a three-server JetStream cluster', () => {
  let cluster: NatsCluster;
  let dir: string;
  let ct: CtraceRun | undefined;
  const subjectHost = hostname().replace(/[.*>\s]/g, '_');

  beforeAll(async () => {
    await buildRootfs();
    dir = mkdtempSync(join(tmpdir(), 'ctrace-nats-e2e-'));
    cluster = await startNatsCluster(3);
    await cluster.waitForJetStream();
  });
  afterEach(async () => {
    await ct?.stop('SIGTERM');
    ct = undefined;
    const { jsm } = await cluster.client();
    await jsm.streams.delete('CTRACE').catch(() => {});
  });
  afterAll(async () => {
    await cluster?.destroy();
    await cleanupAllContainers();
    rmSync(dir, { recursive: true, force: true });
  });

  async function startTracing(name: string): Promise<{ port: number; spool: string }> {
    const port = await freePort();
    const spool = join(dir, `spool-${name}`);
    ct = await startCtrace(['--metrics', String(port), '--nats', cluster.urls.join(','), '--nats-replicas', '3', '--nats-spool', spool]);
    // ctrace creates the stream, and its start record is acknowledged
    await until(async () => (await metric(port, 'ctrace_exporter_delivered_total{exporter="nats"}')) >= 1, 30_000, 'the stream and the start record');
    return { port, spool };
  }

  async function burst(n: number, during?: (i: number) => Promise<void>): Promise<string[]> {
    const ids: string[] = [];
    for (let i = 0; i < n; i++) {
      await during?.(i);
      const id = dockerId();
      ids.push(id);
      await runContainerToExit({ id, cgroupsPath: `/docker/${id}`, args: ['/bin/sh', '-c', '/bin/true; /bin/true; /bin/true'] });
    }
    await ct!.waitFor((ev) => ids.every((id) => ev.some((e) => e.container?.id === id && e.type === 'exec' && e.exec.filename === '/bin/true')), 20_000, 'the burst');
    return ids;
  }

  /** The stream's events of these containers, by key, with how often each is there. */
  async function streamEvents(ids: string[]) {
    const { nc } = await cluster.client();
    const msgs = await readStream(nc, 'CTRACE');
    const bodies = msgs.map((m) => JSON.parse(Buffer.from(m.data).toString()) as JsonEvent);
    const counts = new Map<string, number>();
    for (const b of bodies) if (ids.includes(b.container?.id)) counts.set(key(b), (counts.get(key(b)) ?? 0) + 1);
    return { msgs, bodies, counts };
  }

  it("publishes a container's 300-exec shell loop as the very lines stdout gets, in the same order (the JSON lane feeds both)", async () => {
    const { port } = await startTracing('lane');
    const id = dockerId();
    await runContainerToExit({ id, cgroupsPath: `/docker/${id}`, args: ['/bin/sh', '-c', 'i=0; while [ $i -lt 300 ]; do /bin/true; i=$((i+1)); done'] });
    // 300 /bin/true and the shell
    await ct!.waitFor((ev) => ev.filter((e) => e.container?.id === id && e.type === 'exit').length >= 301, 20_000, 'the loop');
    await until(async () => (await metric(port, 'ctrace_exporter_queue_depth{exporter="nats"}')) === 0, 30_000, 'the queue to drain');
    const run = ct!;
    const { stderr } = await run.stop('SIGTERM');
    ct = undefined;
    const { nc } = await cluster.client();
    const msgs = await readStream(nc, 'CTRACE');
    const bodies = msgs.map((m) => Buffer.from(m.data).toString());
    const stdoutLines = run.stdout().split('\n').filter(Boolean);
    // every event line, byte for byte and in order; the stream adds the start and stop records
    expect(bodies.slice(1, -1)).toEqual(stdoutLines);
    const loop = run.events.filter((e) => e.container?.id === id);
    expect(loop.filter((e) => e.type === 'exec' && e.exec.filename === '/bin/true')).toHaveLength(300);
    const stop = JSON.parse(bodies.at(-1)!);
    const count = (t: string) => run.events.filter((e) => e.type === t).length;
    expect(stop).toMatchObject({ type: 'stop', events: { exec: count('exec'), exit: count('exit'), mount: count('mount') }, lost: 0 });
    expect(summary(stderr)).toMatchObject({ acked: msgs.length, lost: 0 });
  }, 120_000);

  it('holds each event of a burst exactly once while the stream leader is killed and restarted', async () => {
    const { port } = await startTracing('failover');
    const { jsm } = await cluster.client();
    const info = await jsm.streams.info('CTRACE');
    expect(info.config.num_replicas).toBe(3);
    expect(info.config.subjects).toEqual(['ctrace.>']);
    const leader = info.cluster!.leader!;
    expect(cluster.servers.map((s) => s.name)).toContain(leader);

    const ids = await burst(16, async (i) => {
      if (i === 4) await cluster.kill(leader);
      if (i === 10) await cluster.start(leader);
    });
    // a new leader took over while the old one was away
    await until(async () => !!(await jsm.streams.info('CTRACE')).cluster?.leader, 30_000, 'a stream leader');
    await until(async () => (await metric(port, 'ctrace_exporter_queue_depth{exporter="nats"}')) === 0, 60_000, 'the queue to drain');
    const run = ct!;
    const { stderr } = await run.stop('SIGTERM');
    ct = undefined;
    const s = summary(stderr);
    const { msgs, bodies, counts } = await streamEvents(ids);
    const mine = run.events.filter((e) => ids.includes(e.container?.id));
    expect(mine.length).toBeGreaterThanOrEqual(16 * 4);
    // every event ctrace reported for the burst, in the stream once, and nothing else of it
    for (const e of mine) expect(counts.get(key(e)), key(e)).toBe(1);
    expect(counts.size).toBe(mine.length);
    // the whole run: what ctrace had acknowledged is what the stream holds, ids all distinct
    expect(msgs).toHaveLength(s.acked);
    expect(new Set(msgs.map((m) => m.msgId)).size).toBe(msgs.length);
    // the fail-over was felt: publishes timed out and were sent again with their ids
    expect(s.retries).toBeGreaterThan(0);
    expect(bodies[0]!.type).toBe('start');
    expect(bodies.at(-1)!.type).toBe('stop');
    expect(msgs.every((m) => m.subject === `ctrace.${subjectHost}.${JSON.parse(Buffer.from(m.data).toString()).type}`)).toBe(true);
    const events = bodies.filter((b) => b.type === 'exec' || b.type === 'exit' || b.type === 'mount').length;
    expect(events).toBe(run.events.length);
    console.log(
      `failover: stream leader ${leader} killed and restarted; burst events published ${mine.length}, in the stream ${[...counts.values()].reduce((a, b) => a + b, 0)} (${counts.size} distinct); ` +
        `whole run: ${run.events.length} events on stdout, ${s.acked} records acknowledged, ${msgs.length} in the stream, ${s.retries} publishes retried, ${s.duplicates} retried copies dropped by the server as duplicates`,
    );
  }, 240_000);

  it('keeps the events of a 30 s outage of every server in the spool and replays them after', async () => {
    const { port, spool } = await startTracing('outage');
    await until(async () => (await metric(port, 'ctrace_exporter_queue_depth{exporter="nats"}')) === 0, 30_000, 'an empty queue');
    const down = Date.now();
    await cluster.stopAll();
    await until(async () => (await metric(port, 'ctrace_exporter_connected{exporter="nats"}')) === 0, 15_000, 'ctrace to see the outage');
    const ids = await burst(8);
    expect(await metric(port, 'ctrace_exporter_queue_depth{exporter="nats"}')).toBeGreaterThanOrEqual(8 * 4);
    expect(readdirSync(spool).filter((f) => f.endsWith('.spool')).length).toBeGreaterThan(0);
    expect(await metric(port, 'ctrace_exporter_spool_bytes{exporter="nats"}')).toBeGreaterThan(0);
    await sleep(Math.max(0, 30_000 - (Date.now() - down)));
    const outageMs = Date.now() - down;

    await cluster.startAll();
    await cluster.waitForJetStream(60_000);
    await until(async () => (await metric(port, 'ctrace_exporter_queue_depth{exporter="nats"}')) === 0, 90_000, 'the spool to drain');
    expect(await metric(port, 'ctrace_exporter_connected{exporter="nats"}')).toBe(1);
    expect(await metric(port, 'ctrace_events_lost_total{stage="nats"}')).toBe(0);
    const replayedSeen = await metric(port, 'ctrace_exporter_replayed_total{exporter="nats"}');
    expect(await metric(port, 'ctrace_exporter_spool_bytes{exporter="nats"}')).toBe(0);
    const run = ct!;
    const { stderr } = await run.stop('SIGTERM');
    ct = undefined;
    const s = summary(stderr);

    const { msgs, counts } = await streamEvents(ids);
    const mine = run.events.filter((e) => ids.includes(e.container?.id));
    expect(mine.length).toBeGreaterThanOrEqual(8 * 4);
    for (const e of mine) expect(counts.get(key(e)), key(e)).toBe(1);
    expect(counts.size).toBe(mine.length);
    expect(s.replayed).toBeGreaterThanOrEqual(mine.length);
    expect(replayedSeen).toBeGreaterThanOrEqual(mine.length);
    expect(replayedSeen).toBeLessThanOrEqual(s.replayed);
    expect(s.lost).toBe(0);
    expect(msgs).toHaveLength(s.acked);
    expect(new Set(msgs.map((m) => m.msgId)).size).toBe(msgs.length);
    // the spool is empty again
    expect(readdirSync(spool).filter((f) => f.endsWith('.spool'))).toEqual([]);
    console.log(
      `outage: all ${cluster.servers.length} servers down ${(outageMs / 1000).toFixed(1)} s; ${mine.length} burst events made during it, ` +
        `${s.replayed} records replayed from the spool, ${s.acked} acknowledged in the run, ${msgs.length} in the stream`,
    );
  }, 240_000);
});
