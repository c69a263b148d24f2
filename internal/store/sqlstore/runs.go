package sqlstore

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/mltrack/mltrack/internal/tracking"
)

const runColumns = "r.run_uuid, r.name, r.experiment_id, r.user_id, r.status, r.start_time, r.end_time, r.artifact_uri, r.lifecycle_stage"

func scanRunInfo(sc interface{ Scan(...any) error }) (tracking.RunInfo, error) {
	var (
		ri                         tracking.RunInfo
		name, user, status, uri, l sql.NullString
		exp, start, end            sql.NullInt64
	)
	if err := sc.Scan(&ri.RunID, &name, &exp, &user, &status, &start, &end, &uri, &l); err != nil {
		return ri, err
	}
	ri.RunName, ri.UserID, ri.Status = name.String, user.String, tracking.RunStatus(status.String)
	ri.ExperimentID = strconv.FormatInt(exp.Int64, 10)
	ri.StartTime, ri.ArtifactURI, ri.LifecycleStage = start.Int64, uri.String, l.String
	if end.Valid {
		v := end.Int64
		ri.EndTime = &v
	}
	return ri, nil
}

func newRunID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	b[6] = b[6]&0x0f | 0x40 // version 4
	b[8] = b[8]&0x3f | 0x80 // RFC 4122 variant
	return hex.EncodeToString(b[:])
}

func (s *Store) CreateRun(ctx context.Context, nr tracking.NewRun) (*tracking.Run, error) {
	id := newRunID()
	var run *tracking.Run
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		expID, err := s.activeExperiment(ctx, tx, nr.ExperimentID)
		if err != nil {
			return err
		}
		var loc sql.NullString
		if err := tx.QueryRowContext(ctx, s.rebind("SELECT artifact_location FROM experiments WHERE experiment_id = ?"), expID).Scan(&loc); err != nil {
			return fmt.Errorf("get artifact location: %w", err)
		}
		ri := tracking.RunInfo{
			RunID: id, RunName: nr.RunName, ExperimentID: strconv.FormatInt(expID, 10), UserID: nr.UserID,
			Status: tracking.StatusRunning, StartTime: nr.StartTime,
			ArtifactURI: appendToURIPath(loc.String, id, "artifacts"), LifecycleStage: tracking.LifecycleActive,
		}
		// source_* columns hold what MLflow writes for runs created over REST.
		_, err = tx.ExecContext(ctx, s.rebind(`INSERT INTO runs (run_uuid, name, source_type, source_name, entry_point_name,
			user_id, status, start_time, end_time, source_version, lifecycle_stage, artifact_uri, experiment_id, deleted_time)
			VALUES (?, ?, 'UNKNOWN', '', '', ?, ?, ?, NULL, '', ?, ?, ?, NULL)`),
			id, ri.RunName, ri.UserID, string(ri.Status), ri.StartTime, ri.LifecycleStage, ri.ArtifactURI, expID)
		if err != nil {
			return fmt.Errorf("insert run: %w", err)
		}
		tags := dedupTags(nr.Tags)
		if err := s.upsertRunTags(ctx, tx, id, tags); err != nil {
			return err
		}
		run = &tracking.Run{Info: ri, Data: tracking.RunData{Tags: append([]tracking.Tag(nil), tags...)}}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return run, nil
}

// upsertRunTags writes tags (unique keys) in key order, so concurrent
// PostgreSQL transactions lock rows in the same order and cannot deadlock.
func (s *Store) upsertRunTags(ctx context.Context, tx *sql.Tx, runID string, tags []tracking.Tag) error {
	const cols = 3
	if !sort.SliceIsSorted(tags, func(i, j int) bool { return tags[i].Key < tags[j].Key }) {
		tags = append([]tracking.Tag(nil), tags...)
		sort.Slice(tags, func(i, j int) bool { return tags[i].Key < tags[j].Key })
	}
	for start := 0; start < len(tags); start += 500 {
		chunk := tags[start:min(start+500, len(tags))]
		args := make([]any, 0, len(chunk)*cols)
		for _, t := range chunk {
			args = append(args, t.Key, t.Value, runID)
		}
		_, err := tx.ExecContext(ctx, s.rebind(`INSERT INTO tags ("key", value, run_uuid) VALUES `+placeholders(len(chunk), cols)+
			` ON CONFLICT ("key", run_uuid) DO UPDATE SET value = excluded.value`), args...)
		if err != nil {
			return fmt.Errorf("set run tags: %w", err)
		}
	}
	return nil
}

