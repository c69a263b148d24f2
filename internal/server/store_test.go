package server

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/mltrack/mltrack/internal/store/sqlstore"
	"github.com/mltrack/mltrack/internal/tracking"
)

// openTestStore is the store the HTTP tests run against: the real SQL store
// on a fresh SQLite file.
func openTestStore(t testing.TB) tracking.Store {
	t.Helper()
	uri := "sqlite:///" + filepath.Join(t.TempDir(), "mlflow.db")
	st, err := sqlstore.Open(context.Background(), uri, sqlstore.Options{
		DefaultArtifactRoot: "mlflow-artifacts:/",
		Now:                 func() time.Time { return time.UnixMilli(1700000000000) },
	})
	if err != nil {
		t.Fatalf("open %s: %v", uri, err)
	}
	return st
}
