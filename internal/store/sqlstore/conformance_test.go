package sqlstore

import (
	"testing"

	"github.com/mltrack/mltrack/internal/store/storetest"
	"github.com/mltrack/mltrack/internal/tracking"
)

func TestConformanceSQLite(t *testing.T) {
	storetest.Run(t, func(t *testing.T) tracking.Store { return openTestSQLite(t) })
}

func TestConformancePostgres(t *testing.T) {
	storetest.Run(t, func(t *testing.T) tracking.Store { return openTestPostgres(t) })
}
