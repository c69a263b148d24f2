package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"testing"

	"github.com/mltrack/mltrack/internal/search"
	"github.com/mltrack/mltrack/internal/tracking"
)

// BenchmarkLogBatch1000Metrics logs batches of 1000 metric points to one run;
// the points/s metric is what the HTTP benchmark's target refers to.
func BenchmarkLogBatch1000Metrics(b *testing.B) {
	for name, open := range benchOpeners() {
		b.Run(name, func(b *testing.B) {
			s := open(b)
			ctx := context.Background()
			run, err := s.CreateRun(ctx, tracking.NewRun{ExperimentID: "0", StartTime: 1})
			if err != nil {
				b.Fatal(err)
			}
			ms := make([]tracking.Metric, 1000)
			b.ResetTimer()
			for i := range b.N {
				for j := range ms {
					ms[j] = tracking.Metric{Key: fmt.Sprintf("m%d", j%10), Value: float64(j), Timestamp: int64(i), Step: int64(i*100 + j/10)}
				}
				if err := s.LogBatch(ctx, run.Info.RunID, ms, nil, nil); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*len(ms))/b.Elapsed().Seconds(), "points/s")
		})
	}
}

// BenchmarkSearchRuns10k searches 10,000 runs (10 params, 10 metrics, 5 tags
// each) with a metric filter and a metric order_by, one 100-run page.
func BenchmarkSearchRuns10k(b *testing.B) {
	for name, open := range benchOpeners() {
		b.Run(name, func(b *testing.B) {
			s := open(b)
			ctx := context.Background()
			seedRuns(b, s, 10000)
			q := tracking.RunQuery{
				ExperimentIDs: []string{"0"},
				Filter:        search.Filter{{Entity: search.EntityMetric, Key: "m3", Op: search.OpGt, Value: search.Value{Kind: search.ValueNumber, Num: 0.5}}},
				OrderBy:       []search.OrderBy{{Entity: search.EntityMetric, Key: "m7"}},
				Limit:         100,
			}
			b.ResetTimer()
			for range b.N {
				runs, err := s.SearchRuns(ctx, q)
				if err != nil {
					b.Fatal(err)
				}
				if len(runs) != 100 || len(runs[0].Data.Params) != 10 {
					b.Fatalf("got %d runs", len(runs))
				}
			}
		})
	}
}

func benchOpeners() map[string]func(testing.TB) *Store {
	return map[string]func(testing.TB) *Store{"sqlite": openSQLiteTB, "postgres": openPostgresTB}
}

// seedRuns writes n runs directly in one transaction; the API path is what
// the other benchmarks measure.
func seedRuns(tb testing.TB, s *Store, n int) {
	ctx := context.Background()
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		for i := range n {
			id := newRunID()
			if _, err := tx.ExecContext(ctx, s.rebind(`INSERT INTO runs (run_uuid, name, source_type, source_name, entry_point_name, user_id, status,
				start_time, source_version, lifecycle_stage, artifact_uri, experiment_id) VALUES (?, ?, 'UNKNOWN', '', '', 'u', 'RUNNING', ?, '', 'active', 'x', 0)`),
				id, fmt.Sprintf("run-%d", i), int64(i)); err != nil {
				return err
			}
			var ms []tracking.Metric
			var ps []tracking.Param
			var ts []tracking.Tag
			for k := range 10 {
				ms = append(ms, tracking.Metric{Key: fmt.Sprintf("m%d", k), Value: float64((i*7+k*13)%1000) / 1000, Timestamp: 1, Step: 0})
				ps = append(ps, tracking.Param{Key: fmt.Sprintf("p%d", k), Value: fmt.Sprint(i % 17)})
			}
			for k := range 5 {
				ts = append(ts, tracking.Tag{Key: fmt.Sprintf("t%d", k), Value: fmt.Sprint(i % 5)})
			}
			if err := s.logParams(ctx, tx, id, ps); err != nil {
				return err
			}
			if err := s.logMetrics(ctx, tx, id, ms); err != nil {
				return err
			}
			if err := s.setRunTags(ctx, tx, id, ts); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	// Steady state: SQLite has checkpointed, PostgreSQL has statistics.
	stmt := "PRAGMA wal_checkpoint(TRUNCATE)"
	if s.d == dialectPostgres {
		stmt = "ANALYZE"
	}
	if _, err := s.w.ExecContext(ctx, stmt); err != nil {
		tb.Fatal(err)
	}
}

// BenchmarkMetricHistoryManyRuns reads one run's history of a key that 50
// runs share (20,000 points each), the shape of a chart of a long training
// metric such as "loss": the read must cost this run's points, not all runs'.
func BenchmarkMetricHistoryManyRuns(b *testing.B) {
	for name, open := range benchOpeners() {
		b.Run(name, func(b *testing.B) {
			s := open(b)
			ctx := context.Background()
			var ids []string
			ms := make([]tracking.Metric, 1000)
			for r := 0; r < 50; r++ {
				run, err := s.CreateRun(ctx, tracking.NewRun{ExperimentID: "0", StartTime: 1})
				if err != nil {
					b.Fatal(err)
				}
				ids = append(ids, run.Info.RunID)
				for i := 0; i < 20; i++ {
					for j := range ms {
						step := int64(i*1000 + j)
						ms[j] = tracking.Metric{Key: "loss", Value: 1 / float64(step+1), Timestamp: 1700000000000 + step, Step: step}
					}
					if err := s.LogBatch(ctx, run.Info.RunID, ms, nil, nil); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ResetTimer()
			for i := range b.N {
				hist, err := s.GetMetricHistory(ctx, ids[i%len(ids)], "loss", 0, 0)
				if err != nil {
					b.Fatal(err)
				}
				if len(hist) != 20000 {
					b.Fatalf("got %d points", len(hist))
				}
			}
		})
	}
}
