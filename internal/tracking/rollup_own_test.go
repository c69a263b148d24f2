package tracking

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"sync/atomic"
	"testing"
)

// createdRuns adds CreateRun to historyStore, so runs can be created
// through Service, and can fail LogBatch after writing (a commit whose
// answer was lost).
type createdRuns struct {
	*historyStore
	next     atomic.Int64
	failNext atomic.Bool
}

func (c *createdRuns) CreateRun(ctx context.Context, r NewRun) (*Run, error) {
	return &Run{Info: RunInfo{RunID: runID(int(1000 + c.next.Add(1))), ExperimentID: r.ExperimentID}}, nil
}

func (c *createdRuns) LogBatch(ctx context.Context, runID string, metrics []Metric, params []Param, tags []Tag) error {
	c.write(runID, metrics)
	if c.failNext.Swap(false) {
		return errors.New("connection reset after commit")
	}
	return nil
}

// logInBatches logs ms through svc, size points a call.
func logInBatches(t *testing.T, svc *Service, id string, ms []Metric, size int) {
	t.Helper()
	for i := 0; i < len(ms); i += size {
		if err := svc.LogBatch(context.Background(), id, ms[i:min(i+size, len(ms))], nil, nil); err != nil {
			t.Fatal(err)
		}
	}
}

// A series this server wrote from its first point is charted from memory
// from the first read; any doubt about having seen every point means the
// first read goes to the store, and every answer stays exact.
func TestRollupStartsFromOwnWrites(t *testing.T) {
	wave := func(s int64) float64 { return math.Sin(float64(s)/40) + float64(s%7919)/7918 }
	// Points scanned by a read from memory (edge blocks), by one that
	// extends the entry (its last block onwards, and edge blocks), by a full read.
	const warm, tail, cold = 2 * 16, 4 * 16, 100_000
	tests := []struct {
		name string
		// write logs the run's history and returns its id.
		write   func(t *testing.T, svc *Service, s *createdRuns) string
		scanned int // at most, on the first read
	}{
		{"run created here", func(t *testing.T, svc *Service, s *createdRuns) string {
			id := mustCreate(t, svc)
			ms := denseMetrics("loss", 0, 99_999, wave)
			ms[500].Value = math.NaN()
			logInBatches(t, svc, id, ms, 1000)
			return id
		}, warm},
		{"new key of a run made elsewhere", func(t *testing.T, svc *Service, s *createdRuns) string {
			id := runID(1)
			s.write(id, denseMetrics("acc", 0, 10, wave))
			logInBatches(t, svc, id, denseMetrics("loss", 0, 99_999, wave), 1000)
			return id
		}, warm},
		{"key the run already had", func(t *testing.T, svc *Service, s *createdRuns) string {
			id := runID(2)
			s.write(id, denseMetrics("loss", 0, 9, wave))
			logInBatches(t, svc, id, denseMetrics("loss", 10, 99_999, wave), 1000)
			return id
		}, cold},
		{"first batch not cacheable (Inf)", func(t *testing.T, svc *Service, s *createdRuns) string {
			id := mustCreate(t, svc)
			ms := denseMetrics("loss", 0, 99_999, wave)
			ms[3].Value = math.Inf(1)
			logInBatches(t, svc, id, ms, 1000)
			return id
		}, cold},
		{"a write into the past, then appends", func(t *testing.T, svc *Service, s *createdRuns) string {
			id := mustCreate(t, svc)
			logInBatches(t, svc, id, denseMetrics("loss", 0, 49_999, wave), 1000)
			logInBatches(t, svc, id, []Metric{{Key: "loss", Step: 7, Timestamp: 1, Value: 40}}, 1)
			logInBatches(t, svc, id, denseMetrics("loss", 50_000, 99_999, wave), 1000)
			return id
		}, cold},
		{"another process appends", func(t *testing.T, svc *Service, s *createdRuns) string {
			id := mustCreate(t, svc)
			logInBatches(t, svc, id, denseMetrics("loss", 0, 49_999, wave), 1000)
			s.write(id, denseMetrics("loss", 50_000, 50_010, wave))
			return id
		}, tail},
		{"a write whose answer was lost", func(t *testing.T, svc *Service, s *createdRuns) string {
			id := mustCreate(t, svc)
			logInBatches(t, svc, id, denseMetrics("loss", 0, 49_999, wave), 1000)
			s.failNext.Store(true)
			if err := svc.LogBatch(context.Background(), id, denseMetrics("loss", 50_000, 50_999, wave), nil, nil); err == nil {
				t.Fatal("want the injected error")
			}
			logInBatches(t, svc, id, denseMetrics("loss", 51_000, 99_999, wave), 1000)
			return id
		}, cold},
		{"lost answer of the first write", func(t *testing.T, svc *Service, s *createdRuns) string {
			id := mustCreate(t, svc)
			s.failNext.Store(true)
			_ = svc.LogBatch(context.Background(), id, denseMetrics("loss", 0, 999, wave), nil, nil)
			logInBatches(t, svc, id, denseMetrics("loss", 1000, 99_999, wave), 1000)
			return id
		}, cold},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &createdRuns{historyStore: newHistoryStore(11)}
			svc := NewService(s, ServiceOptions{})
			id := tt.write(t, svc, s)
			s.takeScanned()
			checkDownsampled(t, svc, s.historyStore, []string{id}, "loss", nil, nil, 1000)
			n := s.takeScanned()
			if tt.scanned == warm && n > warm {
				t.Fatalf("first read scanned %d points, want edge blocks only (the cache was built from writes)", n)
			}
			if tt.scanned == tail && n > tail {
				t.Fatalf("first read scanned %d points, want the last block onwards only", n)
			}
			if tt.scanned == cold && n < 49_000 {
				t.Fatalf("first read scanned %d points, want a full read (the writes were not all seen)", n)
			}
			// Either way the next reads are warm and exact, coarser grids too.
			checkDownsampled(t, svc, s.historyStore, []string{id}, "loss", nil, nil, 1000)
			checkDownsampled(t, svc, s.historyStore, []string{id}, "loss", nil, nil, 300)
			checkDownsampled(t, svc, s.historyStore, []string{id}, "loss", ptr(1234), ptr(77_777), 600)
			if n := s.takeScanned(); n > 3*warm {
				t.Fatalf("later reads scanned %d points, want edge blocks only", n)
			}
		})
	}
}

