// Package server is mltrack's HTTP layer: MLflow's REST API over a
// tracking.Service, with MLflow's wire format and error mapping.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/mltrack/mltrack/internal/artifacts"
	"github.com/mltrack/mltrack/internal/tracking"
)

// DefaultMaxBodyBytes bounds request bodies. MLflow's largest legal request,
// a full log-batch, is far below it.
const DefaultMaxBodyBytes = 32 << 20

// Options configures a Server.
type Options struct {
	Service *tracking.Service
	Logger  *slog.Logger
	// StaticPrefix is prepended to every route ("" or "/x", no trailing slash).
	StaticPrefix string
	// AllowedHosts are Host-header patterns; nil means DefaultAllowedHosts,
	// a list holding "*" disables the check.
	AllowedHosts []string
	// CORSAllowedOrigins are allowed besides localhost origins.
	CORSAllowedOrigins []string
	// MaxBodyBytes caps request bodies (0: DefaultMaxBodyBytes).
	MaxBodyBytes int64
	// Version is what /version answers.
	Version string
	// StoreType is reported by server-info ("SqlStore", "FileStore").
	StoreType string
	// Now is the clock used for access-log durations (default time.Now).
	Now func() time.Time
	// Artifacts is the proxy's repository (--artifacts-destination); nil
	// means --no-serve-artifacts: the proxy routes answer 503.
	Artifacts artifacts.Repository
	// ArtifactsOnly disables the tracking routes (503), as --artifacts-only.
	ArtifactsOnly bool
}

// Server serves MLflow's tracking API.
type Server struct {
	svc           *tracking.Service
	logger        *slog.Logger
	prefix        string
	allowedHosts  []string
	corsOrigins   []string
	maxBody       int64
	version       string
	storeType     string
	now           func() time.Time
	artifacts     artifacts.Repository
	artifactsOnly bool
	handler       http.Handler
}

// New builds a Server and its route table.
func New(opts Options) *Server {
	s := &Server{
		svc: opts.Service, logger: opts.Logger, prefix: opts.StaticPrefix,
		allowedHosts: opts.AllowedHosts, corsOrigins: opts.CORSAllowedOrigins,
		maxBody: opts.MaxBodyBytes, version: opts.Version, storeType: opts.StoreType, now: opts.Now,
		artifacts: opts.Artifacts, artifactsOnly: opts.ArtifactsOnly,
	}
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	if s.allowedHosts == nil {
		s.allowedHosts = DefaultAllowedHosts()
	}
	if s.maxBody == 0 {
		s.maxBody = DefaultMaxBodyBytes
	}
	if s.storeType == "" {
		s.storeType = "SqlStore"
	}
	if s.now == nil {
		s.now = time.Now
	}
	mux := http.NewServeMux()
	s.routes(mux)
	// Artifact paths are checked before the mux, and uploads stream past the body cap.
	h := s.withArtifactGuard(withBodyLimit(s.maxBody, mux), mux)
	h = s.withCORS(h)
	h = s.withHostCheck(h)
	h = s.withAccessLog(h)
	h = withRequestID(h)
	s.handler = h
	return s
}

// ServeHTTP makes Server an http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// Serve serves on ln until ctx is done, then stops accepting, lets in-flight
// requests finish for up to grace, and returns.
func (s *Server) Serve(ctx context.Context, ln net.Listener, grace time.Duration) error {
	hs := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.logger.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		_ = hs.Close()
		return fmt.Errorf("shutdown: in-flight requests did not finish within %s: %w", grace, err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}
