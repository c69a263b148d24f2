package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/mltrack/mltrack/internal/search"
	"github.com/mltrack/mltrack/internal/tracking"
)

const loggedModelColumns = "lm.model_id, lm.experiment_id, lm.name, lm.artifact_location, lm.creation_timestamp_ms, " +
	"lm.last_updated_timestamp_ms, lm.status, lm.lifecycle_stage, lm.model_type, lm.source_run_id, lm.status_message"

func scanLoggedModel(sc interface{ Scan(...any) error }) (tracking.LoggedModel, error) {
	var (
		m                                    tracking.LoggedModel
		exp                                  int64
		status                               int
		stage, modelType, sourceRun, message sql.NullString
	)
	err := sc.Scan(&m.ID, &exp, &m.Name, &m.ArtifactURI, &m.CreationTime, &m.LastUpdatedTime, &status,
		&stage, &modelType, &sourceRun, &message)
	if err != nil {
		return m, err
	}
	m.ExperimentID = strconv.FormatInt(exp, 10)
	m.Status = tracking.LoggedModelStatus(status)
	m.LifecycleStage, m.ModelType, m.SourceRunID, m.StatusMessage = stage.String, modelType.String, sourceRun.String, message.String
	return m, nil
}

func modelNotFound(id string) error {
	return tracking.NotFound("Logged model with ID '%s' not found.", id)
}

// modelConflict is what MLflow reports when an insert hits a primary key of a
// logged model's params or tags: its SQL store lets the IntegrityError
// through as BAD_REQUEST.
func modelConflict(table, key string) error {
	return tracking.Errorf(tracking.ErrBadRequest, "UNIQUE constraint failed: %s.model_id, %s.%s", table, table, key)
}

func (s *Store) CreateLoggedModel(ctx context.Context, nm tracking.NewLoggedModel) (*tracking.LoggedModel, error) {
	id := "m-" + newRunID()
	name := nm.Name
	if name == "" {
		name = tracking.GenerateRunName(nil)
	}
	var out *tracking.LoggedModel
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		expID, err := s.activeExperiment(ctx, tx, nm.ExperimentID)
		if err != nil {
			return err
		}
		var loc sql.NullString
		if err := tx.QueryRowContext(ctx, s.rebind("SELECT artifact_location FROM experiments WHERE experiment_id = ?"), expID).Scan(&loc); err != nil {
			return fmt.Errorf("get artifact location: %w", err)
		}
		now := s.nowMillis()
		// Empty model_type and source_run_id are stored as '' rather than
		// NULL: that is what MLflow writes for models created over REST.
		_, err = tx.ExecContext(ctx, s.rebind(`INSERT INTO logged_models (model_id, experiment_id, name, artifact_location,
			creation_timestamp_ms, last_updated_timestamp_ms, status, lifecycle_stage, model_type, source_run_id, status_message)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)`),
			id, expID, name, appendToURIPath(loc.String, "models", id, "artifacts"), now, now,
			int(tracking.ModelStatusPending), tracking.LifecycleActive, nm.ModelType, nm.SourceRunID)
		if err != nil {
			return fmt.Errorf("insert logged model: %w", err)
		}
		if err := s.insertModelParams(ctx, tx, id, expID, nm.Params); err != nil {
			return err
		}
		if err := s.insertModelTags(ctx, tx, id, expID, nm.Tags); err != nil {
			return err
		}
		out, err = s.loadLoggedModel(ctx, tx, id, true)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// insertModelParams adds params without overwriting: MLflow inserts them, so
// a key logged before (or twice in one request) is a BAD_REQUEST.
func (s *Store) insertModelParams(ctx context.Context, tx *sql.Tx, id string, expID int64, params []tracking.Param) error {
	if len(params) == 0 {
		return nil
	}
	seen := make(map[string]bool, len(params))
	args := make([]any, 0, len(params)*4)
	for _, p := range params {
		if seen[p.Key] {
			return modelConflict("logged_model_params", "param_key")
		}
		seen[p.Key] = true
		args = append(args, id, expID, p.Key, p.Value)
	}
	n, err := s.execRowsCount(ctx, tx, "INSERT INTO logged_model_params (model_id, experiment_id, param_key, param_value) VALUES ",
		" ON CONFLICT (model_id, param_key) DO NOTHING", 4, args)
	if err != nil {
		return fmt.Errorf("insert logged model params: %w", err)
	}
	if int(n) != len(params) {
		return modelConflict("logged_model_params", "param_key")
	}
	return nil
}

// insertModelTags adds the tags of a new model; like params, a key given
// twice is a BAD_REQUEST in MLflow's CreateLoggedModel.
func (s *Store) insertModelTags(ctx context.Context, tx *sql.Tx, id string, expID int64, tags []tracking.Tag) error {
	if len(tags) == 0 {
		return nil
	}
	seen := make(map[string]bool, len(tags))
	args := make([]any, 0, len(tags)*4)
	for _, t := range tags {
		if seen[t.Key] {
			return modelConflict("logged_model_tags", "tag_key")
		}
		seen[t.Key] = true
		args = append(args, id, expID, t.Key, t.Value)
	}
	if err := s.execRows(ctx, tx, "INSERT INTO logged_model_tags (model_id, experiment_id, tag_key, tag_value) VALUES ", "", 4, args); err != nil {
		return fmt.Errorf("insert logged model tags: %w", err)
	}
	return nil
}

// modelRecord returns the experiment of a model, deleted or not: MLflow's
// writes (finalize, delete, tags, params) find deleted models too; only
// GetLoggedModel and SearchLoggedModels hide them.
func (s *Store) modelRecord(ctx context.Context, q queryer, id string) (int64, error) {
	var exp int64
	err := q.QueryRowContext(ctx, s.rebind("SELECT experiment_id FROM logged_models WHERE model_id = ?"), id).Scan(&exp)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, modelNotFound(id)
	}
	if err != nil {
		return 0, fmt.Errorf("get logged model: %w", err)
	}
	return exp, nil
}