func (s *Store) GetRun(ctx context.Context, id string) (*tracking.Run, error) {
	ri, err := scanRunInfo(s.r.QueryRowContext(ctx, s.rebind("SELECT "+runColumns+" FROM runs r WHERE r.run_uuid = ?"), id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, tracking.NotFound("Run with id=%s not found", id)
	}
	if err != nil {
		return nil, fmt.Errorf("get run: %w", err)
	}
	runs := []tracking.Run{{Info: ri}}
	if err := s.loadRunData(ctx, s.r, runs, true); err != nil {
		return nil, err
	}
	return &runs[0], nil
}

// loadRunData fills in latest metrics, params, tags, dataset inputs and model
// outputs (and model inputs if withModelInputs, as GetRun has them and
// SearchRuns does not) with one query per table for all runs.
func (s *Store) loadRunData(ctx context.Context, q queryer, runs []tracking.Run, withModelInputs bool) error {
	if len(runs) == 0 {
		return nil
	}
	idx := make(map[string]int, len(runs))
	ids := make([]any, len(runs))
	for i := range runs {
		idx[runs[i].Info.RunID] = i
		ids[i] = runs[i].Info.RunID
	}
	in := "(" + strings.TrimSuffix(strings.Repeat("?, ", len(ids)), ", ") + ")"

	each := func(what, query string, scan func(rows *sql.Rows) error) error {
		rows, err := q.QueryContext(ctx, s.rebind(query), ids...)
		if err != nil {
			return fmt.Errorf("load %s: %w", what, err)
		}
		defer rows.Close()
		for rows.Next() {
			if err := scan(rows); err != nil {
				return fmt.Errorf("load %s: %w", what, err)
			}
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("load %s: %w", what, err)
		}
		return nil
	}
	err := each("metrics", `SELECT run_uuid, "key", value, timestamp, step, is_nan FROM latest_metrics WHERE run_uuid IN `+in+` ORDER BY run_uuid, "key"`,
		func(rows *sql.Rows) error {
			var (
				rid string
				m   tracking.Metric
				ts  sql.NullInt64
				nan bool
			)
			if err := rows.Scan(&rid, &m.Key, &m.Value, &ts, &m.Step, &nan); err != nil {
				return err
			}
			m.Timestamp = ts.Int64
			if nan {
				m.Value = math.NaN()
			}
			r := &runs[idx[rid]]
			r.Data.Metrics = append(r.Data.Metrics, m)
			return nil
		})
	if err != nil {
		return err
	}
	err = each("params", `SELECT run_uuid, "key", value FROM params WHERE run_uuid IN `+in+` ORDER BY run_uuid, "key"`,
		func(rows *sql.Rows) error {
			var rid string
			var p tracking.Param
			if err := rows.Scan(&rid, &p.Key, &p.Value); err != nil {
				return err
			}
			r := &runs[idx[rid]]
			r.Data.Params = append(r.Data.Params, p)
			return nil
		})
	if err != nil {
		return err
	}
	err = each("tags", `SELECT run_uuid, "key", value FROM tags WHERE run_uuid IN `+in+` ORDER BY run_uuid, "key"`,
		func(rows *sql.Rows) error {
			var rid string
			var t tracking.Tag
			var v sql.NullString
			if err := rows.Scan(&rid, &t.Key, &v); err != nil {
				return err
			}
			t.Value = v.String
			r := &runs[idx[rid]]
			r.Data.Tags = append(r.Data.Tags, t)
			return nil
		})
	if err != nil {
		return err
	}
	// Dataset inputs: one row per (input, tag); group by input in row order.
	type dsKey struct{ run, input string }
	dsIndex := map[dsKey]int{}
	err = each("dataset inputs", `SELECT i.destination_id, i.input_uuid, d.name, d.digest, d.dataset_source_type, d.dataset_source,
			d.dataset_schema, d.dataset_profile, t.name, t.value
		FROM inputs i JOIN datasets d ON d.dataset_uuid = i.source_id
		LEFT JOIN input_tags t ON t.input_uuid = i.input_uuid
		WHERE i.destination_type = 'RUN' AND i.source_type = 'DATASET' AND i.destination_id IN `+in+`
		ORDER BY i.destination_id, i.input_uuid, t.name`,
		func(rows *sql.Rows) error {
			var (
				rid, input        string
				ds                tracking.Dataset
				schema, prof      sql.NullString
				tagName, tagValue sql.NullString
			)
			if err := rows.Scan(&rid, &input, &ds.Name, &ds.Digest, &ds.SourceType, &ds.Source, &schema, &prof, &tagName, &tagValue); err != nil {
				return err
			}
			ds.Schema, ds.Profile = schema.String, prof.String
			r := &runs[idx[rid]]
			k := dsKey{rid, input}
			j, ok := dsIndex[k]
			if !ok {
				j = len(r.Inputs.DatasetInputs)
				dsIndex[k] = j
				r.Inputs.DatasetInputs = append(r.Inputs.DatasetInputs, tracking.DatasetInput{Dataset: ds})
			}
			if tagName.Valid {
				di := &r.Inputs.DatasetInputs[j]
				di.Tags = append(di.Tags, tracking.Tag{Key: tagName.String, Value: tagValue.String})
			}
			return nil
		})
	if err != nil {
		return err
	}
	err = each("model outputs", `SELECT source_id, destination_id, step FROM inputs
		WHERE source_type = 'RUN_OUTPUT' AND destination_type = 'MODEL_OUTPUT' AND source_id IN `+in+` ORDER BY source_id, step, destination_id`,
		func(rows *sql.Rows) error {
			var rid string
			var mo tracking.ModelOutput
			if err := rows.Scan(&rid, &mo.ModelID, &mo.Step); err != nil {
				return err
			}
			r := &runs[idx[rid]]
			r.Outputs.ModelOutputs = append(r.Outputs.ModelOutputs, mo)
			return nil
		})
	if err != nil || !withModelInputs {
		return err
	}
	return each("model inputs", `SELECT source_id, destination_id FROM inputs
		WHERE source_type = 'RUN_INPUT' AND destination_type = 'MODEL_INPUT' AND source_id IN `+in+` ORDER BY source_id, destination_id`,
		func(rows *sql.Rows) error {
			var rid string
			var mi tracking.ModelInput
			if err := rows.Scan(&rid, &mi.ModelID); err != nil {
				return err
			}
			r := &runs[idx[rid]]
			r.Inputs.ModelInputs = append(r.Inputs.ModelInputs, mi)
			return nil
		})
}

// runStage reads a run's lifecycle stage inside tx.
func (s *Store) runStage(ctx context.Context, tx *sql.Tx, id string) (string, error) {
	var stage sql.NullString
	err := tx.QueryRowContext(ctx, s.rebind("SELECT lifecycle_stage FROM runs WHERE run_uuid = ?"), id).Scan(&stage)
	if errors.Is(err, sql.ErrNoRows) {
		return "", tracking.NotFound("Run with id=%s not found", id)
	}
	if err != nil {
		return "", fmt.Errorf("get run: %w", err)
	}
	return stage.String, nil
}

// activeRun fails with MLflow's messages unless the run exists and is active.
func (s *Store) activeRun(ctx context.Context, tx *sql.Tx, id string) error {
	stage, err := s.runStage(ctx, tx, id)
	if err != nil {
		return err
	}
	if stage != tracking.LifecycleActive {
		return tracking.InvalidParameter("The run %s must be in the 'active' state. Current state is %s.", id, stage)
	}
	return nil
}

func (s *Store) UpdateRun(ctx context.Context, id string, u tracking.RunUpdate) (*tracking.RunInfo, error) {
	var ri tracking.RunInfo
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if err := s.activeRun(ctx, tx, id); err != nil {
			return err
		}
		var sets []string
		var args []any
		if u.Status != nil {
			sets, args = append(sets, "status = ?"), append(args, string(*u.Status))
		}
		if u.EndTime != nil {
			sets, args = append(sets, "end_time = ?"), append(args, *u.EndTime)
		}
		if u.RunName != nil && *u.RunName != "" {
			sets, args = append(sets, "name = ?"), append(args, *u.RunName)
			if err := s.upsertRunTags(ctx, tx, id, []tracking.Tag{{Key: tracking.TagRunName, Value: *u.RunName}}); err != nil {
				return err
			}
		}
		if len(sets) > 0 {
			if _, err := tx.ExecContext(ctx, s.rebind("UPDATE runs SET "+strings.Join(sets, ", ")+" WHERE run_uuid = ?"), append(args, id)...); err != nil {
				return fmt.Errorf("update run: %w", err)
			}
		}
		var err error
		ri, err = scanRunInfo(tx.QueryRowContext(ctx, s.rebind("SELECT "+runColumns+" FROM runs r WHERE r.run_uuid = ?"), id))
		if err != nil {
			return fmt.Errorf("reload run: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &ri, nil
}

// DeleteRun marks a run deleted with deleted_time, whatever its stage.
func (s *Store) DeleteRun(ctx context.Context, id string) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := s.runStage(ctx, tx, id); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, s.rebind("UPDATE runs SET lifecycle_stage = ?, deleted_time = ? WHERE run_uuid = ?"),
			tracking.LifecycleDeleted, s.nowMillis(), id)
		if err != nil {
			return fmt.Errorf("delete run: %w", err)
		}
		return nil
	})
}

