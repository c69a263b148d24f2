package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"strconv"

	"github.com/mltrack/mltrack/internal/tracking"
)

// The inputs table links entities by type, as MLflow writes it: a dataset
// used by a run is DATASET -> RUN, a model used by a run RUN_INPUT ->
// MODEL_INPUT, and a model a run produced RUN_OUTPUT -> MODEL_OUTPUT (with
// the step). runs.go reads exactly these.
const (
	inputDataset     = "DATASET"
	inputRun         = "RUN"
	inputRunInput    = "RUN_INPUT"
	inputModelInput  = "MODEL_INPUT"
	inputRunOutput   = "RUN_OUTPUT"
	inputModelOutput = "MODEL_OUTPUT"

	// datasetContextTag is the input tag SearchDatasets reports as context.
	datasetContextTag = "mlflow.data.context"

	// maxDatasetSummaries is MLflow's cap on SearchDatasets results.
	maxDatasetSummaries = 1000
)

// activeRunExperiment checks, as MLflow does before logging inputs or
// outputs, that the run exists and is active, and returns its experiment.
func (s *Store) activeRunExperiment(ctx context.Context, tx *sql.Tx, runID string) (int64, error) {
	if err := s.activeRun(ctx, tx, runID); err != nil {
		return 0, err
	}
	var exp int64
	if err := tx.QueryRowContext(ctx, s.rebind("SELECT experiment_id FROM runs WHERE run_uuid = ?"), runID).Scan(&exp); err != nil {
		return 0, fmt.Errorf("read run experiment: %w", err)
	}
	return exp, nil
}

// LogInputs records datasets once per (experiment, name, digest), keeping
// the first description logged, and links each to the run once: a dataset
// input already on the run is left as it is, tags included. Model inputs
// are not checked against logged_models, as in MLflow.
func (s *Store) LogInputs(ctx context.Context, runID string, datasets []tracking.DatasetInput, models []tracking.ModelInput) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		expID, err := s.activeRunExperiment(ctx, tx, runID)
		if err != nil {
			return err
		}
		type nameDigest struct{ name, digest string }
		seen := make(map[nameDigest]bool, len(datasets))
		for _, di := range datasets {
			k := nameDigest{di.Dataset.Name, di.Dataset.Digest}
			if seen[k] {
				continue // MLflow keeps the first of duplicates in one request
			}
			seen[k] = true
			dsID, err := s.ensureDataset(ctx, tx, expID, di.Dataset)
			if err != nil {
				return err
			}
			if err := s.linkDataset(ctx, tx, runID, dsID, di.Tags); err != nil {
				return err
			}
		}
		for _, m := range models {
			_, err := tx.ExecContext(ctx, s.rebind(`INSERT INTO inputs (input_uuid, source_type, source_id, destination_type, destination_id, step)
				VALUES (?, ?, ?, ?, ?, 0) ON CONFLICT (source_type, source_id, destination_type, destination_id) DO NOTHING`),
				newRunID(), inputRunInput, runID, inputModelInput, m.ModelID)
			if err != nil {
				return fmt.Errorf("log model input: %w", err)
			}
		}
		return nil
	})
}

// ensureDataset returns the uuid of the experiment's dataset with this name
// and digest, creating it if needed. ON CONFLICT lets a concurrent writer
// (PostgreSQL) win the insert; the select then finds its row.
func (s *Store) ensureDataset(ctx context.Context, tx *sql.Tx, expID int64, d tracking.Dataset) (string, error) {
	_, err := tx.ExecContext(ctx, s.rebind(`INSERT INTO datasets (dataset_uuid, experiment_id, name, digest, dataset_source_type,
		dataset_source, dataset_schema, dataset_profile) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (experiment_id, name, digest) DO NOTHING`),
		newRunID(), expID, d.Name, d.Digest, d.SourceType, d.Source, nullIfEmpty(d.Schema), nullIfEmpty(d.Profile))
	if err != nil {
		return "", fmt.Errorf("insert dataset: %w", err)
	}
	var id string
	err = tx.QueryRowContext(ctx, s.rebind("SELECT dataset_uuid FROM datasets WHERE experiment_id = ? AND name = ? AND digest = ?"),
		expID, d.Name, d.Digest).Scan(&id)
	if err != nil {
		return "", fmt.Errorf("read dataset: %w", err)
	}
	return id, nil
}

