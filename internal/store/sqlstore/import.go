package sqlstore

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"math"
	"strconv"

	"github.com/mltrack/mltrack/internal/importer"
	"github.com/mltrack/mltrack/internal/tracking"
)

// The importer reads and writes rows as they are (ids, times, every metric
// point), which tracking.Store deliberately does not allow.
var _ importer.Sink = (*Store)(nil)

// Experiments lists every experiment, deleted ones included, with tags.
func (s *Store) Experiments(ctx context.Context) ([]tracking.Experiment, []error, error) {
	rows, err := s.r.QueryContext(ctx, "SELECT "+experimentColumns+" FROM experiments ORDER BY experiment_id")
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	var out []*tracking.Experiment
	for rows.Next() {
		e, err := scanExperiment(rows)
		if err != nil {
			return nil, nil, err
		}
		out = append(out, &e)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, err
	}
	if err := s.loadExperimentTags(ctx, s.r, out); err != nil {
		return nil, nil, err
	}
	res := make([]tracking.Experiment, len(out))
	for i, e := range out {
		res[i] = *e
	}
	return res, nil, nil
}

// RunIDs lists the runs of an experiment, deleted ones included.
func (s *Store) RunIDs(ctx context.Context, experimentID string) ([]string, error) {
	id, err := parseExperimentID(experimentID)
	if err != nil {
		return nil, err
	}
	rows, err := s.r.QueryContext(ctx, s.rebind("SELECT run_uuid FROM runs WHERE experiment_id = ? ORDER BY start_time, run_uuid"), id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var r string
		if err := rows.Scan(&r); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// ReadRun reads a run with its whole metric history.
func (s *Store) ReadRun(ctx context.Context, runID string) (*importer.Run, error) {
	run, err := s.GetRun(ctx, runID)
	if err != nil {
		return nil, err
	}
	out := &importer.Run{Info: run.Info, Params: run.Data.Params, Tags: run.Data.Tags, Inputs: run.Inputs.DatasetInputs}
	var del sql.NullInt64
	if err := s.r.QueryRowContext(ctx, s.rebind("SELECT deleted_time FROM runs WHERE run_uuid = ?"), runID).Scan(&del); err != nil {
		return nil, err
	}
	if del.Valid {
		out.DeletedTime = &del.Int64
	}
	rows, err := s.r.QueryContext(ctx, s.rebind(`SELECT "key", value, timestamp, step, is_nan FROM metrics WHERE run_uuid = ? ORDER BY "key", timestamp, step, value`), runID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var m tracking.Metric
		var nan bool
		if err := rows.Scan(&m.Key, &m.Value, &m.Timestamp, &m.Step, &nan); err != nil {
			return nil, err
		}
		if nan {
			m.Value = math.NaN()
		}
		out.Metrics = append(out.Metrics, m)
	}
	return out, rows.Err()
}

// KeepsExperimentID: the schema's experiment_id is a 32-bit integer, so the
// 18-digit ids of mlruns folders get new ones.
func (s *Store) KeepsExperimentID(id string) bool {
	n, err := strconv.ParseInt(id, 10, 32)
	return err == nil && n >= 0
}

// InsertExperiment inserts e as it is, with its id when keepID.
func (s *Store) InsertExperiment(ctx context.Context, e tracking.Experiment, keepID bool) (string, error) {
	var id int64
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		cols := "name, artifact_location, lifecycle_stage, creation_time, last_update_time, workspace"
		args := []any{e.Name, e.ArtifactLocation, e.LifecycleStage, e.CreationTime, e.LastUpdateTime, defaultWorkspace}
		if keepID {
			n, err := parseExperimentID(e.ID)
			if err != nil {
				return err
			}
			id = n
			if _, err := tx.ExecContext(ctx, s.rebind("INSERT INTO experiments (experiment_id, "+cols+") VALUES (?, ?, ?, ?, ?, ?, ?)"),
				append([]any{id}, args...)...); err != nil {
				return err
			}
			if s.d == dialectPostgres {
				// Keep the sequence ahead of explicit ids, or the next
				// CreateExperiment would collide.
				if _, err := tx.ExecContext(ctx, `SELECT setval(pg_get_serial_sequence('experiments', 'experiment_id'),
					GREATEST((SELECT max(experiment_id) FROM experiments), 1))`); err != nil {
					return err
				}
			}
		} else {
			q := s.rebind("INSERT INTO experiments (" + cols + ") VALUES (?, ?, ?, ?, ?, ?) RETURNING experiment_id")
			if err := tx.QueryRowContext(ctx, q, args...).Scan(&id); err != nil {
				return err
			}
		}
		return s.upsertExperimentTags(ctx, tx, id, e.Tags)
	})
	if err != nil {
		return "", err
	}
	return strconv.FormatInt(id, 10), nil
}

// OverwriteExperiment sets an experiment's fields and adds or overwrites tags.
func (s *Store) OverwriteExperiment(ctx context.Context, id string, e tracking.Experiment) error {
	n, err := parseExperimentID(id)
	if err != nil {
		return err
	}
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, s.rebind(`UPDATE experiments SET name = ?, artifact_location = ?, lifecycle_stage = ?,
			creation_time = ?, last_update_time = ? WHERE experiment_id = ?`),
			e.Name, e.ArtifactLocation, e.LifecycleStage, e.CreationTime, e.LastUpdateTime, n); err != nil {
			return err
		}
		return s.upsertExperimentTags(ctx, tx, n, e.Tags)
	})
}

