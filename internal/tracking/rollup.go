package tracking

import (
	"container/list"
	"context"
	"math"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"unsafe"
)

// MetricStepScanner is an optional Store capability that lets chart reads
// (GetMetricHistoryDownsampled) read only a step range of one run's metric
// through an index, without materialising it. Stores without it are read
// whole through GetMetricHistory.
type MetricStepScanner interface {
	// MetricStepBounds returns the smallest and the largest step of runID's
	// metric key within [lo, hi]; ok is false when no point lies there (an
	// unknown run included).
	MetricStepBounds(ctx context.Context, runID, key string, lo, hi int64) (first, last int64, ok bool, err error)
	// ScanMetricSteps calls fn with every point of runID's metric key whose
	// step lies in [lo, hi], in any order, values as GetMetricHistory returns
	// them; it stops at fn's first error and returns it.
	ScanMetricSteps(ctx context.Context, runID, key string, lo, hi int64, fn func(StepPoint) error) error
}

// LatestMetricReader is an optional Store capability that lets Service keep
// a history cache: a cached run is checked against its latest point before
// use, so writes by other processes sharing the database are seen.
type LatestMetricReader interface {
	// LatestMetrics returns MLflow's latest point (latest_metrics) of key for
	// each of runIDs that has one.
	LatestMetrics(ctx context.Context, runIDs []string, key string) (map[string]StepPoint, error)
}

// MetricStepCounter is an optional Store capability that lets the history
// cache check what it holds against the store without reading the points:
// a stored history only grows (MLflow neither updates nor deletes single
// points, and stores a repeated point once), so when the store counts as
// many points up to a step as the cache's blocks hold, none was added there.
// With it, an entry that another process appended to is extended by
// reading only its last block onwards, and an entry loaded from a snapshot
// is checked before its first use (docs/decisions/0007, fifth pass).
type MetricStepCounter interface {
	// CountMetricSteps returns how many points runID's metric key has with
	// a step in [lo, hi].
	CountMetricSteps(ctx context.Context, runID, key string, lo, hi int64) (int64, error)
}

// DefaultHistoryCacheBytes is the history cache's memory budget when
// ServiceOptions leaves it zero.
const DefaultHistoryCacheBytes = 64 << 20

const (
	// maxCacheBlocks bounds one cached history (64 bytes a block): a run
	// whose steps would need more blocks is read from the store each time,
	// and a cached one that grows past it is coarsened (coarsenLocked).
	maxCacheBlocks = 1 << 16
	// ownCacheBlocks bounds a history cached from this server's writes
	// alone: it has no request to size its blocks by, so it keeps them as
	// fine as this allows, coarsening as it grows. A chart of 1,000 points
	// needs blocks no wider than 1/8 to 1/16 of its buckets (envelopeGrid),
	// which 8,192 blocks always give; so an entry costs at most 512 KB.
	ownCacheBlocks = 1 << 13
	// maxFreshRuns and maxOldSeries bound what the cache remembers about
	// series it holds no entry for (see ownSeries).
	maxFreshRuns = 1 << 14
	maxOldSeries = 1 << 16
	// blockBytes is what one block costs; entryOverhead the rest of an entry.
	blockBytes    = int64(unsafe.Sizeof(extremes{}))
	entryOverhead = 256
)

// historyCache keeps, per run and metric, the extremes of fixed blocks of
// steps (1<<shift steps, aligned on multiples of that), so a chart of the
// whole history is assembled from memory instead of rereading every point.
// It is bounded by a byte budget with least-recently-used eviction. An
// entry is valid while the store's latest point of the metric matches the
// stamp it was built or extended with; this server's own writes extend
// entries (appends) or drop them (anything else). See
// docs/decisions/0007-chart-history-cache.md for what that check misses.
type historyCache struct {
	mu      sync.Mutex
	budget  int64
	used    int64
	lru     *list.List // of *cacheEntry, most recent first
	entries map[cacheKey]*list.Element
	builds  map[cacheKey]*cacheBuild
	own     ownSeries
	// reading counts chart reads in progress; the start-up warm-up waits
	// for it to fall to zero before each series (warm.go).
	reading atomic.Int64
	// changes counts stored, extended and removed entries; saved is its
	// value in the last snapshot saved or loaded: the periodic snapshot
	// (snapshot.go) is written only when they differ.
	changes, saved uint64
}

