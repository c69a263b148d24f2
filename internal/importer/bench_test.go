package importer_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/mltrack/mltrack/internal/importer"
)

// writeBenchMlruns writes runs in MLflow 3.18's mlruns layout directly (as
// bench/filestore does, smaller): 10 metrics of 100 steps, 10 params and 5
// tags per run.
func writeBenchMlruns(tb testing.TB, root string, runs int) {
	tb.Helper()
	const expID = "123456789012345678"
	expDir := filepath.Join(root, expID)
	for _, d := range []string{filepath.Join(root, ".trash"), expDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			tb.Fatal(err)
		}
	}
	meta := fmt.Sprintf("artifact_location: file://%s\ncreation_time: %d\nexperiment_id: '%s'\nlast_update_time: %d\n"+
		"lifecycle_stage: active\nname: bench\n", expDir, t0, expID, t0)
	if err := os.WriteFile(filepath.Join(expDir, "meta.yaml"), []byte(meta), 0o644); err != nil {
		tb.Fatal(err)
	}
	var buf bytes.Buffer
	for i := range runs {
		id := fmt.Sprintf("%032x", i+1)
		dir := filepath.Join(expDir, id)
		for _, sub := range []string{"metrics", "params", "tags", "artifacts"} {
			if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
				tb.Fatal(err)
			}
		}
		start := t0 + int64(i)*1000
		m := fmt.Sprintf("artifact_uri: file://%s/artifacts\nend_time: %d\nentry_point_name: ''\nexperiment_id: '%s'\n"+
			"lifecycle_stage: active\nrun_id: %s\nrun_name: run-%d\nsource_name: ''\nsource_type: 4\nsource_version: ''\n"+
			"start_time: %d\nstatus: 3\ntags: []\nuser_id: bench\n", dir, start+500, expID, id, i, start)
		files := map[string]string{"meta.yaml": m}
		for p := range 10 {
			files[fmt.Sprint("params/p", p)] = strconv.Itoa((i + p) % 97)
		}
		for k, v := range map[string]string{"mlflow.runName": fmt.Sprint("run-", i), "mlflow.user": "bench",
			"group": fmt.Sprint("g", i%10), "phase": "train", "seed": strconv.Itoa(i)} {
			files["tags/"+k] = v
		}
		for k := range 10 {
			buf.Reset()
			for s := range 100 {
				v := float64((i*31+k*7+s)%1000) / 1000
				fmt.Fprintf(&buf, "%d %s %d\n", start+int64(s), strconv.FormatFloat(v, 'f', -1, 64), s)
			}
			files[fmt.Sprint("metrics/m", k)] = buf.String()
		}
		for name, body := range files {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
				tb.Fatal(err)
			}
		}
	}
}

// BenchmarkImportMlrunsToSQLite imports 200 runs (200,000 points) per
// iteration into a fresh SQLite file; run with -cpuprofile to see where an
// import spends its time. It reports points/s.
//
// MLTRACK_IMPORT_BENCH_SRC=<mlruns> imports that folder instead (say the one
// bench/filestore -keep leaves), to profile at full size.
func BenchmarkImportMlrunsToSQLite(b *testing.B) {
	runs := 200
	root := os.Getenv("MLTRACK_IMPORT_BENCH_SRC")
	if root == "" {
		root = filepath.Join(b.TempDir(), "mlruns")
		writeBenchMlruns(b, root, runs)
	}
	src := openFile(b, root)
	if os.Getenv("MLTRACK_IMPORT_BENCH_SRC") != "" {
		runs = 0
		for _, e := range experimentIDs(b, src) {
			ids, err := src.RunIDs(context.Background(), e)
			if err != nil {
				b.Fatal(err)
			}
			runs += len(ids)
		}
	}
	b.ResetTimer()
	for i := range b.N {
		dst := openSQL(b, "sqlite:///"+filepath.Join(b.TempDir(), fmt.Sprint(i, ".db")))
		opts := importer.Options{}
		// MLTRACK_IMPORT_BATCH_POINTS tries another batch size.
		if n, err := strconv.Atoi(os.Getenv("MLTRACK_IMPORT_BATCH_POINTS")); err == nil {
			opts.BatchPoints = n
		}
		sum, err := importer.Import(context.Background(), src, dst, opts)
		if err != nil || !sum.Match() {
			b.Fatalf("import: %v %+v", err, sum)
		}
	}
	b.ReportMetric(float64(runs*1000*b.N)/b.Elapsed().Seconds(), "points/s")
}
