/**
 * `ctrace run --metrics` against a real Prometheus server (Debian's `prometheus`) started here on
 * loopback with a generated config that scrapes ctrace every second: a burst of real runc
 * containers, then the series read back through Prometheus's query API; and /healthz, /readyz.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCtrace, type CtraceRun, type JsonEvent } from './helpers/ctrace-cli.js';
import { DEFAULT_RING_BYTES } from '../src/tracer/tracer.js';
import { freePort } from './helpers/ports.js';
import { privileged } from './helpers/privileges.js';
import { startPrometheus, type Prometheus } from './helpers/prometheus.js';
import { buildRootfs } from './helpers/rootfs.js';
import { cleanupAllContainers, dockerId, runContainer, runContainerToExit } from './helpers/runc.js';

const BURST = 6;
const EXECS_EACH = 5;

async function get(url: string): Promise<{ status: number; body: string }> {
  const res = await fetch(url);
  return { status: res.status, body: await res.text() };
}

/** A value of ctrace's own /metrics text (the first sample of that name and labels). */
function sample(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(series + ' '));
  if (!line) throw new Error(`no ${series} in /metrics`);
  return Number(line.slice(series.length + 1));
}

describe.runIf(privileged())('ctrace run --metrics, scraped by a real Prometheus', () => {
  let ct: CtraceRun;
  let prom: Prometheus;
  let port: number;
  let dir: string;
  const ids: string[] = [];

  beforeAll(async () => {
    await buildRootfs();
    dir = mkdtempSync(join(tmpdir(), 'ctrace-metrics-'));
    port = await freePort();
    // a bare port: ctrace binds to 127.0.0.1
    ct = await startCtrace(['--metrics', String(port), '--log', join(dir, 'audit.jsonl')]);
    prom = await startPrometheus([`127.0.0.1:${port}`]);
  });
  afterAll(async () => {
    await ct?.stop('SIGTERM');
    await prom?.stop();
    await cleanupAllContainers();
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers /healthz and /readyz with 200 while tracing, and 404 elsewhere', async () => {
    expect(await get(`http://127.0.0.1:${port}/healthz`)).toEqual({ status: 200, body: 'ok\n' });
    expect(await get(`http://127.0.0.1:${port}/readyz`)).toEqual({ status: 200, body: 'ok\n' });
    expect((await get(`http://127.0.0.1:${port}/nope`)).status).toBe(404);
  });

  it('serves the series a fleet needs, and Prometheus reads them back after a container burst', async () => {
    // one container lives through the check: the burst's are removed, and their cgroups forgotten
    const liveId = dockerId();
    ids.push(liveId);
    await runContainer({ id: liveId, cgroupsPath: `/docker/${liveId}`, args: ['/bin/sh', '-c', 'exec /bin/sleep 120'] });
    for (let i = 0; i < BURST; i++) {
      const id = dockerId();
      ids.push(id);
      const script = Array.from({ length: EXECS_EACH }, () => '/bin/true').join('; ');
      await runContainerToExit({ id, cgroupsPath: `/docker/${id}`, args: ['/bin/sh', '-c', script] });
    }
    const mine = (ev: JsonEvent[]) => ev.filter((e) => ids.includes(e.container?.id));
    // each container: sh, then EXECS_EACH /bin/true
    await ct.waitFor((ev) => mine(ev).filter((e) => e.type === 'exec' && e.exec.filename === '/bin/true').length === BURST * EXECS_EACH, 20_000, 'the burst');

    // ctrace's own figures after the burst: Prometheus must come to hold at least these
    const own = (await get(`http://127.0.0.1:${port}/metrics`)).body;
    const execs = sample(own, 'ctrace_events_total{type="exec"}');
    expect(execs).toBeGreaterThanOrEqual(mine(ct.events).filter((e) => e.type === 'exec').length);

    const deadline = Date.now() + 30_000;
    let seen = 0;
    while (Date.now() < deadline) {
      const r = await prom.query('ctrace_events_total{type="exec"}');
      seen = r[0]?.value ?? 0;
      if (seen >= execs) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    expect(seen, `Prometheus targets: ${JSON.stringify(await prom.targets())}\n${prom.log().slice(-2000)}`).toBeGreaterThanOrEqual(execs);
    expect((await prom.targets())[0]!.health).toBe('up');

    const one = async (q: string) => {
      const r = await prom.query(q);
      expect(r, q).toHaveLength(1);
      return r[0]!;
    };
    const build = await one('ctrace_build_info');
    expect(build.value).toBe(1);
    expect(build.metric).toMatchObject({ version: '0.1.0', node: process.version });
    expect((await one('ctrace_up')).value).toBe(1);
    expect((await one('ctrace_ready')).value).toBe(1);
    expect((await one('ctrace_events_total{type="exit"}')).value).toBeGreaterThanOrEqual(BURST);
    const stages = (await prom.query('ctrace_events_lost_total')).map((s) => s.metric['stage']).sort();
    expect(stages).toEqual(['kernel', 'log', 'socket', 'stdout']);
    // cgroups held now: the live container's, not the removed ones' (at most the live one and
    // a burst container whose removal was not yet read when Prometheus scraped)
    const known = (await one('ctrace_cgroups_known{scope="container"}')).value;
    expect(known).toBeGreaterThanOrEqual(1);
    expect(known).toBeLessThan(BURST + 1);
    expect((await prom.query('ctrace_cgroups_known')).map((s) => s.metric['scope']).sort()).toEqual(['container', 'host', 'unknown']);
    expect((await one('ctrace_host_tasks_screened_total')).value).toBeGreaterThanOrEqual(0);
    // a burst of containers of one binary is far inside the hash budget
    expect((await one('ctrace_binaries_not_hashed_total')).value).toBe(0);
    expect((await one('ctrace_cgroups_unnamed_total')).value).toBe(0);
    expect((await one('ctrace_ring_buffer_size_bytes')).value).toBe(DEFAULT_RING_BYTES);
    const fill = (await one('ctrace_ring_buffer_fill_ratio')).value;
    expect(fill).toBeGreaterThanOrEqual(0);
    expect(fill).toBeLessThanOrEqual(1);
    expect((await one('ctrace_reader_batch_seconds_count')).value).toBeGreaterThan(0);
    expect((await one('ctrace_reader_wakeups_total')).value).toBeGreaterThan(0);
    // the burst's containers were new: the reader waited for their classification
    expect((await one('ctrace_reader_asks_total')).value).toBeGreaterThan(0);
    expect((await one('ctrace_audit_log_bytes_total')).value).toBeGreaterThan(0);
    expect((await one('ctrace_audit_log_records_total')).value).toBeGreaterThan(BURST);
    expect((await one('ctrace_audit_log_fsync_lag_seconds')).value).toBeLessThan(5);
    expect((await one('process_resident_memory_bytes')).value).toBeGreaterThan(0);

    // bounded cardinality: a few series per metric, none labelled by process or container
    const all = await prom.query('{__name__=~"ctrace_.*"}');
    expect(all.length).toBeLessThan(80);
    for (const s of all) for (const label of Object.keys(s.metric)) expect(['pid', 'tid', 'container', 'id']).not.toContain(label);
  });
});
