package tracking

import (
	"context"
	"errors"
	"math"
	"slices"
	"sync"
	"testing"
	"time"
)

// recentStore adds RecentSeriesLister to historyStore: runs started at the
// given times, newest first, keys in order. onScan, when set, runs before
// each scan.
type recentStore struct {
	*historyStore
	starts map[string]int64
	mu     sync.Mutex
	listed int
	onScan func(runID string)
}

func (r *recentStore) RecentMetricSeries(ctx context.Context, minLatestStep int64, limit int) ([]SeriesRef, error) {
	r.mu.Lock()
	r.listed++
	r.mu.Unlock()
	r.historyStore.mu.Lock()
	var out []SeriesRef
	for k, p := range r.historyStore.latest {
		if p.Step >= minLatestStep {
			out = append(out, SeriesRef{RunID: k.run, Key: k.key})
		}
	}
	r.historyStore.mu.Unlock()
	slices.SortFunc(out, func(a, b SeriesRef) int {
		if c := cmpInt(r.starts[b.RunID], r.starts[a.RunID]); c != 0 {
			return c
		}
		if a.RunID != b.RunID {
			if a.RunID < b.RunID {
				return -1
			}
			return 1
		}
		if a.Key < b.Key {
			return -1
		}
		if a.Key > b.Key {
			return 1
		}
		return 0
	})
	return out[:min(limit, len(out))], nil
}