// linkDataset adds the DATASET -> RUN input with its tags unless the run
// already has this dataset.
func (s *Store) linkDataset(ctx context.Context, tx *sql.Tx, runID, datasetID string, tags []tracking.Tag) error {
	inputID := newRunID()
	res, err := tx.ExecContext(ctx, s.rebind(`INSERT INTO inputs (input_uuid, source_type, source_id, destination_type, destination_id, step)
		VALUES (?, ?, ?, ?, ?, 0) ON CONFLICT (source_type, source_id, destination_type, destination_id) DO NOTHING`),
		inputID, inputDataset, datasetID, inputRun, runID)
	if err != nil {
		return fmt.Errorf("insert dataset input: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("insert dataset input: %w", err)
	} else if n == 0 {
		return nil
	}
	tags = dedupTags(tags)
	if len(tags) == 0 {
		return nil
	}
	args := make([]any, 0, len(tags)*3)
	for _, t := range tags {
		args = append(args, inputID, t.Key, t.Value)
	}
	if err := s.execRows(ctx, tx, "INSERT INTO input_tags (input_uuid, name, value) VALUES ", "", 3, args); err != nil {
		return fmt.Errorf("insert input tags: %w", err)
	}
	return nil
}

// LogOutputs links models to the run as outputs at a step. Like MLflow's SQL
// store it inserts: a model already an output of the run is a BAD_REQUEST.
func (s *Store) LogOutputs(ctx context.Context, runID string, models []tracking.ModelOutput) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := s.activeRunExperiment(ctx, tx, runID); err != nil {
			return err
		}
		if len(models) == 0 {
			return nil
		}
		seen := make(map[string]bool, len(models))
		args := make([]any, 0, len(models)*6)
		// Model order, so concurrent PostgreSQL transactions lock index
		// entries in one order.
		sorted := append([]tracking.ModelOutput(nil), models...)
		sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].ModelID < sorted[j].ModelID })
		for _, m := range sorted {
			if seen[m.ModelID] {
				return outputConflict()
			}
			seen[m.ModelID] = true
			args = append(args, newRunID(), inputRunOutput, runID, inputModelOutput, m.ModelID, m.Step)
		}
		n, err := s.execRowsCount(ctx, tx, "INSERT INTO inputs (input_uuid, source_type, source_id, destination_type, destination_id, step) VALUES ",
			" ON CONFLICT (source_type, source_id, destination_type, destination_id) DO NOTHING", 6, args)
		if err != nil {
			return fmt.Errorf("log outputs: %w", err)
		}
		if int(n) != len(sorted) {
			return outputConflict()
		}
		return nil
	})
}

func outputConflict() error {
	return tracking.Errorf(tracking.ErrBadRequest,
		"UNIQUE constraint failed: inputs.source_type, inputs.source_id, inputs.destination_type, inputs.destination_id")
}

// SearchDatasets lists distinct (experiment, name, digest, context) of the
// datasets runs used; an input without a context tag gives an empty context.
// MLflow leaves the order to the database; ours is by those columns.
func (s *Store) SearchDatasets(ctx context.Context, experimentIDs []string) ([]tracking.DatasetSummary, error) {
	if len(experimentIDs) == 0 {
		return nil, nil
	}
	ids := make([]any, 0, len(experimentIDs))
	for _, id := range experimentIDs {
		n, err := parseExperimentID(id)
		if err != nil {
			return nil, err
		}
		ids = append(ids, n)
	}
	query := `SELECT DISTINCT d.experiment_id, d.name, d.digest, t.value FROM datasets d
		JOIN inputs i ON i.source_id = d.dataset_uuid
		LEFT JOIN input_tags t ON t.input_uuid = i.input_uuid AND t.name = ?
		WHERE d.experiment_id IN ` + inList(len(ids)) + `
		ORDER BY d.experiment_id, d.name, d.digest, t.value LIMIT ?`
	args := append([]any{datasetContextTag}, ids...)
	rows, err := s.r.QueryContext(ctx, s.rebind(query), append(args, maxDatasetSummaries)...)
	if err != nil {
		return nil, fmt.Errorf("search datasets: %w", err)
	}
	defer rows.Close()
	var out []tracking.DatasetSummary
	for rows.Next() {
		var (
			exp     int64
			ds      tracking.DatasetSummary
			context sql.NullString
		)
		if err := rows.Scan(&exp, &ds.Name, &ds.Digest, &context); err != nil {
			return nil, fmt.Errorf("search datasets: %w", err)
		}
		ds.ExperimentID, ds.Context = strconv.FormatInt(exp, 10), context.String
		out = append(out, ds)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("search datasets: %w", err)
	}
	return out, nil
}
