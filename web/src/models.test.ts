import { describe, expect, it } from 'vitest';
import { LoggedModel } from './api';
import { latestModelMetrics, parseModelOrder } from './Models';
import { parseHash } from './route';

describe('parseModelOrder', () => {
  it.each([
    ['', undefined],
    ['name ASC', { field_name: 'name', ascending: true }],
    ['creation_timestamp DESC', { field_name: 'creation_timestamp', ascending: false }],
    ['metrics.val loss desc', { field_name: 'metrics.val loss', ascending: false }],
    ['name', { field_name: 'name', ascending: true }],
  ])('%j', (s, want) => expect(parseModelOrder(s)).toEqual(want));
});

describe('latestModelMetrics', () => {
  it('keeps the latest step per key, then the latest timestamp', () => {
    const m: LoggedModel = {
      info: { model_id: 'm-1', experiment_id: '1', name: 'x' },
      data: { metrics: [
        { key: 'rmse', value: 3, step: 2, timestamp: 10 },
        { key: 'rmse', value: 1, step: 5, timestamp: 1 },
        { key: 'rmse', value: 2, step: 5, timestamp: 4, dataset_name: 'eval' },
        { key: 'acc', value: 0.5, step: 0, timestamp: 0 },
      ] },
    };
    const got = latestModelMetrics(m);
    expect(got.get('rmse')?.value).toBe(2);
    expect(got.get('acc')?.value).toBe(0.5);
    expect(latestModelMetrics({ info: m.info }).size).toBe(0);
  });
});

describe('model route', () => {
  it('parses #/models/{id} with its query', () => {
    const r = parseHash('#/models/m-abc?x=1');
    expect(r).toMatchObject({ page: 'model', id: 'm-abc' });
    expect(r.q.get('x')).toBe('1');
  });
});
