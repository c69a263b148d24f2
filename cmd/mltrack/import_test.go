package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mltrack/mltrack/internal/store/filestore"
	"github.com/mltrack/mltrack/internal/tracking"
)

// smallMlruns writes an mlruns folder with one run holding a metric and an
// artifact file, and returns the folder.
func smallMlruns(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	root := filepath.Join(t.TempDir(), "mlruns")
	st, err := filestore.Open(ctx, root, filestore.Options{Now: func() time.Time { return time.UnixMilli(1_650_000_000_000) }})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	exp, err := st.CreateExperiment(ctx, tracking.NewExperiment{Name: "e"})
	if err != nil {
		t.Fatal(err)
	}
	r, err := st.CreateRun(ctx, tracking.NewRun{ExperimentID: exp, RunName: "r", StartTime: 1_650_000_000_000})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.LogBatch(ctx, r.Info.RunID, []tracking.Metric{{Key: "m", Value: 1, Timestamp: 1, Step: 0}}, nil, nil); err != nil {
		t.Fatal(err)
	}
	dir := strings.TrimPrefix(r.Info.ArtifactURI, "file://")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "f.txt"), []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	return root
}

func TestImportCommand(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", t.TempDir()) // default chart cache snapshots go there
	src := smallMlruns(t)
	tests := []struct {
		name     string
		args     func(dir string) []string
		code     int
		stdout   []string // substrings of stdout
		stderr   string
		wantFile string // relative to dir, must exist afterwards
		noFile   string // relative to dir, must not exist afterwards
	}{
		{name: "no flags", args: func(string) []string { return nil }, code: 2, stderr: "both --from and --to are required"},
		{name: "bad on-error", args: func(d string) []string {
			return []string{"--from", src, "--to", "sqlite:///" + d + "/a.db", "--on-error", "ignore"}
		}, code: 2, stderr: "--on-error must be stop or skip"},
		{name: "missing source", args: func(d string) []string {
			return []string{"--from", filepath.Join(d, "nothing"), "--to", "sqlite:///" + d + "/a.db"}
		}, code: 1, stderr: "is not an mlruns folder"},
		{name: "unsupported destination", args: func(d string) []string {
			return []string{"--from", src, "--to", "sqlite:///" + d + "/a.db", "--artifacts", "--artifacts-destination", "gs://b/p"}
		}, code: 2, stderr: "gs:// is not supported"},
		{name: "empty root", args: func(d string) []string {
			return []string{"--from", src, "--to", "sqlite:///" + d + "/a.db", "--artifacts", "--default-artifact-root", ""}
		}, code: 2, stderr: "--default-artifact-root is empty"},
		{name: "import without artifacts", args: func(d string) []string {
			return []string{"--from", src, "--to", "sqlite:///" + d + "/a.db", "--no-progress"}
		}, code: 0, stdout: []string{"source and target match"}, noFile: "dest"},
		{name: "dry run with artifacts", args: func(d string) []string {
			return []string{"--from", src, "--to", "sqlite:///" + d + "/a.db", "--no-progress", "--dry-run",
				"--artifacts", "--artifacts-destination", filepath.Join(d, "dest")}
		}, code: 0, stdout: []string{"artifact files", "dry run: after an import both sides would match"}, noFile: "dest"},
		{name: "artifacts into the proxy destination", args: func(d string) []string {
			return []string{"--from", src, "--to", "sqlite:///" + d + "/a.db", "--no-progress",
				"--artifacts", "--artifacts-destination", filepath.Join(d, "dest")}
		}, code: 0, stdout: []string{"artifact files", "artifact bytes", "source and target match"}, wantFile: "dest"},
		{name: "artifacts under a file root", args: func(d string) []string {
			return []string{"--from", src, "--to", filepath.Join(d, "copy"), "--no-progress",
				"--artifacts", "--default-artifact-root", "file://" + filepath.Join(d, "arts")}
		}, code: 0, stdout: []string{"source and target match"}, wantFile: "arts"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			var stdout, stderr bytes.Buffer
			code := runImport(context.Background(), tt.args(dir), &stdout, &stderr)
			if code != tt.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tt.code, stdout.String(), stderr.String())
			}
			for _, s := range tt.stdout {
				if !strings.Contains(stdout.String(), s) {
					t.Errorf("stdout lacks %q:\n%s", s, stdout.String())
				}
			}
			if !strings.Contains(stderr.String(), tt.stderr) {
				t.Errorf("stderr lacks %q:\n%s", tt.stderr, stderr.String())
			}
			if tt.wantFile != "" {
				found := false
				_ = filepath.WalkDir(filepath.Join(dir, tt.wantFile), func(p string, d os.DirEntry, err error) error {
					if err == nil && d.Name() == "f.txt" {
						found = true
					}
					return nil
				})
				if !found {
					t.Errorf("no copied f.txt under %s", tt.wantFile)
				}
			}
			if tt.noFile != "" {
				if _, err := os.Stat(filepath.Join(dir, tt.noFile)); err == nil {
					t.Errorf("%s was created", tt.noFile)
				}
			}
		})
	}
}

// An import into a SQL store leaves the chart cache snapshot a server of
// the target loads at start: its first chart is served from memory, and
// it equals what the store holds.
func TestImportSavesTheTargetsChartCache(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	root := filepath.Join(dir, "mlruns")
	st, err := filestore.Open(ctx, root, filestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	id := seedLossRun(t, st, 3000, func(i int) float64 {
		if i == 1234 {
			return 77
		}
		return float64(i % 11)
	})
	st.Close()
	uri := "sqlite:///" + filepath.Join(dir, "target.db")
	snap := filepath.Join(dir, "cache", "h.cache")
	var stdout, stderr bytes.Buffer
	if code := runImport(ctx, []string{"--from", root, "--to", uri, "--no-progress", "--history-cache-file", snap}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout.String(), stderr.String())
	}
	if want := "chart cache: 1 series of 1 runs"; !strings.Contains(stdout.String(), want) || !strings.Contains(stdout.String(), snap) {
		t.Fatalf("stdout lacks %q and the file:\n%s", want, stdout.String())
	}
	logs, stop := startServer(t, 19856, "--backend-store-uri", uri, "--history-cache-file", snap, "--history-cache-warm=false")
	waitLog(t, logs, `msg="history cache snapshot loaded" file=`+snap+` series=1`)
	if m := chartMax(t, 19856, id); m != 77 {
		t.Fatalf("chart peaks at %v, want 77", m)
	}
	stop()
	// Without a cache directory or with the flag empty: no file, no line.
	stdout.Reset()
	if code := runImport(ctx, []string{"--from", root, "--to", uri, "--no-progress", "--history-cache-file", ""}, &stdout, &stderr); code != 0 {
		t.Fatalf("second import exit %d\n%s", code, stderr.String())
	}
	if strings.Contains(stdout.String(), "chart cache") {
		t.Fatalf("chart cache built with --history-cache-file '':\n%s", stdout.String())
	}
}
