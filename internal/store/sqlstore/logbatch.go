package sqlstore

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/mltrack/mltrack/internal/search"
	"github.com/mltrack/mltrack/internal/tracking"
)

// maxFloat64 is what MLflow stores for ±Inf, which SQL cannot represent.
const maxFloat64 = 1.7976931348623157e308

// sqlMetric is a metric as stored: NaN becomes value 0 with is_nan set.
type sqlMetric struct {
	key       string
	value     float64
	timestamp int64
	step      int64
	isNaN     bool
}

func sanitizeMetric(m tracking.Metric) sqlMetric {
	sm := sqlMetric{key: m.Key, value: m.Value, timestamp: m.Timestamp, step: m.Step}
	switch {
	case math.IsNaN(m.Value):
		sm.value, sm.isNaN = 0, true
	case math.IsInf(m.Value, 1):
		sm.value = maxFloat64
	case math.IsInf(m.Value, -1):
		sm.value = -maxFloat64
	}
	return sm
}

// newer reports whether a is strictly more recent than b by (step, timestamp,
// value), the order MLflow keeps latest_metrics by.
func (a sqlMetric) newer(b sqlMetric) bool {
	if a.step != b.step {
		return a.step > b.step
	}
	if a.timestamp != b.timestamp {
		return a.timestamp > b.timestamp
	}
	return a.value > b.value
}

// compareSQLMetric orders metric rows by every column of the metrics key.
func compareSQLMetric(a, b sqlMetric) int {
	return cmp.Or(
		strings.Compare(a.key, b.key),
		cmp.Compare(a.timestamp, b.timestamp),
		cmp.Compare(a.step, b.step),
		cmp.Compare(a.value, b.value),
		compareBool(a.isNaN, b.isNaN),
	)
}

func compareBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}

// maxRowsPerInsert bounds a multi-row INSERT by the bind-variable limit.
func (s *Store) maxRowsPerInsert(cols int) int {
	limit := sqliteMaxVariables
	if s.d == dialectPostgres {
		limit = 65535
	}
	return limit / cols
}

// execRows runs prefix + VALUES (...), (...) + suffix over rows in as few
// statements as the bind-variable limit allows.
func (s *Store) execRows(ctx context.Context, tx *sql.Tx, prefix, suffix string, cols int, args []any) error {
	_, err := s.execRowsCount(ctx, tx, prefix, suffix, cols, args)
	return err
}

// execRowsCount is execRows that also returns the rows affected.
func (s *Store) execRowsCount(ctx context.Context, tx *sql.Tx, prefix, suffix string, cols int, args []any) (int64, error) {
	rows := len(args) / cols
	per := s.maxRowsPerInsert(cols)
	var total int64
	for start := 0; start < rows; start += per {
		n := min(per, rows-start)
		res, err := tx.ExecContext(ctx, s.rebind(prefix+placeholders(n, cols)+suffix), args[start*cols:(start+n)*cols]...)
		if err != nil {
			return total, err
		}
		k, err := res.RowsAffected()
		if err != nil {
			return total, err
		}
		total += k
	}
	return total, nil
}

func (s *Store) LogBatch(ctx context.Context, runID string, metrics []tracking.Metric, params []tracking.Param, tags []tracking.Tag) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if err := s.activeRun(ctx, tx, runID); err != nil {
			return err
		}
		if err := s.logParams(ctx, tx, runID, params); err != nil {
			return err
		}
		if err := s.logMetrics(ctx, tx, runID, metrics); err != nil {
			return err
		}
		if err := s.logModelMetrics(ctx, tx, runID, metrics); err != nil {
			return err
		}
		return s.setRunTags(ctx, tx, runID, tags)
	})
}