func (s *Store) GetLoggedModel(ctx context.Context, id string, allowDeleted bool) (*tracking.LoggedModel, error) {
	return s.loadLoggedModel(ctx, s.r, id, allowDeleted)
}

// loadLoggedModel reads one model with its tags, params and metrics.
func (s *Store) loadLoggedModel(ctx context.Context, q queryer, id string, allowDeleted bool) (*tracking.LoggedModel, error) {
	query := "SELECT " + loggedModelColumns + " FROM logged_models lm WHERE lm.model_id = ?"
	if !allowDeleted {
		// As in MLflow, a NULL stage is neither active nor deleted and so hidden.
		query += " AND lm.lifecycle_stage <> 'deleted'"
	}
	m, err := scanLoggedModel(q.QueryRowContext(ctx, s.rebind(query), id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, modelNotFound(id)
	}
	if err != nil {
		return nil, fmt.Errorf("get logged model: %w", err)
	}
	models := []tracking.LoggedModel{m}
	if err := s.loadModelData(ctx, q, models); err != nil {
		return nil, err
	}
	return &models[0], nil
}

// loadModelData fills in tags, params and every metric point of models with
// one query per table.
func (s *Store) loadModelData(ctx context.Context, q queryer, models []tracking.LoggedModel) error {
	if len(models) == 0 {
		return nil
	}
	idx := make(map[string]int, len(models))
	ids := make([]any, len(models))
	for i := range models {
		idx[models[i].ID] = i
		ids[i] = models[i].ID
	}
	in := inList(len(ids))
	each := func(what, query string, scan func(rows *sql.Rows) error) error {
		rows, err := q.QueryContext(ctx, s.rebind(query), ids...)
		if err != nil {
			return fmt.Errorf("load logged model %s: %w", what, err)
		}
		defer rows.Close()
		for rows.Next() {
			if err := scan(rows); err != nil {
				return fmt.Errorf("load logged model %s: %w", what, err)
			}
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("load logged model %s: %w", what, err)
		}
		return nil
	}
	err := each("tags", "SELECT model_id, tag_key, tag_value FROM logged_model_tags WHERE model_id IN "+in+" ORDER BY model_id, tag_key",
		func(rows *sql.Rows) error {
			var mid string
			var t tracking.Tag
			if err := rows.Scan(&mid, &t.Key, &t.Value); err != nil {
				return err
			}
			m := &models[idx[mid]]
			m.Tags = append(m.Tags, t)
			return nil
		})
	if err != nil {
		return err
	}
	err = each("params", "SELECT model_id, param_key, param_value FROM logged_model_params WHERE model_id IN "+in+" ORDER BY model_id, param_key",
		func(rows *sql.Rows) error {
			var mid string
			var p tracking.Param
			if err := rows.Scan(&mid, &p.Key, &p.Value); err != nil {
				return err
			}
			m := &models[idx[mid]]
			m.Params = append(m.Params, p)
			return nil
		})
	if err != nil {
		return err
	}
	return each("metrics", `SELECT model_id, metric_name, metric_value, metric_timestamp_ms, metric_step, run_id, dataset_name, dataset_digest
		FROM logged_model_metrics WHERE model_id IN `+in+` ORDER BY model_id, metric_name, metric_step, metric_timestamp_ms, run_id`,
		func(rows *sql.Rows) error {
			var (
				mid            string
				x              tracking.Metric
				value          sql.NullFloat64
				dsName, dsHash sql.NullString
			)
			if err := rows.Scan(&mid, &x.Key, &value, &x.Timestamp, &x.Step, &x.RunID, &dsName, &dsHash); err != nil {
				return err
			}
			x.Value, x.ModelID, x.DatasetName, x.DatasetDigest = value.Float64, mid, dsName.String, dsHash.String
			m := &models[idx[mid]]
			m.Metrics = append(m.Metrics, x)
			return nil
		})
}

func (s *Store) FinalizeLoggedModel(ctx context.Context, id string, status tracking.LoggedModelStatus) (*tracking.LoggedModel, error) {
	var out *tracking.LoggedModel
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := s.modelRecord(ctx, tx, id); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, s.rebind("UPDATE logged_models SET status = ?, last_updated_timestamp_ms = ? WHERE model_id = ?"),
			int(status), s.nowMillis(), id)
		if err != nil {
			return fmt.Errorf("finalize logged model: %w", err)
		}
		out, err = s.loadLoggedModel(ctx, tx, id, true)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// DeleteLoggedModel soft-deletes: the rows stay, with lifecycle_stage
// 'deleted', until MLflow's garbage collection removes them.
func (s *Store) DeleteLoggedModel(ctx context.Context, id string) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := s.modelRecord(ctx, tx, id); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, s.rebind("UPDATE logged_models SET lifecycle_stage = ?, last_updated_timestamp_ms = ? WHERE model_id = ?"),
			tracking.LifecycleDeleted, s.nowMillis(), id)
		if err != nil {
			return fmt.Errorf("delete logged model: %w", err)
		}
		return nil
	})
}

