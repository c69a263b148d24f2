package sqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"

	"github.com/mltrack/mltrack/internal/tracking"
)

// The chart reads (tracking.MetricStepScanner, tracking.LatestMetricReader):
// a step range of one run's metric through the (run_uuid, key, step) index,
// and the latest points the history cache is checked against.
var (
	_ tracking.MetricStepScanner  = (*Store)(nil)
	_ tracking.MetricStepCounter  = (*Store)(nil)
	_ tracking.LatestMetricReader = (*Store)(nil)
)

// historyByStep is the metrics table as step-range reads must use it. SQLite
// is told the index: its planner may otherwise walk the primary key, which
// starts with the key name and so visits every run's points of the metric.
func (s *Store) historyByStep() string {
	if s.d == dialectSQLite {
		return "metrics INDEXED BY index_metrics_run_uuid_key_step"
	}
	return "metrics"
}

// MetricStepBounds implements tracking.MetricStepScanner. Each bound is its
// own subquery so both databases answer it with one index seek.
func (s *Store) MetricStepBounds(ctx context.Context, runID, key string, lo, hi int64) (first, last int64, ok bool, err error) {
	where := ` WHERE run_uuid = ? AND "key" = ? AND step BETWEEN ? AND ?`
	q := `SELECT (SELECT MIN(step) FROM ` + s.historyByStep() + where + `), (SELECT MAX(step) FROM ` + s.historyByStep() + where + `)`
	var a, b sql.NullInt64
	if err := s.r.QueryRowContext(ctx, s.rebind(q), runID, key, lo, hi, runID, key, lo, hi).Scan(&a, &b); err != nil {
		return 0, 0, false, fmt.Errorf("metric step bounds: %w", err)
	}
	if !a.Valid || !b.Valid {
		return 0, 0, false, nil
	}
	return a.Int64, b.Int64, true, nil
}

// CountMetricSteps implements tracking.MetricStepCounter. The (run_uuid,
// key, step) index holds every column it needs, so it never reads the table.
func (s *Store) CountMetricSteps(ctx context.Context, runID, key string, lo, hi int64) (int64, error) {
	q := `SELECT COUNT(*) FROM ` + s.historyByStep() + ` WHERE run_uuid = ? AND "key" = ? AND step BETWEEN ? AND ?`
	var n int64
	if err := s.r.QueryRowContext(ctx, s.rebind(q), runID, key, lo, hi).Scan(&n); err != nil {
		return 0, fmt.Errorf("count metric steps: %w", err)
	}
	return n, nil
}

// ScanMetricSteps implements tracking.MetricStepScanner. There is no ORDER
// BY: the caller does not need one, and PostgreSQL may then pick any plan.
// A NaN point comes back as a NULL value. A chart read passes millions of
// rows through here, so rows are read from the driver directly (Conn.Raw):
// database/sql would lock, check and convert every value of every row, a
// fifth of the Go side of a scan.
func (s *Store) ScanMetricSteps(ctx context.Context, runID, key string, lo, hi int64, fn func(tracking.StepPoint) error) error {
	q := s.rebind(`SELECT step, timestamp, CASE WHEN is_nan THEN NULL ELSE value END FROM ` + s.historyByStep() +
		` WHERE run_uuid = ? AND "key" = ? AND step BETWEEN ? AND ?`)
	conn, err := s.r.Conn(ctx)
	if err != nil {
		return fmt.Errorf("scan metric steps: %w", err)
	}
	defer conn.Close()
	direct := false
	err = conn.Raw(func(dc any) error {
		qc, ok := dc.(driver.QueryerContext)
		if !ok {
			return nil
		}
		direct = true
		args := []driver.NamedValue{{Ordinal: 1, Value: runID}, {Ordinal: 2, Value: key}, {Ordinal: 3, Value: lo}, {Ordinal: 4, Value: hi}}
		rows, err := qc.QueryContext(ctx, q, args)
		if err != nil {
			return fmt.Errorf("scan metric steps: %w", err)
		}
		defer rows.Close()
		dest := make([]driver.Value, 3)
		for {
			switch err := rows.Next(dest); {
			case errors.Is(err, io.EOF):
				return nil
			case err != nil:
				return fmt.Errorf("scan metric steps: %w", err)
			}
			p, err := stepPoint(dest[0], dest[1], dest[2])
			if err != nil {
				return err
			}
			if err := fn(p); err != nil {
				return err
			}
		}
	})
	if err != nil || direct {
		return err
	}
	return s.scanMetricStepsSQL(ctx, conn, q, runID, key, lo, hi, fn)
}

