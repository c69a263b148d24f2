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
    // Rows rendered beyond each edge: 8 (272 px) covers more than one frame of
    // a fast wheel (200 px a frame) once the compositor scrolls ahead of the
    // main thread; each extra row is paint and layerize work in every frame
    // (12 dropped 2-6 frames of 1,698 in the scroll benchmark, 6-8 0-1).
    overscan: 8,
    onChange: () => rerender(0),
  }));
  v.setOptions({ ...v.options, count, getScrollElement });
  useLayoutEffect(() => v._didMount(), []);
  useLayoutEffect(() => { v._willUpdate(); });
  return v;
}
