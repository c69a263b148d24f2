// Command mltrack runs a tracking server that speaks MLflow's REST API.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/mltrack/mltrack/internal/artifacts"
	"github.com/mltrack/mltrack/internal/server"
	"github.com/mltrack/mltrack/internal/store"
	"github.com/mltrack/mltrack/internal/tracking"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.0.0-dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

const topUsage = `Usage: mltrack <command> [flags]

mltrack is a tracking server that speaks MLflow's REST API.

Commands:
  server    run the tracking server
  ui        same as server
  import    copy tracking data between stores (mlruns, SQLite, PostgreSQL)

Flags:
  --version print the version and exit
  --help    show this help

Run 'mltrack server --help' for the server's flags.
`

// run is main without the process: it returns the exit code.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, topUsage)
		return 2
	}
	switch args[0] {
	case "--version", "-version", "version":
		fmt.Fprintf(stdout, "mltrack %s\n", version)
		return 0
	case "--help", "-help", "-h", "help":
		fmt.Fprint(stdout, topUsage)
		return 0
	case "import":
		return runImport(ctx, args[1:], stdout, stderr)
	case "server", "ui":
	default:
		fmt.Fprintf(stderr, "mltrack: unknown command or flag %q\n\n%s", args[0], topUsage)
		return 2
	}
	cfg, err := parseServerConfig(args[0], args[1:], getenv, stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		return 2
	case err != nil:
		fmt.Fprintf(stderr, "mltrack: %v\n", err)
		return 2
	}
	logger := newLogger(cfg, stderr)
	if err := serve(ctx, cfg, logger, stdout); err != nil {
		logger.Error("server stopped", "error", err)
		return 1
	}
	return 0
}

func newLogger(cfg Config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// serve opens the store, listens, and serves until ctx is done; then it
// drains in-flight requests and closes the store.
func serve(ctx context.Context, cfg Config, logger *slog.Logger, stdout io.Writer) error {
	st, storeType, err := store.Open(ctx, cfg.BackendStoreURI, store.Options{
		DefaultArtifactRoot: cfg.DefaultArtifactRoot, Logger: logger, Now: time.Now,
	})
	if err != nil {
		return fmt.Errorf("open backend store %s: %w", cfg.BackendStoreURI, err)
	}
	cacheBytes := int64(cfg.HistoryCacheMB) << 20
	if cacheBytes == 0 {
		cacheBytes = -1 // the option's zero means "default"; the flag's means off
	}
	svc := tracking.NewService(st, tracking.ServiceOptions{Logger: logger, HistoryCacheBytes: cacheBytes})
	defer func() {
		if err := svc.Close(); err != nil {
			logger.Error("closing the store", "error", err)
		}
	}()
	ln, err := net.Listen("tcp", cfg.listenAddr())
	if err != nil {
		return fmt.Errorf("listen on %s: %w (choose another --host/--port)", cfg.listenAddr(), err)
	}
	var repo artifacts.Repository // nil: --no-serve-artifacts
	if cfg.ServeArtifacts {
		if repo, err = openArtifacts(ctx, cfg); err != nil {
			return err
		}
		if c, ok := repo.(io.Closer); ok {
			defer c.Close()
		}
	}
	srv := server.New(server.Options{
		Service: svc, Logger: logger, StaticPrefix: cfg.StaticPrefix,
		AllowedHosts: cfg.AllowedHosts, CORSAllowedOrigins: cfg.CORSAllowedOrigins,
		Version: version, StoreType: storeType,
		Artifacts: repo, ArtifactsOnly: cfg.ArtifactsOnly,
	})
	fmt.Fprintf(stdout, "mltrack %s listening on http://%s%s/\n", version, ln.Addr(), cfg.StaticPrefix)
	// Loaded before serving (connections wait in the listen backlog), so
	// the first chart after a restart finds it, and before the warm-up,
	// which then skips what it holds.
	backend := backendID(cfg.BackendStoreURI)
	loadHistorySnapshot(cfg, svc, backend, logger)
	stopWarm := func() {}
	if cfg.HistoryCacheWarm {
		warmCtx, cancel := context.WithCancel(ctx)
		warmed := make(chan struct{})
		go func() {
			defer close(warmed)
			_, _ = svc.WarmHistoryCache(warmCtx)
		}()
		// Stopped and waited for before the snapshot and before the store
		// closes; it logs its own outcome.
		stopWarm = sync.OnceFunc(func() { cancel(); <-warmed })
		defer stopWarm()
	}
	stopSaving := saveHistoryPeriodically(ctx, cfg, svc, backend, logger)
	err = srv.Serve(ctx, ln, cfg.ShutdownTimeout)
	logger.Info("shut down")
	stopSaving()
	stopWarm()
	if err == nil {
		saveHistorySnapshot(cfg, svc, backend, logger)
	}
	return err
}

// loadHistorySnapshot fills the history cache from the snapshot the last
// graceful shutdown wrote. A missing, foreign or damaged file costs one log
// line, never the start.
func loadHistorySnapshot(cfg Config, svc *tracking.Service, backend string, logger *slog.Logger) {
	switch {
	case !svc.HasHistoryCache():
		return
	case cfg.HistoryCacheFileOff != "":
		logger.Warn("history cache snapshots off", "reason", cfg.HistoryCacheFileOff)
		return
	case cfg.HistoryCacheFile == "":
		return
	}
	rep, err := svc.LoadHistoryCache(cfg.HistoryCacheFile, backend)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		logger.Info("no history cache snapshot", "file", cfg.HistoryCacheFile)
	case err != nil:
		logger.Warn("history cache snapshot ignored", "file", cfg.HistoryCacheFile, "error", err)
	default:
		logger.Info("history cache snapshot loaded", "file", cfg.HistoryCacheFile, "series", rep.Series,
			"mib", fmt.Sprintf("%.1f", float64(rep.Bytes)/(1<<20)), "skipped", rep.Skipped, "elapsed", rep.Elapsed.Round(time.Millisecond))
	}
}

