// Package store opens the tracking store a backend URI names: MLflow's SQL
// schema (sqlite:, postgresql:) or an mlruns directory (a path or file: URI).
package store

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/mltrack/mltrack/internal/store/filestore"
	"github.com/mltrack/mltrack/internal/store/sqlstore"
	"github.com/mltrack/mltrack/internal/tracking"
)

// Options are passed on to whichever store is opened.
type Options struct {
	DefaultArtifactRoot string
	Logger              *slog.Logger
	Now                 func() time.Time
}

// Store types as MLflow's server-info reports them.
const (
	TypeSQL  = "SqlStore"
	TypeFile = "FileStore"
)

// IsFileURI reports whether uri names an mlruns directory: no scheme, a
// file: URI, or a Windows drive letter.
func IsFileURI(uri string) bool {
	scheme, _, found := strings.Cut(uri, ":")
	return !found || scheme == "file" || len(scheme) == 1
}

// Check refuses a URI no store can open, before anything is created.
func Check(uri string) error {
	if uri == "" {
		return fmt.Errorf("the backend store URI is empty: use e.g. sqlite:///mlflow.db or ./mlruns")
	}
	if IsFileURI(uri) {
		return nil
	}
	scheme, _, _ := strings.Cut(uri, ":")
	switch strings.SplitN(scheme, "+", 2)[0] {
	case "sqlite", "postgresql", "postgres":
		return nil
	}
	return fmt.Errorf("backend store URI %q: unsupported scheme %q; use sqlite:///path.db, postgresql://user:password@host:5432/db or an mlruns directory", uri, scheme)
}

// Open opens the store uri names and says which type it is.
func Open(ctx context.Context, uri string, opts Options) (tracking.Store, string, error) {
	if err := Check(uri); err != nil {
		return nil, "", err
	}
	if IsFileURI(uri) {
		st, err := filestore.Open(ctx, uri, filestore.Options{
			DefaultArtifactRoot: opts.DefaultArtifactRoot, Logger: opts.Logger, Now: opts.Now,
		})
		if err != nil {
			return nil, "", err
		}
		return st, TypeFile, nil
	}
	st, err := sqlstore.Open(ctx, uri, sqlstore.Options{
		DefaultArtifactRoot: opts.DefaultArtifactRoot, Logger: opts.Logger, Now: opts.Now,
	})
	if err != nil {
		return nil, "", err
	}
	return st, TypeSQL, nil
}

// DefaultURI is the backend used when none is given, as MLflow 3.7+ picks
// it: ./mlruns when that directory already holds an experiment (a numeric
// folder with a meta.yaml), otherwise sqlite:///mlflow.db. dir is the
// working directory.
func DefaultURI(dir string) string {
	root := filepath.Join(dir, "mlruns")
	entries, err := os.ReadDir(root)
	if err == nil {
		for _, e := range entries {
			if !e.IsDir() || strings.Trim(e.Name(), "0123456789") != "" {
				continue
			}
			if _, err := os.Stat(filepath.Join(root, e.Name(), "meta.yaml")); err == nil {
				return "./mlruns"
			}
		}
	}
	return "sqlite:///mlflow.db"
}
