// Command load drives any MLflow-compatible tracking server (real `mlflow
// server` or `mltrack server`) over its REST API and prints what it measured
// as `RESULT <name> <value>` lines for bench/run.sh:
//
//   - log-batch throughput: clients each send log-batch requests of 1000
//     metrics to their own run for --duration, at each concurrency in --clients;
//   - search: an experiment is filled with --runs runs (10 params, 10 metrics,
//     5 tags each, one log-batch per run), then --searches search-runs
//     requests with a metric filter and a metric order_by give p50/p95;
//   - memory: with --pid, the resident memory of that process and its
//     descendants is sampled throughout (VmRSS) and read at the end (VmHWM).
//
// It asserts nothing about speed: compare servers by running it against each.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

type config struct {
	url        string
	clients    []int
	duration   time.Duration
	runs       []int
	fillConc   int
	searches   int
	filter     string
	orderBy    string
	maxResults int
	pid        int
	skip       map[string]bool
}

func main() {
	var c config
	var clients, runs, skip string
	flag.StringVar(&c.url, "url", "http://127.0.0.1:5000", "tracking server base URL")
	flag.StringVar(&clients, "clients", "1,8", "comma-separated client counts for the log-batch phase")
	flag.DurationVar(&c.duration, "duration", 15*time.Second, "how long each log-batch level runs")
	flag.StringVar(&runs, "runs", "10000", "runs in the search experiment; a list such as 1000,10000 fills in stages and searches after each")
	flag.IntVar(&c.fillConc, "fill-clients", 8, "concurrent clients while filling the search experiment")
	flag.IntVar(&c.searches, "searches", 50, "search-runs requests to time")
	flag.StringVar(&c.filter, "filter", "metrics.m1 > 0.5", "search-runs filter")
	flag.StringVar(&c.orderBy, "order-by", "metrics.m2 DESC", "search-runs order_by")
	flag.IntVar(&c.maxResults, "max-results", 100, "search-runs max_results")
	flag.IntVar(&c.pid, "pid", 0, "server process id whose memory (with its children) to sample; 0 = none")
	flag.StringVar(&skip, "skip", "", "comma-separated phases to skip: logbatch, search")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	var err error
	if c.clients, err = parseInts(clients); err != nil {
		log.Error("bad --clients", "err", err)
		os.Exit(2)
	}
	if c.runs, err = parseInts(runs); err != nil {
		log.Error("bad --runs", "err", err)
		os.Exit(2)
	}
	c.skip = map[string]bool{}
	for _, s := range strings.Split(skip, ",") {
		c.skip[strings.TrimSpace(s)] = true
	}
	if err := run(context.Background(), log, c); err != nil {
		log.Error("load failed", "err", err)
		os.Exit(1)
	}
}

func parseInts(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("%q is not a positive integer", f)
		}
		out = append(out, n)
	}
	return out, nil
}

func result(name string, value float64) {
	fmt.Printf("RESULT %s %.6g\n", name, value)
}

