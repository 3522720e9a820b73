/**
 * results.json as Markdown tables (bench/results.md; with --publish, bench/latest.md): the
 * overhead ratios with their intervals, ctrace in detail, the ceiling, the scale curve and
 * the targets. A pure function of the results.
 */

const f = (x, d = 3) => (Number.isFinite(x) ? x.toFixed(d) : '–');
const mb = (kb) => (Number.isFinite(kb) && kb ? (kb / 1024).toFixed(1) : '–');
const cell = (s) => String(s).replace(/\|/g, '\\|');
const table = (head, rows) => [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.map(cell).join(' | ')} |`)];

export function markdownReport(res) {
  const L = [`# ctrace bench, ${res.date ?? ''}`, ''];
  const m = res.machine;
  if (m) L.push(`${m.kernel}, ${m.nproc} CPUs, ${m.model}, Node ${m.node}, commit ${m.commit}${m.dirty ? ' (dirty)' : ''}; load ${m.loadavg?.before} → ${m.loadavg?.after}`, '');
  const p = res.params ?? {};
  if (res.overhead?.length) {
    L.push('## Overhead', '', `N=${p.n} execs, W=${p.w} workers, M=${p.m} mounts, ${p.rounds} rounds${p.quick ? ' (--quick)' : ''}, idle vCPUs ${p.idle}. Ratio: workload time with the tracer / without, median of the rounds.`, '');
    L.push(
      ...table(
        ['workload', 'tracer', 'ratio', '90 % CI', 'range', 'lost', 'peak RSS MB', 'CPU µs/event', 'of it: JS · poll · other threads'],
        res.overhead.map((r) =>
          r.unavailable
            ? [r.workload, r.config, 'n/a', r.unavailable, '', '', '', '', '']
            : [
                r.workload, r.config, f(r.median), r.ci90 ? r.ci90.map((x) => f(x)).join('–') : '–', r.range ? r.range.map((x) => f(x)).join('–') : '–', r.lost ?? '–', mb(r.rssPeakKbMax), f(r.cpuPerEventUs, 1),
                r.cpuSplitUs ? [r.cpuSplitUs.js, r.cpuSplitUs.reader, r.cpuSplitUs.other].map((x) => f(x, 1)).join(' · ') : '–',
              ],
        ),
      ),
      '',
    );
  }
  if (res.detail?.length) {
    L.push('## Where the cost goes (ctrace in detail, bpf_stats on)', '');
    L.push(
      ...table(
        ['workload', 'storm', 'events', 'lost', 'reader CPU µs/event', 'wakeups/event', 'BPF ns/event', 'per hook (runs × ns)'],
        res.detail.map((d) =>
          d.error
            ? [d.workload, '', '', '', 'ERROR ' + d.error, '', '', '']
            : [
                d.workload,
                d.storm,
                d.events,
                d.summary?.lost ?? '–',
                f(d.cpuPerEventUs, 2),
                f(d.wakeupsPerEvent, 3),
                f(d.bpf?.nsPerEvent, 0),
                (d.bpf?.progs ?? []).filter((x) => x.runs > 0).map((x) => `${x.name} ${x.runs}×${f(x.nsPerRun, 0)}`).join(', '),
              ],
        ),
      ),
      '',
    );
  }
  const c = res.ceiling;
  if (c) {
    L.push('## Drop-free ceiling', '');
    if (c.error) L.push(`ERROR ${c.error}`, '');
    else {
      L.push(
        `argv ${c.params.argvBytes} B, ${c.params.workers} workers, ring ${c.params.ringSize}. Machine's own limit (no tracer): **${f(c.machineLimitPerSec, 0)} execs/s**. ` +
          `Unthrottled under ctrace: ${f(c.unthrottled.achievedPerSec, 0)} execs/s, ${c.unthrottled.lost} lost` +
          (c.heldUnthrottled ? `; under \`ctrace -q --log\`: ${f(c.heldUnthrottled.achievedPerSec, 0)} execs/s, ${c.heldUnthrottled.lost} lost. ` : '. ') +
          `Highest rate with 0 lost: **${f(c.ceilingPerSec, 0)} execs/s**${c.lossAtLimit ? '' : ' (no loss at the machine\'s limit)'}.`,
        '',
      );
      if (c.steps?.length) L.push(...table(['asked execs/s', 'achieved', 'execs', 'lost'], c.steps.map((s) => [s.rate, f(s.achievedPerSec, 0), s.n, s.lost])), '');
    }
  }
  const s = res.scale;
  if (s) {
    L.push('## Scale', '');
    if (s.containers?.length) {
      L.push(
        ...table(
          ['live containers', 'of which runc', 'start-up walk ms', 'spawn → tracing ms', 'processes walked', 'peak RSS MB', 'RSS after MB', 'CPU µs/event', 'events', 'lost'],
          s.containers.map((x) =>
            x.error
              ? [x.containers, x.runc, 'ERROR ' + x.error, '', '', '', '', '', '', '']
              : [x.containers, x.runc, x.startupMs ?? '–', f(x.attachMs, 0), x.startup?.processes ?? '–', mb(x.hwmKb), mb(x.rssKb), f(x.cpuPerEventUs, 2), x.events ?? '–', x.lost ?? '–'],
          ),
        ),
        '',
      );
    }
    const h = s.hostProcesses;
    if (h) L.push(h.error ? `Host processes: ERROR ${h.error}` : `${h.processes} extra host processes: start-up walk **${h.startup?.elapsedMs ?? '–'} ms** over ${h.startup?.processes ?? '–'} processes, spawn → tracing ${f(h.attachMs, 0)} ms, peak RSS ${mb(h.hwmKb)} MB.`, '');
    const ch = s.churn;
    if (ch) {
      L.push(
        ch.error && !ch.samples
          ? `Cgroup churn: ERROR ${ch.error}`
          : `${ch.cgroups} short-lived cgroups in ${f(ch.elapsedS, 1)} s (${ch.failed} failed): RSS ${mb(ch.beforeKb)} MB before, ${mb(ch.duringMaxKb)} at most during (peak of the first / middle / last third ${mb(ch.firstThirdMaxKb)} / ${mb(ch.middleThirdMaxKb)} / ${mb(ch.lastThirdMaxKb)}${ch.slopeKbPer1000 != null ? `; ${ch.slopeKbPer1000 >= 0 ? '+' : ''}${f(ch.slopeKbPer1000 / 1024, 2)} MB per 1,000 cgroups over the last two thirds` : ''}), ${mb(ch.afterKb)} after, ${mb(ch.settledKb)} 2 s later; ${ch.events} events, ${ch.lost} lost, ${f(ch.cpuPerEventUs, 1)} µs CPU/event.`,
        '',
      );
    }
  }
  if (res.targets?.length) {
    L.push('## Targets', '', ...table(['', 'target', 'measured'], res.targets.map((t) => [t.pass === null ? 'N/A' : t.pass ? 'PASS' : 'MISS', t.name, t.value])), '');
  }
  return L.join('\n');
}
