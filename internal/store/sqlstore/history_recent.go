package sqlstore

import (
	"context"
	"fmt"

	"github.com/mltrack/mltrack/internal/tracking"
)

// The history cache's start-up warm-up lists the series of recent runs here.
var _ tracking.RecentSeriesLister = (*Store)(nil)

// RecentMetricSeries implements tracking.RecentSeriesLister from runs and
// latest_metrics (one row per series, with the step of its latest point).
// The step filter comes before the limit, so a crowd of recent runs of small
// series (a sweep logging one value per key) does not hide the long
// histories behind them. It reads every latest point once; that is a scan
// the warm-up makes once per start. "start_time IS NULL" sorts the same in
// both databases, where NULLS LAST is not SQLite's default spelling.
func (s *Store) RecentMetricSeries(ctx context.Context, minLatestStep int64, limit int) ([]tracking.SeriesRef, error) {
	if limit <= 0 {
		return nil, nil
	}
	q := `SELECT lm.run_uuid, lm."key" FROM runs r
		JOIN experiments e ON e.experiment_id = r.experiment_id
		JOIN latest_metrics lm ON lm.run_uuid = r.run_uuid
		WHERE r.lifecycle_stage = ? AND e.lifecycle_stage = ? AND lm.step >= ?
		ORDER BY r.start_time IS NULL, r.start_time DESC, r.run_uuid, lm."key"
		LIMIT ?`
	rows, err := s.r.QueryContext(ctx, s.rebind(q), tracking.LifecycleActive, tracking.LifecycleActive, minLatestStep, limit)
	if err != nil {
		return nil, fmt.Errorf("recent metric series: %w", err)
	}
	defer rows.Close()
	var out []tracking.SeriesRef
	for rows.Next() {
		var sr tracking.SeriesRef
		if err := rows.Scan(&sr.RunID, &sr.Key); err != nil {
			return nil, fmt.Errorf("recent metric series: %w", err)
		}
		out = append(out, sr)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("recent metric series: %w", err)
	}
	return out, nil
}
