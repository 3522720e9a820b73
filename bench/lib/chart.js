/**
 * The bench's pictures as hand-written SVG (no dependency): the overhead ratios per workload
 * and tracer with their 90 % intervals, and the scale curve. Pure functions of the results,
 * so a unit test can parse what they write (test/bench-chart.test.ts).
 */

const FONT = 'font-family="sans-serif" font-size="12"';
const COLOURS = ['#1f6feb', '#d1242f', '#8250df', '#1a7f37', '#bf8700', '#57606a', '#e85aad', '#0fb5ba', '#953800', '#0550ae'];

/** Text for XML content and attribute values. */
export function esc(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
}

const num = (x) => (Number.isFinite(x) ? Math.round(x * 10) / 10 : 0);

/** Round steps for an axis from lo to hi: about `n` ticks at 1, 2 or 5 times a power of ten. */
export function ticks(lo, hi, n = 6) {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / n;
  const p = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * p).find((s) => s >= raw) ?? 10 * p;
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Number((Math.round(v / step) * step).toPrecision(12)));
  return out;
}

/**
 * Overhead ratios: one horizontal bar per (workload, tracer) from 1.0 to the median, a whisker
 * over the 90 % CI of the median (over the rounds' range when there are too few rounds for an
 * interval, drawn dashed), a line at 1.0 and one at each target. `rows` are results.json's
 * `overhead` rows: {workload, config, median, ci90, range, unavailable}.
 * `targets` maps a workload to its ctrace limit (drawn as a red tick in that group).
 */
export function ratioChart(rows, { title = 'Workload time with the tracer / without (median, 90 % CI)', targets = {}, cap = 1.3 } = {}) {
  const shown = rows.filter((r) => !r.unavailable && Number.isFinite(r.median));
  const configs = [...new Set(shown.map((r) => r.config))];
  const colour = (c) => COLOURS[configs.indexOf(c) % COLOURS.length];
  const workloads = [...new Set(shown.map((r) => r.workload))];
  const barH = 14;
  const gap = 4;
  const groupGap = 14;
  const left = 150;
  const plotW = 460;
  const top = 40;
  let lo = 1;
  let hi = 1;
  for (const r of shown) {
    const [a, b] = r.ci90 ?? r.range ?? [r.median, r.median];
    lo = Math.min(lo, a, r.median);
    hi = Math.max(hi, b, r.median);
  }
  for (const t of Object.values(targets)) hi = Math.max(hi, t);
  // a peer at 2-3x would squeeze the ratios near 1.0 that the targets are about into a few
  // pixels: the axis stops at `cap` and longer bars are cut, their figure still printed
  hi = Math.min(hi, Math.max(cap, ...Object.values(targets).map((t) => t + 0.02)));
  const padR = (hi - lo) * 0.05 || 0.01;
  lo -= padR;
  hi += padR;
  const x = (v) => left + ((Math.min(Math.max(v, lo), hi) - lo) / (hi - lo)) * plotW;
  const parts = [];
  let y = top;
  for (const w of workloads) {
    const group = shown.filter((r) => r.workload === w);
    const y0 = y;
    parts.push(`<text x="${left - 8}" y="${num(y + barH - 2)}" text-anchor="end" font-weight="bold">${esc(w)}</text>`);
    for (const r of group) {
      const x1 = x(1);
      const xm = x(r.median);
      const cy = y + barH / 2;
      const ci = r.ci90 ?? r.range;
      parts.push(
        `<rect class="bar" data-workload="${esc(w)}" data-config="${esc(r.config)}" data-median="${r.median.toFixed(4)}" x="${num(Math.min(x1, xm))}" y="${num(y)}" width="${num(Math.max(1, Math.abs(xm - x1)))}" height="${barH}" fill="${colour(r.config)}" fill-opacity="0.75"><title>${esc(`${w}, ${r.config}: ${r.median.toFixed(3)}x${r.ci90 ? ` (90 % CI ${r.ci90.map((v) => v.toFixed(3)).join('-')})` : ''}`)}</title></rect>`,
      );
      if (ci) {
        const dash = r.ci90 ? '' : ' stroke-dasharray="3,2"';
        parts.push(
          `<path class="whisker" d="M${num(x(ci[0]))} ${num(cy)}H${num(x(ci[1]))}M${num(x(ci[0]))} ${num(cy - 4)}V${num(cy + 4)}M${num(x(ci[1]))} ${num(cy - 4)}V${num(cy + 4)}" stroke="#24292f" stroke-width="1.2" fill="none"${dash}/>`,
        );
      }
      if (r.median > hi) parts.push(`<path class="cut" d="M${num(x(hi) - 6)} ${num(y + 2)}l6 ${barH / 2 - 2}l-6 ${barH / 2 - 2}" stroke="#ffffff" stroke-width="2" fill="none"/>`);
      parts.push(`<text x="${num(left + plotW + 6)}" y="${num(y + barH - 3)}" font-size="11">${esc(`${r.config} ${r.median.toFixed(3)}${r.median > hi ? ' (cut)' : ''}`)}</text>`);
      y += barH + gap;
    }
    if (targets[w] !== undefined) {
      const tx = x(targets[w]);
      parts.push(`<path class="target" d="M${num(tx)} ${num(y0 - 2)}V${num(y - gap + 2)}" stroke="#d1242f" stroke-width="2"/>`);
    }
    y += groupGap;
  }
  const bottom = y;
  const axis = [`<path d="M${num(x(1))} ${top - 6}V${num(bottom - groupGap + 2)}" stroke="#24292f" stroke-width="1"/>`];
  for (const t of ticks(lo, hi)) {
    axis.push(`<path d="M${num(x(t))} ${num(bottom - groupGap + 2)}v4" stroke="#57606a"/>`);
    axis.push(`<text x="${num(x(t))}" y="${num(bottom - groupGap + 18)}" text-anchor="middle" font-size="11">${t.toFixed(2)}</text>`);
  }
  const height = bottom + 20;
  const width = left + plotW + 170;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${num(height)}" viewBox="0 0 ${width} ${num(height)}" ${FONT}>`,
    `<rect width="100%" height="100%" fill="#ffffff"/>`,
    `<text x="10" y="20" font-size="14" font-weight="bold">${esc(title)}</text>`,
    `<text x="10" y="34" font-size="10" fill="#57606a">${esc('bar: 1.0 to the median of the rounds; whisker: 90 % CI (dashed: min-max of rounds); red: target; long bars cut')}</text>`,
    ...axis,
    ...parts,
    '</svg>',
  ].join('\n');
}