// ownSeries remembers which series' every point this server wrote, so their
// cache entries can start from its own writes (docs/decisions/0007):
//   - fresh holds runs this server created (the most recent maxFreshRuns),
//     each with the keys it has written to them. A key's first write to a
//     fresh run starts its series; once written, a key never starts again,
//     even if its entry is dropped, since later writes alone would miss the
//     points before them.
//   - old holds series of other runs known to have had points before this
//     server wrote to them, so their latest point is not asked for again.
//     Forgetting one only costs that question.
type ownSeries struct {
	fresh map[string]map[string]bool
	order []string // fresh runs, oldest first
	old   map[cacheKey]bool
}

type cacheKey struct{ run, key string }

type cacheEntry struct {
	k           cacheKey
	shift       uint
	kMin        int64      // block index (step >> shift) of blocks[0]
	blocks      []extremes // a block's points are never outside [first, last]
	maxBlocks   int        // the bound coarsenLocked keeps blocks under
	first, last int64      // smallest and largest step held
	stamp       stamp
	bytes       int64
	// verified is false for an entry loaded from a snapshot until the
	// store's count of its points matched (verifyOrExtend): the store may
	// have changed while no server watched it.
	verified bool
	// seq is the cache's change count when the entry was stored; a refresh
	// replaces only the entry it started from.
	seq uint64
	// log is set for an entry of a log store (rollup_log.go), whose
	// validity is the log's length, not a stamp.
	log *logState
}

// stamp is the (step, timestamp) of a metric's latest point. The value is
// left out: it is what a store may transform (±Inf, NaN), so this server
// could not predict it after its own writes.
type stamp struct{ step, timestamp int64 }

func stampOf(p StepPoint) stamp { return stamp{p.Step, p.Timestamp} }

func (a stamp) before(b stamp) bool {
	return a.step < b.step || (a.step == b.step && a.timestamp < b.timestamp)
}

// cacheBuild marks a history being read for the cache; a write to it
// meanwhile makes the result unfit to keep.
type cacheBuild struct{ dirty bool }

func newHistoryCache(budget int64) *historyCache {
	if budget == 0 {
		budget = DefaultHistoryCacheBytes
	}
	if budget < 0 {
		return nil
	}
	return &historyCache{budget: budget, lru: list.New(), entries: map[cacheKey]*list.Element{}, builds: map[cacheKey]*cacheBuild{},
		own: ownSeries{fresh: map[string]map[string]bool{}, old: map[cacheKey]bool{}}}
}

// created records a run this server created: it has no points yet.
func (c *historyCache) created(runID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	o := &c.own
	if _, ok := o.fresh[runID]; ok {
		return
	}
	if len(o.order) >= maxFreshRuns {
		delete(o.fresh, o.order[0])
		o.order = append(o.order[:0], o.order[1:]...)
	}
	o.fresh[runID] = map[string]bool{}
	o.order = append(o.order, runID)
}

// unknownKeys returns the keys of ms whose series may start with this write
// but only the store can tell: no entry, the run not created here, and not
// known to have points already. Service asks the store's latest points.
func (c *historyCache) unknownKeys(runID string, ms []Metric) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.own.fresh[runID]; ok {
		return nil
	}
	var out []string
	for _, m := range ms {
		k := cacheKey{runID, m.Key}
		if _, ok := c.entries[k]; ok || c.own.old[k] || slices.Contains(out, m.Key) {
			continue
		}
		out = append(out, m.Key)
	}
	return out
}

// hadPoints records a series of a run not created here that the store
// already holds points of.
func (c *historyCache) hadPoints(runID, key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.hadPointsLocked(cacheKey{runID, key})
}

func (c *historyCache) hadPointsLocked(k cacheKey) {
	if len(c.own.old) >= maxOldSeries {
		clear(c.own.old)
	}
	c.own.old[k] = true
}

// entryState is what lookup found for a series.
type entryState int