func (s *Store) logParams(ctx context.Context, tx *sql.Tx, runID string, params []tracking.Param) error {
	if len(params) == 0 {
		return nil
	}
	existing, err := s.readParams(ctx, tx, runID, params)
	if err != nil {
		return err
	}
	var conflicts []string
	fresh := make([]tracking.Param, 0, len(params))
	seen := make(map[string]bool, len(params))
	for _, p := range params {
		if old, ok := existing[p.Key]; ok {
			if old != p.Value {
				conflicts = append(conflicts, paramConflict(p, old))
			}
			continue
		}
		if seen[p.Key] {
			continue
		}
		seen[p.Key] = true
		fresh = append(fresh, p)
	}
	if len(conflicts) > 0 {
		return paramConflictError(conflicts, runID)
	}
	// Key order: concurrent PostgreSQL transactions inserting overlapping keys
	// then wait on each other's index entries in one order and cannot deadlock.
	slices.SortFunc(fresh, func(a, b tracking.Param) int { return strings.Compare(a.Key, b.Key) })
	args := make([]any, 0, len(fresh)*3)
	for _, p := range fresh {
		args = append(args, p.Key, p.Value, runID)
	}
	// DO NOTHING: a concurrent transaction (PostgreSQL) may have logged the
	// same key since the read; re-check those rows once it has committed.
	n, err := s.execRowsCount(ctx, tx, `INSERT INTO params ("key", value, run_uuid) VALUES `, ` ON CONFLICT ("key", run_uuid) DO NOTHING`, 3, args)
	if err != nil {
		return fmt.Errorf("insert params: %w", err)
	}
	if int(n) == len(args)/3 {
		return nil
	}
	now, err := s.readParams(ctx, tx, runID, params)
	if err != nil {
		return err
	}
	for _, p := range params {
		if v, ok := now[p.Key]; ok && v != p.Value {
			conflicts = append(conflicts, paramConflict(p, v))
		}
	}
	if len(conflicts) > 0 {
		return paramConflictError(conflicts, runID)
	}
	return nil
}

func paramConflict(p tracking.Param, old string) string {
	return fmt.Sprintf("{'key': %s, 'old_value': %s, 'new_value': %s}", search.PyRepr(p.Key), search.PyRepr(old), search.PyRepr(p.Value))
}

func paramConflictError(conflicts []string, runID string) error {
	return tracking.InvalidParameter("Changing param values is not allowed. Params were already logged='[%s]' for run ID='%s'.",
		strings.Join(conflicts, ", "), runID)
}

// readParams returns the stored values of the params' keys.
func (s *Store) readParams(ctx context.Context, tx *sql.Tx, runID string, params []tracking.Param) (map[string]string, error) {
	existing := make(map[string]string)
	keys := make([]any, 0, len(params))
	for _, p := range params {
		keys = append(keys, p.Key)
	}
	for start := 0; start < len(keys); start += 500 {
		chunk := keys[start:min(start+500, len(keys))]
		rows, err := tx.QueryContext(ctx, s.rebind(`SELECT "key", value FROM params WHERE run_uuid = ? AND "key" IN (`+
			strings.TrimSuffix(strings.Repeat("?, ", len(chunk)), ", ")+")"), append([]any{runID}, chunk...)...)
		if err != nil {
			return nil, fmt.Errorf("read params: %w", err)
		}
		for rows.Next() {
			var k, v string
			if err := rows.Scan(&k, &v); err != nil {
				rows.Close()
				return nil, fmt.Errorf("read params: %w", err)
			}
			existing[k] = v
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("read params: %w", err)
		}
	}
	return existing, nil
}