func (r *recentStore) ScanMetricSteps(ctx context.Context, runID, key string, lo, hi int64, fn func(StepPoint) error) error {
	if r.onScan != nil {
		r.onScan(runID)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return r.historyStore.ScanMetricSteps(ctx, runID, key, lo, hi, fn)
}

// newRecentStore holds n runs of 20,001 steps of "loss", run i started at
// time i (so the last is the newest), and one newer run whose series are
// too short to warm.
func newRecentStore(n int) (*recentStore, []string) {
	h := newHistoryStore(9)
	r := &recentStore{historyStore: h, starts: map[string]int64{}}
	var runs []string
	for i := range n {
		id := runID(100 + i)
		runs = append(runs, id)
		r.starts[id] = int64(i)
		h.write(id, denseMetrics("loss", 0, 20_000, func(s int64) float64 { return math.Sin(float64(s)/40+float64(i)) * float64(s%7) }))
	}
	small := runID(999)
	r.starts[small] = int64(n)
	h.write(small, denseMetrics("acc", 0, 10, func(s int64) float64 { return float64(s) }))
	return r, runs
}

func cachedRuns(svc *Service, runs []string, key string) []string {
	var out []string
	for _, id := range runs {
		if svc.histCache.has(cacheKey{id, key}) {
			out = append(out, id)
		}
	}
	return out
}

// At 1,000 points a run of 20,001 steps is cached in 5,001 blocks of 4
// steps: 320,320 bytes. A budget of 1,500 KiB has a fill line (3/4) of
// 1,152,000 bytes: three entries.
const warmTestBudget = 1500 << 10

func TestWarmFillsNewestRunsFirstWithinBudget(t *testing.T) {
	r, runs := newRecentStore(6)
	svc := NewService(r, ServiceOptions{HistoryCacheBytes: warmTestBudget})
	ctx := context.Background()
	// A request read the oldest run before: warm-up must keep it and count it.
	checkDownsampled(t, svc, r.historyStore, runs[:1], "loss", nil, nil, 1000)
	rep, err := svc.WarmHistoryCache(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{runs[0], runs[4], runs[5]}
	if got := cachedRuns(svc, runs, "loss"); !slices.Equal(got, want) {
		t.Fatalf("cached runs %v, want the request's %v and the two newest", got, want)
	}
	c := svc.histCache
	if used := c.usedBytes(); used > c.budget/4*3 {
		t.Fatalf("cache holds %d bytes after warm-up, over 3/4 of %d", used, c.budget)
	}
	if rep.Warmed != 2 || rep.Runs != 2 || rep.Stopped != "full" || rep.Candidates != 6 || rep.Bytes != 2*320_320 {
		t.Fatalf("report %+v", rep)
	}
	if c.has(cacheKey{runID(999), "acc"}) {
		t.Fatal("a short series was warmed")
	}
	// Requests' reads may then evict warmed entries, the oldest warmed first.
	checkDownsampled(t, svc, r.historyStore, runs[1:3], "loss", nil, nil, 1000)
	if got := cachedRuns(svc, runs, "loss"); !slices.Equal(got, []string{runs[0], runs[1], runs[2], runs[5]}) {
		t.Fatalf("after two more reads cached runs %v, want the warmed older one evicted first", got)
	}
}

func TestWarmedChartIsServedFromMemoryAndExact(t *testing.T) {
	r, runs := newRecentStore(3)
	// A point the store changes nothing about, NaN, and a spike.
	r.write(runs[2], []Metric{{Key: "loss", Step: 20_001, Timestamp: 1, Value: math.NaN()}, {Key: "loss", Step: 20_002, Timestamp: 2, Value: 1e9}})
	svc := NewService(r, ServiceOptions{})
	rep, err := svc.WarmHistoryCache(context.Background())
	if err != nil || rep.Warmed != 3 || rep.Stopped != "done" {
		t.Fatalf("warm-up: %+v, %v", rep, err)
	}
	r.takeScanned()
	checkDownsampled(t, svc, r.historyStore, runs, "loss", nil, nil, 1000)
	if n := r.takeScanned(); n > 3*2*16 {
		t.Fatalf("chart after warm-up scanned %d points, want only two edge blocks a run", n)
	}
	// A coarser chart is served too, and equals the cold read.
	checkDownsampled(t, svc, r.historyStore, runs, "loss", nil, nil, 400)
	cold := NewService(r, ServiceOptions{HistoryCacheBytes: -1})
	checkDownsampled(t, cold, r.historyStore, runs, "loss", nil, nil, 1000)
	// Warming again finds everything cached and reads nothing.
	r.takeScanned()
	rep, err = svc.WarmHistoryCache(context.Background())
	if err != nil || rep.Present != 3 || rep.Warmed != 0 || r.takeScanned() != 0 {
		t.Fatalf("second warm-up: %+v, %v", rep, err)
	}
}

func TestWarmStopsPromptlyWhenCancelled(t *testing.T) {
	r, runs := newRecentStore(5)
	svc := NewService(r, ServiceOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	scans := 0
	r.onScan = func(string) {
		scans++
		if scans == 2 {
			cancel() // shutdown during the second series
		}
	}
	done := make(chan struct{})
	var rep WarmReport
	var err error
	go func() {
		defer close(done)
		rep, err = svc.WarmHistoryCache(ctx)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("warm-up did not stop after cancellation")
	}
	if !errors.Is(err, context.Canceled) || rep.Stopped != "cancelled" {
		t.Fatalf("warm-up: %+v, %v; want cancelled", rep, err)
	}
	if got := cachedRuns(svc, runs, "loss"); !slices.Equal(got, runs[4:]) {
		t.Fatalf("cached runs %v, want only the first warmed, %v", got, runs[4:])
	}
}

func TestWarmWaitsForChartReads(t *testing.T) {
	r, runs := newRecentStore(2)
	svc := NewService(r, ServiceOptions{})
	svc.histCache.reading.Add(1) // a chart read in progress
	done := make(chan struct{})
	var err error
	go func() {
		defer close(done)
		_, err = svc.WarmHistoryCache(context.Background())
	}()
	time.Sleep(5 * warmIdlePoll)
	if n := r.takeScanned(); n != 0 || len(cachedRuns(svc, runs, "loss")) != 0 {
		t.Fatalf("warm-up read %d points while a chart read was in progress", n)
	}
	svc.histCache.reading.Add(-1)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("warm-up did not resume")
	}
	if err != nil || len(cachedRuns(svc, runs, "loss")) != 2 {
		t.Fatalf("warm-up after the read: %v, cached %v", err, cachedRuns(svc, runs, "loss"))
	}
	// A cancelled warm-up returns at once.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := NewService(r, ServiceOptions{}).WarmHistoryCache(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled warm-up: %v", err)
	}
}

func TestWarmNeedsCacheAndCapabilities(t *testing.T) {
	r, _ := newRecentStore(1)
	tests := []struct {
		name string
		svc  *Service
	}{
		{"cache off", NewService(r, ServiceOptions{HistoryCacheBytes: -1})},
		{"store cannot list", NewService(r.historyStore, ServiceOptions{})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r.takeScanned()
			rep, err := tt.svc.WarmHistoryCache(context.Background())
			if err != nil || rep.Warmed != 0 || rep.Candidates != 0 || r.takeScanned() != 0 {
				t.Fatalf("%+v, %v: want nothing done", rep, err)
			}
		})
	}
}