func run(ctx context.Context, log *slog.Logger, c config) error {
	cl := newClient(c.url, max(c.fillConc, maxInt(c.clients)))
	var mem *memSampler
	if c.pid > 0 {
		mem = startMemSampler(c.pid, 250*time.Millisecond)
	}
	prefix := fmt.Sprintf("bench-%d", time.Now().UnixNano())

	if !c.skip["logbatch"] {
		for _, n := range c.clients {
			points, elapsed, err := logBatchPhase(ctx, cl, prefix, n, c.duration)
			if err != nil {
				return fmt.Errorf("log-batch with %d clients: %w", n, err)
			}
			log.Info("log-batch", "clients", n, "points", points, "seconds", elapsed.Seconds())
			result(fmt.Sprintf("logbatch_c%d_points_per_sec", n), float64(points)/elapsed.Seconds())
		}
	}

	if !c.skip["search"] {
		expID, err := cl.createExperiment(ctx, prefix+"-search")
		if err != nil {
			return err
		}
		have := 0
		for _, target := range c.runs {
			if target <= have {
				continue
			}
			start := time.Now()
			if err := fill(ctx, cl, expID, have, target, c.fillConc); err != nil {
				return fmt.Errorf("fill: %w", err)
			}
			fillTime := time.Since(start)
			log.Info("filled", "runs", target, "added", target-have, "seconds", fillTime.Seconds())
			result(fmt.Sprintf("fill_r%d_runs_per_sec", target), float64(target-have)/fillTime.Seconds())
			have = target

			lat, n, err := searchPhase(ctx, cl, expID, c)
			if err != nil {
				return fmt.Errorf("search: %w", err)
			}
			log.Info("searched", "runs", target, "requests", len(lat), "results_first_page", n)
			result(fmt.Sprintf("search_r%d_results", target), float64(n))
			result(fmt.Sprintf("search_r%d_p50_ms", target), percentile(lat, 0.50))
			result(fmt.Sprintf("search_r%d_p95_ms", target), percentile(lat, 0.95))
		}
	}

	if mem != nil {
		peakRSS, hwm, err := mem.stop()
		if err != nil {
			return fmt.Errorf("memory: %w", err)
		}
		result("rss_peak_sampled_mb", float64(peakRSS)/1024)
		result("rss_hwm_mb", float64(hwm)/1024)
	}
	return nil
}

func maxInt(xs []int) int {
	m := 0
	for _, x := range xs {
		m = max(m, x)
	}
	return m
}

// client speaks the few MLflow REST calls the benchmark needs.
type client struct {
	base string
	http *http.Client
}

func newClient(base string, conns int) *client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = conns + 2
	// uvicorn (MLflow) closes keep-alive connections idle for 5 s; dropping
	// ours sooner avoids sending a POST into a connection being closed.
	t.IdleConnTimeout = 2 * time.Second
	return &client{base: strings.TrimRight(base, "/"), http: &http.Client{Transport: t, Timeout: 2 * time.Minute}}
}

func (c *client) post(ctx context.Context, path string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/api/2.0/mlflow/"+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) {
		// The server closed a reused connection before reading the request;
		// nothing was processed, so sending it once more is safe.
		req.Body = io.NopCloser(bytes.NewReader(body))
		resp, err = c.http.Do(req)
	}
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: HTTP %d: %.300s", path, resp.StatusCode, b)
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(b, out)
}

func (c *client) createExperiment(ctx context.Context, name string) (string, error) {
	var out struct {
		ExperimentID string `json:"experiment_id"`
	}
	if err := c.post(ctx, "experiments/create", map[string]any{"name": name}, &out); err != nil {
		return "", err
	}
	if out.ExperimentID == "" {
		return "", errors.New("experiments/create returned no experiment_id")
	}
	return out.ExperimentID, nil
}

func (c *client) createRun(ctx context.Context, expID, name string) (string, error) {
	var out struct {
		Run struct {
			Info struct {
				RunID string `json:"run_id"`
			} `json:"info"`
		} `json:"run"`
	}
	in := map[string]any{"experiment_id": expID, "run_name": name, "start_time": time.Now().UnixMilli()}
	if err := c.post(ctx, "runs/create", in, &out); err != nil {
		return "", err
	}
	if out.Run.Info.RunID == "" {
		return "", errors.New("runs/create returned no run_id")
	}
	return out.Run.Info.RunID, nil
}

type metric struct {
	Key       string  `json:"key"`
	Value     float64 `json:"value"`
	Timestamp int64   `json:"timestamp"`
	Step      int64   `json:"step"`
}

type kv struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

func (c *client) logBatch(ctx context.Context, runID string, metrics []metric, params, tags []kv) error {
	in := map[string]any{"run_id": runID}
	if len(metrics) > 0 {
		in["metrics"] = metrics
	}
	if len(params) > 0 {
		in["params"] = params
	}
	if len(tags) > 0 {
		in["tags"] = tags
	}
	return c.post(ctx, "runs/log-batch", in, nil)
}

