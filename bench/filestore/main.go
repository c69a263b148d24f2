// Command filestore measures mltrack on a big mlruns folder: it writes one in
// MLflow's format (default 10,000 runs with 10 metrics of 100 steps, 10
// params and 5 tags each: ten million metric points), then reports
//
//   - the time from starting `mltrack server` on it to its first answer
//     to a search-runs request,
//   - search-runs latency (p50, p95) with a metric filter,
//   - `mltrack import` of the folder into a fresh SQLite file, in metric
//     points per second, and, with -ceiling, as a ratio to the SQLite
//     ceiling (bench/ceiling) measured right before and right after it.
//
// It asserts nothing; the numbers go into docs/benchmarks.md.
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

func main() {
	var (
		bin      = flag.String("mltrack", "bin/mltrack", "mltrack binary")
		work     = flag.String("dir", "", "work directory (default: a new temp dir, removed unless -keep)")
		runs     = flag.Int("runs", 10000, "runs to generate")
		metrics  = flag.Int("metrics", 10, "metrics per run")
		steps    = flag.Int("steps", 100, "steps per metric")
		searches = flag.Int("searches", 50, "timed search requests")
		filter   = flag.String("filter", "metrics.m1 > 0.5", "search filter")
		ports    = flag.String("ports", "21500-21999", "loopback port range to pick from")
		keep     = flag.Bool("keep", false, "keep the work directory")
		ceiling  = flag.String("ceiling", "auto", "a built bench/ceiling binary, run before and after the import for the ratio; "+
			"auto builds ./ceiling with -tags mattn (run from bench/); empty skips it")
		ceilArgs = flag.String("ceiling-args", "--driver mattn --rows 2000000", "arguments of the ceiling runs")
		noServe  = flag.Bool("import-only", false, "skip the server start-up and search measurements")
		reuse    = flag.Bool("reuse", false, "with -dir: use the mlruns folder already there instead of generating one")
	)
	flag.Parse()
	dir := *work
	if dir == "" {
		d, err := os.MkdirTemp("", "mltrack-filestore-bench-")
		if err != nil {
			log.Fatal(err)
		}
		dir = d
		if !*keep {
			defer os.RemoveAll(dir)
		}
	}
	root := filepath.Join(dir, "mlruns")
	points := *runs * *metrics * *steps
	expID := benchExperiment
	if _, err := os.Stat(root); *reuse && err == nil {
		fmt.Printf("reusing %s (assumed %d runs, %d metric points)\n", root, *runs, points)
	} else {
		start := time.Now()
		if expID, err = generate(root, *runs, *metrics, *steps); err != nil {
			log.Fatal(err)
		}
		fmt.Printf("generated %d runs, %d metric points in %s (%s)\n", *runs, points, time.Since(start).Round(time.Millisecond), root)
	}
	if !*noServe {
		searchBench(*bin, root, expID, *ports, *searches, *filter)
	}
	if *ceiling == "auto" {
		*ceiling = filepath.Join(dir, "ceiling-bin")
		build := exec.Command("go", "build", "-tags", "mattn", "-o", *ceiling, "./ceiling")
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			log.Printf("no ceiling (build ./ceiling from bench/, or pass -ceiling): %v", err)
			*ceiling = ""
		}
	}
	importBench(*bin, dir, root, points, *ceiling, *ceilArgs)
}

func searchBench(bin, root, expID, ports string, searches int, filter string) {
	port, err := freePort(ports)
	if err != nil {
		log.Fatal(err)
	}
	ready, lat, err := serve(bin, root, expID, port, searches, filter)
	if err != nil {
		log.Fatal(err)
	}
	p50, p95 := lat[len(lat)/2], lat[len(lat)*95/100]
	fmt.Printf("mltrack server on the folder: first answer after %s\n", ready.Round(time.Millisecond))
	fmt.Printf("search-runs %q, max_results 100, %d requests: p50 %s, p95 %s\n", filter, len(lat),
		p50.Round(10*time.Microsecond), p95.Round(10*time.Microsecond))
}

