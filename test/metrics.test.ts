/**
 * The metrics endpoint's parts: the address parser, the HTTP server's probes (a 503 with the
 * reason), the CLI's usage errors for --metrics and --nats, and a real Tracer's health once
 * it is closed.
 */
import { spawnSync } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { TracerMetrics } from '../src/metrics/registry.js';
import { MetricsServer, parseEndpoint } from '../src/metrics/server.js';
import { DEFAULT_RING_BYTES, Tracer } from '../src/tracer/tracer.js';
import { ctraceBin } from './helpers/ctrace-cli.js';
import { privileged } from './helpers/privileges.js';

describe('--metrics address', () => {
  it.each([
    ['9464', { host: '127.0.0.1', port: 9464 }],
    [':9464', { host: '127.0.0.1', port: 9464 }],
    ['0.0.0.0:9100', { host: '0.0.0.0', port: 9100 }],
    ['[::1]:9100', { host: '::1', port: 9100 }],
    ['node-3.example:80', { host: 'node-3.example', port: 80 }],
  ])('%s', (value, want) => expect(parseEndpoint(value)).toEqual(want));

  it.each(['', 'abc', '1.2.3.4', '70000', 'host:'])('rejects %j', (value) => expect(() => parseEndpoint(value)).toThrow(/not a host:port/));
});

describe('metrics server', () => {
  let server: MetricsServer | undefined;
  afterEach(async () => server?.close());

  it('says 503 with the reason when a probe fails, 200 when it holds', async () => {
    let health: { ok: true } | { ok: false; reason: string } = { ok: false, reason: 'reader failed: EIO' };
    server = await MetricsServer.listen({ host: '127.0.0.1', port: 0 }, new TracerMetrics('test'), {
      health: () => health,
      ready: () => ({ ok: false, reason: 'starting: /proc walk not done' }),
    });
    const url = `http://127.0.0.1:${server.address.port}`;
    let res = await fetch(`${url}/healthz`);
    expect([res.status, await res.text()]).toEqual([503, 'reader failed: EIO\n']);
    res = await fetch(`${url}/readyz`);
    expect([res.status, await res.text()]).toEqual([503, 'starting: /proc walk not done\n']);
    health = { ok: true };
    res = await fetch(`${url}/healthz`);
    expect([res.status, await res.text()]).toEqual([200, 'ok\n']);
    // before a tracer is attached every figure reads as zero, and the series exist already
    const text = await (await fetch(`${url}/metrics`)).text();
    expect(text).toContain('ctrace_events_lost_total{stage="kernel"} 0');
    expect(text).toContain('ctrace_up 0');
    expect((await fetch(`${url}/metrics`, { method: 'POST' })).status).toBe(405);
  });

  it('fails to listen on a port in use with one line naming it', async () => {
    server = await MetricsServer.listen({ host: '127.0.0.1', port: 0 }, new TracerMetrics('test'), {
      health: () => ({ ok: true }),
      ready: () => ({ ok: true }),
    });
    await expect(
      MetricsServer.listen(server.address, new TracerMetrics('test'), { health: () => ({ ok: true }), ready: () => ({ ok: true }) }),
    ).rejects.toThrow(`--metrics 127.0.0.1:${server.address.port}: address already in use (EADDRINUSE)`);
  });
});

describe('--metrics and --nats usage', () => {
  const ctrace = (...args: string[]) => spawnSync(process.execPath, [ctraceBin, ...args], { encoding: 'utf8' });
  it.each([
    [['run', '--metrics', 'x'], /not a host:port or port: 'x'/],
    [['run', '--nats', 'http://a:1'], /not a NATS server URL: 'http:\/\/a:1'/],
    [['run', '--nats-stream', 'S'], /--nats-stream needs --nats <url>/],
    [['run', '--nats', 'nats://127.0.0.1:4222', '--nats-stream', 'a.b'], /not a stream name: 'a.b'/],
    [['run', '--nats', 'nats://127.0.0.1:4222', '--nats-format', 'xml'], /'xml'.*Allowed choices are json, protobuf/],
    [['run', '--nats', 'nats://127.0.0.1:4222', '--nats-replicas', '7'], /not a replica count: '7'/],
  ])('%j: one line, exit 2', (args, msg) => {
    const r = ctrace(...args);
    expect(r.stderr).toMatch(msg);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.status).toBe(2);
    expect(r.stdout).toBe('');
  });
});

describe.runIf(privileged())('Tracer.health()', () => {
  it('is ok while tracing and names the reason once closed', async () => {
    const t = new Tracer({ preload: false });
    expect(t.health()).toEqual({ ok: true });
    const fill = t.ringFill()!;
    expect(fill.size).toBe(DEFAULT_RING_BYTES);
    expect(fill.used).toBeGreaterThanOrEqual(0);
    expect(fill.used).toBeLessThanOrEqual(fill.size);
    await t.close();
    expect(t.health()).toEqual({ ok: false, reason: 'tracer closed' });
    expect(t.ringFill()).toBeNull();
  });

  it('ringFill() sees records the reader has not drained yet', async () => {
    // an idle reader sleeps until the ring is half full or its 3 s timer: host execs wait in the ring
    const t = new Tracer({ preload: false, all: true, pollMs: 3000 });
    try {
      for (let i = 0; i < 20; i++) spawnSync('/bin/true');
      const used = t.ringFill()!.used;
      expect(used).toBeGreaterThan(20 * 64);
      expect(used).toBeLessThan(t.ringFill()!.size);
    } finally {
      await t.close();
    }
  });
});
