import { describe, expect, it } from 'vitest';
import { buildData } from './Chart';
import { decodeCols, encodeCols } from './columns';
import { parseHash } from './route';

const m = (step: number, value: number, timestamp: number) => ({ key: 'loss', step, value, timestamp });

describe('buildData', () => {
  it('aligns runs with different steps on one x axis, null where a run has no point', () => {
    const b = buildData([
      { runId: 'a', label: 'a', points: [m(0, 1, 1000), m(2, 3, 3000)] },
      { runId: 'b', label: 'b', points: [m(1, 5, 1000), m(2, 6, 2000)] },
    ], { x: 'step', log: false, smooth: 0 });
    expect(b.data).toEqual([[0, 1, 2], [1, null, 3], [null, 5, 6]]);
    expect(b.plotted).toEqual({ a: [[0, 1], [2, 3]], b: [[1, 5], [2, 6]] });
  });
  it('relative time starts at each run\'s first point, in seconds', () => {
    const b = buildData([{ runId: 'a', label: 'a', points: [m(0, 1, 5000), m(1, 2, 7500)] }], { x: 'rel', log: false, smooth: 0 });
    expect(b.data[0]).toEqual([0, 2.5]);
  });
  it('wall time is in seconds since the epoch', () => {
    const b = buildData([{ runId: 'a', label: 'a', points: [m(0, 1, 5000)] }], { x: 'wall', log: false, smooth: 0 });
    expect(b.data[0]).toEqual([5]);
  });
  it('log scale drops non-positive values, smoothing adds a raw and a smoothed series', () => {
    const b = buildData([{ runId: 'a', label: 'a', points: [m(0, -1, 0), m(1, 2, 1), m(2, 2, 2)] }], { x: 'step', log: true, smooth: 0.5 });
    expect(b.data.length).toBe(3);
    expect(b.data[1]).toEqual([null, 2, 2]);
    expect(b.data[2]).toEqual([null, 2, 2]);
  });
});

describe('columns in the URL', () => {
  const cases = [
    [],
    [{ kind: 'p', key: 'lr' }, { kind: 'm', key: 'val loss, top-1' }, { kind: 't', key: 'a:b' }],
  ] as const;
  for (const c of cases) {
    it(`round-trips ${JSON.stringify(c)}`, () => {
      expect(decodeCols(encodeCols([...c]))).toEqual(c);
    });
  }
  it('absent means defaults', () => expect(decodeCols(null)).toBeNull());
});

describe('parseHash', () => {
  const cases: [string, string, string?][] = [
    ['', 'home'],
    ['#/experiments/12?filter=a', 'experiment', '12'],
    ['#/runs/abc', 'run', 'abc'],
    ['#/compare?runs=a,b', 'compare'],
    ['#/nonsense', 'home'],
  ];
  for (const [h, page, id] of cases) {
    it(h || '(empty)', () => {
      const r = parseHash(h);
      expect(r.page).toBe(page);
      if (id) expect((r as { id: string }).id).toBe(id);
    });
  }
});

describe('aggregate', () => {
  it('averages across runs at each step, with min-max and std bands', async () => {
    const { aggregate } = await import('./group');
    const a = [m(0, 1, 0), m(1, 3, 10)], b = [m(0, 3, 0), m(2, 5, 20)];
    expect(aggregate([a, b], 'minmax').map((p) => [p.step, p.value, p.lo, p.hi])).toEqual([[0, 2, 1, 3], [1, 3, 3, 3], [2, 5, 5, 5]]);
    expect(aggregate([a, b], 'std').map((p) => [p.step, p.value, p.lo, p.hi])[0]).toEqual([0, 2, 1, 3]);
  });
  it('counts a run\'s repeated step once, with its last value', async () => {
    const { aggregate } = await import('./group');
    expect(aggregate([[m(0, 1, 0), m(0, 5, 1)], [m(0, 1, 0)]], 'minmax')[0].value).toBe(3);
  });
});

describe('compare plots and chart budget', () => {
  it('scales numeric axes by value and other axes as sorted categories', async () => {
    const { scaleOf } = await import('./ComparePlots');
    const n = scaleOf(['1', '3', undefined, '2']);
    expect(n.numeric).toBe(true);
    expect([n.pos('1'), n.pos('2'), n.pos('3')]).toEqual([0, 0.5, 1]);
    const c = scaleOf(['sgd', 'adam', 'sgd']);
    expect(c.numeric).toBe(false);
    expect([c.pos('adam'), c.pos('sgd')]).toEqual([0, 1]);
  });
  it('shares the chart point budget among many runs, never below 1,000 each', async () => {
    const { pointsPerRun } = await import('./histories');
    expect([pointsPerRun(1), pointsPerRun(40), pointsPerRun(100), pointsPerRun(500)]).toEqual([2500, 2500, 1000, 1000]);
  });
});

import { parseDelimited } from './csv';
describe('parseDelimited', () => {
  it('handles quotes, embedded separators and newlines, CRLF', () => {
    const r = parseDelimited('a,b,c\r\n1,"x, y","say ""hi"""\n2,"multi\nline",\n', ',');
    expect(r.rows).toEqual([['a', 'b', 'c'], ['1', 'x, y', 'say "hi"'], ['2', 'multi\nline', '']]);
    expect(r.truncated).toBe(false);
  });
  it('caps rows and parses TSV', () => {
    const r = parseDelimited('a\tb\n1\t2\n3\t4\n', '\t', 2);
    expect(r.rows).toEqual([['a', 'b'], ['1', '2']]);
    expect(r.truncated).toBe(true);
  });
});
