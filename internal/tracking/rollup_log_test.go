package tracking

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
)

// logStore keeps each series as an append-only log, as the file store does:
// a point is a "line" one byte long, repeated points are kept, and a line
// may be half written (pending: counted in the size, not yet readable).
// rewrite replaces a log by another of any length, as a person editing the
// file would. Methods it does not fake panic through the nil embedded Store.
type logStore struct {
	Store
	mu      sync.Mutex
	logs    map[cacheKey][]StepPoint
	pending map[cacheKey]int
	gen     map[cacheKey]int // bumped by a rewrite: what the real tail's bytes would show
	mtime   int64            // bumped by every change
	scanned int              // points handed to ScanMetricLog and ScanMetricSteps callbacks
}

func newLogStore() *logStore {
	return &logStore{logs: map[cacheKey][]StepPoint{}, pending: map[cacheKey]int{}, gen: map[cacheKey]int{}}
}

func (l *logStore) appendPoints(runID, key string, ps ...StepPoint) {
	l.mu.Lock()
	defer l.mu.Unlock()
	k := cacheKey{runID, key}
	l.logs[k] = append(l.logs[k], ps...)
	l.pending[k] = 0
	l.mtime++
}

func (l *logStore) LogBatch(ctx context.Context, runID string, metrics []Metric, params []Param, tags []Tag) error {
	for _, m := range metrics {
		l.appendPoints(runID, m.Key, StepPoint{Step: m.Step, Timestamp: m.Timestamp, Value: m.Value})
	}
	return nil
}

func (l *logStore) all(runID, key string) []StepPoint {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]StepPoint(nil), l.logs[cacheKey{runID, key}]...)
}

func (l *logStore) MetricLogStat(ctx context.Context, runID, key string, at int64) (MetricLogState, bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	k := cacheKey{runID, key}
	ps, ok := l.logs[k]
	st := MetricLogState{Size: int64(len(ps) + l.pending[k]), ModTime: l.mtime}
	if at > 0 && at <= int64(len(ps)) {
		st.Tail = lineOf(l.gen[k], ps[at-1])
	}
	return st, ok, nil
}

func lineOf(gen int, p StepPoint) []byte {
	return []byte(fmt.Sprintf("%d: %d %d %v", gen, p.Step, p.Timestamp, p.Value))
}

// rewrite replaces a log, as an edit of the file would.
func (l *logStore) rewrite(runID, key string, ps []StepPoint) {
	l.mu.Lock()
	defer l.mu.Unlock()
	k := cacheKey{runID, key}
	l.logs[k] = ps
	l.gen[k]++
	l.mtime++
}

func (l *logStore) ScanMetricLog(ctx context.Context, runID, key string, from int64, fn func(StepPoint) error) (int64, []byte, error) {
	l.mu.Lock()
	k := cacheKey{runID, key}
	ps, gen := l.logs[k], l.gen[k]
	from = min(from, int64(len(ps)))
	in := append([]StepPoint(nil), ps[from:]...)
	l.scanned += len(in)
	l.mu.Unlock()
	for _, p := range in {
		if err := fn(p); err != nil {
			return 0, nil, err
		}
	}
	var tail []byte
	if len(ps) > 0 {
		tail = lineOf(gen, ps[len(ps)-1])
	}
	return int64(len(ps)), tail, nil
}

// MetricStepBounds and ScanMetricSteps make logStore a MetricStepScanner, as
// the file store is; Service must never use them on a log store (they
// would read a file twice per chart), so they fail the test.
func (l *logStore) MetricStepBounds(ctx context.Context, runID, key string, lo, hi int64) (int64, int64, bool, error) {
	panic("step bounds read on a log store")
}

func (l *logStore) ScanMetricSteps(ctx context.Context, runID, key string, lo, hi int64, fn func(StepPoint) error) error {
	panic("step scan on a log store")
}

func (l *logStore) takeScanned() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := l.scanned
	l.scanned = 0
	return n
}

func checkLogDownsampled(t *testing.T, svc *Service, l *logStore, runIDs []string, key string, start, end *int64, maxPoints int) {
	t.Helper()
	checkAgainst(t, svc, l.all, runIDs, key, start, end, maxPoints)
}

