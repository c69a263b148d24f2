// Command artifacts measures the artifact proxy: it uploads one large file
// through PUT /api/2.0/mlflow-artifacts/artifacts/<path>, downloads it back,
// and reports throughput and the server's resident memory while doing it.
//
//	go run ./artifacts --start ../bin/mltrack          # starts mltrack itself
//	go run ./artifacts --url http://127.0.0.1:5000 --pid 1234   # any server
//
// The payload is generated while it is sent (no local copy), and hashed on
// the way back, so only the server's memory and disk are exercised. Memory
// is summed over the server process and its descendants. Output
// lines are `RESULT <name> <value>`; logs go to stderr.
package main

import (
	"context"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/mltrack/mltrack/bench/internal/procmem"
)

func main() {
	var (
		url    = flag.String("url", "", "server base URL (with --pid); empty: --start a server")
		pid    = flag.Int("pid", 0, "server pid whose memory is sampled (with --url)")
		start  = flag.String("start", "../bin/mltrack", "mltrack binary to start on a free port when --url is empty")
		size   = flag.Int64("size", 1<<30, "bytes to upload and download")
		ports  = flag.String("ports", "20500-20599", "loopback port range for --start")
		keep   = flag.Bool("keep", false, "keep the --start work directory")
		target = flag.String("path", "bench/big.bin", "artifact path under the proxy root")
	)
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(log, *url, *pid, *start, *ports, *size, *target, *keep); err != nil {
		log.Error("artifacts bench failed", "error", err)
		os.Exit(1)
	}
}

func run(log *slog.Logger, url string, pid int, bin, ports string, size int64, target string, keep bool) error {
	if url == "" {
		srv, err := startServer(log, bin, ports)
		if err != nil {
			return err
		}
		defer srv.stop(keep)
		url, pid = srv.url, srv.cmd.Process.Pid
	}
	if pid == 0 {
		return errors.New("--pid is needed with --url: memory is the point of this benchmark")
	}
	time.Sleep(time.Second) // let start-up allocations settle
	idle, err := treeStatus(pid)
	if err != nil {
		return err
	}
	fmt.Printf("RESULT idle_rss_mb %.1f\n", kb(idle["VmRSS"]))
	fmt.Printf("RESULT idle_hwm_mb %.1f\n", kb(idle["VmHWM"]))
	mem := startSampler(pid, 100*time.Millisecond)

	endpoint := strings.TrimSuffix(url, "/") + "/api/2.0/mlflow-artifacts/artifacts/" + target
	client := &http.Client{Transport: &http.Transport{DisableCompression: true}}

	up := sha256.New()
	body := io.TeeReader(io.LimitReader(newPattern(), size), up)
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPut, endpoint, body)
	if err != nil {
		return err
	}
	req.ContentLength = size
	req.Header.Set("Content-Type", "application/octet-stream")
	t0 := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("upload: %w", err)
	}
	msg, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("upload: %s %s", resp.Status, msg)
	}
	upDur := time.Since(t0)
	upPeak := mem.peak()

	t0 = time.Now()
	resp, err = client.Get(endpoint)
	if err != nil {
		return fmt.Errorf("download: %w", err)
	}
	down := sha256.New()
	n, err := io.Copy(down, resp.Body)
	resp.Body.Close()
	if err != nil {
		return fmt.Errorf("download: %w", err)
	}
	downDur := time.Since(t0)
	if resp.StatusCode != http.StatusOK || n != size || !sameSum(up, down) {
		return fmt.Errorf("download: %s, %d bytes, checksum match %v", resp.Status, n, sameSum(up, down))
	}
	peakRSS := mem.stop()
	after, err := treeStatus(pid)
	if err != nil {
		return err
	}
	mb := float64(size) / (1 << 20)
	fmt.Printf("RESULT size_mb %.0f\n", mb)
	fmt.Printf("RESULT upload_mb_per_s %.1f\n", mb/upDur.Seconds())
	fmt.Printf("RESULT download_mb_per_s %.1f\n", mb/downDur.Seconds())
	fmt.Printf("RESULT upload_peak_rss_mb %.1f\n", kb(upPeak))
	fmt.Printf("RESULT peak_rss_mb %.1f\n", kb(peakRSS))
	fmt.Printf("RESULT peak_hwm_mb %.1f\n", kb(after["VmHWM"]))
	fmt.Printf("RESULT hwm_over_idle_rss_mb %.1f\n", kb(after["VmHWM"]-idle["VmRSS"]))
	return nil
}

