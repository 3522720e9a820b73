/**
 * The layers run one way: kernel → addon → decode → classify → enrich → event → formats →
 * sinks → tracer → commands. A module imports its own layer or a lower one, never a higher
 * one, and no chain of imports comes back to where it started (type-only imports count).
 * A second opinion on cycles: `npx madge --circular --extensions ts src`.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '../src');

/** Lowest first. A file matches the first pattern that fits its path under src/. */
const LAYERS: Array<[string, RegExp]> = [
  // what every layer may use: helpers, the addon's types and loader, the event's types and schema
  ['base', /^util\/|^addon\/|^events\/(?!build\.ts$)/],
  ['decode', /^decode\//],
  ['classify', /^classify\//],
  ['enrich', /^enrich\//],
  ['event', /^events\/build\.ts$/],
  ['formats', /^format\//],
  ['sinks', /^audit\/|^sinks\//],
  ['tracer', /^tracer\//],
  ['commands', /^commands\/|^doctor\/|^metrics\/|^cli\/|^index\.ts$/],
];

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) =>
    d.isDirectory() ? files(join(dir, d.name)) : d.name.endsWith('.ts') ? [join(dir, d.name)] : [],
  );
}

const IMPORT = /(?:^|\n)\s*(?:import|export)\b[^'";]*?from\s*'(\.{1,2}\/[^']+)'|(?:^|\n)\s*import\s*'(\.{1,2}\/[^']+)'|\bimport\(\s*'(\.{1,2}\/[^']+)'\s*\)/g;

function graph(): Map<string, string[]> {
  const g = new Map<string, string[]>();
  for (const f of files(SRC)) {
    const text = readFileSync(f, 'utf8');
    const deps: string[] = [];
    for (const m of text.matchAll(IMPORT)) {
      const spec = m[1] ?? m[2] ?? m[3]!;
      const target = resolve(dirname(f), spec.replace(/\.js$/, '.ts'));
      if (existsSync(target)) deps.push(relative(SRC, target));
    }
    g.set(relative(SRC, f), deps);
  }
  return g;
}

const rank = (f: string) => LAYERS.findIndex(([, re]) => re.test(f));

describe('layers', () => {
  const g = graph();

  it('every module has a layer', () => {
    expect([...g.keys()].filter((f) => rank(f) < 0)).toEqual([]);
  });

  it('no module imports a higher layer', () => {
    const up: string[] = [];
    for (const [f, deps] of g) {
      for (const d of deps) if (rank(d) > rank(f)) up.push(`${f} (${LAYERS[rank(f)]![0]}) imports ${d} (${LAYERS[rank(d)]![0]})`);
    }
    expect(up).toEqual([]);
  });

  it('no import cycle', () => {
    const state = new Map<string, 1 | 2>();
    const cycles: string[] = [];
    const stack: string[] = [];
    const visit = (f: string) => {
      state.set(f, 1);
      stack.push(f);
      for (const d of g.get(f) ?? []) {
        if (state.get(d) === 1) cycles.push([...stack.slice(stack.indexOf(d)), d].join(' → '));
        else if (!state.has(d)) visit(d);
      }
      stack.pop();
      state.set(f, 2);
    };
    for (const f of g.keys()) if (!state.has(f)) visit(f);
    expect(cycles).toEqual([]);
  });

  it('finds the imports it checks (the parser is not blind)', () => {
    expect(g.get('tracer/pipeline.ts')).toContain('events/build.ts');
    expect(g.get('events/event.ts')).toContain('events/generated/schema.ts');
    expect(g.size).toBeGreaterThan(50);
  });
});
