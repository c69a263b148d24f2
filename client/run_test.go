package client_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mltrack/mltrack/client"
)

// proxy sits between the SDK and a live server: it records every request and
// can answer some of them itself (to inject failures).
type proxy struct {
	t       *testing.T
	srv     *httptest.Server
	mu      sync.Mutex
	batches [][]json.RawMessage // metrics of each log-batch call, in arrival order
	hits    map[string]int      // requests per path
	// intercept, when set, may answer a request instead of the live server.
	intercept func(w http.ResponseWriter, r *http.Request, n int) bool
}

func newProxy(t *testing.T, target string) *proxy {
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{t: t, hits: map[string]int{}}
	rp := httputil.NewSingleHostReverseProxy(u)
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		p.mu.Lock()
		p.hits[r.URL.Path]++
		n := p.hits[r.URL.Path]
		if strings.HasSuffix(r.URL.Path, "/runs/log-batch") {
			var b struct {
				Metrics []json.RawMessage `json:"metrics"`
			}
			_ = json.Unmarshal(body, &b)
			p.batches = append(p.batches, b.Metrics)
		}
		intercept := p.intercept
		p.mu.Unlock()
		if intercept != nil && intercept(w, r, n) {
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(p.srv.Close)
	return p
}

func (p *proxy) count(pathSuffix string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for k, v := range p.hits {
		if strings.HasSuffix(k, pathSuffix) {
			n += v
		}
	}
	return n
}

func (p *proxy) metricBatchSizes() []int {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []int
	for _, b := range p.batches {
		out = append(out, len(b))
	}
	return out
}

func TestRunBatchesTenThousandMetrics(t *testing.T) {
	forEachServer(t, func(t *testing.T, srv liveServer) {
		ctx := t.Context()
		p := newProxy(t, srv.url)
		c := newClient(t, p.srv.URL, client.WithFlushInterval(50*time.Millisecond))
		run, err := c.StartRun(ctx, client.InExperiment(uniq("batch")), client.WithRunName("ten-thousand"))
		if err != nil {
			t.Fatalf("StartRun: %v", err)
		}
		if err := run.LogParams(ctx, map[string]string{"lr": "0.01", "hidden": "8"}); err != nil {
			t.Fatalf("LogParams: %v", err)
		}
		const n = 10_000
		for i := range n {
			if err := run.LogMetric(ctx, "loss", 1/float64(i+1), int64(i)); err != nil {
				t.Fatalf("LogMetric %d: %v", i, err)
			}
		}
		if err := run.End(ctx, client.StatusFinished); err != nil {
			t.Fatalf("End: %v", err)
		}
		hist, err := c.GetMetricHistoryAll(ctx, run.ID(), "loss", 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(hist) != n {
			t.Fatalf("history has %d values, want %d", len(hist), n)
		}
		// Stored order is the server's; arrival order is what the SDK controls,
		// so check both that every step arrived once and that batches were sent
		// in step order.
		steps := make([]int64, len(hist))
		for i, m := range hist {
			steps[i] = m.Step
		}
		slices.Sort(steps)
		for i, s := range steps {
			if s != int64(i) {
				t.Fatalf("steps[%d] = %d: missing or duplicated step", i, s)
			}
		}
		var sent []int64
		p.mu.Lock()
		for _, b := range p.batches {
			for _, raw := range b {
				var m client.Metric
				if err := json.Unmarshal(raw, &m); err != nil {
					t.Fatal(err)
				}
				if m.Key == "loss" {
					sent = append(sent, m.Step)
				}
			}
		}
		p.mu.Unlock()
		if len(sent) != n || !slices.IsSorted(sent) {
			t.Errorf("sent %d loss values, sorted by step: %v", len(sent), slices.IsSorted(sent))
		}
		for _, size := range p.metricBatchSizes() {
			if size > 1000 {
				t.Errorf("a log-batch carried %d metrics (limit 1000)", size)
			}
		}
		if b := p.count("/runs/log-batch"); b < 10 || b > 12 {
			t.Errorf("%d log-batch calls for 10,000 metrics + params, want about 11", b)
		}
		got, err := c.GetRun(ctx, run.ID())
		if err != nil {
			t.Fatal(err)
		}
		if got.Info.Status != client.StatusFinished || got.Info.EndTime == 0 {
			t.Errorf("after End: %+v", got.Info)
		}
		if v, _ := got.Param("hidden"); v != "8" {
			t.Errorf("param hidden = %q", v)
		}
		if err := run.LogMetric(ctx, "loss", 0, 0); !errors.Is(err, client.ErrRunEnded) {
			t.Errorf("LogMetric after End: %v, want ErrRunEnded", err)
		}
	})
}

func TestRunFlushes(t *testing.T) {
	forEachServer(t, func(t *testing.T, srv liveServer) {
		ctx := t.Context()
		exp := uniq("flush")
		historyLen := func(c *client.Client, runID string) int {
			t.Helper()
			h, err := c.GetMetricHistoryAll(ctx, runID, "m", 0)
			if err != nil {
				t.Fatal(err)
			}
			return len(h)
		}
		t.Run("on End", func(t *testing.T) {
			c := newClient(t, srv.url, client.WithFlushInterval(time.Hour))
			run, err := c.StartRun(ctx, client.InExperiment(exp))
			if err != nil {
				t.Fatal(err)
			}
			for i := range 5 {
				if err := run.LogMetric(ctx, "m", float64(i), int64(i)); err != nil {
					t.Fatal(err)
				}
			}
			if n := historyLen(c, run.ID()); n != 0 {
				t.Errorf("%d values visible before End with an hour-long flush interval", n)
			}
			if err := run.End(ctx, client.StatusFailed); err != nil {
				t.Fatal(err)
			}
			if n := historyLen(c, run.ID()); n != 5 {
				t.Errorf("after End: %d values, want 5", n)
			}
			if run.Info().Status != client.StatusFailed {
				t.Errorf("status = %s, want FAILED", run.Info().Status)
			}
			if err := run.End(ctx, client.StatusFinished); !errors.Is(err, client.ErrRunEnded) {
				t.Errorf("second End: %v", err)
			}
		})
		t.Run("explicit Flush", func(t *testing.T) {
			c := newClient(t, srv.url, client.WithFlushInterval(time.Hour))
			run, err := c.StartRun(ctx, client.InExperiment(exp))
			if err != nil {
				t.Fatal(err)
			}
			defer run.End(ctx, client.StatusFinished)
			if err := run.LogMetrics(ctx, map[string]float64{"m": 1, "other": 2}, 3); err != nil {
				t.Fatal(err)
			}
			if err := run.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			if n := historyLen(c, run.ID()); n != 1 {
				t.Errorf("after Flush: %d values, want 1", n)
			}
		})
		t.Run("on timer", func(t *testing.T) {
			c := newClient(t, srv.url, client.WithFlushInterval(50*time.Millisecond))
			run, err := c.StartRun(ctx, client.InExperiment(exp))
			if err != nil {
				t.Fatal(err)
			}
			defer run.End(ctx, client.StatusFinished)
			if err := run.LogMetric(ctx, "m", 1, 0); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(10 * time.Second)
			for historyLen(c, run.ID()) == 0 {
				if time.Now().After(deadline) {
					t.Fatal("timer flush did not send the metric within 10s")
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	})
}

func TestRetry(t *testing.T) {
	forEachServer(t, func(t *testing.T, srv liveServer) {
		ctx := t.Context()
		t.Run("503 twice then success", func(t *testing.T) {
			p := newProxy(t, srv.url)
			p.intercept = func(w http.ResponseWriter, r *http.Request, n int) bool {
				if n <= 2 {
					w.WriteHeader(http.StatusServiceUnavailable)
					return true
				}
				return false
			}
			c := newClient(t, p.srv.URL)
			id, err := c.CreateExperiment(ctx, client.CreateExperimentRequest{Name: uniq("retry")})
			if err != nil {
				t.Fatalf("CreateExperiment through two 503s: %v", err)
			}
			if n := p.count("/experiments/create"); n != 3 {
				t.Errorf("%d attempts, want 3", n)
			}
			if _, err := c.GetExperiment(ctx, id); err != nil {
				t.Errorf("created experiment not found: %v", err)
			}
		})
		t.Run("Retry-After honoured", func(t *testing.T) {
			p := newProxy(t, srv.url)
			p.intercept = func(w http.ResponseWriter, r *http.Request, n int) bool {
				if n == 1 {
					w.Header().Set("Retry-After", "1")
					w.WriteHeader(http.StatusTooManyRequests)
					return true
				}
				return false
			}
			c := newClient(t, p.srv.URL)
			start := time.Now()
			if _, err := c.SearchExperiments(ctx, client.SearchExperimentsRequest{MaxResults: 1}); err != nil {
				t.Fatal(err)
			}
			if el := time.Since(start); el < time.Second {
				t.Errorf("retried after %v, Retry-After said 1s", el)
			}
		})
		t.Run("gives up after max retries", func(t *testing.T) {
			p := newProxy(t, srv.url)
			p.intercept = func(w http.ResponseWriter, r *http.Request, n int) bool {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusBadGateway)
				_, _ = w.Write([]byte(`{"error_code":"TEMPORARILY_UNAVAILABLE","message":"down"}`))
				return true
			}
			c := newClient(t, p.srv.URL) // 3 retries
			_, err := c.GetExperiment(ctx, "0")
			var ae *client.APIError
			if !errors.As(err, &ae) || ae.StatusCode != 502 || ae.ErrorCode != "TEMPORARILY_UNAVAILABLE" {
				t.Errorf("err = %v", err)
			}
			if n := p.count("/experiments/get"); n != 4 {
				t.Errorf("%d attempts, want 1 + 3 retries", n)
			}
		})
		t.Run("no retry on 400", func(t *testing.T) {
			p := newProxy(t, srv.url)
			c := newClient(t, p.srv.URL)
			name := uniq("dup")
			if _, err := c.CreateExperiment(ctx, client.CreateExperimentRequest{Name: name}); err != nil {
				t.Fatal(err)
			}
			_, err := c.CreateExperiment(ctx, client.CreateExperimentRequest{Name: name})
			if !errors.Is(err, client.ErrAlreadyExists) {
				t.Fatalf("err = %v", err)
			}
			_, err = c.CreateExperiment(ctx, client.CreateExperimentRequest{Name: ""})
			if !errors.Is(err, client.ErrInvalid) {
				t.Fatalf("empty name: err = %v, want ErrInvalid", err)
			}
			if n := p.count("/experiments/create"); n != 3 {
				t.Errorf("%d create calls, want 3 (no retries on 400)", n)
			}
			if _, err := c.GetExperimentByName(ctx, uniq("none")); !errors.Is(err, client.ErrNotFound) {
				t.Fatalf("err = %v", err)
			}
			if n := p.count("/experiments/get-by-name"); n != 1 {
				t.Errorf("%d get-by-name calls, want 1 (no retries on 404)", n)
			}
		})
		t.Run("connection refused is retried", func(t *testing.T) {
			dead := httptest.NewServer(http.NotFoundHandler())
			deadURL := dead.URL
			dead.Close()
			c := newClient(t, deadURL)
			start := time.Now()
			_, err := c.GetExperiment(ctx, "0")
			if err == nil {
				t.Fatal("no error from a closed port")
			}
			var ae *client.APIError
			if errors.As(err, &ae) {
				t.Errorf("connection error reported as APIError: %v", err)
			}
			// 3 retries with 10ms..100ms backoff take at least ~35ms.
			if el := time.Since(start); el < 30*time.Millisecond {
				t.Errorf("gave up after %v: did not back off and retry", el)
			}
		})
	})
}

func TestContextCancellation(t *testing.T) {
	forEachServer(t, func(t *testing.T, srv liveServer) {
		t.Run("already cancelled", func(t *testing.T) {
			c := newClient(t, srv.url)
			ctx, cancel := context.WithCancel(t.Context())
			cancel()
			if _, err := c.GetExperiment(ctx, "0"); !errors.Is(err, context.Canceled) {
				t.Errorf("err = %v, want context.Canceled", err)
			}
		})
		t.Run("during a slow answer", func(t *testing.T) {
			p := newProxy(t, srv.url)
			release := make(chan struct{})
			defer close(release)
			p.intercept = func(w http.ResponseWriter, r *http.Request, n int) bool {
				select {
				case <-release:
				case <-r.Context().Done():
				}
				return true
			}
			c := newClient(t, p.srv.URL)
			ctx := contextFor(t, 100*time.Millisecond)
			start := time.Now()
			_, err := c.GetExperiment(ctx, "0")
			if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 5*time.Second {
				t.Errorf("err = %v after %v, want deadline exceeded promptly", err, time.Since(start))
			}
		})
		t.Run("during backoff", func(t *testing.T) {
			p := newProxy(t, srv.url)
			p.intercept = func(w http.ResponseWriter, r *http.Request, n int) bool {
				w.WriteHeader(http.StatusServiceUnavailable)
				return true
			}
			c := newClient(t, p.srv.URL, client.WithRetry(5, 10*time.Second, time.Minute))
			ctx := contextFor(t, 200*time.Millisecond)
			start := time.Now()
			_, err := c.GetExperiment(ctx, "0")
			if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 5*time.Second {
				t.Errorf("err = %v after %v, want deadline exceeded promptly", err, time.Since(start))
			}
			if n := p.count("/experiments/get"); n != 1 {
				t.Errorf("%d attempts, want 1", n)
			}
		})
		t.Run("Flush", func(t *testing.T) {
			p := newProxy(t, srv.url)
			var block atomic.Bool
			release := make(chan struct{})
			p.intercept = func(w http.ResponseWriter, r *http.Request, n int) bool {
				if block.Load() && strings.HasSuffix(r.URL.Path, "/log-batch") {
					select {
					case <-release:
					case <-r.Context().Done():
					}
					w.WriteHeader(http.StatusServiceUnavailable)
					return true
				}
				return false
			}
			c := newClient(t, p.srv.URL, client.WithFlushInterval(time.Hour))
			run, err := c.StartRun(t.Context(), client.InExperiment(uniq("cancel")))
			if err != nil {
				t.Fatal(err)
			}
			if err := run.LogMetric(t.Context(), "m", 1, 0); err != nil {
				t.Fatal(err)
			}
			block.Store(true)
			ctx := contextFor(t, 100*time.Millisecond)
			if err := run.Flush(ctx); !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Flush: %v, want deadline exceeded", err)
			}
			close(release)
			block.Store(false)
			// The metric was kept and goes out with End.
			if err := run.End(t.Context(), client.StatusFinished); err != nil {
				t.Fatalf("End: %v", err)
			}
			h, err := c.GetMetricHistoryAll(t.Context(), run.ID(), "m", 0)
			if err != nil || len(h) != 1 {
				t.Errorf("history after cancelled Flush + End: %d values, %v", len(h), err)
			}
		})
	})
}

func TestEnvConfigLive(t *testing.T) {
	forEachServer(t, func(t *testing.T, srv liveServer) {
		exp := uniq("envexp")
		vars := map[string]string{"MLFLOW_TRACKING_URI": srv.url, "MLFLOW_EXPERIMENT_NAME": exp}
		c, err := client.New(client.WithEnv(func(k string) string { return vars[k] }))
		if err != nil {
			t.Fatal(err)
		}
		if c.TrackingURI() != srv.url {
			t.Errorf("TrackingURI = %q", c.TrackingURI())
		}
		run, err := c.StartRun(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if err := run.End(t.Context(), client.StatusFinished); err != nil {
			t.Fatal(err)
		}
		e, err := c.GetExperimentByName(t.Context(), exp)
		if err != nil {
			t.Fatalf("MLFLOW_EXPERIMENT_NAME experiment was not created: %v", err)
		}
		if run.Info().ExperimentID != e.ExperimentID {
			t.Errorf("run in experiment %s, want %s", run.Info().ExperimentID, e.ExperimentID)
		}
		// A second StartRun reuses the experiment.
		run2, err := c.StartRun(t.Context(), client.WithRunTags(map[string]string{"mlflow.source.name": "custom"}))
		if err != nil {
			t.Fatal(err)
		}
		defer run2.End(t.Context(), client.StatusFinished)
		if run2.Info().ExperimentID != e.ExperimentID {
			t.Errorf("second run in experiment %s, want %s", run2.Info().ExperimentID, e.ExperimentID)
		}
		got, err := c.GetRun(t.Context(), run2.ID())
		if err != nil {
			t.Fatal(err)
		}
		if v, _ := got.Tag("mlflow.source.name"); v != "custom" {
			t.Errorf("mlflow.source.name = %q, want the WithRunTags override", v)
		}
		if v, _ := got.Tag("mlflow.user"); v == "" {
			t.Errorf("mlflow.user tag not set")
		}

		// MLFLOW_EXPERIMENT_ID applies when no name is configured.
		byID, err := client.New(client.WithEnv(func(k string) string {
			return map[string]string{"MLFLOW_TRACKING_URI": srv.url, "MLFLOW_EXPERIMENT_ID": e.ExperimentID}[k]
		}))
		if err != nil {
			t.Fatal(err)
		}
		run3, err := byID.StartRun(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		defer run3.End(t.Context(), client.StatusFinished)
		if run3.Info().ExperimentID != e.ExperimentID {
			t.Errorf("MLFLOW_EXPERIMENT_ID run in experiment %s, want %s", run3.Info().ExperimentID, e.ExperimentID)
		}
	})
}

func TestLogArtifactMLflow(t *testing.T) {
	mlflowURL, why := env.mlflow()
	if mlflowURL == "" {
		skipOrFail(t, "real mlflow server unavailable: "+why)
	}
	ctx := t.Context()
	c := newClient(t, mlflowURL)
	run, err := c.StartRun(ctx, client.InExperiment(uniq("artifacts")))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(run.Info().ArtifactURI, "mlflow-artifacts:") {
		t.Fatalf("artifact_uri = %q, want mlflow-artifacts:/...", run.Info().ArtifactURI)
	}
	dir := t.TempDir()
	content := bytes.Repeat([]byte("weights\x00\x01"), 300_000) // ~2.7 MB: more than one read chunk
	local := filepath.Join(dir, "model weights.bin")
	if err := os.WriteFile(local, content, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := run.LogArtifact(ctx, local, "models/final"); err != nil {
		t.Fatalf("LogArtifact: %v", err)
	}
	if err := run.LogArtifact(ctx, local, ""); err != nil {
		t.Fatalf("LogArtifact to root: %v", err)
	}
	if err := run.LogArtifact(ctx, filepath.Join(dir, "missing"), ""); err == nil {
		t.Error("LogArtifact of a missing file succeeded")
	}
	if err := run.End(ctx, client.StatusFinished); err != nil {
		t.Fatal(err)
	}
	// Read back through the same proxy, and through the run's listing.
	rel := strings.TrimPrefix(run.Info().ArtifactURI, "mlflow-artifacts:")
	for _, p := range []string{"models/final/model weights.bin", "model weights.bin"} {
		u := mlflowURL + "/api/2.0/mlflow-artifacts/artifacts" + rel + "/" + url.PathEscape(p)
		u = strings.ReplaceAll(u, "%2F", "/")
		resp, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !bytes.Equal(got, content) {
			t.Errorf("download %s: HTTP %d, %d bytes (want %d)", p, resp.StatusCode, len(got), len(content))
		}
	}
	resp, err := http.Get(mlflowURL + "/api/2.0/mlflow/artifacts/list?run_id=" + run.ID() + "&path=models/final")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var list struct {
		Files []struct {
			Path     string `json:"path"`
			FileSize int64  `json:"file_size"`
		} `json:"files"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		t.Fatal(err)
	}
	if len(list.Files) != 1 || list.Files[0].Path != "models/final/model weights.bin" || list.Files[0].FileSize != int64(len(content)) {
		t.Errorf("artifact listing = %+v", list.Files)
	}
}

func TestRunConcurrentUse(t *testing.T) {
	forEachServer(t, func(t *testing.T, srv liveServer) {
		ctx := t.Context()
		c := newClient(t, srv.url, client.WithFlushInterval(10*time.Millisecond))
		run, err := c.StartRun(ctx, client.InExperiment(uniq("concurrent")))
		if err != nil {
			t.Fatal(err)
		}
		const workers, each = 4, 700
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				key := "m" + strconv.Itoa(w)
				for i := range each {
					if err := run.LogMetric(ctx, key, float64(i), int64(i)); err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		// Two Ends at once: exactly one does the work.
		errs := make(chan error, 2)
		for range 2 {
			go func() { errs <- run.End(ctx, client.StatusFinished) }()
		}
		e1, e2 := <-errs, <-errs
		if (e1 == nil) == (e2 == nil) || !(errors.Is(e1, client.ErrRunEnded) || errors.Is(e2, client.ErrRunEnded)) {
			t.Errorf("concurrent End: %v, %v; want one nil and one ErrRunEnded", e1, e2)
		}
		for w := range workers {
			h, err := c.GetMetricHistoryAll(ctx, run.ID(), "m"+strconv.Itoa(w), 0)
			if err != nil || len(h) != each {
				t.Errorf("m%d: %d values, %v; want %d", w, len(h), err, each)
			}
		}
	})
}