// scanMetricStepsSQL is ScanMetricSteps through database/sql, for a driver
// without QueryerContext; columns are scanned into any, which skips
// database/sql's conversions by reflection.
func (s *Store) scanMetricStepsSQL(ctx context.Context, conn *sql.Conn, q, runID, key string, lo, hi int64, fn func(tracking.StepPoint) error) error {
	rows, err := conn.QueryContext(ctx, q, runID, key, lo, hi)
	if err != nil {
		return fmt.Errorf("scan metric steps: %w", err)
	}
	defer rows.Close()
	var step, ts, value any
	for rows.Next() {
		if err := rows.Scan(&step, &ts, &value); err != nil {
			return fmt.Errorf("scan metric steps: %w", err)
		}
		p, err := stepPoint(step, ts, value)
		if err != nil {
			return err
		}
		if err := fn(p); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("scan metric steps: %w", err)
	}
	return nil
}

// stepPoint converts what both drivers return for BIGINT and FLOAT columns.
func stepPoint(step, ts, value any) (tracking.StepPoint, error) {
	p := tracking.StepPoint{Value: math.NaN()}
	var ok1, ok2 bool
	p.Step, ok1 = step.(int64)
	p.Timestamp, ok2 = ts.(int64)
	switch v := value.(type) {
	case float64:
		p.Value = v
	case int64: // SQLite hands back a REAL that holds an integer as one
		p.Value = float64(v)
	case nil:
	default:
		ok1 = false
	}
	if !ok1 || !ok2 {
		return p, fmt.Errorf("scan metric steps: unexpected column types %T, %T, %T", step, ts, value)
	}
	return p, nil
}

// LatestMetrics implements tracking.LatestMetricReader from latest_metrics,
// whose primary key (key, run_uuid) makes this a handful of seeks.
func (s *Store) LatestMetrics(ctx context.Context, runIDs []string, key string) (map[string]tracking.StepPoint, error) {
	out := make(map[string]tracking.StepPoint, len(runIDs))
	for start := 0; start < len(runIDs); start += 500 {
		chunk := runIDs[start:min(start+500, len(runIDs))]
		args := make([]any, 0, len(chunk)+1)
		args = append(args, key)
		for _, id := range chunk {
			args = append(args, id)
		}
		q := `SELECT run_uuid, step, timestamp, value, is_nan FROM latest_metrics WHERE "key" = ? AND run_uuid IN (` +
			strings.TrimSuffix(strings.Repeat("?, ", len(chunk)), ", ") + `)`
		if err := s.latestChunk(ctx, q, args, out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (s *Store) latestChunk(ctx context.Context, q string, args []any, out map[string]tracking.StepPoint) error {
	rows, err := s.r.QueryContext(ctx, s.rebind(q), args...)
	if err != nil {
		return fmt.Errorf("latest metrics: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var p tracking.StepPoint
		var ts sql.NullInt64 // nullable in MLflow's schema
		var nan bool
		if err := rows.Scan(&id, &p.Step, &ts, &p.Value, &nan); err != nil {
			return fmt.Errorf("latest metrics: %w", err)
		}
		p.Timestamp = ts.Int64
		if nan {
			p.Value = math.NaN()
		}
		out[id] = p
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("latest metrics: %w", err)
	}
	return nil
}