// SetLoggedModelTags overwrites tags; a key repeated in one call keeps its
// last value, as MLflow does.
func (s *Store) SetLoggedModelTags(ctx context.Context, id string, tags []tracking.Tag) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		expID, err := s.modelRecord(ctx, tx, id)
		if err != nil {
			return err
		}
		tags = dedupTags(tags)
		if len(tags) == 0 {
			return nil
		}
		args := make([]any, 0, len(tags)*4)
		for _, t := range tags {
			args = append(args, id, expID, t.Key, t.Value)
		}
		err = s.execRows(ctx, tx, "INSERT INTO logged_model_tags (model_id, experiment_id, tag_key, tag_value) VALUES ",
			" ON CONFLICT (model_id, tag_key) DO UPDATE SET tag_value = excluded.tag_value", 4, args)
		if err != nil {
			return fmt.Errorf("set logged model tags: %w", err)
		}
		return nil
	})
}

func (s *Store) DeleteLoggedModelTag(ctx context.Context, id, key string) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := s.modelRecord(ctx, tx, id); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, s.rebind("DELETE FROM logged_model_tags WHERE model_id = ? AND tag_key = ?"), id, key)
		if err != nil {
			return fmt.Errorf("delete logged model tag: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return tracking.NotFound("No tag with key %s found for model with ID %s.", search.PyRepr(key), search.PyRepr(id))
		}
		return nil
	})
}

func (s *Store) LogLoggedModelParams(ctx context.Context, id string, params []tracking.Param) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		expID, err := s.modelRecord(ctx, tx, id)
		if err != nil {
			return err
		}
		return s.insertModelParams(ctx, tx, id, expID, params)
	})
}

// inList is "(?, ?, ...)" for n values.
func inList(n int) string {
	return "(" + strings.TrimSuffix(strings.Repeat("?, ", n), ", ") + ")"
}