func (s *Store) logMetrics(ctx context.Context, tx *sql.Tx, runID string, metrics []tracking.Metric) error {
	if len(metrics) == 0 {
		return nil
	}
	// The primary key spans every column, so a point logged twice (in this
	// batch or before) is stored once, as MLflow's duplicate handling ends up.
	seen := make(map[sqlMetric]bool, len(metrics))
	best := make(map[string]sqlMetric)
	rows := make([]sqlMetric, 0, len(metrics))
	for _, m := range metrics {
		sm := sanitizeMetric(m)
		if seen[sm] {
			continue
		}
		seen[sm] = true
		rows = append(rows, sm)
		if cur, ok := best[sm.key]; !ok || sm.newer(cur) {
			best[sm.key] = sm
		}
	}
	// Primary-key order, for the same reason as params: two batches sharing
	// points must lock them in the same order on PostgreSQL.
	slices.SortFunc(rows, compareSQLMetric)
	args := make([]any, 0, len(rows)*6)
	for _, sm := range rows {
		args = append(args, sm.key, sm.value, sm.timestamp, runID, sm.step, sm.isNaN)
	}
	if err := s.execRows(ctx, tx, `INSERT INTO metrics ("key", value, timestamp, run_uuid, step, is_nan) VALUES `,
		" ON CONFLICT DO NOTHING", 6, args); err != nil {
		return fmt.Errorf("insert metrics: %w", err)
	}

	keys := sortedKeys(best)
	for start := 0; start < len(keys); start += 500 {
		chunk := keys[start:min(start+500, len(keys))]
		qargs := make([]any, 0, len(chunk)+1)
		qargs = append(qargs, runID)
		for _, k := range chunk {
			qargs = append(qargs, k)
		}
		rows, err := tx.QueryContext(ctx, s.rebind(`SELECT "key", value, timestamp, step, is_nan FROM latest_metrics WHERE run_uuid = ? AND "key" IN (`+
			strings.TrimSuffix(strings.Repeat("?, ", len(chunk)), ", ")+")"), qargs...)
		if err != nil {
			return fmt.Errorf("read latest metrics: %w", err)
		}
		for rows.Next() {
			var cur sqlMetric
			var ts sql.NullInt64
			if err := rows.Scan(&cur.key, &cur.value, &ts, &cur.step, &cur.isNaN); err != nil {
				rows.Close()
				return fmt.Errorf("read latest metrics: %w", err)
			}
			cur.timestamp = ts.Int64
			if !best[cur.key].newer(cur) {
				delete(best, cur.key)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("read latest metrics: %w", err)
		}
	}
	if len(best) == 0 {
		return nil
	}
	largs := make([]any, 0, len(best)*6)
	for _, k := range sortedKeys(best) {
		m := best[k]
		largs = append(largs, m.key, m.value, m.timestamp, m.step, m.isNaN, runID)
	}
	err := s.execRows(ctx, tx, `INSERT INTO latest_metrics ("key", value, timestamp, step, is_nan, run_uuid) VALUES `,
		// The WHERE keeps the newest point when two transactions race past the
		// read above (PostgreSQL): the row lock orders them, the test decides.
		` ON CONFLICT ("key", run_uuid) DO UPDATE SET value = excluded.value, timestamp = excluded.timestamp, step = excluded.step, is_nan = excluded.is_nan`+
			` WHERE (excluded.step, excluded.timestamp, excluded.value) > (latest_metrics.step, COALESCE(latest_metrics.timestamp, 0), latest_metrics.value)`,
		6, largs)
	if err != nil {
		return fmt.Errorf("update latest metrics: %w", err)
	}
	return nil
}

// logModelMetrics also records points that name a logged model in
// logged_model_metrics, as MLflow 3 does. An unknown model violates the
// foreign key: MLflow reports that as an internal error too.
func (s *Store) logModelMetrics(ctx context.Context, tx *sql.Tx, runID string, metrics []tracking.Metric) error {
	var model []tracking.Metric
	for _, m := range metrics {
		if m.ModelID != "" {
			model = append(model, m)
		}
	}
	// Primary-key order, as in logMetrics, so overlapping batches cannot
	// deadlock on PostgreSQL.
	slices.SortFunc(model, func(a, b tracking.Metric) int {
		return cmp.Or(strings.Compare(a.ModelID, b.ModelID), strings.Compare(a.Key, b.Key),
			cmp.Compare(a.Timestamp, b.Timestamp), cmp.Compare(a.Step, b.Step))
	})
	var args []any
	var expID int64
	for _, m := range model {
		if args == nil {
			if err := tx.QueryRowContext(ctx, s.rebind("SELECT experiment_id FROM runs WHERE run_uuid = ?"), runID).Scan(&expID); err != nil {
				return fmt.Errorf("read run experiment: %w", err)
			}
		}
		sm := sanitizeMetric(m)
		args = append(args, m.ModelID, m.Key, m.Timestamp, m.Step, sm.value, expID, runID, nullIfEmpty(m.DatasetName), nullIfEmpty(m.DatasetDigest))
	}
	if len(args) == 0 {
		return nil
	}
	err := s.execRows(ctx, tx, `INSERT INTO logged_model_metrics (model_id, metric_name, metric_timestamp_ms, metric_step, metric_value,
		experiment_id, run_id, dataset_name, dataset_digest) VALUES `, " ON CONFLICT DO NOTHING", 9, args)
	if err != nil {
		return fmt.Errorf("insert logged model metrics: %w", err)
	}
	return nil
}

func nullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// setRunTags overwrites tags; mlflow.runName also renames the run, as MLflow's
// set_tag does.
func (s *Store) setRunTags(ctx context.Context, tx *sql.Tx, runID string, tags []tracking.Tag) error {
	if len(tags) == 0 {
		return nil
	}
	tags = dedupTags(tags)
	for _, t := range tags {
		if t.Key == tracking.TagRunName {
			if _, err := tx.ExecContext(ctx, s.rebind("UPDATE runs SET name = ? WHERE run_uuid = ?"), t.Value, runID); err != nil {
				return fmt.Errorf("rename run: %w", err)
			}
		}
	}
	return s.upsertRunTags(ctx, tx, runID, tags)
}
