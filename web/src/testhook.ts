// window.__mltrack exposes what the UI rendered (table rows, plotted chart
// points) so browser tests compare it with the logged data instead of pixels.
export interface TestHook {
  pollMs?: number;
  table?: { rows: number; total: number; complete: boolean };
  charts: Record<string, { x: string; series: Record<string, [number, number][]> }>;
}

export function testHook(): TestHook {
  const w = window as unknown as { __mltrack?: TestHook };
  if (!w.__mltrack) w.__mltrack = { charts: {} };
  return w.__mltrack;
}
