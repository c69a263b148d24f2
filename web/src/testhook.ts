// window.__mltrack exposes what the UI rendered (table rows, plotted chart
// points, compare plots) so browser tests compare it with the logged data
// instead of pixels.
export interface TestHook {
  pollMs?: number;
  table?: { rows: number; total: number; complete: boolean };
  charts: Record<string, {
    x: string;
    series: Record<string, [number, number][]>;
    bands?: Record<string, [number, number, number][]>;
    zoom?: [number, number] | null;
  }>;
  parcoords?: { axes: string[]; lines: Record<string, (number | string | null)[]> };
  scatter?: { x: string; y: string; points: Record<string, [number | string, number]> };
  chartDrawMs?: Record<string, number>;
  modelsPageSize?: number;
}

export function testHook(): TestHook {
  const w = window as unknown as { __mltrack?: TestHook };
  if (!w.__mltrack) w.__mltrack = { charts: {} };
  return w.__mltrack;
}
