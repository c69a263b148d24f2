package filestore

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mltrack/mltrack/internal/search"
	"github.com/mltrack/mltrack/internal/tracking"
)

// generateMlruns writes nExp experiments with nRuns runs in total straight
// to disk in MLflow's format (much faster than going through a Store): each
// run has 5 params, 5 tags and 3 metrics of 20 points.
func generateMlruns(tb testing.TB, root string, nExp, nRuns int) []string {
	tb.Helper()
	s := &Store{root: root, artifactRoot: fileURI(root)}
	var expIDs []string
	for e := range nExp {
		id := fmt.Sprint(100000000000000000 + e)
		expIDs = append(expIDs, id)
		meta := experimentMeta{Experiment: tracking.Experiment{ID: id, Name: "exp-" + id,
			ArtifactLocation: appendURIPath(s.artifactRoot, id), LifecycleStage: tracking.LifecycleActive,
			CreationTime: int64(e), LastUpdateTime: int64(e)}}
		dir := filepath.Join(root, id)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, metaFile), experimentYAML(meta, nil, false), 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(root, trashDir), 0o755); err != nil {
		tb.Fatal(err)
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for i := range nRuns {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			exp := expIDs[i%nExp]
			runID := fmt.Sprintf("%032x", i+1)
			dir := filepath.Join(root, exp, runID)
			end := int64(2000 + i)
			meta := runMeta{RunInfo: tracking.RunInfo{RunID: runID, RunName: fmt.Sprintf("run-%d", i),
				ExperimentID: exp, UserID: fmt.Sprintf("user%d", i%7), Status: tracking.StatusFinished,
				StartTime: int64(1000 + i%5000), EndTime: &end,
				ArtifactURI:    appendURIPath(fileURI(root), exp, runID, artifactsDir),
				LifecycleStage: tracking.LifecycleActive}}
			files := map[string]string{metaFile: string(runYAML(meta))}
			for p := range 5 {
				files[filepath.Join(paramsDir, fmt.Sprintf("param_%d", p))] = fmt.Sprint((i + p) % 13)
				files[filepath.Join(tagsDir, fmt.Sprintf("tag_%d", p))] = fmt.Sprintf("v%d", (i*p)%11)
			}
			files[filepath.Join(tagsDir, tracking.TagRunName)] = meta.RunName
			for m := range 3 {
				var b strings.Builder
				for step := range 20 {
					b.WriteString(metricLine(tracking.Metric{Value: float64((i*7+step*m)%1000) / 10,
						Timestamp: int64(step), Step: int64(step)}))
				}
				files[filepath.Join(metricsDir, fmt.Sprintf("metric_%d", m))] = b.String()
			}
			for name, data := range files {
				p := filepath.Join(dir, name)
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					tb.Error(err)
					return
				}
				if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
					tb.Error(err)
					return
				}
			}
			if err := os.MkdirAll(filepath.Join(dir, artifactsDir), 0o755); err != nil {
				tb.Error(err)
			}
		}()
	}
	wg.Wait()
	return expIDs
}

var benchDir struct {
	once sync.Once
	root string
	exps []string
}

// TestMain removes the shared benchmark folder, which outlives any single
// benchmark and so cannot use b.TempDir.
func TestMain(m *testing.M) {
	code := m.Run()
	if benchDir.root != "" {
		_ = os.RemoveAll(filepath.Dir(benchDir.root))
	}
	os.Exit(code)
}

// bench10k generates the 10,000-run folder once per test binary.
func bench10k(b *testing.B) (string, []string) {
	benchDir.once.Do(func() {
		dir, err := os.MkdirTemp("", "filestore-bench-")
		if err != nil {
			b.Fatal(err)
		}
		benchDir.root = filepath.Join(dir, "mlruns")
		benchDir.exps = generateMlruns(b, benchDir.root, 10, 10000)
	})
	return benchDir.root, benchDir.exps
}

// BenchmarkOpen10k measures the index load of 10 experiments / 10,000 runs.
//
//	go test -run XXX -bench 10k ./internal/store/filestore/
func BenchmarkOpen10k(b *testing.B) {
	root, _ := bench10k(b)
	before := cpuTime()
	for b.Loop() {
		s, err := Open(context.Background(), root, Options{})
		if err != nil {
			b.Fatal(err)
		}
		if len(s.runs) != 10000 {
			b.Fatalf("indexed %d runs", len(s.runs))
		}
		s.Close()
	}
	b.ReportMetric(float64((cpuTime()-before).Milliseconds())/float64(b.N), "cpu-ms/op")
}

// BenchmarkSearch10k is a filter plus order over all 10,000 runs, returning
// a 100-run page.
func BenchmarkSearch10k(b *testing.B) {
	root, exps := bench10k(b)
	s, err := Open(context.Background(), root, Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	q := tracking.RunQuery{
		ExperimentIDs: exps, ViewType: tracking.ViewActiveOnly, Limit: 100,
		Filter: search.Filter{
			{Entity: search.EntityMetric, Key: "metric_1", Op: search.OpGt, Value: search.Value{Kind: search.ValueNumber, Num: 10}},
			{Entity: search.EntityParam, Key: "param_0", Op: search.OpNe, Value: search.Value{Kind: search.ValueString, Str: "3"}},
			{Entity: search.EntityTag, Key: "tag_1", Op: search.OpLike, Value: search.Value{Kind: search.ValueString, Str: "v%"}},
		},
		OrderBy: []search.OrderBy{{Entity: search.EntityMetric, Key: "metric_2", Ascending: false}},
	}
	// The machine may be shared: CPU time per search says more than wall time.
	before := cpuTime()
	for b.Loop() {
		runs, err := s.SearchRuns(context.Background(), q)
		if err != nil || len(runs) != 100 {
			b.Fatalf("%d runs, %v", len(runs), err)
		}
	}
	b.ReportMetric(float64((cpuTime()-before).Microseconds())/1000/float64(b.N), "cpu-ms/op")
}

func cpuTime() time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
