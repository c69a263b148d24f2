package client_test

import (
	"context"
	"fmt"
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
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mltrack/mltrack/client"
)

// The SDK is tested against live servers started once in TestMain:
//   - mltrack on SQLite (always), built from ./cmd/mltrack;
//   - mltrack on PostgreSQL when MLTRACK_TEST_POSTGRES_URI is set
//     (a fresh database per test binary, dropped at the end);
//   - the real `mlflow server`, for LogArtifact only (mltrack does not
//     serve the artifact proxy yet), when an mlflow binary is found.
// MLTRACK_TEST_MLFLOW_URL reuses a running `mlflow server` (with artifact
// serving) instead of starting one.
// MLTRACK_CLIENT_TEST_SERVER=mlflow runs the whole suite against the real
// MLflow server instead of mltrack (useful to tell SDK bugs from server bugs).

type liveServer struct {
	name string
	url  string
}

type suite struct {
	tmp      string
	mu       sync.Mutex
	cleanups []func()

	mltrackOnce sync.Once
	servers     []liveServer // mltrack (sqlite, postgres) or mlflow
	serversErr  error
	pgSkip      string // why PostgreSQL is not among servers

	mlflowOnce sync.Once
	mlflowURL  string
	mlflowErr  string
}

// env is the test binary's view of the live servers, started lazily (so
// unit tests alone start nothing) and stopped when TestMain returns.
var env suite

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	tmp, err := os.MkdirTemp("", "mltrack-client-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(tmp)
	env.tmp = tmp
	defer func() {
		for i := len(env.cleanups) - 1; i >= 0; i-- {
			env.cleanups[i]()
		}
	}()
	return m.Run()
}

func (s *suite) onExit(f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cleanups = append(s.cleanups, f)
}

// mlflow starts the real MLflow server once; "" and the reason when it cannot.
func (s *suite) mlflow() (string, string) {
	s.mlflowOnce.Do(func() {
		if url := os.Getenv("MLTRACK_TEST_MLFLOW_URL"); url != "" {
			s.mlflowURL = url // an already running `mlflow server` with artifact serving
			return
		}
		bin := findMLflow()
		if bin == "" {
			s.mlflowErr = "no mlflow binary (set MLFLOW_BIN, or run `make venv`)"
			return
		}
		url, stop, err := startMLflow(bin, s.tmp)
		if err != nil {
			s.mlflowErr = err.Error()
			return
		}
		s.onExit(stop)
		s.mlflowURL = url
	})
	return s.mlflowURL, s.mlflowErr
}

func (s *suite) live() ([]liveServer, error) {
	s.mltrackOnce.Do(func() { s.servers, s.serversErr = s.startLive() })
	return s.servers, s.serversErr
}

func (s *suite) startLive() ([]liveServer, error) {
	if os.Getenv("MLTRACK_CLIENT_TEST_SERVER") == "mlflow" {
		s.pgSkip = "MLTRACK_CLIENT_TEST_SERVER=mlflow"
		url, why := s.mlflow()
		if url == "" {
			return nil, fmt.Errorf("MLTRACK_CLIENT_TEST_SERVER=mlflow but mlflow did not start: %s", why)
		}
		return []liveServer{{name: "mlflow", url: url}}, nil
	}
	bin := filepath.Join(s.tmp, "mltrack")
	build := exec.Command("go", "build", "-o", bin, "./cmd/mltrack")
	build.Dir = ".."
	if out, err := build.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("building mltrack: %v\n%s", err, out)
	}
	url, stop, err := startServer(s.tmp, "mltrack-sqlite", bin, "server", "--history-cache-file", "", "--backend-store-uri", "sqlite:///"+filepath.Join(s.tmp, "x.db"))
	if err != nil {
		return nil, err
	}
	s.onExit(stop)
	out := []liveServer{{name: "sqlite", url: url}}

	pgURI := os.Getenv("MLTRACK_TEST_POSTGRES_URI")
	if pgURI == "" {
		s.pgSkip = "MLTRACK_TEST_POSTGRES_URI is not set"
		return out, nil
	}
	dbURI, drop, err := freshPostgresDB(pgURI)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	s.onExit(drop)
	url, stop, err = startServer(s.tmp, "mltrack-postgres", bin, "server", "--history-cache-file", "", "--backend-store-uri", dbURI)
	if err != nil {
		return nil, err
	}
	s.onExit(stop)
	return append(out, liveServer{name: "postgres", url: url}), nil
}

