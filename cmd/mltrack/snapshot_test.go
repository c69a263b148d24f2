package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mltrack/mltrack/internal/store"
	"github.com/mltrack/mltrack/internal/tracking"
)

// startServer runs `mltrack server` with args on port until the returned
// stop is called; stop waits for a clean exit and returns the log.
func startServer(t *testing.T, port int, args ...string) (logs *lockedBuffer, stop func() string) {
	t.Helper()
	args = append([]string{"server", "--port", strconv.Itoa(port), "--no-serve-artifacts"}, args...)
	ctx, cancel := context.WithCancel(context.Background())
	logs = &lockedBuffer{}
	done := make(chan int)
	go func() { done <- run(ctx, args, envFrom(nil), &bytes.Buffer{}, logs) }()
	stopped := false
	stop = func() string {
		t.Helper()
		if stopped {
			return logs.String()
		}
		stopped = true
		cancel()
		select {
		case code := <-done:
			if code != 0 {
				t.Errorf("exit code %d\n%s", code, logs.String())
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("server did not stop within 20 s of shutdown\n%s", logs.String())
		}
		return logs.String()
	}
	t.Cleanup(func() { stop() })
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get("http://127.0.0.1:" + strconv.Itoa(port) + "/health")
		if err == nil {
			resp.Body.Close()
			return logs, stop
		}
		if time.Now().After(deadline) {
			t.Fatalf("server did not answer: %v\n%s", err, logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func waitLog(t *testing.T, logs *lockedBuffer, line string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(logs.String(), line) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q in the log:\n%s", line, logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// seedLossRun creates an experiment and a run in st whose "loss" has steps
// 0 to n-1 with the given values, and returns the run's id.
func seedLossRun(t *testing.T, st tracking.Store, n int, value func(int) float64) string {
	t.Helper()
	ctx := context.Background()
	exp, err := st.CreateExperiment(ctx, tracking.NewExperiment{Name: "seed"})
	if err != nil {
		t.Fatal(err)
	}
	r, err := st.CreateRun(ctx, tracking.NewRun{ExperimentID: exp, StartTime: 1})
	if err != nil {
		t.Fatal(err)
	}
	ms := make([]tracking.Metric, 0, n)
	for i := range n {
		ms = append(ms, tracking.Metric{Key: "loss", Value: value(i), Timestamp: 10, Step: int64(i)})
	}
	for i := 0; i < len(ms); i += tracking.MaxMetricsPerBatch {
		if err := st.LogBatch(ctx, r.Info.RunID, ms[i:min(i+tracking.MaxMetricsPerBatch, len(ms))], nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	return r.Info.RunID
}

// chartMax is the largest value in a 1,000-point chart of runID's "loss".
func chartMax(t *testing.T, port int, runID string) float64 {
	t.Helper()
	resp, err := http.Get("http://127.0.0.1:" + strconv.Itoa(port) +
		"/ajax-api/2.0/mltrack/metrics/get-history-downsampled?metric_key=loss&max_points=1000&run_ids=" + runID)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var r struct {
		Metrics []struct {
			Value float64 `json:"value"`
		} `json:"metrics"`
	}
	if err := json.Unmarshal(body, &r); err != nil || resp.StatusCode != 200 || len(r.Metrics) == 0 {
		t.Fatalf("chart: %d %s (%v)", resp.StatusCode, body, err)
	}
	m := r.Metrics[0].Value
	for _, p := range r.Metrics {
		m = max(m, p.Value)
	}
	return m
}

// A graceful shutdown saves the history cache, and so does a timer while
// serving; the next start loads it before serving. A loaded entry is
// checked against the store before its first use: a point another process
// back-filled while the server was down makes it read again, an append
// extends it; either way the chart is exact. A damaged file costs a log line.
func TestHistoryCacheSnapshotAcrossRestart(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	uri := "sqlite:///" + filepath.Join(dir, "mlflow.db")
	snap := filepath.Join(dir, "cache", "history.cache")
	open := func() tracking.Store {
		st, _, err := store.Open(ctx, uri, store.Options{DefaultArtifactRoot: t.TempDir(), Logger: slog.New(slog.DiscardHandler), Now: time.Now})
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	st := open()
	id := seedLossRun(t, st, 3000, func(i int) float64 { return float64(i % 7) })
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	// First start: the warm-up caches the run; the timer saves it, and so
	// does the shutdown.
	logs, stop := startServer(t, 19850, "--backend-store-uri", uri, "--history-cache-file", snap, "--history-cache-save-every", "50ms")
	waitLog(t, logs, `msg="history cache warmed" series=1`)
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := os.Stat(snap); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no snapshot saved while serving:\n%s", logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if out := stop(); !strings.Contains(out, `msg="history cache snapshot saved" file=`+snap+` series=1`) {
		t.Fatalf("no snapshot saved:\n%s", out)
	}
	write := func(ms ...tracking.Metric) {
		t.Helper()
		st := open()
		if err := st.LogBatch(ctx, id, ms, nil, nil); err != nil {
			t.Fatal(err)
		}
		if err := st.Close(); err != nil {
			t.Fatal(err)
		}
	}

	// Down: another process back-fills a spike without a newer point. The
	// loaded entry's count no longer matches: the run is read again.
	write(tracking.Metric{Key: "loss", Value: 1e9, Timestamp: 1, Step: 1500})
	logs, stop = startServer(t, 19851, "--backend-store-uri", uri, "--history-cache-file", snap, "--history-cache-warm=false")
	waitLog(t, logs, `msg="history cache snapshot loaded" file=`+snap+` series=1`)
	if m := chartMax(t, 19851, id); m != 1e9 {
		t.Fatalf("chart after restart peaks at %v, want the back-filled 1e9", m)
	}
	stop()

	// Down again: another process appends. The entry is extended.
	write(tracking.Metric{Key: "loss", Value: 2e9, Timestamp: 20, Step: 3500}, tracking.Metric{Key: "loss", Value: 3, Timestamp: 20, Step: 3501})
	logs, stop = startServer(t, 19854, "--backend-store-uri", uri, "--history-cache-file", snap, "--history-cache-warm=false")
	waitLog(t, logs, `msg="history cache snapshot loaded" file=`+snap+` series=1`)
	if m := chartMax(t, 19854, id); m != 2e9 {
		t.Fatalf("chart after restart peaks at %v, want the appended 2e9", m)
	}
	stop()
	if _, err := os.Stat(snap); err != nil {
		t.Fatalf("snapshot gone: %v", err)
	}

	// Snapshots off: a cold read.
	_, stop = startServer(t, 19852, "--backend-store-uri", uri, "--history-cache-file", "", "--history-cache-warm=false")
	if m := chartMax(t, 19852, id); m != 2e9 {
		t.Fatalf("cold chart peaks at %v, want 2e9", m)
	}
	if out := stop(); strings.Contains(out, "snapshot") {
		t.Fatalf("snapshot used with --history-cache-file '':\n%s", out)
	}

	// A damaged file is ignored with one line, and the server serves.
	if err := os.WriteFile(snap, []byte("mltrkHC\ngarbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	logs, stop = startServer(t, 19853, "--backend-store-uri", uri, "--history-cache-file", snap, "--history-cache-warm=false")
	waitLog(t, logs, `msg="history cache snapshot ignored" file=`+snap)
	if m := chartMax(t, 19853, id); m != 2e9 {
		t.Fatalf("chart after a damaged snapshot peaks at %v, want 2e9", m)
	}
	stop()
}
