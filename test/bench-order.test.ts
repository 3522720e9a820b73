/**
 * The bench's round order (bench/lib/util.js roundOrder): every configuration once a round,
 * ctrace between two baseline runs, and the configurations read against ctrace (the floor,
 * ctrace without mount hooks) next to that trio in every round, whichever way it turns.
 */
import { describe, expect, it } from 'vitest';
// @ts-expect-error plain JavaScript module of the bench, no types
import { roundOrder } from '../bench/lib/util.js';

const NAMES = ['none', 'ctrace', 'ctrace --log', 'floor', 'ctrace (no mounts)', 'execsnoop'];
const order = (r: number, names = NAMES): string[] =>
  roundOrder(names.map((name) => ({ name })), r, 'none', 'ctrace', ['floor', 'ctrace (no mounts)']).map((c: { name: string }) => c.name);

describe('bench round order', () => {
  it('runs ctrace between two baselines and the floor pair right beside them, in every round', () => {
    const seen = new Set<string>();
    for (let r = 0; r < 8; r++) {
      const o = order(r);
      expect([...o].sort()).toEqual([...NAMES, 'none'].sort());
      const c = o.indexOf('ctrace');
      expect([o[c - 1], o[c + 1]]).toEqual(['none', 'none']);
      // the floor and no-mounts runs sit within three places of ctrace
      for (const n of ['floor', 'ctrace (no mounts)']) expect(Math.abs(o.indexOf(n) - c)).toBeLessThanOrEqual(3);
      seen.add(o.join('|'));
    }
    // rotated and reversed: the rounds do not all repeat one order
    expect(seen.size).toBeGreaterThan(2);
  });

  it('without ctrace in the list, runs the baseline once in the rotation', () => {
    expect(order(0, ['none', 'floor', 'execsnoop'])).toEqual(['none', 'floor', 'execsnoop']);
    expect(order(1, ['none', 'floor', 'execsnoop'])).toEqual(['none', 'execsnoop', 'floor']);
  });
});
