import { describe, expect, it } from 'vitest';
import { emaDebiased } from './smooth';

describe('emaDebiased', () => {
  const cases: { name: string; in: (number | null)[]; w: number; want: (number | null)[] }[] = [
    { name: 'zero weight is identity', in: [1, 5, 3], w: 0, want: [1, 5, 3] },
    { name: 'constant stays constant (debiased)', in: [2, 2, 2, 2], w: 0.9, want: [2, 2, 2, 2] },
    { name: 'first point is the value itself', in: [10, 0], w: 0.5, want: [10, 10 * 0.25 / 0.75] },
    { name: 'nulls pass through', in: [1, null, 1], w: 0.6, want: [1, null, 1] },
    { name: 'NaN passes through', in: [NaN, 4], w: 0.3, want: [NaN, 4] },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const got = emaDebiased(c.in, c.w);
      expect(got.length).toBe(c.want.length);
      got.forEach((g, i) => {
        const w = c.want[i];
        if (w === null) expect(g).toBeNull();
        else if (Number.isNaN(w)) expect(g).toBeNaN();
        else expect(g).toBeCloseTo(w, 10);
      });
    });
  }
});