const (
	entryMissing    entryState = iota // none cached, or dropped as unusable
	entryFresh                        // its stamp is the store's latest point
	entryUnverified                   // fresh, but loaded from a snapshot and not yet counted
	entryStale                        // the store's latest point is newer: extend it
)

// lookup returns a copy of the entry's header (its blocks below the last
// block are never written again, see extend) and how it stands against the
// store's latest point. An entry the store has points after is kept for
// verifyOrExtend; one whose latest point is gone or older is dropped. For
// verifyOrExtend, counted is how many points the blocks it checks hold:
// all of an unverified entry's, those before the last block of a stale
// one (summed here, under the lock: this server's appends write the last
// block).
func (c *historyCache) lookup(k cacheKey, latest StepPoint, hasLatest bool) (e cacheEntry, state entryState, counted int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.entries[k]
	if !ok {
		return cacheEntry{}, entryMissing, 0
	}
	ep := el.Value.(*cacheEntry)
	switch {
	case hasLatest && stampOf(latest) == ep.stamp:
		c.lru.MoveToFront(el)
		if !ep.verified {
			return *ep, entryUnverified, countBlocks(ep.blocks)
		}
		return *ep, entryFresh, 0
	case hasLatest && ep.stamp.before(stampOf(latest)):
		return *ep, entryStale, countBlocks(ep.blocks[:lastBlock(ep)])
	}
	c.removeLocked(el)
	return cacheEntry{}, entryMissing, 0
}

// lastBlock is the index of the block holding e's last step (at most the
// number of blocks).
func lastBlock(e *cacheEntry) int { return min(int((e.last>>e.shift)-e.kMin), len(e.blocks)) }

func countBlocks(bs []extremes) int64 {
	var n int64
	for _, b := range bs {
		n += int64(b.count)
	}
	return n
}

// replace stores e, a refreshed copy of an entry, if the cached entry is
// still the one it was copied from and no write touched the series since b
// started; it reports whether e is now cached.
func (c *historyCache) replace(b *cacheBuild, e *cacheEntry) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.builds[e.k] == b {
		delete(c.builds, e.k)
	}
	el, ok := c.entries[e.k]
	if b.dirty || !ok || el.Value.(*cacheEntry).seq != e.seq || e.bytes > c.budget/4 {
		return false
	}
	c.used += e.bytes - el.Value.(*cacheEntry).bytes
	c.changes++
	e.seq = c.changes
	el.Value = e
	c.lru.MoveToFront(el)
	c.evictLocked()
	_, ok = c.entries[e.k]
	return ok
}

func (c *historyCache) has(k cacheKey) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.entries[k]
	return ok
}

func (c *historyCache) drop(k cacheKey) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.entries[k]; ok {
		c.removeLocked(el)
	}
}

func (c *historyCache) removeLocked(el *list.Element) {
	e := el.Value.(*cacheEntry)
	c.lru.Remove(el)
	delete(c.entries, e.k)
	c.used -= e.bytes
	c.changes++
}

// startBuild registers a read of k for the cache; finishBuild keeps its
// result unless a write to k happened in between.
func (c *historyCache) startBuild(k cacheKey) *cacheBuild {
	c.mu.Lock()
	defer c.mu.Unlock()
	b := &cacheBuild{}
	if old, ok := c.builds[k]; ok {
		old.dirty = true // two concurrent builds: keep neither, rather than track both
		b.dirty = true
	}
	c.builds[k] = b
	return b
}

// finishBuild's fill is zero for a request's read. A warm-up read (warm.go) passes the
// bytes the cache may hold after it: its entry is kept only within that,
// never replaces one and never evicts one, and goes to the LRU's cold end,
// so requests' entries outlive it.
func (c *historyCache) finishBuild(b *cacheBuild, e *cacheEntry, fill int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.builds[e.k] == b {
		delete(c.builds, e.k)
	}
	if b.dirty || e.bytes > c.budget/4 {
		return
	}
	if fill > 0 {
		if _, ok := c.entries[e.k]; !ok && c.used+e.bytes <= min(fill, c.budget) {
			c.changes++
			e.seq = c.changes
			c.entries[e.k] = c.lru.PushBack(e)
			c.used += e.bytes
		}
		return
	}
	if el, ok := c.entries[e.k]; ok {
		c.removeLocked(el)
	}
	c.changes++
	e.seq = c.changes
	c.entries[e.k] = c.lru.PushFront(e)
	c.used += e.bytes
	c.evictLocked()
}