func kb(v int64) float64 { return float64(v) / 1024 }

func sameSum(a, b hash.Hash) bool { return string(a.Sum(nil)) == string(b.Sum(nil)) }

// pattern is an endless pseudo-random stream: incompressible, cheap, and
// never held in memory as a whole.
type pattern struct{ r *rand.ChaCha8 }

func newPattern() io.Reader { return &pattern{rand.NewChaCha8([32]byte{1})} }

func (p *pattern) Read(b []byte) (int, error) { return p.r.Read(b) }

// ---- the server under test ----

type server struct {
	cmd *exec.Cmd
	url string
	dir string
}

func startServer(log *slog.Logger, bin, ports string) (*server, error) {
	lo, hi, ok := strings.Cut(ports, "-")
	first, err1 := strconv.Atoi(lo)
	last, err2 := strconv.Atoi(hi)
	if !ok || err1 != nil || err2 != nil || first > last {
		return nil, fmt.Errorf("--ports=%q: want FIRST-LAST", ports)
	}
	port := 0
	for p := first; p <= last; p++ {
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err == nil {
			ln.Close()
			port = p
			break
		}
	}
	if port == 0 {
		return nil, fmt.Errorf("no free port in %s", ports)
	}
	dir, err := os.MkdirTemp("", "mltrack-bench-artifacts-")
	if err != nil {
		return nil, err
	}
	s := &server{dir: dir, url: fmt.Sprintf("http://127.0.0.1:%d", port)}
	s.cmd = exec.Command(bin, "server", "--host", "127.0.0.1", "--port", strconv.Itoa(port),
		"--backend-store-uri", "sqlite:///"+filepath.Join(dir, "mlflow.db"),
		"--artifacts-destination", filepath.Join(dir, "mlartifacts"), "--log-level", "warn",
		"--history-cache-file", "")
	s.cmd.Stdout, s.cmd.Stderr = os.Stderr, os.Stderr
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if r, err := http.Get(s.url + "/health"); err == nil {
			r.Body.Close()
			if r.StatusCode == 200 {
				log.Info("server up", "url", s.url, "pid", s.cmd.Process.Pid)
				return s, nil
			}
		}
	}
	s.stop(false)
	return nil, errors.New("server not healthy after 30s")
}

func (s *server) stop(keep bool) {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	_ = s.cmd.Wait()
	if !keep {
		_ = os.RemoveAll(s.dir)
	}
}

// ---- memory ----

type sampler struct {
	pid  int
	done chan struct{}
	wg   sync.WaitGroup
	mu   sync.Mutex
	max  int64 // kB
}

func startSampler(pid int, every time.Duration) *sampler {
	s := &sampler{pid: pid, done: make(chan struct{})}
	s.wg.Go(func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-s.done:
				return
			case <-t.C:
				if st, err := treeStatus(pid); err == nil {
					s.mu.Lock()
					s.max = max(s.max, st["VmRSS"])
					s.mu.Unlock()
				}
			}
		}
	})
	return s
}

func (s *sampler) peak() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.max
}

func (s *sampler) stop() int64 {
	close(s.done)
	s.wg.Wait()
	return s.peak()
}

// treeStatus sums the kB fields of /proc/<pid>/status over pid and its
// descendants: MLflow's server is a parent with uvicorn workers.
func treeStatus(root int) (map[string]int64, error) {
	sum, err := procmem.Status(root)
	if err != nil {
		return nil, err
	}
	for _, p := range procmem.Tree(root)[1:] {
		if st, err := procmem.Status(p); err == nil {
			for k, v := range st {
				sum[k] += v
			}
		}
	}
	return sum, nil
}