// WriteRun applies one run's import in a single transaction.
func (s *Store) WriteRun(ctx context.Context, w importer.RunWrite) error {
	exp, err := parseExperimentID(w.Info.ExperimentID)
	if err != nil {
		return err
	}
	return s.inTx(ctx, func(tx *sql.Tx) error {
		ri := w.Info
		var end, del any
		if ri.EndTime != nil {
			end = *ri.EndTime
		}
		if w.DeletedTime != nil {
			del = *w.DeletedTime
		}
		switch {
		case w.Create:
			if _, err := tx.ExecContext(ctx, s.rebind(`INSERT INTO runs (run_uuid, name, source_type, source_name, entry_point_name,
				user_id, status, start_time, end_time, source_version, lifecycle_stage, artifact_uri, experiment_id, deleted_time)
				VALUES (?, ?, 'UNKNOWN', '', '', ?, ?, ?, ?, '', ?, ?, ?, ?)`),
				ri.RunID, ri.RunName, ri.UserID, string(ri.Status), ri.StartTime, end, ri.LifecycleStage, ri.ArtifactURI, exp, del); err != nil {
				return err
			}
		case w.SetInfo:
			if _, err := tx.ExecContext(ctx, s.rebind(`UPDATE runs SET name = ?, user_id = ?, status = ?, start_time = ?, end_time = ?,
				lifecycle_stage = ?, artifact_uri = ?, experiment_id = ?, deleted_time = ? WHERE run_uuid = ?`),
				ri.RunName, ri.UserID, string(ri.Status), ri.StartTime, end, ri.LifecycleStage, ri.ArtifactURI, exp, del, ri.RunID); err != nil {
				return err
			}
		}
		if len(w.Params) > 0 {
			args := make([]any, 0, 3*len(w.Params))
			for _, p := range w.Params {
				args = append(args, p.Key, p.Value, ri.RunID)
			}
			if err := s.execRows(ctx, tx, `INSERT INTO params ("key", value, run_uuid) VALUES `, "", 3, args); err != nil {
				return fmt.Errorf("insert params: %w", err)
			}
		}
		if err := s.upsertRunTags(ctx, tx, ri.RunID, w.Tags); err != nil {
			return fmt.Errorf("set tags: %w", err)
		}
		if len(w.Metrics) > 0 {
			args := make([]any, 0, 6*len(w.Metrics))
			for _, m := range w.Metrics {
				sm := sanitizeMetric(m)
				args = append(args, sm.key, sm.value, sm.timestamp, ri.RunID, sm.step, sm.isNaN)
			}
			// A point already there (the source had it twice, as MLflow's
			// file store allows) is the same row: keep one.
			if err := s.execRows(ctx, tx, `INSERT INTO metrics ("key", value, timestamp, run_uuid, step, is_nan) VALUES `,
				" ON CONFLICT DO NOTHING", 6, args); err != nil {
				return fmt.Errorf("insert metrics: %w", err)
			}
		}
		for _, m := range w.Latest {
			sm := sanitizeMetric(m)
			if _, err := tx.ExecContext(ctx, s.rebind(`DELETE FROM latest_metrics WHERE run_uuid = ? AND "key" = ?`), ri.RunID, sm.key); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, s.rebind(`INSERT INTO latest_metrics ("key", value, timestamp, step, is_nan, run_uuid) VALUES (?, ?, ?, ?, ?, ?)`),
				sm.key, sm.value, sm.timestamp, sm.step, sm.isNaN, ri.RunID); err != nil {
				return err
			}
		}
		for _, in := range w.Inputs {
			if err := s.importDatasetInput(ctx, tx, exp, ri.RunID, in); err != nil {
				return fmt.Errorf("insert dataset input: %w", err)
			}
		}
		return nil
	})
}

func (s *Store) importDatasetInput(ctx context.Context, tx *sql.Tx, exp int64, runID string, in tracking.DatasetInput) error {
	d := in.Dataset
	var dsID string
	err := tx.QueryRowContext(ctx, s.rebind("SELECT dataset_uuid FROM datasets WHERE experiment_id = ? AND name = ? AND digest = ?"),
		exp, d.Name, d.Digest).Scan(&dsID)
	if err == sql.ErrNoRows {
		dsID = importUUID()
		if _, err := tx.ExecContext(ctx, s.rebind(`INSERT INTO datasets (dataset_uuid, experiment_id, name, digest, dataset_source_type,
			dataset_source, dataset_schema, dataset_profile) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`),
			dsID, exp, d.Name, d.Digest, d.SourceType, d.Source, nullIfEmpty(d.Schema), nullIfEmpty(d.Profile)); err != nil {
			return err
		}
	} else if err != nil {
		return err
	}
	var n int
	if err := tx.QueryRowContext(ctx, s.rebind(`SELECT count(*) FROM inputs WHERE source_type = 'DATASET' AND source_id = ?
		AND destination_type = 'RUN' AND destination_id = ?`), dsID, runID).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return nil
	}
	inputID := importUUID()
	if _, err := tx.ExecContext(ctx, s.rebind(`INSERT INTO inputs (input_uuid, source_type, source_id, destination_type, destination_id, step)
		VALUES (?, 'DATASET', ?, 'RUN', ?, 0)`), inputID, dsID, runID); err != nil {
		return err
	}
	for _, t := range in.Tags {
		if _, err := tx.ExecContext(ctx, s.rebind("INSERT INTO input_tags (input_uuid, name, value) VALUES (?, ?, ?)"), inputID, t.Key, t.Value); err != nil {
			return err
		}
	}
	return nil
}

// importUUID is a uuid4 in its dashed form, as MLflow keys datasets and inputs.
func importUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
