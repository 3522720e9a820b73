/**
 * `ctrace run --metrics`: the metrics server, started before the tracer (so /healthz and /readyz
 * answer 503 during start-up) and pointed at the tracer and the outputs once they run.
 */
import { ctraceVersion } from '../events/records.js';
import type { Outputs } from '../sinks/outputs.js';
import type { Tracer } from '../tracer/tracer.js';
import { TracerMetrics } from './registry.js';
import { MetricsServer, type Endpoint } from './server.js';

export interface FleetMetrics {
  attach(tracer: Tracer, outputs: Outputs): void;
  close(): Promise<void>;
}

export async function startMetrics(at: Endpoint): Promise<FleetMetrics> {
  const metrics = new TracerMetrics(ctraceVersion());
  let tracer: Tracer | null = null;
  const server = await MetricsServer.listen(at, metrics, {
    health: () => (tracer ? tracer.health() : { ok: false, reason: 'starting: BPF program not attached yet' }),
    // the tracer exists once its /proc walk is done (the constructor does it)
    ready: () => (tracer ? { ok: true } : { ok: false, reason: 'starting: /proc walk not done' }),
  });
  return {
    attach(t, outputs) {
      tracer = t;
      t.onBatchDone((bytes, seconds) => metrics.observeBatch(bytes, seconds));
      metrics.attach({
        stats: () => t.stats(),
        cgroupScopes: () => t.cgroupScopes(),
        ringFill: () => t.ringFill(),
        readerWakeups: () => t.readerWakeups(),
        readerAsks: () => t.readerAsks(),
        healthy: () => t.health().ok,
        ready: () => true,
        log: () => outputs.log?.stats() ?? null,
        lost: () => ({
          socket: outputs.socket?.stats().undelivered ?? 0,
          // stdout is written by the addon's queue (JSON) or the JavaScript sink (table, protobuf)
          stdout: (t.outputStats()?.droppedLines ?? 0) + (outputs.stdoutLoss()?.dropped ?? 0),
        }),
        exporters: () => outputs.exporters(),
      });
    },
    close: () => server.close(),
  };
}