func mustCreate(t *testing.T, svc *Service) string {
	t.Helper()
	r, err := svc.CreateRun(context.Background(), NewRun{ExperimentID: "0"})
	if err != nil {
		t.Fatal(err)
	}
	return r.Info.RunID
}

// An entry made from writes keeps its blocks under ownCacheBlocks by
// coarsening as the series grows, and stays exact.
func TestRollupOwnEntryCoarsens(t *testing.T) {
	s := &createdRuns{historyStore: newHistoryStore(12)}
	svc := NewService(s, ServiceOptions{})
	id := mustCreate(t, svc)
	rng := rand.New(rand.NewPCG(3, 4))
	var steps int64
	for _, n := range []int64{5, 1000, 8191, 30_000, 200_000} {
		batch := denseMetrics("loss", steps, n, func(int64) float64 { return rng.NormFloat64() })
		logInBatches(t, svc, id, batch, 1000)
		steps = n + 1
		svc.histCache.mu.Lock()
		el, ok := svc.histCache.entries[cacheKey{id, "loss"}]
		var blocks int
		if ok {
			blocks = len(el.Value.(*cacheEntry).blocks)
		}
		svc.histCache.mu.Unlock()
		if !ok || blocks > ownCacheBlocks {
			t.Fatalf("after %d steps: entry %v with %d blocks, want one of at most %d", n, ok, blocks, ownCacheBlocks)
		}
		s.takeScanned()
		checkDownsampled(t, svc, s.historyStore, []string{id}, "loss", nil, nil, 1000)
		if got := s.takeScanned(); got > 2*64 {
			t.Fatalf("after %d steps a read scanned %d points, want edge blocks only", n, got)
		}
	}
}

// Random writes to runs created here, by this server and by another
// process, against the brute force reduction.
func TestRollupOwnWritesMatchBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	s := &createdRuns{historyStore: newHistoryStore(13)}
	svc := NewService(s, ServiceOptions{})
	ctx := context.Background()
	var runs []string
	for range 4 {
		runs = append(runs, mustCreate(t, svc))
	}
	last := map[string]int64{}
	for op := 0; op < 400; op++ {
		id := runs[rng.IntN(len(runs))]
		switch r := rng.IntN(10); {
		case r < 4:
			ids := []string{runs[rng.IntN(len(runs))], runs[rng.IntN(len(runs))]}
			checkDownsampled(t, svc, s.historyStore, ids, "m", nil, nil, 4+rng.IntN(400))
		case r < 9: // this server appends (mostly), or writes into the past
			var batch []Metric
			for _, p := range randomHistory(rng, 1+rng.IntN(300)) {
				st := last[id] + 1 + p.Step + 500
				if rng.IntN(20) == 0 {
					st = p.Step
				}
				last[id] = max(last[id], st)
				batch = append(batch, Metric{Key: "m", Step: st, Timestamp: p.Timestamp, Value: p.Value})
			}
			s.failNext.Store(rng.IntN(30) == 0)
			_ = svc.LogBatch(ctx, id, batch, nil, nil)
		default: // another process appends (a back-fill by one is what the check misses: see 0007)
			st := last[id] + 1 + rng.Int64N(5)
			last[id] = st
			s.write(id, []Metric{{Key: "m", Step: st, Timestamp: 0, Value: rng.NormFloat64()}})
		}
	}
	for _, id := range runs {
		checkDownsampled(t, svc, s.historyStore, []string{id}, "m", nil, nil, 1000)
	}
}

// Once a series' entry is dropped, later writes alone never rebuild it: an
// entry started from them would lack the earlier points at the same steps,
// which neither the latest point nor the step bounds of a range reveal.
func TestRollupNoRestartAfterDrop(t *testing.T) {
	s := &createdRuns{historyStore: newHistoryStore(14)}
	svc := NewService(s, ServiceOptions{})
	id := mustCreate(t, svc)
	flat := func(int64) float64 { return 0 }
	logInBatches(t, svc, id, denseMetrics("loss", 0, 49_999, func(s int64) float64 { return float64(-9 * (s / 45_000) * (1 - s/45_001)) }), 1000)
	logInBatches(t, svc, id, []Metric{{Key: "loss", Step: 7, Timestamp: 1, Value: 1}}, 1) // drops the entry
	spikes := denseMetrics("loss", 40_000, 59_999, flat)
	for i := range spikes {
		spikes[i].Timestamp += 1_000_000 // new points at old steps, then beyond them
	}
	spikes[len(spikes)-1].Value = 3
	logInBatches(t, svc, id, spikes, 1000)
	checkDownsampled(t, svc, s.historyStore, []string{id}, "loss", ptr(41_000), ptr(48_000), 100)
}
