import { useLayoutEffect, useReducer, useState } from 'preact/hooks';
import { elementScroll, observeElementOffset, observeElementRect, Virtualizer } from '@tanstack/virtual-core';

// Preact binding for @tanstack/virtual-core (the library ships React/Solid/Vue
// bindings; this is the same few lines for Preact).
export function useVirtualRows(count: number, getScrollElement: () => HTMLElement | null, rowHeight: number) {
  const [, rerender] = useReducer((n: number) => n + 1, 0);
  const [v] = useState(() => new Virtualizer<HTMLElement, HTMLElement>({
    count,
    getScrollElement,
    estimateSize: () => rowHeight,
    scrollToFn: elementScroll,
    observeElementRect,
    observeElementOffset,
    overscan: 12,
    onChange: () => rerender(0),
  }));
  v.setOptions({ ...v.options, count, getScrollElement });
  useLayoutEffect(() => v._didMount(), []);
  useLayoutEffect(() => { v._willUpdate(); });
  return v;
}
