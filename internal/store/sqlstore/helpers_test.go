package sqlstore

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// openTestSQLite opens a store on a fresh SQLite file in t.TempDir().
func openTestSQLite(t *testing.T) *Store { t.Helper(); return openSQLiteTB(t) }

// openTestPostgres opens a store on a fresh database on the server named by
// MLTRACK_TEST_POSTGRES_URI (skipped when unset, fatal when CI=true); the
// database is dropped in t.Cleanup.
func openTestPostgres(t *testing.T) *Store { t.Helper(); return openPostgresTB(t) }

func openSQLiteTB(t testing.TB) *Store {
	t.Helper()
	dir := t.TempDir()
	s, err := Open(context.Background(), "sqlite:///"+filepath.Join(dir, "mlflow.db"), Options{
		DefaultArtifactRoot: filepath.Join(dir, "mlruns"),
		Logger:              slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatalf("open sqlite store: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// postgresAdminURI returns the server named by MLTRACK_TEST_POSTGRES_URI, or
// skips (fails under CI=true) when it is unset.
func postgresAdminURI(t testing.TB) string {
	t.Helper()
	uri := os.Getenv("MLTRACK_TEST_POSTGRES_URI")
	if uri == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("MLTRACK_TEST_POSTGRES_URI is not set (required when CI=true)")
		}
		t.Skip("MLTRACK_TEST_POSTGRES_URI is not set")
	}
	return uri
}

// createTestPostgresDB creates a uniquely named empty database on the test
// server, drops it when the test ends, and returns its URI.
func createTestPostgresDB(t testing.TB) string {
	t.Helper()
	admin := postgresAdminURI(t)
	var b [6]byte
	rand.Read(b[:])
	name := "sqlstore_test_" + hex.EncodeToString(b[:])
	target, err := parseURI(admin)
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("pgx", target.pgURL)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := db.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		db.Close()
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		defer db.Close()
		if _, err := db.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)"); err != nil {
			t.Errorf("drop test database %s: %v", name, err)
		}
	})
	u, err := url.Parse(target.pgURL)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

func openPostgresTB(t testing.TB) *Store {
	t.Helper()
	uri := createTestPostgresDB(t)
	s, err := Open(context.Background(), uri, Options{
		DefaultArtifactRoot: filepath.Join(t.TempDir(), "mlruns"),
		Logger:              slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatalf("open postgres store: %v", err)
	}
	// Registered after the drop, so it runs first: the store closes its pool
	// before the database goes away.
	t.Cleanup(func() { s.Close() })
	return s
}