func (c *historyCache) abandonBuild(k cacheKey, b *cacheBuild) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.builds[k] == b {
		delete(c.builds, k)
	}
}

func (c *historyCache) evictLocked() {
	for c.used > c.budget && c.lru.Len() > 0 {
		c.removeLocked(c.lru.Back())
	}
}

// logged applies this server's write of ms to runID once the store has
// answered (err). Committed, a cached history whose new points all lie
// after its last step (a training loop's appends) is extended and its stamp
// advanced; a series that starts with this write (a key the run did not
// have: newKeys, or the first write of a key to a run created here) gets an
// entry of its own; any other write to a cached or building history drops
// it, so the next read goes to the store. A failed write may still have
// committed: its histories are dropped and never started from writes again.
func (c *historyCache) logged(runID string, ms []Metric, newKeys map[string]bool, err error) {
	if len(ms) == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	written, fresh := c.own.fresh[runID]
	done := map[string]bool{}
	for _, m := range ms {
		if done[m.Key] {
			continue
		}
		done[m.Key] = true
		k := cacheKey{runID, m.Key}
		starts := err == nil && (newKeys[m.Key] || (fresh && !written[m.Key]))
		if fresh {
			written[m.Key] = true
		}
		if b, ok := c.builds[k]; ok {
			b.dirty = true
		}
		el, ok := c.entries[k]
		switch {
		case ok && el.Value.(*cacheEntry).log != nil:
			// A log store's entry catches up from the log on its next read.
		case ok && (err != nil || !c.extendLocked(el, ms)):
			c.removeLocked(el)
		case !ok && starts:
			c.startLocked(k, ms)
		case !ok && err != nil && !fresh:
			c.hadPointsLocked(k)
		}
	}
}

// startLocked caches a series from its first points, those of k's key in
// ms, if every one is a value all stores keep as given (see extendLocked).
func (c *historyCache) startLocked(k cacheKey, ms []Metric) {
	first, last, n := int64(math.MaxInt64), int64(math.MinInt64), 0
	for _, m := range ms {
		if m.Key == k.key {
			first, last, n = min(first, m.Step), max(last, m.Step), n+1
		}
	}
	if n == 0 {
		return
	}
	shift := uint(0)
	for uint64(last>>shift)-uint64(first>>shift) >= ownCacheBlocks {
		shift++
	}
	e := &cacheEntry{k: k, shift: shift, kMin: first >> shift, maxBlocks: ownCacheBlocks,
		first: first, last: first - 1, stamp: stamp{math.MinInt64, math.MinInt64}, verified: true}
	el := c.lru.PushFront(e)
	c.entries[k] = el
	if !c.extendLocked(el, ms) {
		c.removeLocked(el)
	}
}

// coarsenLocked doubles e's block width until its blocks up to step fit
// its bound. Merging extremes is exact, and blocks stay aligned, so the
// entry answers every request whose grid unit is at least the new width.
// Readers holding the old blocks keep them: they are not written again.
func (c *historyCache) coarsenLocked(e *cacheEntry, step int64) bool {
	// Find the width first, then merge once: a step far beyond the last
	// block may need many doublings.
	d := uint(0)
	for uint64(step>>(e.shift+d))-uint64(e.kMin>>d) >= uint64(e.maxBlocks) {
		if e.shift+d >= 62 {
			return false
		}
		d++
	}
	if d == 0 {
		return true
	}
	kMin := e.kMin >> d
	n := 0
	if len(e.blocks) > 0 {
		n = int(((e.kMin+int64(len(e.blocks))-1)>>d)-kMin) + 1
	}
	blocks := make([]extremes, n, max(uint64(n), uint64(step>>(e.shift+d))-uint64(kMin)+1))
	for i, b := range e.blocks {
		blocks[((e.kMin+int64(i))>>d)-kMin].merge(b)
	}
	e.shift, e.kMin, e.blocks = e.shift+d, kMin, blocks
	return true
}