/**
 * One panel of a line chart: x on a log scale (number of live containers), one or more
 * series of {x, y}. Returns SVG elements placed at (ox, oy) in a w×h box.
 */
function linePanel({ ox, oy, w, h, title, yLabel, series, goal }) {
  const pts = series.flatMap((s) => s.points).filter((p) => Number.isFinite(p.y) && p.x > 0);
  const out = [`<text x="${ox}" y="${oy - 8}" font-weight="bold">${esc(title)}</text>`];
  out.push(`<rect x="${ox}" y="${oy}" width="${w}" height="${h}" fill="none" stroke="#d0d7de"/>`);
  if (!pts.length) {
    out.push(`<text x="${ox + w / 2}" y="${oy + h / 2}" text-anchor="middle" fill="#57606a">not measured</text>`);
    return out;
  }
  const xs = pts.map((p) => Math.log10(p.x));
  const xlo = Math.min(...xs);
  const xhi = Math.max(...xs) > xlo ? Math.max(...xs) : xlo + 1;
  let yhi = Math.max(...pts.map((p) => p.y), goal ?? 0) * 1.1 || 1;
  const yt = ticks(0, yhi, 4);
  yhi = Math.max(yhi, yt[yt.length - 1]);
  const X = (v) => ox + 30 + ((Math.log10(v) - xlo) / (xhi - xlo)) * (w - 60);
  const Y = (v) => oy + h - (v / yhi) * h;
  for (const t of yt) {
    out.push(`<path d="M${ox} ${num(Y(t))}h${w}" stroke="#eaeef2"/>`);
    out.push(`<text x="${ox - 4}" y="${num(Y(t) + 4)}" text-anchor="end" font-size="10">${esc(t)}</text>`);
  }
  for (const xv of [...new Set(pts.map((p) => p.x))]) {
    out.push(`<text x="${num(X(xv))}" y="${oy + h + 14}" text-anchor="middle" font-size="10">${esc(xv.toLocaleString('en'))}</text>`);
  }
  out.push(`<text x="${ox + w / 2}" y="${oy + h + 28}" text-anchor="middle" font-size="10">live containers (log scale)</text>`);
  out.push(`<text x="${ox - 34}" y="${oy + h / 2}" text-anchor="middle" font-size="10" transform="rotate(-90 ${ox - 34} ${oy + h / 2})">${esc(yLabel)}</text>`);
  if (goal !== undefined) {
    out.push(`<path class="goal" d="M${ox} ${num(Y(goal))}h${w}" stroke="#d1242f" stroke-dasharray="4,3"/>`);
    out.push(`<text x="${ox + w - 4}" y="${num(Y(goal) - 3)}" text-anchor="end" font-size="10" fill="#d1242f">goal ${esc(goal)}</text>`);
  }
  series.forEach((s, i) => {
    const ps = s.points.filter((p) => Number.isFinite(p.y) && p.x > 0).sort((a, b) => a.x - b.x);
    if (!ps.length) return;
    const c = COLOURS[i % COLOURS.length];
    out.push(`<path class="series" data-name="${esc(s.name)}" d="${ps.map((p, j) => `${j ? 'L' : 'M'}${num(X(p.x))} ${num(Y(p.y))}`).join('')}" stroke="${c}" stroke-width="2" fill="none"/>`);
    for (const p of ps) {
      out.push(`<circle class="point" cx="${num(X(p.x))}" cy="${num(Y(p.y))}" r="3" fill="${c}"><title>${esc(`${s.name}: ${p.y} at ${p.x}`)}</title></circle>`);
    }
    out.push(`<text x="${ox}" y="${oy + h + 44 + 13 * i}" font-size="10" fill="${c}">${esc(`— ${s.name}`)}</text>`);
  });
  return out;
}

