/**
 * The bench's pictures and tables (bench/lib/chart.js, bench/lib/markdown.js) are pure
 * functions of results.json: the SVG must be well-formed XML (parsed here by a small strict
 * tag parser: every tag closed in order, attributes quoted, entities valid) with one bar per
 * measured (workload, tracer), its whisker, and a series per scale curve.
 */
import { describe, expect, it } from 'vitest';
// @ts-expect-error plain JavaScript module of the bench, no types
import { esc, ratioChart, scaleChart, ticks } from '../bench/lib/chart.js';
// @ts-expect-error plain JavaScript module of the bench, no types
import { markdownReport } from '../bench/lib/markdown.js';

interface El {
  name: string;
  attrs: Record<string, string>;
  children: El[];
  text: string;
}

const ENTITIES: Record<string, string> = { '&amp;': '&', '&lt;': '<', '&gt;': '>', '&quot;': '"', '&#39;': "'" };
const unescape = (s: string) => s.replace(/&(?:amp|lt|gt|quot|#39);/g, (e) => ENTITIES[e]!);

/** A strict parser for the XML subset the writer emits; throws on anything malformed. */
function parseXml(src: string): El {
  const root: El = { name: '#root', attrs: {}, children: [], text: '' };
  const stack: El[] = [root];
  const entity = /&(?:amp|lt|gt|quot|#39);/y;
  const checkText = (t: string) => {
    for (let i = 0; i < t.length; i++) {
      if (t[i] === '<' || t[i] === '>') throw new Error(`raw ${t[i]} in text: ${t}`);
      if (t[i] === '&') {
        entity.lastIndex = i;
        if (!entity.test(t)) throw new Error(`bad entity in: ${t.slice(i, i + 10)}`);
      }
    }
  };
  let i = 0;
  while (i < src.length) {
    if (src[i] === '<') {
      const end = src.indexOf('>', i);
      if (end < 0) throw new Error('unterminated tag');
      const tag = src.slice(i + 1, end);
      i = end + 1;
      if (tag.startsWith('/')) {
        const top = stack.pop()!;
        if (top.name !== tag.slice(1)) throw new Error(`</${tag.slice(1)}> closes <${top.name}>`);
        continue;
      }
      const selfClosing = tag.endsWith('/');
      const body = selfClosing ? tag.slice(0, -1) : tag;
      const m = /^([a-zA-Z][\w:-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*$/.exec(body);
      if (!m) throw new Error(`malformed tag <${tag}>`);
      const attrs: Record<string, string> = {};
      for (const a of m[2]!.matchAll(/([\w:-]+)="([^"]*)"/g)) {
        if (a[1]! in attrs) throw new Error(`duplicate attribute ${a[1]}`);
        checkText(a[2]!);
        attrs[a[1]!] = unescape(a[2]!);
      }
      const el: El = { name: m[1]!, attrs, children: [], text: '' };
      stack[stack.length - 1]!.children.push(el);
      if (!selfClosing) stack.push(el);
    } else {
      const next = src.indexOf('<', i);
      const t = src.slice(i, next < 0 ? src.length : next);
      checkText(t);
      stack[stack.length - 1]!.text += unescape(t);
      i = next < 0 ? src.length : next;
    }
  }
  if (stack.length !== 1) throw new Error(`<${stack[stack.length - 1]!.name}> never closed`);
  if (root.children.length !== 1) throw new Error('not one root element');
  return root.children[0]!;
}

function all(el: El, pred: (e: El) => boolean, out: El[] = []): El[] {
  if (pred(el)) out.push(el);
  for (const c of el.children) all(c, pred, out);
  return out;
}

const overhead = [
  { workload: 'exec-host', config: 'ctrace', median: 1.004, ci90: [0.991, 1.012], range: [0.97, 1.05] },
  { workload: 'exec-host', config: 'execsnoop', median: 1.052, ci90: null, range: [0.97, 1.26] },
  { workload: 'exec-shell-container', config: 'ctrace', median: 1.034, ci90: [1.02, 1.05], range: [1.0, 1.1] },
  { workload: 'exec-shell-container', config: 'ctrace --log', unavailable: 'no <log> & "option"' },
  { workload: 'mount-container', config: 'mount<snoop>', median: 2.24, ci90: [2.1, 2.6], range: [2.1, 2.6] },
];

describe('bench chart', () => {
  it('writes one bar and whisker per measured workload and tracer, none for the unavailable', () => {
    const svg = ratioChart(overhead, { targets: { 'exec-host': 1.01, 'mount-container': 1.15 } });
    const doc = parseXml(svg);
    expect(doc.name).toBe('svg');
    expect(doc.attrs.xmlns).toBe('http://www.w3.org/2000/svg');
    const bars = all(doc, (e) => e.attrs.class === 'bar');
    expect(bars.map((b) => `${b.attrs['data-workload']}/${b.attrs['data-config']}/${b.attrs['data-median']}`)).toEqual([
      'exec-host/ctrace/1.0040',
      'exec-host/execsnoop/1.0520',
      'exec-shell-container/ctrace/1.0340',
      'mount-container/mount<snoop>/2.2400',
    ]);
    // every bar starts at 1.0, so bars of larger ratios are longer
    const width = (b: El) => Number(b.attrs.width);
    expect(width(bars[3]!)).toBeGreaterThan(width(bars[1]!));
    expect(width(bars[1]!)).toBeGreaterThan(width(bars[0]!));
    expect(all(doc, (e) => e.attrs.class === 'whisker')).toHaveLength(4);
    expect(all(doc, (e) => e.attrs.class === 'target')).toHaveLength(2);
    // a bar's tooltip carries its figures
    expect(bars[0]!.children[0]!.text).toContain('1.004x (90 % CI 0.991-1.012)');
  });

  it('draws the scale curve as one series per measure, a point per number of containers', () => {
    const pts = [
      { containers: 1, hwmKb: 60_000, rssKb: 55_000, startupMs: 12, attachMs: 900, cpuPerEventUs: 2.1 },
      { containers: 100, hwmKb: 62_000, rssKb: 56_000, startupMs: 40, attachMs: 950, cpuPerEventUs: 2.2 },
      { containers: 1000, hwmKb: 70_000, rssKb: 60_000, startupMs: 300, attachMs: 1300, cpuPerEventUs: null },
    ];
    const doc = parseXml(scaleChart(pts));
    const series = all(doc, (e) => e.attrs.class === 'series');
    expect(series.map((s) => s.attrs['data-name'])).toEqual(['peak (VmHWM)', 'after the storm (VmRSS)', 'process walk', 'spawn to "tracing"', 'CPU / events delivered']);
    // a missing figure is left out, not drawn at zero
    expect(series[4]!.attrs.d!.match(/[ML]/g)).toHaveLength(2);
    expect(all(doc, (e) => e.name === 'circle')).toHaveLength(3 + 3 + 3 + 3 + 2);
    expect(all(doc, (e) => e.attrs.class === 'goal')).toHaveLength(1);
  });

  it('writes an empty but valid chart when nothing was measured', () => {
    expect(parseXml(ratioChart([])).name).toBe('svg');
    expect(parseXml(scaleChart([])).name).toBe('svg');
  });

  it('escapes and ticks', () => {
    expect(esc(`a<b>&"c"'`)).toBe('a&lt;b&gt;&amp;&quot;c&quot;&#39;');
    expect(ticks(0.95, 1.1)).toEqual([0.95, 1, 1.05, 1.1]);
    expect(ticks(0, 80, 4)).toEqual([0, 20, 40, 60, 80]);
  });
});

describe('bench markdown', () => {
  it('has a table row per overhead row, the unavailable one saying why, and the scale and ceiling', () => {
    const md = markdownReport({
      date: '2026-11-30T00:00:00Z',
      params: { n: 5000, w: 2, m: 20000, rounds: 15, idle: 'poll' },
      overhead,
      ceiling: {
        params: { argvBytes: 4096, workers: 2, ringSize: 'default' },
        machineLimitPerSec: 3800,
        unthrottled: { achievedPerSec: 3600, lost: 120 },
        ceilingPerSec: 2500,
        lossAtLimit: true,
        steps: [{ rate: 1900, achievedPerSec: 1890, n: 3800, lost: 0 }],
      },
      scale: { containers: [{ containers: 1000, runc: 3, startupMs: 300, attachMs: 1300, startup: { processes: 1200 }, hwmKb: 81920, rssKb: 70000, cpuPerEventUs: 2.5, events: 10000, lost: 0 }] },
      targets: [{ name: 'x | y', pass: true, value: 'v' }],
    });
    const rows = md.split('\n').filter((l) => l.startsWith('| exec-') || l.startsWith('| mount-'));
    expect(rows).toHaveLength(5);
    expect(rows[3]).toContain('n/a | no <log> & "option"');
    expect(md).toContain('| 1000 | 3 | 300 | 1300 | 1200 | 80.0 |');
    expect(md).toContain('Highest rate with 0 lost: **2500 execs/s**');
    expect(md).toContain('| PASS | x \\| y | v |');
  });
});