// extendLocked adds the points of the entry's key in ms, if all of them lie
// after its last step and are values every store keeps as they are (±Inf
// and -0 are not: SQL stores turn them into other numbers).
func (c *historyCache) extendLocked(el *list.Element, ms []Metric) bool {
	e := el.Value.(*cacheEntry)
	var add []StepPoint
	for _, m := range ms {
		if m.Key != e.k.key {
			continue
		}
		if m.Step <= e.last || math.IsInf(m.Value, 0) || (m.Value == 0 && math.Signbit(m.Value)) {
			return false
		}
		add = append(add, StepPoint{Step: m.Step, Timestamp: m.Timestamp, Value: m.Value})
	}
	if len(add) == 0 {
		return true
	}
	maxStep := add[0].Step
	for _, p := range add {
		maxStep = max(maxStep, p.Step)
	}
	if !c.coarsenLocked(e, maxStep) {
		return false
	}
	// A point logged twice in one batch is stored once.
	seen := make(map[StepPoint]bool, len(add))
	blocks := e.blocks
	newStamp, last := e.stamp, e.last
	for _, p := range add {
		key := p
		if math.IsNaN(p.Value) {
			key.Value = 0 // NaN keys never match; NaN points are stored once too
			key.Timestamp = ^key.Timestamp
		}
		if seen[key] {
			continue
		}
		seen[key] = true
		i := uint64(p.Step>>e.shift) - uint64(e.kMin) // p.Step >= e.first: no wrap; < maxBlocks: coarsened
		for uint64(len(blocks)) <= i {
			blocks = append(blocks, extremes{})
		}
		blocks[i].add(p)
		if newStamp.before(stampOf(p)) {
			newStamp = stampOf(p)
		}
		last = max(last, p.Step)
	}
	// Blocks before the old last step's block are not touched, so readers
	// holding the old slice header (lookup) see them unchanged.
	e.blocks, e.stamp, e.last = blocks, newStamp, last
	c.changes++
	e.seq = c.changes
	c.used -= e.bytes
	e.bytes = entryOverhead + int64(cap(blocks))*blockBytes
	c.used += e.bytes
	if e.bytes > c.budget/4 {
		return false // as finishBuild: no entry may crowd out the rest
	}
	c.lru.MoveToFront(el)
	c.evictLocked()
	return true
}

// downsampleRuns is GetMetricHistoryDownsampled for a store that scans step
// ranges: runs are read concurrently, each through the cache when it can
// answer, and the results are concatenated in request order.
func (s *Service) downsampleRuns(ctx context.Context, sc MetricStepScanner, runIDs []string, key string, start, end *int64, maxPoints int) ([]Metric, error) {
	if s.histCache != nil {
		s.histCache.reading.Add(1)
		defer s.histCache.reading.Add(-1)
	}
	q := runQuery{key: key, lo: math.MinInt64, hi: math.MaxInt64, whole: start == nil, maxPoints: maxPoints}
	if start != nil {
		q.lo, q.hi = *start, *end
	}
	if lr, ok := s.store.(LatestMetricReader); ok && s.histCache != nil && (q.whole || s.anyCached(runIDs, key)) {
		// Read before any scan: a write that lands after this is either
		// missing from the scan, or in it and newer than the stamp (so the
		// entry is rebuilt on the next read).
		latest, err := lr.LatestMetrics(ctx, uniqueStrings(runIDs), key)
		if err != nil {
			return nil, err
		}
		q.latest, q.stamped = latest, true
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	results := make([][]StepPoint, len(runIDs))
	var (
		errMu    sync.Mutex
		firstErr error
	)
	next := make(chan int)
	var wg sync.WaitGroup
	// The SQLite reader pool has 2*GOMAXPROCS connections; more readers
	// would only queue for them.
	for w := 0; w < min(len(runIDs), max(2, 2*runtime.GOMAXPROCS(0))); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				pts, err := s.downsampleRun(ctx, sc, runIDs[i], q)
				if err != nil {
					errMu.Lock()
					if firstErr == nil {
						firstErr = err // the cause; later ones are the cancellation
					}
					errMu.Unlock()
					cancel()
					continue
				}
				results[i] = pts
			}
		}()
	}
	for i := range runIDs {
		select {
		case next <- i:
			continue
		case <-ctx.Done():
		}
		break
	}
	close(next)
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []Metric
	for i, id := range runIDs {
		for _, p := range results[i] {
			out = append(out, Metric{Key: key, Value: p.Value, Timestamp: p.Timestamp, Step: p.Step, RunID: id})
		}
	}
	return out, nil
}