// logBatchPhase runs n clients, each logging 1000-metric batches (10 keys x
// 100 steps) to its own run until d has passed, and returns the points the
// server acknowledged.
func logBatchPhase(ctx context.Context, cl *client, prefix string, n int, d time.Duration) (int64, time.Duration, error) {
	expID, err := cl.createExperiment(ctx, fmt.Sprintf("%s-logbatch-c%d", prefix, n))
	if err != nil {
		return 0, 0, err
	}
	runIDs := make([]string, n)
	for i := range runIDs {
		if runIDs[i], err = cl.createRun(ctx, expID, fmt.Sprintf("client-%d", i)); err != nil {
			return 0, 0, err
		}
	}
	var points atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, n)
	start := time.Now()
	deadline := start.Add(d)
	for _, runID := range runIDs {
		wg.Go(func() {
			batch := make([]metric, 1000)
			for step := int64(0); time.Now().Before(deadline); step += 100 {
				ts := time.Now().UnixMilli()
				for i := range batch {
					batch[i] = metric{Key: fmt.Sprintf("m%d", i%10), Value: float64(i) * 0.5, Timestamp: ts, Step: step + int64(i/10)}
				}
				if err := cl.logBatch(ctx, runID, batch, nil, nil); err != nil {
					errs <- err
					return
				}
				points.Add(int64(len(batch)))
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(errs)
	if err := <-errs; err != nil {
		return 0, 0, err
	}
	return points.Load(), elapsed, nil
}

// fill creates runs number from..to-1 in expID with 10 params, 10 metrics and
// 5 tags each. Metric values are spread over [0, 1) so the filter keeps about
// half.
func fill(ctx context.Context, cl *client, expID string, from, to, conc int) error {
	var next atomic.Int64
	next.Store(int64(from))
	var wg sync.WaitGroup
	errs := make(chan error, conc)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for range conc {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(to) {
					return
				}
				if err := fillOne(ctx, cl, expID, int(i)); err != nil {
					errs <- err
					cancel()
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	return <-errs
}

func fillOne(ctx context.Context, cl *client, expID string, i int) error {
	runID, err := cl.createRun(ctx, expID, fmt.Sprintf("run-%d", i))
	if err != nil {
		return err
	}
	ts := time.Now().UnixMilli()
	metrics := make([]metric, 10)
	params := make([]kv, 10)
	for k := range 10 {
		// A cheap deterministic scramble of (i, k) into [0, 1).
		v := float64((i*7919+k*104729)%10007) / 10007
		metrics[k] = metric{Key: fmt.Sprintf("m%d", k), Value: v, Timestamp: ts, Step: 0}
		params[k] = kv{Key: fmt.Sprintf("p%d", k), Value: fmt.Sprintf("value-%d-%d", i%17, k)}
	}
	tags := make([]kv, 5)
	for k := range 5 {
		tags[k] = kv{Key: fmt.Sprintf("t%d", k), Value: fmt.Sprintf("tag-%d", (i+k)%13)}
	}
	return cl.logBatch(ctx, runID, metrics, params, tags)
}

// searchPhase times c.searches sequential search-runs requests and returns
// their latencies in milliseconds and the size of the first page.
func searchPhase(ctx context.Context, cl *client, expID string, c config) ([]float64, int, error) {
	in := map[string]any{
		"experiment_ids": []string{expID},
		"filter":         c.filter,
		"order_by":       []string{c.orderBy},
		"max_results":    c.maxResults,
	}
	var out struct {
		Runs []json.RawMessage `json:"runs"`
	}
	// One untimed request warms caches on both kinds of server alike.
	if err := cl.post(ctx, "runs/search", in, &out); err != nil {
		return nil, 0, err
	}
	lat := make([]float64, 0, c.searches)
	for range c.searches {
		start := time.Now()
		if err := cl.post(ctx, "runs/search", in, &out); err != nil {
			return nil, 0, err
		}
		lat = append(lat, float64(time.Since(start).Microseconds())/1000)
	}
	return lat, len(out.Runs), nil
}