// A log store's chart is read once, then served from memory while the log
// keeps its length, and extended by reading only what was appended.
func TestLogCacheFollowsAppends(t *testing.T) {
	l := newLogStore()
	id := runID(1)
	for s := int64(0); s < 50_000; s++ {
		l.appendPoints(id, "loss", StepPoint{Step: s, Timestamp: 1000 + s, Value: float64(s % 17)})
	}
	svc := NewService(l, ServiceOptions{})
	checkLogDownsampled(t, svc, l, []string{id}, "loss", nil, nil, 1000)
	if n := l.takeScanned(); n != 50_000 {
		t.Fatalf("first read scanned %d points, want the log once", n)
	}
	checkLogDownsampled(t, svc, l, []string{id}, "loss", nil, nil, 1000)
	checkLogDownsampled(t, svc, l, []string{id}, "loss", nil, nil, 300) // a coarser grid too
	if n := l.takeScanned(); n != 0 {
		t.Fatalf("reads of an unchanged log scanned %d points", n)
	}
	// Appends of any step: after the end, into the past, before the first
	// step, a repeat, NaN and a spike; and a line still being written.
	l.appendPoints(id, "loss", StepPoint{Step: 60_000, Timestamp: 5, Value: 2}, StepPoint{Step: 123, Timestamp: 9, Value: 1e9},
		StepPoint{Step: -40, Timestamp: 1, Value: -3}, StepPoint{Step: 123, Timestamp: 9, Value: 1e9},
		StepPoint{Step: 70_000, Timestamp: 5, Value: math.NaN()})
	l.mu.Lock()
	l.pending[cacheKey{id, "loss"}] = 1
	l.mtime++
	l.mu.Unlock()
	checkLogDownsampled(t, svc, l, []string{id}, "loss", nil, nil, 1000)
	if n := l.takeScanned(); n != 5 {
		t.Fatalf("read after appends scanned %d points, want the 5 appended", n)
	}
	checkLogDownsampled(t, svc, l, []string{id}, "loss", nil, nil, 1000)
	if n := l.takeScanned(); n != 0 {
		t.Fatalf("a half-written line made a read scan %d points", n)
	}
	// Rewritten (not appended to): read again whole.
	rewritten := l.all(id, "loss")[:40_000]
	for s := int64(0); s < 20_000; s++ {
		rewritten = append(rewritten, StepPoint{Step: s, Timestamp: 7, Value: -float64(s)})
	}
	l.rewrite(id, "loss", rewritten)
	l.takeScanned()
	checkLogDownsampled(t, svc, l, []string{id}, "loss", nil, nil, 1000)
	if n := l.takeScanned(); n != 60_000 {
		t.Fatalf("read of a rewritten log scanned %d points, want it whole", n)
	}
	// Shorter than before: read whole too.
	l.rewrite(id, "loss", l.all(id, "loss")[:30_000])
	checkLogDownsampled(t, svc, l, []string{id}, "loss", nil, nil, 1000)
	if n := l.takeScanned(); n != 30_000 {
		t.Fatalf("read of a truncated log scanned %d points, want it whole", n)
	}
	// This server's own writes are appends like any other.
	if err := svc.LogBatch(context.Background(), id, []Metric{{Key: "loss", Step: 90_000, Timestamp: 1, Value: 4}}, nil, nil); err != nil {
		t.Fatal(err)
	}
	checkLogDownsampled(t, svc, l, []string{id}, "loss", nil, nil, 1000)
	if n := l.takeScanned(); n != 1 {
		t.Fatalf("read after this server's write scanned %d points, want 1", n)
	}
}

// Random logs, appends of any steps, rewrites, budgets and ranges: every
// answer equals the brute force reduction.
func TestLogCacheMatchesBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	l := newLogStore()
	runs := []string{runID(1), runID(2), runID(3)}
	for _, id := range runs {
		l.appendPoints(id, "m", randomHistory(rng, 1+rng.IntN(6000))...)
	}
	svc := NewService(l, ServiceOptions{HistoryCacheBytes: 4 << 20})
	fromMemory, extended := 0, 0
	for op := 0; op < 400; op++ {
		id := runs[rng.IntN(len(runs))]
		switch r := rng.IntN(10); {
		case r < 6:
			ids := []string{runs[rng.IntN(len(runs))], runs[rng.IntN(len(runs))], runID(99)}
			maxPoints := 4 + rng.IntN(1500)
			if rng.IntN(4) != 0 {
				size := 0
				for _, id := range ids {
					size += len(l.all(id, "m"))
				}
				l.takeScanned()
				checkLogDownsampled(t, svc, l, ids, "m", nil, nil, maxPoints)
				switch n := l.takeScanned(); {
				case n == 0:
					fromMemory++
				case n < size/2:
					extended++
				}
				continue
			}
			all := l.all(id, "m")
			a, b := all[rng.IntN(len(all))].Step, all[rng.IntN(len(all))].Step
			lo, hi := min(a, b), max(a, b)
			checkLogDownsampled(t, svc, l, ids, "m", &lo, &hi, maxPoints)
		case r < 9:
			add := randomHistory(rng, 1+rng.IntN(300))
			if rng.IntN(2) == 0 {
				for i := range add {
					add[i].Step += 1 << (10 + rng.IntN(30)) // far to the right: coarsens
				}
			}
			l.appendPoints(id, "m", add...)
		default:
			l.rewrite(id, "m", randomHistory(rng, 1+rng.IntN(6000)))
		}
	}
	// The cache did its part: whole reads answered from memory, and after
	// appends from the appended points.
	if fromMemory < 20 || extended < 10 {
		t.Fatalf("%d whole reads from memory, %d extended: the cache was hardly used", fromMemory, extended)
	}
	t.Logf("%d whole reads from memory, %d extended", fromMemory, extended)
}

