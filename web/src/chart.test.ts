import { describe, expect, it } from 'vitest';
import { buildData, Series } from './Chart';

const settings = { x: 'step' as const, log: false, smooth: 0 };
const cols = (steps: number[], values: number[]) => ({
  steps: Float64Array.from(steps), timestamps: Float64Array.from(steps, (s) => 1000 + s), values: Float64Array.from(values),
});
// A deterministic stand-in for random numbers.
const lcg = (seed: number) => () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);

describe('buildData from columns', () => {
  it('matches the same points given as objects', () => {
    const a = { steps: [0, 2, 2, 5], values: [1, 3, 4, -1] };
    const b = { steps: [1, 2, 7], values: [5, 6, 7] };
    const asCols: Series[] = [
      { runId: 'a', label: 'a', points: [], cols: cols(a.steps, a.values) },
      { runId: 'b', label: 'b', points: [], cols: cols(b.steps, b.values) },
    ];
    const asPoints: Series[] = [a, b].map((r, i) => ({
      runId: 'ab'[i], label: 'ab'[i], points: r.steps.map((s, k) => ({ key: 'm', step: s, timestamp: 1000 + s, value: r.values[k] })),
    }));
    const x = buildData(asCols, settings), y = buildData(asPoints, settings);
    expect(x.data).toEqual(y.data);
    expect(x.plotted).toEqual(y.plotted);
    // At a repeated step the later point is drawn; both are reported.
    expect(x.data).toEqual([[0, 1, 2, 5, 7], [1, null, 4, -1, null], [null, 5, 6, null, 7]]);
    expect(x.plotted.a).toEqual([[0, 1], [2, 3], [2, 4], [5, -1]]);
  });

  it('leaves NaN and the infinities undrawn but reports them', () => {
    const b = buildData([{ runId: 'a', label: 'a', points: [], cols: cols([0, 1, 2, 3], [NaN, Infinity, -Infinity, 2]) }], settings);
    expect(b.data[1]).toEqual([null, null, null, 2]);
    expect(b.plotted.a.map((p) => p[1])).toEqual([NaN, Infinity, -Infinity, 2]);
  });
});

describe('buildData of many long runs', () => {
  const runs = (n: number, points: number, span: number, seed: number): Series[] => {
    const rnd = lcg(seed);
    return Array.from({ length: n }, (_, r) => {
      const steps = new Set<number>([0, span]);
      while (steps.size < points) steps.add(Math.floor(rnd() * span));
      const s = [...steps].sort((p, q) => p - q);
      return { runId: 'r' + r, label: 'r' + r, points: [], cols: cols(s, s.map(() => rnd() * 10 - 5)) };
    });
  };

  // What the server sends for long histories: a bucket's lowest and highest
  // point, buckets of equal steps.
  const envelopes = (n: number, buckets: number, span: number, seed: number): Series[] => {
    const rnd = lcg(seed), w = span / buckets;
    return Array.from({ length: n }, (_, r) => {
      const set = new Set<number>();
      for (let q = 0; q < buckets; q++) set.add(Math.floor(q * w + rnd() * w)).add(Math.floor(q * w + rnd() * w));
      const s = [...set].sort((p, q) => p - q);
      return { runId: 'r' + r, label: 'r' + r, points: [], cols: cols(s, s.map(() => rnd() * 10 - 5)) };
    });
  };

  it('draws each point within two of 8,192 columns of its step, keeping every value', () => {
    const span = 100_000, series = envelopes(100, 499, span, 7);
    const b = buildData(series, settings);
    const xs = b.data[0] as number[];
    expect(xs.length).toBeLessThanOrEqual(8192 + 3);
    const col = span / 8191;
    series.forEach((sr, i) => {
      const c = sr.cols!;
      const drawn = (b.data[i + 1] as (number | null)[]).map((v, k) => [xs[k], v] as const).filter(([, v]) => v !== null);
      expect(drawn.map(([, v]) => v)).toEqual(Array.from(c.values));
      drawn.forEach(([x], k) => expect(Math.abs(x - c.steps[k])).toBeLessThanOrEqual(2.5 * col + 1));
      expect(b.plotted[sr.runId]).toEqual(Array.from(c.steps, (s, k) => [s, c.values[k]]));
    });
  });

  it('stays exact when points are too dense for the columns', () => {
    const series = runs(40, 1000, 1_000_000, 8);
    series.push({ runId: 'dense', label: 'dense', points: [], cols: cols(Array.from({ length: 2000 }, (_, k) => 500_000 + k), Array.from({ length: 2000 }, (_, k) => k)) });
    const b = buildData(series, settings);
    const xs = new Set(b.data[0] as number[]);
    for (const sr of series) for (const s of Array.from(sr.cols!.steps)) expect(xs.has(s)).toBe(true);
  });
});
