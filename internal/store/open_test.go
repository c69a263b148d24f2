package store

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/mltrack/mltrack/internal/tracking"
)

func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		uri string
		ok  bool
	}{
		{"sqlite:///mlflow.db", true},
		{"postgresql://u:p@127.0.0.1:5432/db", true},
		{"postgresql+psycopg2://u:p@h/db", true},
		{"postgres://u@h/db", true},
		{"./mlruns", true},
		{"file:///tmp/mlruns", true},
		{"mysql://u@h/db", false},
		{"", false},
	} {
		if err := Check(tc.uri); (err == nil) != tc.ok {
			t.Errorf("Check(%q) = %v, want ok=%v", tc.uri, err, tc.ok)
		}
	}
}

func TestDefaultURI(t *testing.T) {
	dir := t.TempDir()
	if got := DefaultURI(dir); got != "sqlite:///mlflow.db" {
		t.Fatalf("no mlruns: got %q", got)
	}
	// An mlruns folder without an experiment does not count.
	if err := os.MkdirAll(filepath.Join(dir, "mlruns", "notanid"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "mlruns", "notanid", "meta.yaml"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := DefaultURI(dir); got != "sqlite:///mlflow.db" {
		t.Fatalf("mlruns without experiments: got %q", got)
	}
	if err := os.MkdirAll(filepath.Join(dir, "mlruns", "0"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "mlruns", "0", "meta.yaml"), []byte("name: Default\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := DefaultURI(dir); got != "./mlruns" {
		t.Fatalf("mlruns with experiment 0: got %q", got)
	}
}

func TestOpenPicksTheStore(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	for _, tc := range []struct {
		uri, want string
	}{
		{"sqlite:///" + filepath.Join(dir, "x.db"), TypeSQL},
		{filepath.Join(dir, "mlruns"), TypeFile},
		{"file://" + filepath.Join(dir, "mlruns2"), TypeFile},
	} {
		st, typ, err := Open(ctx, tc.uri, Options{DefaultArtifactRoot: "mlflow-artifacts:/"})
		if err != nil {
			t.Fatalf("Open(%q): %v", tc.uri, err)
		}
		if typ != tc.want {
			t.Errorf("Open(%q) type = %s, want %s", tc.uri, typ, tc.want)
		}
		// Both kinds start with MLflow's Default experiment.
		if _, err := st.GetExperiment(ctx, tracking.DefaultExperimentID); err != nil {
			t.Errorf("Open(%q): default experiment: %v", tc.uri, err)
		}
		if err := st.Close(); err != nil {
			t.Error(err)
		}
	}
}
