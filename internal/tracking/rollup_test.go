package tracking

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"testing"
)

// historyStore is a Store that keeps only metric points, with the optional
// chart capabilities: step bounds, range scans (in a shuffled order, since
// callers must not rely on one) and latest points kept by MLflow's rule.
// Methods it does not fake panic through the nil embedded Store.
type historyStore struct {
	Store
	mu      sync.Mutex
	points  map[cacheKey][]StepPoint
	stored  map[cacheKey]map[StepPoint]bool // identity of stored points (pointID)
	latest  map[cacheKey]StepPoint
	scanned int // points handed to ScanMetricSteps callbacks
	counted int // CountMetricSteps calls
	rng     *rand.Rand
}

func newHistoryStore(seed uint64) *historyStore {
	return &historyStore{points: map[cacheKey][]StepPoint{}, stored: map[cacheKey]map[StepPoint]bool{},
		latest: map[cacheKey]StepPoint{}, rng: rand.New(rand.NewPCG(seed, 1))}
}

// pointID makes a map key of a point that compares as comparePoints does.
func pointID(p StepPoint) StepPoint {
	if math.IsNaN(p.Value) {
		p.Value, p.Timestamp = 0, ^p.Timestamp
	}
	return p
}

// write stores points as a SQL store does: a repeated point once, and the
// latest point the newest by (step, timestamp, value with NaN as 0).
func (h *historyStore) write(runID string, ms []Metric) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, m := range ms {
		k := cacheKey{runID, m.Key}
		p := StepPoint{Step: m.Step, Timestamp: m.Timestamp, Value: m.Value}
		if h.stored[k] == nil {
			h.stored[k] = map[StepPoint]bool{}
		}
		if h.stored[k][pointID(p)] {
			continue
		}
		h.stored[k][pointID(p)] = true
		h.points[k] = append(h.points[k], p)
		cur, ok := h.latest[k]
		nz := func(v float64) float64 {
			if math.IsNaN(v) {
				return 0
			}
			return v
		}
		if !ok || p.Step > cur.Step || (p.Step == cur.Step && (p.Timestamp > cur.Timestamp ||
			(p.Timestamp == cur.Timestamp && nz(p.Value) > nz(cur.Value)))) {
			h.latest[k] = p
		}
	}
}

func (h *historyStore) LogBatch(ctx context.Context, runID string, metrics []Metric, params []Param, tags []Tag) error {
	h.write(runID, metrics)
	return nil
}

func (h *historyStore) GetMetricHistory(ctx context.Context, runID, key string, offset, limit int) ([]Metric, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []Metric
	for _, p := range h.points[cacheKey{runID, key}] {
		out = append(out, Metric{Key: key, Step: p.Step, Timestamp: p.Timestamp, Value: p.Value, RunID: runID})
	}
	return out, nil
}

func (h *historyStore) MetricStepBounds(ctx context.Context, runID, key string, lo, hi int64) (int64, int64, bool, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	first, last, ok := int64(0), int64(0), false
	for _, p := range h.points[cacheKey{runID, key}] {
		if p.Step < lo || p.Step > hi {
			continue
		}
		if !ok {
			first, last, ok = p.Step, p.Step, true
		}
		first, last = min(first, p.Step), max(last, p.Step)
	}
	return first, last, ok, nil
}

func (h *historyStore) ScanMetricSteps(ctx context.Context, runID, key string, lo, hi int64, fn func(StepPoint) error) error {
	h.mu.Lock()
	var in []StepPoint
	for _, p := range h.points[cacheKey{runID, key}] {
		if p.Step >= lo && p.Step <= hi {
			in = append(in, p)
		}
	}
	h.rng.Shuffle(len(in), func(i, j int) { in[i], in[j] = in[j], in[i] })
	h.scanned += len(in)
	h.mu.Unlock()
	for _, p := range in {
		if err := fn(p); err != nil {
			return err
		}
	}
	return nil
}

func (h *historyStore) CountMetricSteps(ctx context.Context, runID, key string, lo, hi int64) (int64, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	var n int64
	for _, p := range h.points[cacheKey{runID, key}] {
		if p.Step >= lo && p.Step <= hi {
			n++
		}
	}
	h.counted++
	return n, nil
}

func (h *historyStore) LatestMetrics(ctx context.Context, runIDs []string, key string) (map[string]StepPoint, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := map[string]StepPoint{}
	for _, id := range runIDs {
		if p, ok := h.latest[cacheKey{id, key}]; ok {
			out[id] = p
		}
	}
	return out, nil
}

func (h *historyStore) takeScanned() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := h.scanned
	h.scanned = 0
	return n
}

func (h *historyStore) all(runID, key string) []StepPoint {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]StepPoint(nil), h.points[cacheKey{runID, key}]...)
}

