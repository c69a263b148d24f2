package filestore

import (
	"context"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/mltrack/mltrack/internal/tracking"
)

// The chart endpoint over scans of metric files must answer exactly as the
// whole-history reduction does, for random histories and ranges, also when
// another program appended lines (duplicates included) to a file.
func TestHistoryDownsampleMatchesWholeReads(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	s, err := Open(ctx, root, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	exp, err := s.CreateExperiment(ctx, tracking.NewExperiment{Name: "h"})
	if err != nil {
		t.Fatal(err)
	}
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
	for trial := range 150 {
		ids := []string{runs[rng.IntN(3)], runs[rng.IntN(3)], "ffffffffffffffffffffffffffffffff"}
		maxPoints := 4 + rng.IntN(400)
		lo, hi := int64(math.MinInt64), int64(math.MaxInt64)
		var start, end *int64
		if trial%2 == 1 {
			a, b := rng.Int64N(3000)-100, rng.Int64N(3000)-100
			lo, hi = min(a, b), max(a, b)
			start, end = &lo, &hi
		}
		got, err := svc.GetMetricHistoryDownsampled(ctx, ids, "m", start, end, maxPoints)
		if err != nil {
			t.Fatal(err)
		}
		var want []tracking.Metric
		for _, id := range ids {
			hist, err := s.GetMetricHistory(ctx, id, "m", 0, 0)
			if err != nil {
				t.Fatal(err)
			}
			var in []tracking.Metric
			for _, m := range hist {
				if m.Step >= lo && m.Step <= hi {
					in = append(in, m)
				}
			}
			for _, m := range tracking.Downsample(in, maxPoints) {
				m.RunID = id
				want = append(want, m)
			}
		}
		if len(got) != len(want) {
			t.Fatalf("trial %d: %d points, want %d", trial, len(got), len(want))
		}
		for i := range got {
			g, w := got[i], want[i]
			same := g.Value == w.Value || (math.IsNaN(g.Value) && math.IsNaN(w.Value))
			if !same || math.Signbit(g.Value) != math.Signbit(w.Value) || g.Step != w.Step || g.Timestamp != w.Timestamp || g.RunID != w.RunID {
				t.Fatalf("trial %d: point %d = %+v, want %+v", trial, i, g, w)
			}
		}
	}
}
