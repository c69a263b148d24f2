package filestore

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/mltrack/mltrack/internal/tracking"
)

func openT(t *testing.T, root string) *Store {
	t.Helper()
	s, err := Open(t.Context(), root, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// eventually polls cond until it holds or 5 s pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not seen within 5s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestIndexFollowsOtherWriters changes the folder behind the store's back,
// the way a training script using MLflow's FileStore would, and waits for
// the index to show each change.
func TestIndexFollowsOtherWriters(t *testing.T) {
	for _, polling := range []bool{false, true} {
		t.Run(fmt.Sprintf("polling=%v", polling), func(t *testing.T) {
			root := filepath.Join(t.TempDir(), "mlruns")
			s := openT(t, root)
			if polling {
				s.watch.mu.Lock()
				s.watch.polling = true
				s.watch.mu.Unlock()
			}
			ctx := t.Context()
			// The other writer is a second store on the same folder.
			other := openT(t, root)
			eid, err := other.CreateExperiment(ctx, tracking.NewExperiment{Name: "external"})
			must(t, err)
			eventually(t, "new experiment", func() bool {
				_, err := s.GetExperimentByName(ctx, "external")
				return err == nil
			})
			r, err := other.CreateRun(ctx, tracking.NewRun{ExperimentID: eid, RunName: "x", StartTime: 1,
				Tags: []tracking.Tag{{Key: tracking.TagRunName, Value: "x"}}})
			must(t, err)
			id := r.Info.RunID
			eventually(t, "new run", func() bool { _, err := s.GetRun(ctx, id); return err == nil })

			// Raw appends and files, as Python writes them.
			dir := filepath.Join(root, eid, id)
			must(t, appendFile(filepath.Join(dir, metricsDir, "loss"), []byte("10 0.5 3\n")))
			must(t, os.WriteFile(filepath.Join(dir, paramsDir, "lr"), []byte("0.1"), 0o644))
			eventually(t, "metric and param", func() bool {
				got, err := s.GetRun(ctx, id)
				return err == nil && len(got.Data.Metrics) == 1 && got.Data.Metrics[0].Value == 0.5 &&
					len(got.Data.Params) == 1
			})
			eventually(t, "search sees the metric", func() bool {
				runs, err := s.SearchRuns(ctx, tracking.RunQuery{ExperimentIDs: []string{eid}, ViewType: tracking.ViewAll})
				return err == nil && len(runs) == 1 && len(runs[0].Data.Metrics) == 1
			})
			// A line written in two parts is read only once complete.
			must(t, appendFile(filepath.Join(dir, metricsDir, "loss"), []byte("11 0.7")))
			must(t, appendFile(filepath.Join(dir, metricsDir, "loss"), []byte(" 4\n")))
			eventually(t, "appended metric", func() bool {
				got, err := s.GetRun(ctx, id)
				return err == nil && len(got.Data.Metrics) == 1 && got.Data.Metrics[0].Value == 0.7 &&
					got.Data.Metrics[0].Step == 4
			})
			must(t, other.DeleteRun(ctx, id))
			eventually(t, "run deleted", func() bool {
				got, err := s.GetRun(ctx, id)
				return err == nil && got.Info.LifecycleStage == tracking.LifecycleDeleted
			})
			must(t, other.DeleteExperiment(ctx, eid))
			eventually(t, "experiment trashed", func() bool {
				e, err := s.GetExperiment(ctx, eid)
				return err == nil && e.LifecycleStage == tracking.LifecycleDeleted
			})
			must(t, os.RemoveAll(filepath.Join(root, trashDir, eid)))
			eventually(t, "experiment removed (mlflow gc)", func() bool {
				_, err := s.GetExperiment(ctx, eid)
				_, rerr := s.GetRun(ctx, id)
				return tracking.IsNotFound(err) && tracking.IsNotFound(rerr)
			})
		})
	}
}

// TestTwoProcessesLogBatch runs two stores (standing in for two processes)
// against one run: conflicting params must end with exactly one value and
// every metric line must survive.
func TestTwoProcessesLogBatch(t *testing.T) {
	root := filepath.Join(t.TempDir(), "mlruns")
	a, b := openT(t, root), openT(t, root)
	ctx := context.Background()
	r, err := a.CreateRun(ctx, tracking.NewRun{ExperimentID: "0", RunName: "r", StartTime: 1,
		Tags: []tracking.Tag{{Key: tracking.TagRunName, Value: "r"}}})
	must(t, err)
	id := r.Info.RunID
	eventually(t, "run visible to b", func() bool { _, err := b.GetRun(ctx, id); return err == nil })

	const n = 50
	var wg sync.WaitGroup
	errs := make([][]error, 2)
	for w, s := range []*Store{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range n {
				err := s.LogBatch(ctx, id,
					[]tracking.Metric{{Key: "m", Value: float64(i), Timestamp: int64(i), Step: int64(w)}},
					[]tracking.Param{{Key: fmt.Sprintf("p%d", i), Value: fmt.Sprintf("w%d", w)}}, nil)
				errs[w] = append(errs[w], err)
			}
		}()
	}
	wg.Wait()
	for i := range n {
		ea, eb := errs[0][i], errs[1][i]
		// Per param key exactly one writer may win; the other gets a conflict.
		if (ea == nil) == (eb == nil) {
			t.Errorf("p%d: errors %v / %v, want exactly one conflict", i, ea, eb)
		}
		for _, err := range []error{ea, eb} {
			if err != nil && tracking.Code(err) != tracking.ErrInvalidParameterValue {
				t.Errorf("p%d: %v", i, err)
			}
		}
	}
	h, err := a.GetMetricHistory(ctx, id, "m", 0, 0)
	must(t, err)
	// A losing batch writes nothing, so exactly n points survive.
	if len(h) != n {
		t.Errorf("history has %d points, want %d", len(h), n)
	}
	raw, _ := os.ReadFile(filepath.Join(root, "0", id, metricsDir, "m"))
	if lines := len(splitLines(raw)); lines != n {
		t.Errorf("metric file has %d lines, want %d", lines, n)
	}
}

func splitLines(b []byte) []string {
	var out []string
	start := 0
	for i, c := range b {
		if c == '\n' {
			out = append(out, string(b[start:i]))
			start = i + 1
		}
	}
	return out
}

// TestLogBatchAllOrNothing checks that a param conflict stops the whole
// batch, even when the conflicting value was written by another process
// and the index has not seen it yet.
func TestLogBatchAllOrNothing(t *testing.T) {
	root := filepath.Join(t.TempDir(), "mlruns")
	s := openT(t, root)
	ctx := t.Context()
	r, err := s.CreateRun(ctx, tracking.NewRun{ExperimentID: "0", RunName: "r", StartTime: 1,
		Tags: []tracking.Tag{{Key: tracking.TagRunName, Value: "r"}}})
	must(t, err)
	id := r.Info.RunID
	must(t, os.WriteFile(filepath.Join(root, "0", id, paramsDir, "p"), []byte("old"), 0o644))
	err = s.LogBatch(ctx, id, []tracking.Metric{{Key: "m", Value: 1}},
		[]tracking.Param{{Key: "q", Value: "1"}, {Key: "p", Value: "new"}}, []tracking.Tag{{Key: "t", Value: "v"}})
	if tracking.Code(err) != tracking.ErrInvalidParameterValue {
		t.Fatalf("err = %v, want INVALID_PARAMETER_VALUE", err)
	}
	for _, p := range []string{filepath.Join(metricsDir, "m"), filepath.Join(paramsDir, "q"), filepath.Join(tagsDir, "t")} {
		if _, err := os.Stat(filepath.Join(root, "0", id, p)); !os.IsNotExist(err) {
			t.Errorf("%s was written by a failed batch", p)
		}
	}
}

// TestTwoProcessesSameExperimentName races two stores creating one name:
// the root folder lock and the look at the disk let only one through.
func TestTwoProcessesSameExperimentName(t *testing.T) {
	root := filepath.Join(t.TempDir(), "mlruns")
	a, b := openT(t, root), openT(t, root)
	for i := range 20 {
		name := fmt.Sprintf("exp-%d", i)
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for w, s := range []*Store{a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[w] = s.CreateExperiment(context.Background(), tracking.NewExperiment{Name: name})
			}()
		}
		wg.Wait()
		if (errs[0] == nil) == (errs[1] == nil) {
			t.Fatalf("%s: errors %v / %v, want exactly one RESOURCE_ALREADY_EXISTS", name, errs[0], errs[1])
		}
	}
}