/**
 * The scale curve: ctrace's RSS, start-up and CPU per event against the number of live
 * containers, three panels side by side. `points` are results.json's `scale.containers`:
 * {containers, hwmKb, rssKb, startupMs, attachMs, cpuPerEventUs}.
 */
export function scaleChart(points, { rssGoalMb = 80 } = {}) {
  const P = (f) => points.map((p) => ({ x: p.containers, y: f(p) }));
  const w = 230;
  const h = 160;
  const panels = [
    linePanel({
      ox: 50, oy: 50, w, h, title: 'RSS, MB', yLabel: 'MB', goal: rssGoalMb,
      series: [
        { name: 'peak (VmHWM)', points: P((p) => (p.hwmKb ? Math.round(p.hwmKb / 102.4) / 10 : NaN)) },
        { name: 'after the storm (VmRSS)', points: P((p) => (p.rssKb ? Math.round(p.rssKb / 102.4) / 10 : NaN)) },
      ],
    }),
    linePanel({
      ox: 50 + (w + 70), oy: 50, w, h, title: 'Start-up, ms', yLabel: 'ms',
      series: [
        { name: 'process walk', points: P((p) => p.startupMs ?? NaN) },
        { name: 'spawn to "tracing"', points: P((p) => (Number.isFinite(p.attachMs) ? Math.round(p.attachMs) : NaN)) },
      ],
    }),
    linePanel({
      ox: 50 + 2 * (w + 70), oy: 50, w, h, title: 'ctrace CPU per event, µs', yLabel: 'µs',
      series: [{ name: 'CPU / events delivered', points: P((p) => (Number.isFinite(p.cpuPerEventUs) ? Math.round(p.cpuPerEventUs * 100) / 100 : NaN)) }],
    }),
  ];
  const width = 50 + 3 * (w + 70);
  const height = 50 + h + 75;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" ${FONT}>`,
    `<rect width="100%" height="100%" fill="#ffffff"/>`,
    `<text x="10" y="20" font-size="14" font-weight="bold">${esc('ctrace with N live containers (bench --scale)')}</text>`,
    ...panels.flat(),
    '</svg>',
  ].join('\n');
}
