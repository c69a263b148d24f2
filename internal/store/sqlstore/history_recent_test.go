package sqlstore

import (
	"context"
	"errors"
	"math"
	"slices"
	"testing"

	"github.com/mltrack/mltrack/internal/tracking"
)

func TestRecentMetricSeries(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		exp, err := s.CreateExperiment(ctx, tracking.NewExperiment{Name: "recent"})
		if err != nil {
			t.Fatal(err)
		}
		gone, err := s.CreateExperiment(ctx, tracking.NewExperiment{Name: "gone"})
		if err != nil {
			t.Fatal(err)
		}
		log := func(id string, key string, steps ...int64) {
			t.Helper()
			var ms []tracking.Metric
			for _, st := range steps {
				ms = append(ms, tracking.Metric{Key: key, Value: float64(st), Timestamp: 10 + st, Step: st})
			}
			if err := s.LogBatch(ctx, id, ms, nil, nil); err != nil {
				t.Fatal(err)
			}
		}
		r1, r2, r3 := mustRun(t, s, exp, 100), mustRun(t, s, exp, 300), mustRun(t, s, exp, 200)
		deleted, inGone, noStart := mustRun(t, s, exp, 400), mustRun(t, s, gone, 500), mustRun(t, s, exp, 600)
		log(r1, "loss", 0, 1, 2, 3, 4, 5)
		log(r1, "acc", 0)
		log(r2, "b", 10)
		log(r2, "a", 0, 20)
		log(r3, "x", 3)
		log(deleted, "loss", 50)
		log(inGone, "loss", 50)
		log(noStart, "loss", 50)
		if err := s.DeleteRun(ctx, deleted); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteExperiment(ctx, gone); err != nil {
			t.Fatal(err)
		}
		// MLflow's schema lets start_time be NULL (runs made by other tools).
		if _, err := s.w.ExecContext(ctx, s.rebind(`UPDATE runs SET start_time = NULL WHERE run_uuid = ?`), noStart); err != nil {
			t.Fatal(err)
		}
		tests := []struct {
			name    string
			minStep int64
			limit   int
			want    []tracking.SeriesRef
		}{
			{"all, newest first, keys in order, no start last", 0, 100, []tracking.SeriesRef{
				{RunID: r2, Key: "a"}, {RunID: r2, Key: "b"}, {RunID: r3, Key: "x"}, {RunID: r1, Key: "acc"}, {RunID: r1, Key: "loss"}, {RunID: noStart, Key: "loss"}}},
			{"latest step filter before the limit", 5, 3, []tracking.SeriesRef{
				{RunID: r2, Key: "a"}, {RunID: r2, Key: "b"}, {RunID: r1, Key: "loss"}}},
			{"limit", 0, 2, []tracking.SeriesRef{{RunID: r2, Key: "a"}, {RunID: r2, Key: "b"}}},
			{"nothing long enough", 1000, 10, nil},
			{"no limit, no series", 0, 0, nil},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				got, err := s.RecentMetricSeries(ctx, tt.minStep, tt.limit)
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(got, tt.want) {
					t.Fatalf("got %v\nwant %v", got, tt.want)
				}
			})
		}
	})
}

// The start-up warm-up against the real databases: a server that did not
// write the histories warms the newest runs within 3/4 of its budget, and
// their charts then read only edge blocks and equal a whole read.
func TestHistoryCacheWarmUp(t *testing.T) {
	for name, pair := range openHistoryPairs(t) {
		t.Run(name, func(t *testing.T) {
			s, _ := pair(t)
			ctx := context.Background()
			exp, err := s.CreateExperiment(ctx, tracking.NewExperiment{Name: "warm"})
			if err != nil {
				t.Fatal(err)
			}
			// Runs started at 1..4, 5,000 steps each, and a newer run with a
			// short series. At 1,000 points an entry has 5,000 one-step
			// blocks: 320,256 bytes. A budget of 1,300,000 bytes keeps an
			// entry that size (a quarter) and fills to 975,000: three.
			var runs []string
			for i := range 4 {
				id := mustRun(t, s, exp, int64(1+i))
				runs = append(runs, id)
				ms := make([]tracking.Metric, 5000)
				for st := range ms {
					ms[st] = tracking.Metric{Key: "loss", Value: math.Sin(float64(st)/30 + float64(i)), Timestamp: 1000 + int64(st), Step: int64(st)}
				}
				ms[1234].Value = math.NaN()
				ms[4321].Value = 1e6
				logAll(t, func(b []tracking.Metric) error { return s.LogBatch(ctx, id, b, nil, nil) }, ms)
			}
			short := mustRun(t, s, exp, 9)
			if err := s.LogBatch(ctx, short, []tracking.Metric{{Key: "acc", Value: 1, Timestamp: 1, Step: 0}}, nil, nil); err != nil {
				t.Fatal(err)
			}
			cs := &scanCounter{Store: s}
			svc := tracking.NewService(cs, tracking.ServiceOptions{HistoryCacheBytes: 1_300_000})

			cancelled, cancel := context.WithCancel(ctx)
			cancel()
			if _, err := svc.WarmHistoryCache(cancelled); !errors.Is(err, context.Canceled) || cs.scanned.Load() != 0 {
				t.Fatalf("cancelled warm-up: %v, %d points read", err, cs.scanned.Load())
			}

			rep, err := svc.WarmHistoryCache(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Warmed != 3 || rep.Stopped != "full" || rep.Candidates != 4 || cs.scanned.Load() != 3*5000 {
				t.Fatalf("warm-up %+v, %d points read; want the three newest runs read once", rep, cs.scanned.Load())
			}
			cs.scanned.Store(0)
			checkHistory(t, svc, s, runs[1:], "loss", nil, nil, 1000)
			if n := cs.scanned.Load(); n > 3*2*16 {
				t.Fatalf("chart of the warmed runs scanned %d points, want edge blocks only", n)
			}
			// The oldest run was not warmed: its first chart reads it all.
			cs.scanned.Store(0)
			checkHistory(t, svc, s, runs[:1], "loss", nil, nil, 1000)
			if n := cs.scanned.Load(); n != 5000 {
				t.Fatalf("chart of the run not warmed scanned %d points, want 5000", n)
			}
		})
	}
}
