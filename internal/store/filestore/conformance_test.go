package filestore

import (
	"path/filepath"
	"testing"

	"github.com/mltrack/mltrack/internal/store/storetest"
	"github.com/mltrack/mltrack/internal/tracking"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) tracking.Store {
		s, err := Open(t.Context(), filepath.Join(t.TempDir(), "mlruns"), Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}