// runQuery is one downsampled request as each run's read sees it.
type runQuery struct {
	key       string
	lo, hi    int64
	whole     bool // no step range given: the whole history
	maxPoints int
	// latest holds the store's latest points when stamped; without them the
	// cache is neither used nor filled.
	latest  map[string]StepPoint
	stamped bool
	// fill is non-zero for the start-up warm-up (see finishBuild).
	fill int64
}

func (s *Service) anyCached(runIDs []string, key string) bool {
	for _, id := range runIDs {
		if s.histCache.has(cacheKey{id, key}) {
			return true
		}
	}
	return false
}

func (s *Service) downsampleRun(ctx context.Context, sc MetricStepScanner, runID string, q runQuery) ([]StepPoint, error) {
	if s.logs != nil {
		if q.whole {
			return s.downsampleLog(ctx, s.logs, runID, q)
		}
		return readLogRange(ctx, s.logs, runID, q)
	}
	first, last, ok, err := sc.MetricStepBounds(ctx, runID, q.key, q.lo, q.hi)
	if err != nil || !ok {
		return nil, err
	}
	k := cacheKey{runID, q.key}
	latest, hasLatest := q.latest[runID]
	if q.stamped {
		e, state, counted := s.histCache.lookup(k, latest, hasLatest)
		if (state == entryStale || state == entryUnverified) && q.whole {
			// Only a whole-history read pays for bringing an entry up to date.
			ne, err := s.verifyOrExtend(ctx, sc, e, state, counted, latest, first, last)
			if err != nil {
				return nil, err
			}
			if ne != nil {
				e, state = *ne, entryFresh
			}
		}
		if state == entryFresh {
			env := newEnvelope(first, last, q.maxPoints)
			done, err := s.fromCache(ctx, sc, e, env, runID, q.key, first, last)
			if err != nil || done {
				return env.points(), err
			}
		}
	}
	env := newEnvelope(first, last, q.maxPoints)
	shift := env.grid.unitShift
	add := func(p StepPoint) error { env.add(p); return nil }
	// Unsigned: the difference of two int64 block indexes may not fit int64.
	blocks := uint64(last>>shift) - uint64(first>>shift) + 1
	if !q.stamped || !q.whole || !hasLatest || blocks > maxCacheBlocks {
		if err := sc.ScanMetricSteps(ctx, runID, q.key, first, last, add); err != nil {
			return nil, err
		}
		return env.points(), nil
	}
	// The whole history, cacheable: the same scan also fills the blocks.
	b := s.histCache.startBuild(k)
	// Appends later coarsen it rather than let it outgrow what it was built
	// with (or what an entry from writes may hold).
	e := &cacheEntry{k: k, shift: shift, kMin: first >> shift, blocks: make([]extremes, blocks),
		maxBlocks: max(ownCacheBlocks, int(blocks)), first: first, last: last, stamp: stampOf(latest), verified: true}
	e.bytes = entryOverhead + int64(len(e.blocks))*blockBytes
	err = sc.ScanMetricSteps(ctx, runID, q.key, first, last, func(p StepPoint) error {
		e.blocks[(p.Step>>shift)-e.kMin].add(p)
		env.add(p)
		return nil
	})
	if err != nil {
		s.histCache.abandonBuild(k, b)
		return nil, err
	}
	s.histCache.finishBuild(b, e, q.fill)
	return env.points(), nil
}