func (s *Store) RestoreRun(ctx context.Context, id string) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := s.runStage(ctx, tx, id); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, s.rebind("UPDATE runs SET lifecycle_stage = ?, deleted_time = NULL WHERE run_uuid = ?"),
			tracking.LifecycleActive, id)
		if err != nil {
			return fmt.Errorf("restore run: %w", err)
		}
		return nil
	})
}

func (s *Store) DeleteTag(ctx context.Context, runID, key string) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if err := s.activeRun(ctx, tx, runID); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, s.rebind(`DELETE FROM tags WHERE run_uuid = ? AND "key" = ?`), runID, key)
		if err != nil {
			return fmt.Errorf("delete tag: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return tracking.NotFound("No tag with name: %s in run with id %s", key, runID)
		}
		return nil
	})
}

// GetMetricHistory orders points as MLflow's SQL store does: by timestamp,
// then step, then value. Like MLflow, an unknown run or key gives no points.
func (s *Store) GetMetricHistory(ctx context.Context, runID, key string, offset, limit int) ([]tracking.Metric, error) {
	// SQLite's planner prefers the primary key (key, timestamp, ...) here,
	// since it matches the ORDER BY, and so walks every run's points of the
	// key: with 100 runs of 100,000 points a history read took a second. The
	// (run_uuid, key, step) index reads only this run's points.
	from := "metrics"
	if s.d == dialectSQLite {
		from = "metrics INDEXED BY index_metrics_run_uuid_key_step"
	}
	query := `SELECT "key", value, timestamp, step, is_nan FROM ` + from + ` WHERE run_uuid = ? AND "key" = ? ORDER BY timestamp, step, value`
	query, args := s.limitOffset(query, []any{runID, key}, limit, offset)
	rows, err := s.r.QueryContext(ctx, s.rebind(query), args...)
	if err != nil {
		return nil, fmt.Errorf("metric history: %w", err)
	}
	defer rows.Close()
	var out []tracking.Metric
	for rows.Next() {
		var m tracking.Metric
		var nan bool
		if err := rows.Scan(&m.Key, &m.Value, &m.Timestamp, &m.Step, &nan); err != nil {
			return nil, fmt.Errorf("metric history: %w", err)
		}
		if nan {
			m.Value = math.NaN()
		}
		m.RunID = runID
		out = append(out, m)
	}
	return out, rows.Err()
}

// sortedKeys is used where deterministic lock order matters.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