// importBench imports the folder into a fresh SQLite file. With a ceiling
// binary, the ceiling is measured just before and just after, so the ratio
// compares numbers taken under the same machine load.
func importBench(bin, dir, root string, points int, ceiling, ceilArgs string) {
	var before, beforeCPU float64
	if ceiling != "" {
		before, beforeCPU = runCeiling(ceiling, ceilArgs, dir)
	}
	db := filepath.Join(dir, "imported.db")
	for _, f := range []string{db, db + "-wal", db + "-shm"} {
		_ = os.Remove(f)
	}
	// The import alone: no chart cache for the throwaway target.
	cmd := exec.Command(bin, "import", "--no-progress", "--history-cache-file", "", "--from", root, "--to", "sqlite:///"+db)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	t := time.Now()
	if err := cmd.Run(); err != nil {
		log.Fatalf("import: %v\n%s", err, out.String())
	}
	took := time.Since(t)
	rate := float64(points) / took.Seconds()
	cpuRate := float64(points) / cpuSeconds(cmd)
	fmt.Printf("mltrack import into SQLite: %s, %.0f metric points/s (%.0f per CPU second)\n", took.Round(time.Millisecond), rate, cpuRate)
	fmt.Print(out.String())
	if ceiling != "" {
		after, afterCPU := runCeiling(ceiling, ceilArgs, dir)
		fmt.Printf("RESULT import_points_per_sec %.0f\n", rate)
		fmt.Printf("RESULT ceiling_before_rows_per_sec %.0f\nRESULT ceiling_after_rows_per_sec %.0f\n", before, after)
		fmt.Printf("RESULT import_to_ceiling_ratio %.2f (against the mean %.0f; %.2f-%.2f against each)\n",
			rate/((before+after)/2), (before+after)/2, rate/max(before, after), rate/min(before, after))
		// Per CPU second, both sides are nearly blind to other processes
		// taking the cores, which wall-clock rates on a shared machine are not.
		fmt.Printf("RESULT import_to_ceiling_cpu_ratio %.2f (import %.0f points per CPU second, ceiling %.0f rows per CPU second)\n",
			cpuRate/((beforeCPU+afterCPU)/2), cpuRate, (beforeCPU+afterCPU)/2)
	}
}

// cpuSeconds is the user and system time a finished command used.
func cpuSeconds(cmd *exec.Cmd) float64 {
	return (cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()).Seconds()
}

// runCeiling runs a bench/ceiling binary and returns its rows per second
// of wall-clock time and per CPU second.
func runCeiling(bin, args, dir string) (float64, float64) {
	cmd := exec.Command(bin, append(strings.Fields(args), "--db", filepath.Join(dir, "ceiling.db"))...)
	defer func() {
		for _, s := range []string{"", "-wal", "-shm"} {
			_ = os.Remove(filepath.Join(dir, "ceiling.db"+s))
		}
	}()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, os.Stderr
	if err := cmd.Run(); err != nil {
		log.Fatalf("ceiling: %v\n%s", err, out.String())
	}
	fmt.Print(out.String())
	_, rest, ok := strings.Cut(out.String(), "rows_per_sec=")
	if !ok {
		log.Fatalf("ceiling printed no rows_per_sec: %s", out.String())
	}
	rest, _, _ = strings.Cut(rest, "\n")
	v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
	if err != nil {
		log.Fatalf("ceiling rate %q: %v", rest, err)
	}
	_, rows, _ := strings.Cut(out.String(), " rows=")
	rows, _, _ = strings.Cut(rows, " ")
	n, err := strconv.ParseFloat(rows, 64)
	if err != nil {
		log.Fatalf("ceiling rows %q: %v", rows, err)
	}
	return v, n / cpuSeconds(cmd)
}

// generate writes an mlruns folder the way MLflow 3.18's file store lays it
// out; workers write runs in parallel.
const benchExperiment = "123456789012345678"

func generate(root string, runs, metrics, steps int) (string, error) {
	const expID = benchExperiment
	const t0 = int64(1_700_000_000_000)
	expDir := filepath.Join(root, expID)
	for _, d := range []string{filepath.Join(root, ".trash"), filepath.Join(root, "0"), expDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return "", err
		}
	}
	expMeta := func(id, name string) []byte {
		return []byte(fmt.Sprintf("artifact_location: file://%s/%s\ncreation_time: %d\neffective_trace_archival_retention: null\n"+
			"experiment_id: '%s'\nlast_update_time: %d\nlifecycle_stage: active\nname: %s\ntrace_location: null\nworkspace: default\n",
			root, id, t0, id, t0, name))
	}
	if err := os.WriteFile(filepath.Join(root, "0", "meta.yaml"), expMeta("0", "Default"), 0o644); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(expDir, "meta.yaml"), expMeta(expID, "bench"), 0o644); err != nil {
		return "", err
	}
	jobs := make(chan int)
	errs := make(chan error, 1)
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) * 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				if err := writeRun(expDir, expID, i, metrics, steps, t0); err != nil {
					select {
					case errs <- err:
					default:
					}
				}
			}
		}()
	}
	for i := range runs {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	select {
	case err := <-errs:
		return "", err
	default:
	}
	return expID, nil
}