// saveHistorySnapshot writes the history cache for the next start, once
// requests have drained and the warm-up has stopped.
func saveHistorySnapshot(cfg Config, svc *tracking.Service, backend string, logger *slog.Logger) {
	if cfg.HistoryCacheFile == "" || !svc.HasHistoryCache() {
		return
	}
	rep, err := svc.SaveHistoryCache(cfg.HistoryCacheFile, backend)
	if err != nil {
		logger.Warn("history cache snapshot not saved", "file", cfg.HistoryCacheFile, "error", err)
		return
	}
	logger.Info("history cache snapshot saved", "file", cfg.HistoryCacheFile, "series", rep.Series,
		"mib", fmt.Sprintf("%.1f", float64(rep.Bytes)/(1<<20)), "elapsed", rep.Elapsed.Round(time.Millisecond))
}

// saveHistoryPeriodically saves the history cache every
// --history-cache-save-every while serving (when it changed), so that a
// crash or a kill -9 costs little of it: a saved entry is checked against
// the store when loaded, and extended by what was appended since. The
// returned func stops it and waits for a save in progress.
func saveHistoryPeriodically(ctx context.Context, cfg Config, svc *tracking.Service, backend string, logger *slog.Logger) func() {
	if cfg.HistoryCacheFile == "" || cfg.HistoryCacheSaveEvery <= 0 || !svc.HasHistoryCache() {
		return func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		svc.SaveHistoryCacheEvery(ctx, cfg.HistoryCacheFile, backend, cfg.HistoryCacheSaveEvery, func(rep tracking.SnapshotReport, err error) {
			if err != nil {
				logger.Warn("history cache snapshot not saved", "file", cfg.HistoryCacheFile, "error", err)
				return
			}
			logger.Debug("history cache snapshot saved", "file", cfg.HistoryCacheFile, "series", rep.Series,
				"mib", fmt.Sprintf("%.1f", float64(rep.Bytes)/(1<<20)), "elapsed", rep.Elapsed.Round(time.Millisecond))
		})
	}()
	return sync.OnceFunc(func() { cancel(); <-done })
}

// openArtifacts opens the proxy's destination: s3://bucket/prefix or a
// local directory (validated with the config).
func openArtifacts(ctx context.Context, cfg Config) (artifacts.Repository, error) {
	if strings.HasPrefix(cfg.ArtifactsDestination, "s3://") {
		repo, err := artifacts.OpenS3(ctx, cfg.ArtifactsDestination, artifacts.S3Options{Endpoint: cfg.S3EndpointURL})
		if err != nil {
			return nil, fmt.Errorf("--artifacts-destination=%s: %w", cfg.ArtifactsDestination, err)
		}
		return repo, nil
	}
	dir, _ := cfg.artifactsDir()
	repo, err := artifacts.OpenLocal(dir)
	if err != nil {
		return nil, fmt.Errorf("--artifacts-destination=%s: %w", cfg.ArtifactsDestination, err)
	}
	return repo, nil
}