// recentLogs adds RecentSeriesLister to logStore: every series, by run id.
type recentLogs struct{ *logStore }

func (r recentLogs) RecentMetricSeries(ctx context.Context, minLatestStep int64, limit int) ([]SeriesRef, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []SeriesRef
	for k := range r.logs {
		out = append(out, SeriesRef{RunID: k.run, Key: k.key})
	}
	slices.SortFunc(out, func(a, b SeriesRef) int { return strings.Compare(a.RunID, b.RunID) })
	return out[:min(limit, len(out))], nil
}

// The start-up warm-up reads a log store's recent series once; charts are
// then served from memory, and snapshots are not offered (nothing to save).
func TestLogCacheWarmUp(t *testing.T) {
	l := newLogStore()
	runs := []string{runID(1), runID(2), runID(3)}
	for i, id := range runs {
		for s := int64(0); s < 20_000; s++ {
			l.appendPoints(id, "loss", StepPoint{Step: s, Timestamp: s, Value: float64((s * int64(i+2)) % 29)})
		}
	}
	l.appendPoints(runID(4), "loss", StepPoint{Step: 1, Timestamp: 1, Value: 1}) // too small to need an entry
	svc := NewService(recentLogs{l}, ServiceOptions{})
	if svc.HasHistoryCache() {
		t.Fatal("a log store's cache offered for snapshots")
	}
	rep, err := svc.WarmHistoryCache(context.Background())
	if err != nil || rep.Warmed != 3 || rep.Skipped != 1 || rep.Stopped != "done" {
		t.Fatalf("warm-up %+v, %v", rep, err)
	}
	l.takeScanned()
	checkLogDownsampled(t, svc, l, runs, "loss", nil, nil, 1000)
	if n := l.takeScanned(); n != 0 {
		t.Fatalf("charts after the warm-up scanned %d points", n)
	}
	// A budget of four entries: the warm-up stops when full (3/4 of it,
	// less room for the largest entry from writes).
	eb, _ := svc.histCache.entryBytes(cacheKey{runs[0], "loss"})
	small := NewService(recentLogs{l}, ServiceOptions{HistoryCacheBytes: 4 * eb})
	if rep, err := small.WarmHistoryCache(context.Background()); err != nil || rep.Stopped != "full" || rep.Warmed == 0 || rep.Warmed == 3 {
		t.Fatalf("warm-up with a small budget %+v, %v", rep, err)
	}
}

// A history logged backwards (each line a step below the last) grows its
// entry to the left.
func TestLogCacheBackwards(t *testing.T) {
	l := newLogStore()
	id := runID(1)
	const n = 200_000
	for s := int64(n); s > 0; s-- {
		l.appendPoints(id, "loss", StepPoint{Step: s, Timestamp: n - s, Value: float64(s % 101)})
	}
	svc := NewService(l, ServiceOptions{})
	checkLogDownsampled(t, svc, l, []string{id}, "loss", nil, nil, 1000)
	// Appended backwards again: the entry grows to the left, far past its
	// blocks, and stays exact.
	var batch []StepPoint
	for s := int64(0); s > -n; s-- {
		batch = append(batch, StepPoint{Step: s, Timestamp: 2*n - s, Value: -float64(s % 37)})
	}
	l.appendPoints(id, "loss", batch...)
	l.takeScanned()
	checkLogDownsampled(t, svc, l, []string{id}, "loss", nil, nil, 1000)
	if n := l.takeScanned(); n != len(batch) {
		t.Fatalf("scanned %d points, want the %d appended", n, len(batch))
	}
}
