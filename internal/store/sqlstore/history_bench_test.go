package sqlstore

import (
	"context"
	"encoding/json"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/mltrack/mltrack/internal/tracking"
)

// BenchmarkHistoryDownsampled compares the three ways Service reads a chart
// of 10 runs x 20,000 steps on SQLite: reading whole histories (a store
// without the scan capability, as before decision 0007), scanning step
// ranges (cold: an empty cache every time), and the history cache (warm).
func BenchmarkHistoryDownsampled(b *testing.B) {
	ctx := context.Background()
	s := openSQLiteTB(b)
	exp, err := s.CreateExperiment(ctx, tracking.NewExperiment{Name: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	var runs []string
	for r := range 10 {
		run, err := s.CreateRun(ctx, tracking.NewRun{ExperimentID: exp, StartTime: int64(r)})
		if err != nil {
			b.Fatal(err)
		}
		runs = append(runs, run.Info.RunID)
		batch := make([]tracking.Metric, 0, tracking.MaxMetricsPerBatch)
		for step := range int64(20_000) {
			batch = append(batch, tracking.Metric{Key: "loss", Value: math.Sin(float64(step)/50 + float64(r)), Timestamp: step, Step: step})
			if len(batch) == cap(batch) {
				if err := s.LogBatch(ctx, run.Info.RunID, batch, nil, nil); err != nil {
					b.Fatal(err)
				}
				batch = batch[:0]
			}
		}
	}
	read := func(b *testing.B, svc *tracking.Service) {
		if _, err := svc.GetMetricHistoryDownsampled(ctx, runs, "loss", nil, nil, 1000); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("whole-read", func(b *testing.B) {
		svc := tracking.NewService(struct{ tracking.Store }{s}, tracking.ServiceOptions{})
		for b.Loop() {
			read(b, svc)
		}
	})
	b.Run("scan-cold", func(b *testing.B) {
		for b.Loop() {
			read(b, tracking.NewService(s, tracking.ServiceOptions{}))
		}
	})
	b.Run("cached", func(b *testing.B) {
		svc := tracking.NewService(s, tracking.ServiceOptions{})
		read(b, svc)
		for b.Loop() {
			read(b, svc)
		}
	})
}

// BenchmarkHistoryChartPerfDB times the chart read of the UI benchmark's
// data set: fill it with `PERF_DATA=dir OUT_DIR=dir/out FILL_ONLY=1 bash
// tests/browser/perf.sh`, then set MLTRACK_PERF_DATA=dir. Cold is a fresh
// Service (empty cache) per iteration; warm reuses one.
func BenchmarkHistoryChartPerfDB(b *testing.B) {
	dir := os.Getenv("MLTRACK_PERF_DATA")
	if dir == "" {
		b.Skip("MLTRACK_PERF_DATA is not set")
	}
	raw, err := os.ReadFile(filepath.Join(dir, "out", "perf-ids.json"))
	if err != nil {
		b.Fatal(err)
	}
	var ids struct{ ChartRuns []string }
	if err := json.Unmarshal(raw, &ids); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	s, err := Open(ctx, "sqlite:///"+filepath.Join(dir, "m.db"), Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	read := func(b *testing.B, svc *tracking.Service) {
		if _, err := svc.GetMetricHistoryDownsampled(ctx, ids.ChartRuns, "loss", nil, nil, 1000); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("cold", func(b *testing.B) {
		for b.Loop() {
			read(b, tracking.NewService(s, tracking.ServiceOptions{}))
		}
	})
	b.Run("warm", func(b *testing.B) {
		svc := tracking.NewService(s, tracking.ServiceOptions{})
		read(b, svc)
		for b.Loop() {
			read(b, svc)
		}
	})
}