// scanOnly hides the latest points, so Service cannot cache.
type scanOnly struct {
	*historyStore
	LatestMetrics struct{} // shadows the method
}

// wholeOnly hides the scans too: Service reads whole histories.
type wholeOnly struct {
	Store
	h *historyStore
}

func (w wholeOnly) LogBatch(ctx context.Context, runID string, metrics []Metric, params []Param, tags []Tag) error {
	return w.h.LogBatch(ctx, runID, metrics, params, tags)
}

func (w wholeOnly) GetMetricHistory(ctx context.Context, runID, key string, offset, limit int) ([]Metric, error) {
	return w.h.GetMetricHistory(ctx, runID, key, offset, limit)
}

func runID(i int) string { return fmt.Sprintf("%032x", i) }

func denseMetrics(key string, from, to int64, value func(int64) float64) []Metric {
	out := make([]Metric, 0, to-from+1)
	for s := from; s <= to; s++ {
		out = append(out, Metric{Key: key, Step: s, Timestamp: 1000 + s, Value: value(s)})
	}
	return out
}

// checkDownsampled compares the service's answer for runIDs with the brute
// force reduction of what the store holds.
func checkDownsampled(t *testing.T, svc *Service, h *historyStore, runIDs []string, key string, start, end *int64, maxPoints int) {
	t.Helper()
	checkAgainst(t, svc, h.all, runIDs, key, start, end, maxPoints)
}

// checkAgainst compares the service's answer for runIDs with the brute
// force reduction of all(runID, key), every point a store holds.
func checkAgainst(t *testing.T, svc *Service, all func(runID, key string) []StepPoint, runIDs []string, key string, start, end *int64, maxPoints int) {
	t.Helper()
	got, err := svc.GetMetricHistoryDownsampled(context.Background(), runIDs, key, start, end, maxPoints)
	if err != nil {
		t.Fatal(err)
	}
	lo, hi := int64(math.MinInt64), int64(math.MaxInt64)
	if start != nil {
		lo, hi = *start, *end
	}
	var want []Metric
	for _, id := range runIDs {
		for _, p := range bruteEnvelope(all(id, key), lo, hi, maxPoints) {
			want = append(want, Metric{Key: key, Step: p.Step, Timestamp: p.Timestamp, Value: p.Value, RunID: id})
		}
	}
	if len(got) != len(want) {
		t.Fatalf("range %v..%v max %d: %d points, want %d", lo, hi, maxPoints, len(got), len(want))
	}
	for i := range got {
		g, w := got[i], want[i]
		if g.RunID != w.RunID || g.Key != w.Key || comparePoints(StepPoint{g.Step, g.Timestamp, g.Value}, StepPoint{w.Step, w.Timestamp, w.Value}) != 0 {
			t.Fatalf("range %v..%v max %d: point %d = %+v, want %+v", lo, hi, maxPoints, i, g, w)
		}
	}
}

func ptr(v int64) *int64 { return &v }

func TestRollupServesWholeHistoryFromMemory(t *testing.T) {
	h := newHistoryStore(1)
	runs := []string{runID(1), runID(2)}
	for i, id := range runs {
		h.write(id, denseMetrics("loss", 0, 99_999, func(s int64) float64 { return math.Sin(float64(s)/50+float64(i)) + float64(s%9973/9972) }))
	}
	svc := NewService(h, ServiceOptions{})
	checkDownsampled(t, svc, h, runs, "loss", nil, nil, 1000)
	if n := h.takeScanned(); n != 200_000 {
		t.Fatalf("cold read scanned %d points, want every point once (200000)", n)
	}
	checkDownsampled(t, svc, h, runs, "loss", nil, nil, 1000)
	if n := h.takeScanned(); n > 2*2*16 {
		t.Fatalf("warm read scanned %d points, want only two edge blocks a run", n)
	}
	// A different budget and a range coarse enough for the blocks are
	// served from memory too; a zoomed-in range is read from the store.
	checkDownsampled(t, svc, h, runs, "loss", nil, nil, 400)
	checkDownsampled(t, svc, h, runs, "loss", ptr(12_345), ptr(87_654), 500)
	if n := h.takeScanned(); n > 4*2*2*16 {
		t.Fatalf("coarser reads scanned %d points, want only edge blocks", n)
	}
	checkDownsampled(t, svc, h, runs, "loss", ptr(40_000), ptr(41_000), 1000)
	if n := h.takeScanned(); n != 2*1001 {
		t.Fatalf("zoomed read scanned %d points, want the range only (2002)", n)
	}
}

