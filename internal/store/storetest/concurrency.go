package storetest

import (
	"fmt"
	"sync"
	"testing"

	"github.com/mltrack/mltrack/internal/tracking"
)

func testConcurrency(t *testing.T, newStore func(t *testing.T) tracking.Store) {
	s := newStore(t)
	t.Run("ManyWriters", func(t *testing.T) { testManyWriters(t, s) })
	t.Run("SameParamSameValue", func(t *testing.T) { testSameParamConcurrently(t, s) })
}

// testManyWriters has several goroutines log to different runs and to the
// same run at once; everything must be there afterwards.
func testManyWriters(t *testing.T, s tracking.Store) {
	ctx := ctxOf(t)
	const (
		nRuns      = 3
		perRun     = 3 // writers sharing each run
		batches    = 20
		perBatch   = 5
		paramsEach = 4
	)
	ids := make([]string, nRuns)
	for i := range ids {
		ids[i] = createRun(t, s, "0", fmt.Sprintf("run-%d", i), int64(i)).Info.RunID
	}

	var wg sync.WaitGroup
	errs := make(chan error, nRuns*perRun*batches)
	for r := range nRuns {
		for w := range perRun {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for b := range batches {
					ms := make([]tracking.Metric, perBatch)
					for i := range ms {
						step := int64(b*perBatch + i)
						// Writers share the key "shared" but never a point.
						ms[i] = metric("shared", float64(w), 1000+step, step)
					}
					ms = append(ms, metric(fmt.Sprintf("own-%d", w), float64(b), int64(b), int64(b)))
					var ps []tracking.Param
					if b < paramsEach {
						ps = []tracking.Param{{Key: fmt.Sprintf("p-%d-%d", w, b), Value: "v"}}
					}
					tags := []tracking.Tag{{Key: fmt.Sprintf("tag-%d", w), Value: fmt.Sprint(b)}, {Key: "last", Value: "x"}}
					if err := s.LogBatch(ctx, ids[r], ms, ps, tags); err != nil {
						errs <- fmt.Errorf("run %d writer %d batch %d: %w", r, w, b, err)
					}
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	for r, id := range ids {
		run := getRun(t, s, id)
		latest := metricMap(run.Data.Metrics)
		if len(latest) != 1+perRun {
			t.Errorf("run %d has %d metric keys, want %d", r, len(latest), 1+perRun)
		}
		h, err := s.GetMetricHistory(ctx, id, "shared", 0, 0)
		mustNoErr(t, err, "GetMetricHistory")
		if want := perRun * batches * perBatch; len(h) != want {
			t.Errorf("run %d shared history has %d points, want %d", r, len(h), want)
		}
		if m := latest["shared"]; m.Step != batches*perBatch-1 {
			t.Errorf("run %d latest shared = %+v", r, m)
		}
		for w := range perRun {
			key := fmt.Sprintf("own-%d", w)
			oh, err := s.GetMetricHistory(ctx, id, key, 0, 0)
			mustNoErr(t, err, "GetMetricHistory")
			if len(oh) != batches {
				t.Errorf("run %d %s has %d points, want %d", r, key, len(oh), batches)
			}
			if m := latest[key]; m.Value != batches-1 {
				t.Errorf("run %d latest %s = %v", r, key, m.Value)
			}
			if v := tagMap(run.Data.Tags)[fmt.Sprintf("tag-%d", w)]; v != fmt.Sprint(batches-1) {
				t.Errorf("run %d tag-%d = %q", r, w, v)
			}
		}
		if got, want := len(run.Data.Params), perRun*paramsEach; got != want {
			t.Errorf("run %d has %d params, want %d", r, got, want)
		}
	}
}

// testSameParamConcurrently logs one param with one value from many
// goroutines at once. Re-logging a param with its value is a no-op, so every
// call must succeed. (MLflow 3.18.0's SQL store loses this race on
// PostgreSQL: its log_batch reads the params, then inserts, and the losers
// get the unique-key violation as BAD_REQUEST. The contract asks for better.)
func testSameParamConcurrently(t *testing.T, s tracking.Store) {
	ctx := ctxOf(t)
	const writers, rounds = 6, 5
	for round := range rounds {
		id := createRun(t, s, "0", fmt.Sprintf("r%d", round), 1).Info.RunID
		var wg sync.WaitGroup
		start := make(chan struct{})
		errs := make(chan error, writers)
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				if err := s.LogBatch(ctx, id, nil, []tracking.Param{{Key: "common", Value: "same"}}, nil); err != nil {
					errs <- fmt.Errorf("round %d writer %d: %w", round, w, err)
				}
			}()
		}
		close(start)
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		if p := paramMap(getRun(t, s, id).Data.Params); len(p) != 1 || p["common"] != "same" {
			t.Errorf("round %d params = %v", round, p)
		}
	}
}
