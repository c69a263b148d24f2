package sqlstore

import (
	"context"
	"log/slog"
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/mltrack/mltrack/internal/store/storetest"
	"github.com/mltrack/mltrack/internal/tracking"
)

// openHistoryPairs opens, per dialect, two stores on one database: the
// server under test and another process writing to the same database.
func openHistoryPairs(t *testing.T) map[string]func(t *testing.T) (*Store, *Store) {
	open := func(t *testing.T, uri string) *Store {
		s, err := Open(context.Background(), uri, Options{DefaultArtifactRoot: filepath.Join(t.TempDir(), "mlruns"), Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	return map[string]func(t *testing.T) (*Store, *Store){
		"sqlite": func(t *testing.T) (*Store, *Store) {
			uri := "sqlite:///" + filepath.Join(t.TempDir(), "mlflow.db")
			return open(t, uri), open(t, uri)
		},
		"postgres": func(t *testing.T) (*Store, *Store) {
			uri := createTestPostgresDB(t)
			return open(t, uri), open(t, uri)
		},
	}
}

func checkHistory(t *testing.T, svc *tracking.Service, s *Store, runIDs []string, key string, start, end *int64, maxPoints int) {
	t.Helper()
	storetest.CheckDownsampled(t, svc, s, runIDs, key, start, end, maxPoints)
}

// randomPoints makes n points with duplicate, sparse and negative steps,
// repeated values, NaN, ±Inf and -0.
func randomPoints(rng *rand.Rand, key string, from int64, n int) []tracking.Metric {
	special := []float64{0, 1, -1, math.NaN(), math.Inf(1), math.Inf(-1), math.Copysign(0, -1)}
	ties := rng.IntN(2) == 0
	step := from
	out := make([]tracking.Metric, n)
	for i := range out {
		if rng.IntN(4) != 0 {
			step += 1 + rng.Int64N([]int64{1, 3, 500}[rng.IntN(3)])
		}
		v := rng.NormFloat64()
		if ties || rng.IntN(40) == 0 {
			v = special[rng.IntN(len(special))]
		}
		out[i] = tracking.Metric{Key: key, Value: v, Timestamp: 1000 + rng.Int64N(4), Step: step}
	}
	return out
}

func logAll(t *testing.T, log func([]tracking.Metric) error, ms []tracking.Metric) {
	t.Helper()
	for len(ms) > 0 {
		n := min(len(ms), tracking.MaxMetricsPerBatch)
		if err := log(ms[:n]); err != nil {
			t.Fatal(err)
		}
		ms = ms[n:]
	}
}

func TestHistoryDownsampleMatchesWholeReads(t *testing.T) {
	for name, pair := range openHistoryPairs(t) {
		t.Run(name, func(t *testing.T) {
			s, other := pair(t)
			ctx := context.Background()
			exp, err := s.CreateExperiment(ctx, tracking.NewExperiment{Name: "h"})
			if err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(11, 12))
			svc := tracking.NewService(s, tracking.ServiceOptions{})
			runs := []string{mustRun(t, s, exp, 1), mustRun(t, s, exp, 2), mustRun(t, s, exp, 3)}
			maxStep := map[string]int64{}
			for _, id := range runs {
				ms := randomPoints(rng, "m", rng.Int64N(200)-100, 500+rng.IntN(4000))
				logAll(t, func(b []tracking.Metric) error { return s.LogBatch(ctx, id, b, nil, nil) }, ms)
				maxStep[id] = ms[len(ms)-1].Step
			}
			for op := 0; op < 120; op++ {
				id := runs[rng.IntN(len(runs))]
				switch r := rng.IntN(10); {
				case r < 6:
					ids := []string{runs[rng.IntN(3)], runs[rng.IntN(3)], "00000000000000000000000000000000"}
					maxPoints := 4 + rng.IntN(300)
					if rng.IntN(2) == 0 {
						checkHistory(t, svc, s, ids, "m", nil, nil, maxPoints)
						continue
					}
					a, b := rng.Int64N(maxStep[id]+300)-200, rng.Int64N(maxStep[id]+300)-200
					lo, hi := min(a, b), max(a, b)
					checkHistory(t, svc, s, ids, "m", &lo, &hi, maxPoints)
				case r < 8: // this server appends, or writes into the past
					from := maxStep[id]
					if rng.IntN(3) == 0 {
						from = rng.Int64N(from + 1)
					}
					ms := randomPoints(rng, "m", from, 1+rng.IntN(200))
					logAll(t, func(b []tracking.Metric) error { return svc.LogBatch(ctx, id, b, nil, nil) }, ms)
					maxStep[id] = max(maxStep[id], ms[len(ms)-1].Step)
				default: // another process appends
					ms := randomPoints(rng, "m", maxStep[id], 1+rng.IntN(50))
					logAll(t, func(b []tracking.Metric) error { return other.LogBatch(ctx, id, b, nil, nil) }, ms)
					maxStep[id] = ms[len(ms)-1].Step
				}
			}
		})
	}
}

// A cached history must follow writes by another process on the same
// database: appends (they change latest_metrics) and points before its
// first step (they do not, but widen the step range).
func TestHistoryCacheSeesAnotherWriter(t *testing.T) {
	for name, pair := range openHistoryPairs(t) {
		t.Run(name, func(t *testing.T) {
			s, other := pair(t)
			ctx := context.Background()
			exp, err := s.CreateExperiment(ctx, tracking.NewExperiment{Name: "h"})
			if err != nil {
				t.Fatal(err)
			}
			id := mustRun(t, s, exp, 1)
			ms := make([]tracking.Metric, 20_000)
			for i := range ms {
				ms[i] = tracking.Metric{Key: "loss", Value: math.Sin(float64(i) / 30), Timestamp: int64(i), Step: int64(i + 100)}
			}
			logAll(t, func(b []tracking.Metric) error { return s.LogBatch(ctx, id, b, nil, nil) }, ms)
			svc := tracking.NewService(s, tracking.ServiceOptions{})
			checkHistory(t, svc, s, []string{id}, "loss", nil, nil, 500)
			for _, batch := range [][]tracking.Metric{
				{{Key: "loss", Value: 50, Timestamp: 1, Step: 25_000}},  // newer: a new latest point
				{{Key: "loss", Value: -50, Timestamp: 2, Step: 25_000}}, // same step, later
				{{Key: "loss", Value: -70, Timestamp: 5, Step: 3}},      // before the first step
				{{Key: "loss", Value: 90, Timestamp: 0, Step: 100_000}}, // far after: a new block range
				// A point among the cached steps with an append: the cache's
				// count before its last block no longer matches the store's.
				{{Key: "loss", Value: 1e6, Timestamp: 7, Step: 10_007}, {Key: "loss", Value: 1, Timestamp: 7, Step: 100_001}},
			} {
				m := batch[0]
				before, err := svc.GetMetricHistoryDownsampled(ctx, []string{id}, "loss", nil, nil, 500)
				if err != nil {
					t.Fatal(err)
				}
				if err := other.LogBatch(ctx, id, batch, nil, nil); err != nil {
					t.Fatal(err)
				}
				checkHistory(t, svc, s, []string{id}, "loss", nil, nil, 500)
				after, _ := svc.GetMetricHistoryDownsampled(ctx, []string{id}, "loss", nil, nil, 500)
				if len(after) == len(before) && after[0] == before[0] && after[len(after)-1] == before[len(before)-1] && !hasPoint(after, m) {
					t.Fatalf("the other writer's %+v is not in the chart", m)
				}
			}
		})
	}
}

func hasPoint(ms []tracking.Metric, m tracking.Metric) bool {
	for _, p := range ms {
		if p.Step == m.Step && p.Timestamp == m.Timestamp && p.Value == m.Value {
			return true
		}
	}
	return false
}

func TestHistoryStepBoundsAndScan(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		exp, err := s.CreateExperiment(ctx, tracking.NewExperiment{Name: "b"})
		if err != nil {
			t.Fatal(err)
		}
		id := mustRun(t, s, exp, 1)
		ms := []tracking.Metric{
			{Key: "k", Value: 1, Timestamp: 1, Step: math.MinInt64},
			{Key: "k", Value: math.NaN(), Timestamp: 2, Step: -3},
			{Key: "k", Value: math.Inf(1), Timestamp: 3, Step: 7},
			{Key: "k", Value: 2, Timestamp: 4, Step: 7},
			{Key: "k", Value: 3, Timestamp: 5, Step: math.MaxInt64},
			{Key: "other", Value: 9, Timestamp: 5, Step: 8},
		}
		if err := s.LogBatch(ctx, id, ms, nil, nil); err != nil {
			t.Fatal(err)
		}
		tests := []struct {
			lo, hi      int64
			first, last int64
			n           int
		}{
			{math.MinInt64, math.MaxInt64, math.MinInt64, math.MaxInt64, 5},
			{-3, 7, -3, 7, 3},
			{0, 100, 7, 7, 2},
			{8, 100, 0, 0, 0},
		}
		for _, tt := range tests {
			first, last, ok, err := s.MetricStepBounds(ctx, id, "k", tt.lo, tt.hi)
			if err != nil {
				t.Fatal(err)
			}
			if ok != (tt.n > 0) || (ok && (first != tt.first || last != tt.last)) {
				t.Errorf("bounds %d..%d = %d, %d, %v", tt.lo, tt.hi, first, last, ok)
			}
			var got []tracking.StepPoint
			if err := s.ScanMetricSteps(ctx, id, "k", tt.lo, tt.hi, func(p tracking.StepPoint) error { got = append(got, p); return nil }); err != nil {
				t.Fatal(err)
			}
			if len(got) != tt.n {
				t.Errorf("scan %d..%d = %v, want %d points", tt.lo, tt.hi, got, tt.n)
			}
			if n, err := s.CountMetricSteps(ctx, id, "k", tt.lo, tt.hi); err != nil || n != int64(tt.n) {
				t.Errorf("count %d..%d = %d, %v; want %d", tt.lo, tt.hi, n, err, tt.n)
			}
			for _, p := range got {
				if p.Step == -3 && !math.IsNaN(p.Value) {
					t.Errorf("NaN point read as %v", p.Value)
				}
			}
		}
		if _, _, ok, err := s.MetricStepBounds(ctx, "nope", "k", math.MinInt64, math.MaxInt64); ok || err != nil {
			t.Errorf("unknown run: ok %v err %v", ok, err)
		}
		latest, err := s.LatestMetrics(ctx, []string{id, "nope"}, "k")
		if err != nil {
			t.Fatal(err)
		}
		if p, ok := latest[id]; len(latest) != 1 || !ok || p.Step != math.MaxInt64 || p.Timestamp != 5 || p.Value != 3 {
			t.Errorf("latest = %+v", latest)
		}
	})
}
