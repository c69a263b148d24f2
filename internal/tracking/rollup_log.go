package tracking

import (
	"context"
	"errors"
	"math"
)

// MetricLogReader is an optional Store capability of stores that keep each
// run's history of a metric as an append-only log: MLflow's file store
// writes one text file per run and metric, a line per point, and only ever
// appends to it. The history cache follows such a history by the log's
// size, time and last bytes (docs/decisions/0007, sixth pass): an untouched
// log holds the points an entry was built from, and a longer one that still
// has the same bytes where the entry stopped holds them followed by those
// after, whatever their steps. A store may implement both this and
// LatestMetricReader; the latter then wins.
type MetricLogReader interface {
	// MetricLogStat returns the size and modification time of runID's log
	// of key, and the up to MetricLogTailBytes bytes that end at offset at
	// (none when at is 0 or beyond the size); ok is false when there is no
	// log (no such run or metric).
	MetricLogStat(ctx context.Context, runID, key string, at int64) (st MetricLogState, ok bool, err error)
	// ScanMetricLog calls fn with the points of the complete lines from byte
	// offset from on, in log order, and returns the offset after the last
	// complete line (a line still being written is left for a later call)
	// and the up to MetricLogTailBytes bytes that end there.
	ScanMetricLog(ctx context.Context, runID, key string, from int64, fn func(StepPoint) error) (end int64, tail []byte, err error)
}

// MetricLogState is what MetricLogStat reports of a log.
type MetricLogState struct {
	Size    int64
	ModTime int64 // in the store's own unit; only compared for equality
	Tail    []byte
}

// MetricLogTailBytes is how much of a log's end an entry keeps to recognise
// the same log later.
const MetricLogTailBytes = 32

// logState is what an entry of a log store knows of the log it was built
// from, and what the blocks cannot say.
type logState struct {
	end         int64  // offset after the last line read
	tail        []byte // the bytes that end there
	size, mtime int64  // the log's size and time when it was last read
	count       int64  // points read
	first, last StepPoint
}

// addLogPoint adds p to a log entry's blocks, growing them to either side
// and coarsening as needed; false when the steps no longer fit any block
// width. e is not shared (a copy, or a new entry).
func addLogPoint(e *cacheEntry, p StepPoint) bool {
	ls := e.log
	switch {
	case ls.count == 0:
		ls.first, ls.last = p, p
	case comparePoints(p, ls.first) < 0:
		ls.first = p
	case comparePoints(p, ls.last) > 0:
		ls.last = p
	}
	ls.count++
	if p.Step < e.first || p.Step > e.last {
		if !reshape(e, min(e.first, p.Step), max(e.last, p.Step)) {
			return false
		}
	}
	i := int((p.Step >> e.shift) - e.kMin)
	for len(e.blocks) <= i {
		e.blocks = append(e.blocks, extremes{})
	}
	e.blocks[i].add(p)
	return true
}

// reshape makes e's blocks cover the steps [lo, hi], a superset of what they
// cover, doubling the block width until that fits e.maxBlocks (merging is
// exact), and allocating the new blocks once. false when no width fits.
func reshape(e *cacheEntry, lo, hi int64) bool {
	d := uint(0)
	for uint64(hi>>(e.shift+d))-uint64(lo>>(e.shift+d)) >= uint64(e.maxBlocks) {
		if e.shift+d >= 62 {
			return false
		}
		d++
	}
	kMin := min(lo>>(e.shift+d), e.kMin>>d) // the blocks keep covering what they did
	if d == 0 {
		if kMin == e.kMin {
			e.first, e.last = lo, hi // the caller appends blocks as points need them
			return true
		}
		// Growing to the left: leave room for as many blocks again, within
		// the bound, so a history logged backwards is not copied at every
		// block it crosses (a third of the time of 200,000 such appends).
		room := int64(len(e.blocks))
		if kMin > math.MinInt64+room {
			kMin = max(kMin-room, (hi>>e.shift)-int64(e.maxBlocks)+1)
		}
	}
	n := uint64(hi>>(e.shift+d)) - uint64(kMin) + 1
	blocks := make([]extremes, 0, n)
	for i, b := range e.blocks {
		j := int(((e.kMin + int64(i)) >> d) - kMin)
		for len(blocks) <= j {
			blocks = append(blocks, extremes{})
		}
		blocks[j].merge(b)
	}
	e.shift, e.kMin, e.blocks = e.shift+d, kMin, blocks
	e.first, e.last = lo, hi
	return true
}