// verifyOrExtend brings entry e up to date with the store without reading
// all of its points, when the store can count them (MetricStepCounter):
//   - an unverified entry (from a snapshot) whose stamp matches is kept if
//     the store holds exactly as many points as its blocks do;
//   - a stale one (the store's latest point is newer: another process
//     appended, or this server did before a crash) is kept up to the start
//     of its last block if the store holds as many points before that step
//     as the blocks before it do, and the rest, from that step to last, is
//     read again.
//
// want is what lookup counted in the blocks checked. first and last are
// the store's step bounds, read after latest. It returns
// the entry now cached, or nil when the entry was dropped (the counts
// differ: points were added among the steps it holds) or could not be kept;
// the caller then reads the whole history.
func (s *Service) verifyOrExtend(ctx context.Context, sc MetricStepScanner, e cacheEntry, state entryState, want int64, latest StepPoint, first, last int64) (*cacheEntry, error) {
	c := s.histCache
	counter, ok := s.store.(MetricStepCounter)
	if !ok || first < e.first || last < e.last {
		c.drop(e.k) // points before it, or fewer than it holds: read it whole
		return nil, nil
	}
	b := c.startBuild(e.k)
	ne := e
	ne.verified = true
	ne.stamp = stampOf(latest)
	upTo := int64(math.MaxInt64) // count every point
	kept := len(e.blocks)
	if state == entryStale {
		upTo = (e.last>>e.shift)<<e.shift - 1 // before the last block's first step
		kept = lastBlock(&e)
	}
	got, err := counter.CountMetricSteps(ctx, e.k.run, e.k.key, math.MinInt64, upTo)
	if err != nil {
		c.abandonBuild(e.k, b)
		return nil, err
	}
	if got != want {
		c.abandonBuild(e.k, b)
		c.drop(e.k)
		return nil, nil
	}
	if state == entryStale {
		// Blocks before the last one are shared with readers: copy them.
		ne.blocks = append(make([]extremes, 0, kept+1), e.blocks[:kept]...)
		ne.last = upTo
		if !c.coarsenLocked(&ne, last) { // ne is not in the cache yet: no lock needed
			c.abandonBuild(e.k, b)
			c.drop(e.k)
			return nil, nil
		}
		err := sc.ScanMetricSteps(ctx, e.k.run, e.k.key, upTo+1, last, func(p StepPoint) error {
			i := int((p.Step >> ne.shift) - ne.kMin)
			for len(ne.blocks) <= i {
				ne.blocks = append(ne.blocks, extremes{})
			}
			ne.blocks[i].add(p)
			return nil
		})
		if err != nil {
			c.abandonBuild(e.k, b)
			return nil, err
		}
		ne.last = last
		ne.bytes = entryOverhead + int64(cap(ne.blocks))*blockBytes
	}
	if !c.replace(b, &ne) {
		return nil, nil
	}
	return &ne, nil
}

// fromCache answers from a cached history when its blocks fit the request's
// grid: the blocks strictly between the first and the last step's blocks
// come from memory, the two edge blocks from the store (they may hold steps
// outside the range, and they give the first and the last point). done is
// false when the cache cannot answer; env is then spoilt.
func (s *Service) fromCache(ctx context.Context, sc MetricStepScanner, e cacheEntry, env *envelope, runID, key string, first, last int64) (bool, error) {
	if e.shift > env.grid.unitShift {
		return false, nil // blocks wider than the grid's unit: a zoomed-in view
	}
	if first < e.first || last > e.last {
		// The store holds steps the cache never saw: another process wrote
		// them without changing the latest point. Read again.
		s.histCache.drop(e.k)
		return false, nil
	}
	kf, kl := first>>e.shift, last>>e.shift
	if kf == kl {
		return false, nil
	}
	add := func(p StepPoint) error { env.add(p); return nil }
	if err := sc.ScanMetricSteps(ctx, runID, key, first, (kf+1)<<e.shift-1, add); err != nil {
		return false, err
	}
	if err := sc.ScanMetricSteps(ctx, runID, key, kl<<e.shift, last, add); err != nil {
		return false, err
	}
	for k := kf + 1; k < kl; k++ {
		env.addBlock(k<<e.shift, e.blocks[k-e.kMin])
	}
	return env.complete(), nil
}

func uniqueStrings(xs []string) []string {
	seen := make(map[string]bool, len(xs))
	out := make([]string, 0, len(xs))
	for _, x := range xs {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}