// forEachServer runs fn once per live server, as parallel subtests.
func forEachServer(t *testing.T, fn func(t *testing.T, srv liveServer)) {
	t.Helper()
	servers, err := env.live()
	if err != nil {
		t.Fatal(err)
	}
	if env.pgSkip != "" {
		t.Run("postgres", func(t *testing.T) { skipOrFail(t, env.pgSkip) })
	}
	for _, s := range servers {
		t.Run(s.name, func(t *testing.T) {
			t.Parallel()
			fn(t, s)
		})
	}
}

// skipOrFail skips locally but fails in CI, where every backend must run.
func skipOrFail(t *testing.T, msg string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

func newClient(t *testing.T, url string, opts ...client.Option) *client.Client {
	t.Helper()
	base := []client.Option{
		client.WithTrackingURI(url),
		client.WithEnv(func(string) string { return "" }),
		client.WithRetry(3, 10*time.Millisecond, 100*time.Millisecond),
	}
	c, err := client.New(append(base, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// uniq makes names unique across subtests sharing one server.
func uniq(prefix string) string {
	return prefix + "-" + strconv.FormatUint(rand.Uint64(), 36)
}

func findMLflow() string {
	if p := os.Getenv("MLFLOW_BIN"); p != "" {
		return p
	}
	for _, p := range []string{"../.venv/bin/mlflow"} {
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			abs, _ := filepath.Abs(p)
			return abs
		}
	}
	if p, err := exec.LookPath("mlflow"); err == nil {
		return p
	}
	return ""
}

func startMLflow(bin, tmp string) (string, func(), error) {
	dir := filepath.Join(tmp, "mlflow")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", nil, err
	}
	return startServer(tmp, "mlflow", bin, "server",
		"--backend-store-uri", "sqlite:///"+filepath.Join(dir, "m.db"),
		"--artifacts-destination", filepath.Join(dir, "artifacts"),
		"--workers", "1")
}

// startServer starts `bin args... --host 127.0.0.1 --port P` on a free port of
// this helper's range and waits for /health.
func startServer(tmp, name, bin string, args ...string) (string, func(), error) {
	port, err := freePort()
	if err != nil {
		return "", nil, err
	}
	logPath := filepath.Join(tmp, name+".log")
	logf, err := os.Create(logPath)
	if err != nil {
		return "", nil, err
	}
	args = append(args, "--host", "127.0.0.1", "--port", strconv.Itoa(port))
	cmd := exec.Command(bin, args...)
	cmd.Dir = tmp
	cmd.Stdout, cmd.Stderr = logf, logf
	// Own process group: mlflow forks workers that must die with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return "", nil, fmt.Errorf("start %s: %w", name, err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	stop := func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
		logf.Close()
	}
	url := "http://127.0.0.1:" + strconv.Itoa(port)
	// mlflow's start-up (imports, migrations, uvicorn) takes minutes on a
	// loaded machine.
	deadline := time.Now().Add(startupTimeout)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			logf.Close()
			out, _ := os.ReadFile(logPath)
			return "", nil, fmt.Errorf("%s exited at start-up:\n%s", name, out)
		default:
		}
		resp, err := http.Get(url + "/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return url, stop, nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	stop()
	out, _ := os.ReadFile(logPath)
	return "", nil, fmt.Errorf("%s did not answer /health within %v:\n%s", name, startupTimeout, out)
}

const startupTimeout = 4 * time.Minute

// freePort picks a port in 18000-18999 (this test's allotted range) that is
// free right now.
func freePort() (int, error) {
	for range 200 {
		p := 18100 + rand.IntN(900)
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		if err == nil {
			ln.Close()
			return p, nil
		}
	}
	return 0, fmt.Errorf("no free port in 18100-18999")
}

// freshPostgresDB creates an empty database next to the one in uri and
// returns its URI and a function that drops it.
func freshPostgresDB(uri string) (string, func(), error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, uri)
	if err != nil {
		return "", nil, err
	}
	defer conn.Close(ctx)
	// The name is ours (fixed prefix + digits), never user text.
	name := "sdk_client_test_" + strconv.FormatUint(rand.Uint64()%1_000_000_000, 10)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return "", nil, err
	}
	i := strings.LastIndex(uri, "/")
	q := ""
	if j := strings.Index(uri[i:], "?"); j >= 0 {
		q = uri[i+j:]
	}
	dbURI := uri[:i+1] + name + q
	drop := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, uri)
		if err != nil {
			return
		}
		defer c.Close(ctx)
		_, _ = c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	}
	return dbURI, drop, nil
}
