package filestore

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/mltrack/mltrack/internal/store/storetest"
	"github.com/mltrack/mltrack/internal/tracking"
)

// openWithExperiment opens a store on a new folder with one experiment.
func openWithExperiment(t *testing.T, name string) (s *Store, root, exp string) {
	t.Helper()
	root = t.TempDir()
	s, err := Open(context.Background(), root, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if exp, err = s.CreateExperiment(context.Background(), tracking.NewExperiment{Name: name}); err != nil {
		t.Fatal(err)
	}
	return s, root, exp
}

// The chart endpoint over scans of metric files must answer exactly as the
// whole-history reduction does, for random histories and ranges, also when
// another program appended lines (duplicates included) to a file.
func TestHistoryDownsampleMatchesWholeReads(t *testing.T) {
	ctx := context.Background()
	s, root, exp := openWithExperiment(t, "h")
	rng := rand.New(rand.NewPCG(21, 22))
	special := []float64{0, 1, -1, math.NaN(), math.Inf(1), math.Inf(-1), math.Copysign(0, -1)}
	var runs []string
	for i := range 3 {
		r, err := s.CreateRun(ctx, tracking.NewRun{ExperimentID: exp, RunName: "r", StartTime: int64(i)})
		if err != nil {
			t.Fatal(err)
		}
		runs = append(runs, r.Info.RunID)
		step := rng.Int64N(100) - 50
		var batch []tracking.Metric
		for range 300 + rng.IntN(3000) {
			if rng.IntN(4) != 0 {
				step += 1 + rng.Int64N(5)
			}
			v := rng.NormFloat64()
			if rng.IntN(5) == 0 {
				v = special[rng.IntN(len(special))]
			}
			batch = append(batch, tracking.Metric{Key: "m", Value: v, Timestamp: rng.Int64N(3), Step: step})
			if len(batch) == tracking.MaxMetricsPerBatch {
				if err := s.LogBatch(ctx, r.Info.RunID, batch, nil, nil); err != nil {
					t.Fatal(err)
				}
				batch = nil
			}
		}
		if err := s.LogBatch(ctx, r.Info.RunID, batch, nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	// Lines another program wrote: a duplicate of a logged point and a new one.
	f, err := os.OpenFile(filepath.Join(root, exp, runs[0], metricsDir, "m"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	h, _ := s.GetMetricHistory(ctx, runs[0], "m", 0, 0)
	if _, err := f.WriteString("0 -1e9 7\n" + metricLine(h[len(h)/2])); err != nil {
		t.Fatal(err)
	}
	f.Close()

	svc := tracking.NewService(s, tracking.ServiceOptions{})
	appendLines := func(runID, text string) {
		t.Helper()
		f, err := os.OpenFile(filepath.Join(root, exp, runID, metricsDir, "m"), os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteString(text); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	partial := ""
	for trial := range 300 {
		// Between reads, the files grow: through this store, by another
		// program (any step), and by a line written in two parts.
		switch id := runs[rng.IntN(3)]; trial % 10 {
		case 3:
			if err := svc.LogBatch(ctx, id, []tracking.Metric{{Key: "m", Value: rng.NormFloat64(), Timestamp: 9, Step: rng.Int64N(5000)}}, nil, nil); err != nil {
				t.Fatal(err)
			}
		case 5:
			appendLines(id, fmt.Sprintf("7 %v %d\n5 1e12 %d\n", rng.NormFloat64(), rng.Int64N(6000)-200, rng.Int64N(3000)))
		case 7:
			partial = id
			appendLines(id, "8 -7e11 ")
		case 9:
			if partial != "" {
				appendLines(partial, "1234\n")
				partial = ""
			}
		}

		ids := []string{runs[rng.IntN(3)], runs[rng.IntN(3)], "ffffffffffffffffffffffffffffffff"}
		maxPoints := 4 + rng.IntN(400)
		lo, hi := int64(math.MinInt64), int64(math.MaxInt64)
		var start, end *int64
		if trial%2 == 1 {
			a, b := rng.Int64N(3000)-100, rng.Int64N(3000)-100
			lo, hi = min(a, b), max(a, b)
			start, end = &lo, &hi
		}
		storetest.CheckDownsampled(t, svc, s, ids, "m", start, end, maxPoints)
	}
}

// MetricLogStat and ScanMetricLog: a line still being written is neither
// read nor counted in the offset; the tail is the bytes before the offset.
func TestMetricLog(t *testing.T) {
	ctx := context.Background()
	s, root, exp := openWithExperiment(t, "l")
	r, err := s.CreateRun(ctx, tracking.NewRun{ExperimentID: exp, StartTime: 1})
	if err != nil {
		t.Fatal(err)
	}
	id := r.Info.RunID
	if _, ok, err := s.MetricLogStat(ctx, id, "m", 0); ok || err != nil {
		t.Fatalf("no file yet: ok %v, err %v", ok, err)
	}
	if _, ok, err := s.MetricLogStat(ctx, "ffffffffffffffffffffffffffffffff", "m", 0); ok || err != nil {
		t.Fatalf("unknown run: ok %v, err %v", ok, err)
	}
	ms := []tracking.Metric{{Key: "m", Value: 1.5, Timestamp: 10, Step: 0}, {Key: "m", Value: math.NaN(), Timestamp: 11, Step: 1}, {Key: "m", Value: math.Inf(-1), Timestamp: 12, Step: -4}}
	if err := s.LogBatch(ctx, id, ms, nil, nil); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(root, exp, id, metricsDir, "m")
	data, _ := os.ReadFile(path)
	scan := func(from int64) ([]tracking.StepPoint, int64, []byte) {
		t.Helper()
		var got []tracking.StepPoint
		end, tail, err := s.ScanMetricLog(ctx, id, "m", from, func(p tracking.StepPoint) error { got = append(got, p); return nil })
		if err != nil {
			t.Fatal(err)
		}
		return got, end, tail
	}
	got, end, tail := scan(0)
	if len(got) != 3 || got[0] != (tracking.StepPoint{Step: 0, Timestamp: 10, Value: 1.5}) || !math.IsNaN(got[1].Value) || got[2].Value != math.Inf(-1) || got[2].Step != -4 {
		t.Fatalf("points %+v", got)
	}
	if end != int64(len(data)) || string(tail) != string(data[max(0, len(data)-tracking.MetricLogTailBytes):]) {
		t.Fatalf("end %d tail %q, file %q", end, tail, data)
	}
	st, ok, err := s.MetricLogStat(ctx, id, "m", end)
	if !ok || err != nil || st.Size != end || string(st.Tail) != string(tail) {
		t.Fatalf("stat %+v ok %v err %v", st, ok, err)
	}
	// Half a line: the size grows, the scan reads nothing and stays put.
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString("13 2.5")
	if got, end2, _ := scan(end); len(got) != 0 || end2 != end {
		t.Fatalf("half line read: %+v, end %d (was %d)", got, end2, end)
	}
	if st, _, _ := s.MetricLogStat(ctx, id, "m", end); st.Size != end+6 || string(st.Tail) != string(tail) {
		t.Fatalf("stat with a half line %+v", st)
	}
	// Finished, with a 5-field line after it: both are read from end on.
	f.WriteString(" 7\n14 3 8 ds digest\n")
	f.Close()
	got, end3, _ := scan(end)
	if len(got) != 2 || got[0] != (tracking.StepPoint{Step: 7, Timestamp: 13, Value: 2.5}) || got[1] != (tracking.StepPoint{Step: 8, Timestamp: 14, Value: 3}) {
		t.Fatalf("appended points %+v", got)
	}
	data, _ = os.ReadFile(path)
	if end3 != int64(len(data)) {
		t.Fatalf("end %d, file of %d bytes", end3, len(data))
	}
	// A key that would be another path is refused before any file is
	// opened, as MLflow's file store refuses it on reads.
	for _, bad := range []string{"../../meta.yaml", "../params/p", "m/..", "/etc/passwd", "a\x00b"} {
		if _, _, err := s.MetricLogStat(ctx, id, bad, 0); tracking.Code(err) != tracking.ErrInvalidParameterValue {
			t.Errorf("stat %q: %v", bad, err)
		}
		if _, _, err := s.ScanMetricLog(ctx, id, bad, 0, func(tracking.StepPoint) error { return nil }); tracking.Code(err) != tracking.ErrInvalidParameterValue {
			t.Errorf("scan %q: %v", bad, err)
		}
		if _, err := s.GetMetricHistory(ctx, id, bad, 0, 0); tracking.Code(err) != tracking.ErrInvalidParameterValue {
			t.Errorf("history %q: %v", bad, err)
		}
	}
	// A key that is a folder of nested keys ("n" of "n/x") has no log.
	if err := s.LogBatch(ctx, id, []tracking.Metric{{Key: "n/x", Value: 1, Timestamp: 1, Step: 0}}, nil, nil); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := s.MetricLogStat(ctx, id, "n", 0); ok || err != nil {
		t.Fatalf("folder as a log: ok %v, err %v", ok, err)
	}
	if end, _, err := s.ScanMetricLog(ctx, id, "n", 0, func(tracking.StepPoint) error { t.Fatal("a point from a folder"); return nil }); err != nil || end != 0 {
		t.Fatalf("folder scanned: end %d, err %v", end, err)
	}
	// A malformed line is an error, as GetMetricHistory reports it.
	os.WriteFile(path, append(data, "15 x 9\n"...), 0o644)
	if _, _, err := s.ScanMetricLog(ctx, id, "m", end3, func(tracking.StepPoint) error { return nil }); err == nil {
		t.Fatal("malformed line read")
	}
}

// RecentMetricSeries: active runs of active experiments, newest first, keys
// in order, series whose latest step is below the bound left out.
func TestRecentMetricSeries(t *testing.T) {
	ctx := context.Background()
	s, _, exp := openWithExperiment(t, "a")
	gone, _ := s.CreateExperiment(ctx, tracking.NewExperiment{Name: "b"})
	mk := func(exp string, start int64, ms ...tracking.Metric) string {
		t.Helper()
		r, err := s.CreateRun(ctx, tracking.NewRun{ExperimentID: exp, StartTime: start})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.LogBatch(ctx, r.Info.RunID, ms, nil, nil); err != nil {
			t.Fatal(err)
		}
		return r.Info.RunID
	}
	old := mk(exp, 1, tracking.Metric{Key: "loss", Value: 1, Step: 5000})
	recent := mk(exp, 9, tracking.Metric{Key: "z", Value: 1, Step: 2000}, tracking.Metric{Key: "acc", Value: 1, Step: 3000}, tracking.Metric{Key: "short", Value: 1, Step: 10})
	deleted := mk(exp, 20, tracking.Metric{Key: "loss", Value: 1, Step: 5000})
	mk(gone, 30, tracking.Metric{Key: "loss", Value: 1, Step: 5000})
	if err := s.DeleteRun(ctx, deleted); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteExperiment(ctx, gone); err != nil {
		t.Fatal(err)
	}
	got, err := s.RecentMetricSeries(ctx, 1000, 10)
	if err != nil {
		t.Fatal(err)
	}
	want := []tracking.SeriesRef{{RunID: recent, Key: "acc"}, {RunID: recent, Key: "z"}, {RunID: old, Key: "loss"}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("series %v, want %v", got, want)
	}
	if got, _ := s.RecentMetricSeries(ctx, 1000, 2); len(got) != 2 {
		t.Fatalf("limit 2: %v", got)
	}
}

// Deleting a run or experiment tag whose key would name another file
// ("../meta.yaml") is refused before anything is removed.
func TestDeleteTagRefusesOtherPaths(t *testing.T) {
	ctx := context.Background()
	s, root, exp := openWithExperiment(t, "d")
	r, err := s.CreateRun(ctx, tracking.NewRun{ExperimentID: exp, StartTime: 1})
	if err != nil {
		t.Fatal(err)
	}
	id := r.Info.RunID
	for _, bad := range []string{"../meta.yaml", "../../meta.yaml", "x/../../meta.yaml", "/tmp/x", "a\x00b"} {
		if err := s.DeleteTag(ctx, id, bad); tracking.Code(err) != tracking.ErrInvalidParameterValue {
			t.Errorf("delete run tag %q: %v", bad, err)
		}
		if err := s.DeleteExperimentTag(ctx, exp, bad); tracking.Code(err) != tracking.ErrInvalidParameterValue {
			t.Errorf("delete experiment tag %q: %v", bad, err)
		}
	}
	for _, f := range []string{filepath.Join(root, exp, id, "meta.yaml"), filepath.Join(root, exp, "meta.yaml")} {
		if _, err := os.Stat(f); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
	}
	if _, err := s.GetRun(ctx, id); err != nil {
		t.Fatal(err)
	}
}