// downsampleLog is downsampleRun for a whole history of a log store: from
// memory when the log has not grown since the entry was made, from memory
// after reading only what was appended when it has, and otherwise from one
// read of the whole log, which builds the entry.
func (s *Service) downsampleLog(ctx context.Context, lg MetricLogReader, runID string, q runQuery) ([]StepPoint, error) {
	c := s.histCache
	k := cacheKey{runID, q.key}
	e, cached := c.lookupLog(k)
	at := int64(0)
	if cached {
		at = e.log.end
	}
	st, ok, err := lg.MetricLogStat(ctx, runID, q.key, at)
	if err != nil || !ok {
		if err == nil {
			c.drop(k)
		}
		return nil, err
	}
	switch {
	case !cached:
	case st.Size == e.log.size && st.ModTime == e.log.mtime:
		// Untouched since it was read.
	case st.Size >= e.log.end && string(st.Tail) == string(e.log.tail):
		// The same log, longer (or a line still being written): read on from
		// where the entry stopped. Points may have any step.
		b := c.startBuild(k)
		ne := e
		ne.log = &logState{}
		*ne.log = *e.log
		ne.blocks = append(make([]extremes, 0, cap(e.blocks)), e.blocks...) // appends may land in any block
		end, tail, err := lg.ScanMetricLog(ctx, runID, q.key, e.log.end, func(p StepPoint) error {
			if !addLogPoint(&ne, p) {
				return errLogEntryFull
			}
			return nil
		})
		switch {
		case errors.Is(err, errLogEntryFull):
			c.abandonBuild(k, b)
			c.drop(k)
			return s.readLog(ctx, lg, runID, q, st)
		case err != nil:
			c.abandonBuild(k, b)
			return nil, err
		}
		ne.log.end, ne.log.tail, ne.log.size, ne.log.mtime = end, tail, st.Size, st.ModTime
		ne.bytes = entryOverhead + int64(cap(ne.blocks))*blockBytes
		c.replace(b, &ne) // kept or not, ne answers this read
		e = ne
	default:
		// Shorter, or not the bytes the entry read: replaced or rewritten.
		c.drop(k)
		cached = false
	}
	if cached {
		if pts, ok := logFromMemory(e, q.maxPoints); ok {
			return pts, nil
		}
	}
	return s.readLog(ctx, lg, runID, q, st)
}

var errLogEntryFull = errors.New("history too wide for one cache entry")

// readLog reads a whole log, answers from it and caches it when it is
// large enough to need an entry and small enough for one. st is the log's
// state read before.
func (s *Service) readLog(ctx context.Context, lg MetricLogReader, runID string, q runQuery, st MetricLogState) ([]StepPoint, error) {
	c := s.histCache
	k := cacheKey{runID, q.key}
	b := c.startBuild(k)
	var pts []StepPoint
	end, tail, err := lg.ScanMetricLog(ctx, runID, q.key, 0, func(p StepPoint) error {
		pts = append(pts, p)
		return nil
	})
	if err != nil || len(pts) == 0 {
		c.abandonBuild(k, b)
		return nil, err
	}
	env, first, last := envelopeOf(pts, q.maxPoints)
	shift := env.grid.unitShift
	blocks := uint64(last>>shift) - uint64(first>>shift) + 1
	if len(pts) <= q.maxPoints || blocks > maxCacheBlocks {
		// Small enough to read each time, or too wide to cache.
		c.abandonBuild(k, b)
		return env.points(), nil
	}
	e := &cacheEntry{k: k, shift: shift, kMin: first >> shift, blocks: make([]extremes, blocks),
		maxBlocks: max(ownCacheBlocks, int(blocks)), first: first, last: last, verified: true,
		stamp: stamp{math.MinInt64, math.MinInt64}, log: &logState{end: end, tail: tail, size: st.Size, mtime: st.ModTime}}
	for _, p := range pts {
		addLogPoint(e, p) // fits: sized for these steps
	}
	e.bytes = entryOverhead + int64(len(e.blocks))*blockBytes
	c.finishBuild(b, e, q.fill)
	return env.points(), nil
}

// readLogRange answers a step range of a log store (a zoom) in one read of
// the log: it has no index to seek with, and its points come in log order,
// so the range's bounds are only known once every point was seen.
func readLogRange(ctx context.Context, lg MetricLogReader, runID string, q runQuery) ([]StepPoint, error) {
	var pts []StepPoint
	_, _, err := lg.ScanMetricLog(ctx, runID, q.key, 0, func(p StepPoint) error {
		if p.Step >= q.lo && p.Step <= q.hi {
			pts = append(pts, p)
		}
		return nil
	})
	if err != nil || len(pts) == 0 {
		return nil, err
	}
	env, _, _ := envelopeOf(pts, q.maxPoints)
	return env.points(), nil
}

// envelopeOf reduces points in any order (at least one) and returns the
// envelope with their first and last step.
func envelopeOf(pts []StepPoint, maxPoints int) (env *envelope, first, last int64) {
	first, last = pts[0].Step, pts[0].Step
	for _, p := range pts {
		first, last = min(first, p.Step), max(last, p.Step)
	}
	env = newEnvelope(first, last, maxPoints)
	for _, p := range pts {
		env.add(p)
	}
	return env, first, last
}

// lookupLog returns a copy of k's entry if it is a log entry.
func (c *historyCache) lookupLog(k cacheKey) (cacheEntry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.entries[k]
	if !ok {
		return cacheEntry{}, false
	}
	e := el.Value.(*cacheEntry)
	if e.log == nil {
		c.removeLocked(el)
		return cacheEntry{}, false
	}
	c.lru.MoveToFront(el)
	return *e, true
}

// logFromMemory answers a whole-history read from a log entry alone: its
// blocks give every bucket, and it knows its first and last point. It
// cannot when the history is small enough to be returned whole (the blocks
// do not hold every point) or when its blocks are wider than the grid's unit.
func logFromMemory(e cacheEntry, maxPoints int) ([]StepPoint, bool) {
	if e.log.count <= int64(maxPoints) {
		return nil, false
	}
	env := newEnvelope(e.log.first.Step, e.log.last.Step, maxPoints)
	if e.shift > env.grid.unitShift {
		return nil, false
	}
	env.first, env.last, env.seen = e.log.first, e.log.last, true
	env.keepAll, env.all = false, nil
	env.count = int(e.log.count)
	for i, b := range e.blocks {
		if b.count > 0 {
			env.buckets[env.grid.bucket((e.kMin+int64(i))<<e.shift)].merge(b)
		}
	}
	return env.points(), true
}