func writeRun(expDir, expID string, i, metrics, steps int, t0 int64) error {
	var b [16]byte
	_, _ = rand.Read(b[:])
	id := hex.EncodeToString(b[:])
	dir := filepath.Join(expDir, id)
	for _, sub := range []string{"metrics", "params", "tags", "artifacts"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return err
		}
	}
	start := t0 + int64(i)*1000
	name := fmt.Sprintf("run-%05d", i)
	meta := fmt.Sprintf("artifact_uri: file://%s/%s/artifacts\nend_time: %d\nentry_point_name: ''\nexperiment_id: '%s'\n"+
		"lifecycle_stage: active\nrun_id: %s\nrun_name: %s\nsource_name: ''\nsource_type: 4\nsource_version: ''\n"+
		"start_time: %d\nstatus: 3\ntags: []\nuser_id: bench\n", expDir, id, start+500, expID, id, name, start)
	if err := os.WriteFile(filepath.Join(dir, "meta.yaml"), []byte(meta), 0o644); err != nil {
		return err
	}
	for p := range 10 {
		if err := os.WriteFile(filepath.Join(dir, "params", fmt.Sprint("p", p)), []byte(strconv.Itoa((i+p)%97)), 0o644); err != nil {
			return err
		}
	}
	tags := map[string]string{"mlflow.runName": name, "mlflow.user": "bench", "group": fmt.Sprint("g", i%10),
		"phase": "train", "seed": strconv.Itoa(i)}
	for k, v := range tags {
		if err := os.WriteFile(filepath.Join(dir, "tags", k), []byte(v), 0o644); err != nil {
			return err
		}
	}
	var buf bytes.Buffer
	for m := range metrics {
		buf.Reset()
		for s := range steps {
			v := float64((i*31+m*7+s)%1000) / 1000
			fmt.Fprintf(&buf, "%d %s %d\n", start+int64(s), strconv.FormatFloat(v, 'f', -1, 64), s)
		}
		if err := os.WriteFile(filepath.Join(dir, "metrics", fmt.Sprint("m", m)), buf.Bytes(), 0o644); err != nil {
			return err
		}
	}
	return nil
}

func freePort(spec string) (int, error) {
	var lo, hi int
	if _, err := fmt.Sscanf(spec, "%d-%d", &lo, &hi); err != nil {
		return 0, fmt.Errorf("ports %q: %w", spec, err)
	}
	for p := lo; p <= hi; p++ {
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err == nil {
			ln.Close()
			return p, nil
		}
	}
	return 0, fmt.Errorf("no free port in %s", spec)
}

// serve starts the server, times its first search answer, then the searches.
func serve(bin, root, expID string, port, searches int, filter string) (time.Duration, []time.Duration, error) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "server", "--backend-store-uri", root, "--host", "127.0.0.1", "--port", strconv.Itoa(port))
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, nil, err
	}
	defer func() { _ = cmd.Process.Signal(os.Interrupt); _ = cmd.Wait() }()
	url := fmt.Sprintf("http://127.0.0.1:%d/api/2.0/mlflow/runs/search", port)
	body, _ := json.Marshal(map[string]any{"experiment_ids": []string{expID}, "filter": filter, "max_results": 100})
	search := func() (int, error) {
		resp, err := http.Post(url, "application/json", bytes.NewReader(body))
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		var out struct {
			Runs []json.RawMessage `json:"runs"`
		}
		if resp.StatusCode != 200 {
			b, _ := io.ReadAll(resp.Body)
			return 0, fmt.Errorf("search: %s: %s", resp.Status, b)
		}
		err = json.NewDecoder(resp.Body).Decode(&out)
		return len(out.Runs), err
	}
	var ready time.Duration
	for {
		n, err := search()
		if err == nil {
			ready = time.Since(start)
			if n == 0 {
				return 0, nil, fmt.Errorf("first search found no runs")
			}
			break
		}
		if time.Since(start) > 5*time.Minute {
			return 0, nil, fmt.Errorf("server not answering after 5 minutes: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	lat := make([]time.Duration, 0, searches)
	for range searches {
		t := time.Now()
		if _, err := search(); err != nil {
			return 0, nil, err
		}
		lat = append(lat, time.Since(t))
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	return ready, lat, nil
}