func TestRollupOwnWritesExtendTheCache(t *testing.T) {
	h := newHistoryStore(2)
	id := runID(7)
	h.write(id, denseMetrics("loss", 0, 49_999, func(s int64) float64 { return float64(s % 101) }))
	svc := NewService(h, ServiceOptions{})
	ctx := context.Background()
	checkDownsampled(t, svc, h, []string{id}, "loss", nil, nil, 1000)
	h.takeScanned()
	// A training loop appends: the cache is extended, not reread.
	for from := int64(50_000); from < 52_000; from += 500 {
		batch := denseMetrics("loss", from, from+499, func(s int64) float64 { return float64(s%97) - 3 })
		batch[7].Value = math.NaN()
		if err := svc.LogBatch(ctx, id, batch, nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	checkDownsampled(t, svc, h, []string{id}, "loss", nil, nil, 1000)
	if n := h.takeScanned(); n > 2*32 {
		t.Fatalf("read after appends scanned %d points, want edge blocks only", n)
	}
	// Writing into the past (or ±Inf, which SQL stores change) drops it.
	for _, m := range []Metric{
		{Key: "loss", Step: 10, Timestamp: 5, Value: -1e6},
		{Key: "loss", Step: 60_000, Timestamp: 5, Value: math.Inf(1)},
	} {
		if err := svc.LogMetric(ctx, id, m); err != nil {
			t.Fatal(err)
		}
		checkDownsampled(t, svc, h, []string{id}, "loss", nil, nil, 1000)
		if n := h.takeScanned(); n < 52_000 {
			t.Fatalf("read after %+v scanned %d points, want a reread", m, n)
		}
	}
	// Another key of the run, and params or tags alone, leave it alone.
	if err := svc.LogBatch(ctx, id, []Metric{{Key: "acc", Step: 1, Timestamp: 1, Value: 1}}, nil, []Tag{{Key: "t", Value: "v"}}); err != nil {
		t.Fatal(err)
	}
	checkDownsampled(t, svc, h, []string{id}, "loss", nil, nil, 1000)
	if n := h.takeScanned(); n > 2*32 {
		t.Fatalf("read after another key's write scanned %d points, want edge blocks only", n)
	}
}

func TestRollupSeesOtherWriters(t *testing.T) {
	h := newHistoryStore(3)
	id := runID(9)
	h.write(id, denseMetrics("loss", 100, 30_099, func(s int64) float64 { return float64(s % 13) }))
	svc := NewService(h, ServiceOptions{})
	checkDownsampled(t, svc, h, []string{id}, "loss", nil, nil, 300)
	tests := []struct {
		name string
		ms   []Metric
		// reread: the whole history is read again; otherwise only the
		// cached entry's last block onwards (at most a few hundred points).
		reread bool
	}{
		// A newer point changes the latest point: the entry is extended.
		{"append", []Metric{{Key: "loss", Step: 30_500, Timestamp: 1, Value: 1e9}}, false},
		{"same step, later time", []Metric{{Key: "loss", Step: 30_500, Timestamp: 2, Value: -1e9}}, false},
		{"appends far away", denseMetrics("loss", 90_000, 90_999, func(s int64) float64 { return -float64(s) }), false},
		// An older point does not, but lies before every step the cache holds.
		{"before the first step", []Metric{{Key: "loss", Step: 5, Timestamp: 1, Value: -5e9}}, true},
		// A back-fill among cached steps with an append: the count before
		// the last block no longer matches.
		{"back-fill and append", []Metric{{Key: "loss", Step: 700, Timestamp: 1, Value: 7e9}, {Key: "loss", Step: 95_000, Timestamp: 1, Value: 0}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h.write(id, tt.ms) // not through svc: another process
			h.takeScanned()
			checkDownsampled(t, svc, h, []string{id}, "loss", nil, nil, 300)
			n := h.takeScanned()
			if tt.reread && n < 30_000 {
				t.Fatalf("scanned %d points, want a reread", n)
			}
			if !tt.reread && n > 2_000 {
				t.Fatalf("scanned %d points, want only the tail", n)
			}
			// The extended or rebuilt entry answers the next read from memory.
			checkDownsampled(t, svc, h, []string{id}, "loss", nil, nil, 300)
			if n := h.takeScanned(); n > 2_000 {
				t.Fatalf("second read scanned %d points", n)
			}
		})
	}
}

func TestRollupBudget(t *testing.T) {
	h := newHistoryStore(4)
	var runs []string
	for i := range 6 {
		runs = append(runs, runID(i))
		h.write(runs[i], denseMetrics("loss", 0, 20_000, func(s int64) float64 { return float64(s % 31) }))
	}
	// At 1000 points a run of 20,000 steps is cached in blocks of 4 steps:
	// 5,001 blocks of 64 bytes, 320 KB. Four fit.
	svc := NewService(h, ServiceOptions{HistoryCacheBytes: 1500 << 10})
	checkDownsampled(t, svc, h, runs, "loss", nil, nil, 1000)
	c := svc.histCache
	c.mu.Lock()
	used, n := c.used, len(c.entries)
	c.mu.Unlock()
	if used > c.budget || n == 0 || n == len(runs) {
		t.Fatalf("cache holds %d entries, %d bytes, budget %d: want some but not all", n, used, c.budget)
	}
	// The most recently read runs stay.
	if !c.has(cacheKey{runs[len(runs)-1], "loss"}) && !c.has(cacheKey{runs[len(runs)-2], "loss"}) {
		t.Fatal("recent entries were evicted")
	}
	off := NewService(h, ServiceOptions{HistoryCacheBytes: -1})
	checkDownsampled(t, off, h, runs[:1], "loss", nil, nil, 1000)
	h.takeScanned()
	checkDownsampled(t, off, h, runs[:1], "loss", nil, nil, 1000)
	if n := h.takeScanned(); n != 20_001 {
		t.Fatalf("without a cache a read scanned %d points, want 20001", n)
	}
}

// Random histories, budgets and ranges, with writes from this server and
// from another process between reads: every answer must equal the brute
// force reduction, through each kind of store.
func TestRollupMatchesBruteForce(t *testing.T) {
	for _, kind := range []string{"cached", "scan only", "whole only"} {
		t.Run(kind, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(7, 8))
			h := newHistoryStore(5)
			runs := []string{runID(1), runID(2), runID(3), runID(4)}
			for _, id := range runs {
				for _, p := range randomHistory(rng, 1+rng.IntN(4000)) {
					h.write(id, []Metric{{Key: "m", Step: p.Step, Timestamp: p.Timestamp, Value: p.Value}})
				}
			}
			var store Store = h
			switch kind {
			case "scan only":
				store = scanOnly{historyStore: h}
			case "whole only":
				store = wholeOnly{h: h}
			}
			svc := NewService(store, ServiceOptions{})
			ctx := context.Background()
			for op := 0; op < 300; op++ {
				id := runs[rng.IntN(len(runs))]
				all := h.all(id, "m")
				maxStep := int64(math.MinInt64)
				for _, p := range all {
					maxStep = max(maxStep, p.Step)
				}
				switch r := rng.IntN(10); {
				case r < 6:
					ids := []string{runs[rng.IntN(len(runs))], runs[rng.IntN(len(runs))], runID(99)}
					maxPoints := 4 + rng.IntN(400)
					if rng.IntN(2) == 0 {
						checkDownsampled(t, svc, h, ids, "m", nil, nil, maxPoints)
						continue
					}
					a, b := all[rng.IntN(len(all))].Step+rng.Int64N(7)-3, all[rng.IntN(len(all))].Step
					lo, hi := min(a, b), max(a, b)
					checkDownsampled(t, svc, h, ids, "m", &lo, &hi, maxPoints)
				case r < 8: // this server appends, or writes into the past
					var batch []Metric
					for _, p := range randomHistory(rng, 1+rng.IntN(50)) {
						s := p.Step
						if rng.IntN(3) != 0 {
							s = maxStep + 1 + rng.Int64N(20)
						}
						batch = append(batch, Metric{Key: "m", Step: s, Timestamp: p.Timestamp, Value: p.Value})
					}
					if err := svc.LogBatch(ctx, id, batch, nil, nil); err != nil {
						t.Fatal(err)
					}
				default: // another process appends
					h.write(id, []Metric{{Key: "m", Step: maxStep + 1 + rng.Int64N(5), Timestamp: 0, Value: rng.NormFloat64()}})
				}
			}
		})
	}
}

// Reads racing this server's appends (run with -race): once writes stop, a
// read must see every point.
func TestRollupConcurrentReadsAndWrites(t *testing.T) {
	h := newHistoryStore(6)
	runs := []string{runID(1), runID(2)}
	for _, id := range runs {
		h.write(id, denseMetrics("loss", 0, 9_999, func(s int64) float64 { return float64(s % 17) }))
	}
	svc := NewService(h, ServiceOptions{})
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for r := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 30 {
				var start, end *int64
				if (i+r)%3 == 0 {
					start, end = ptr(int64(100*i)), ptr(int64(100*i+5000))
				}
				if _, err := svc.GetMetricHistoryDownsampled(ctx, runs, "loss", start, end, 500); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range 40 {
			from := int64(10_000 + 50*i)
			batch := denseMetrics("loss", from, from+49, func(s int64) float64 { return float64(s%23) - 11 })
			if err := svc.LogBatch(ctx, runs[i%2], batch, nil, nil); err != nil {
				errs <- err
				return
			}
		}
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	checkDownsampled(t, svc, h, runs, "loss", nil, nil, 500)
	checkDownsampled(t, svc, h, runs, "loss", ptr(3000), ptr(11_000), 300)
}
