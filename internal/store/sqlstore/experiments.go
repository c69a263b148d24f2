package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/mltrack/mltrack/internal/search"
	"github.com/mltrack/mltrack/internal/tracking"
)

// queryer is what both *sql.DB and *sql.Tx offer for reads.
type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func parseExperimentID(id string) (int64, error) {
	n, err := strconv.ParseInt(strings.TrimSpace(id), 10, 32)
	if err != nil {
		return 0, tracking.InvalidParameter("Invalid experiment ID '%s'. Experiment ID must be a valid integer.", id)
	}
	return n, nil
}

func isUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code == "23505"
	}
	return err != nil && strings.Contains(err.Error(), "UNIQUE constraint failed")
}

const experimentColumns = "experiment_id, name, artifact_location, lifecycle_stage, creation_time, last_update_time"

func scanExperiment(sc interface{ Scan(...any) error }) (tracking.Experiment, error) {
	var (
		e            tracking.Experiment
		id           int64
		loc, stage   sql.NullString
		created, upd sql.NullInt64
	)
	if err := sc.Scan(&id, &e.Name, &loc, &stage, &created, &upd); err != nil {
		return e, err
	}
	e.ID = strconv.FormatInt(id, 10)
	e.ArtifactLocation, e.LifecycleStage = loc.String, stage.String
	e.CreationTime, e.LastUpdateTime = created.Int64, upd.Int64
	return e, nil
}

func (s *Store) CreateExperiment(ctx context.Context, ne tracking.NewExperiment) (string, error) {
	loc := ne.ArtifactLocation
	if loc != "" {
		var err error
		if loc, err = resolveURIIfLocal(loc); err != nil {
			return "", fmt.Errorf("resolve artifact location: %w", err)
		}
	}
	exists := tracking.Errorf(tracking.ErrResourceAlreadyExists,
		"Experiment(name=%s) already exists. Error: UNIQUE constraint failed: experiments.workspace, experiments.name", ne.Name)
	var id int64
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, s.rebind("SELECT count(*) FROM experiments WHERE workspace = ? AND name = ?"),
			defaultWorkspace, ne.Name).Scan(&n); err != nil {
			return fmt.Errorf("check experiment name: %w", err)
		}
		if n > 0 {
			return exists
		}
		now := s.nowMillis()
		var locArg any
		if loc != "" {
			locArg = loc
		}
		err := tx.QueryRowContext(ctx, s.rebind(`INSERT INTO experiments
			(name, artifact_location, lifecycle_stage, creation_time, last_update_time, workspace)
			VALUES (?, ?, ?, ?, ?, ?) RETURNING experiment_id`),
			ne.Name, locArg, tracking.LifecycleActive, now, now, defaultWorkspace).Scan(&id)
		if isUniqueViolation(err) {
			return exists
		}
		if err != nil {
			return fmt.Errorf("insert experiment: %w", err)
		}
		if loc == "" {
			// The default location embeds the id the database just assigned.
			if _, err := tx.ExecContext(ctx, s.rebind("UPDATE experiments SET artifact_location = ? WHERE experiment_id = ?"),
				appendToURIPath(s.root, strconv.FormatInt(id, 10)), id); err != nil {
				return fmt.Errorf("set artifact location: %w", err)
			}
		}
		return s.upsertExperimentTags(ctx, tx, id, ne.Tags)
	})
	if err != nil {
		return "", err
	}
	return strconv.FormatInt(id, 10), nil
}

func (s *Store) upsertExperimentTags(ctx context.Context, tx *sql.Tx, id int64, tags []tracking.Tag) error {
	for _, t := range dedupTags(tags) {
		if _, err := tx.ExecContext(ctx, s.rebind(`INSERT INTO experiment_tags ("key", value, experiment_id) VALUES (?, ?, ?)
			ON CONFLICT ("key", experiment_id) DO UPDATE SET value = excluded.value`), t.Key, t.Value, id); err != nil {
			return fmt.Errorf("set experiment tag: %w", err)
		}
	}
	return nil
}

// dedupTags keeps the last value of each key, in first-seen order.
func dedupTags(tags []tracking.Tag) []tracking.Tag {
	if len(tags) < 2 {
		return tags
	}
	idx := make(map[string]int, len(tags))
	out := make([]tracking.Tag, 0, len(tags))
	for _, t := range tags {
		if i, ok := idx[t.Key]; ok {
			out[i].Value = t.Value
			continue
		}
		idx[t.Key] = len(out)
		out = append(out, t)
	}
	return out
}

func (s *Store) GetExperiment(ctx context.Context, id string) (*tracking.Experiment, error) {
	n, err := parseExperimentID(id)
	if err != nil {
		return nil, err
	}
	return s.getExperiment(ctx, s.r, n)
}

func (s *Store) getExperiment(ctx context.Context, q queryer, id int64) (*tracking.Experiment, error) {
	e, err := scanExperiment(q.QueryRowContext(ctx, s.rebind("SELECT "+experimentColumns+" FROM experiments WHERE experiment_id = ?"), id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, tracking.NotFound("No Experiment with id=%d exists", id)
	}
	if err != nil {
		return nil, fmt.Errorf("get experiment %d: %w", id, err)
	}
	if err := s.loadExperimentTags(ctx, q, []*tracking.Experiment{&e}); err != nil {
		return nil, err
	}
	return &e, nil
}

func (s *Store) GetExperimentByName(ctx context.Context, name string) (*tracking.Experiment, error) {
	e, err := scanExperiment(s.r.QueryRowContext(ctx, s.rebind("SELECT "+experimentColumns+" FROM experiments WHERE workspace = ? AND name = ?"), defaultWorkspace, name))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, tracking.NotFound("Could not find experiment with name '%s'", name)
	}
	if err != nil {
		return nil, fmt.Errorf("get experiment by name: %w", err)
	}
	if err := s.loadExperimentTags(ctx, s.r, []*tracking.Experiment{&e}); err != nil {
		return nil, err
	}
	return &e, nil
}

func (s *Store) loadExperimentTags(ctx context.Context, q queryer, exps []*tracking.Experiment) error {
	if len(exps) == 0 {
		return nil
	}
	byID := make(map[string]*tracking.Experiment, len(exps))
	args := make([]any, 0, len(exps))
	for _, e := range exps {
		byID[e.ID] = e
		n, _ := strconv.ParseInt(e.ID, 10, 64)
		args = append(args, n)
	}
	rows, err := q.QueryContext(ctx, s.rebind(`SELECT experiment_id, "key", value FROM experiment_tags
		WHERE experiment_id IN (`+strings.TrimSuffix(strings.Repeat("?, ", len(args)), ", ")+`) ORDER BY experiment_id, "key"`), args...)
	if err != nil {
		return fmt.Errorf("load experiment tags: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			id  int64
			t   tracking.Tag
			val sql.NullString
		)
		if err := rows.Scan(&id, &t.Key, &val); err != nil {
			return fmt.Errorf("load experiment tags: %w", err)
		}
		t.Value = val.String
		if e := byID[strconv.FormatInt(id, 10)]; e != nil {
			e.Tags = append(e.Tags, t)
		}
	}
	return rows.Err()
}

// activeExperiment loads an experiment inside tx and insists it is active,
// with MLflow's message for a deleted one.
func (s *Store) activeExperiment(ctx context.Context, tx *sql.Tx, id string) (int64, error) {
	n, err := parseExperimentID(id)
	if err != nil {
		return 0, err
	}
	var stage sql.NullString
	err = tx.QueryRowContext(ctx, s.rebind("SELECT lifecycle_stage FROM experiments WHERE experiment_id = ?"), n).Scan(&stage)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, tracking.NotFound("No Experiment with id=%d exists", n)
	}
	if err != nil {
		return 0, fmt.Errorf("get experiment %d: %w", n, err)
	}
	if stage.String != tracking.LifecycleActive {
		return 0, tracking.InvalidParameter("The experiment %d must be in the 'active' state. Current state is %s.", n, stage.String)
	}
	return n, nil
}

func (s *Store) RenameExperiment(ctx context.Context, id, newName string) error {
	n, err := parseExperimentID(id)
	if err != nil {
		return err
	}
	return s.inTx(ctx, func(tx *sql.Tx) error {
		var stage sql.NullString
		err := tx.QueryRowContext(ctx, s.rebind("SELECT lifecycle_stage FROM experiments WHERE experiment_id = ?"), n).Scan(&stage)
		if errors.Is(err, sql.ErrNoRows) {
			return tracking.NotFound("No Experiment with id=%d exists", n)
		}
		if err != nil {
			return fmt.Errorf("get experiment %d: %w", n, err)
		}
		if stage.String != tracking.LifecycleActive {
			return tracking.Errorf(tracking.ErrInvalidState, "Cannot rename a non-active experiment.")
		}
		_, err = tx.ExecContext(ctx, s.rebind("UPDATE experiments SET name = ?, last_update_time = ? WHERE experiment_id = ?"), newName, s.nowMillis(), n)
		if isUniqueViolation(err) {
			return tracking.Errorf(tracking.ErrResourceAlreadyExists,
				"Experiment(name=%s) already exists. Error: UNIQUE constraint failed: experiments.workspace, experiments.name", newName)
		}
		if err != nil {
			return fmt.Errorf("rename experiment: %w", err)
		}
		return nil
	})
}

// DeleteExperiment marks the experiment and all its runs deleted, as
// MLflow's SQL store does (runs get deleted_time).
func (s *Store) DeleteExperiment(ctx context.Context, id string) error {
	return s.setExperimentStage(ctx, id, tracking.LifecycleActive, tracking.LifecycleDeleted)
}

// RestoreExperiment reactivates the experiment and all its runs.
func (s *Store) RestoreExperiment(ctx context.Context, id string) error {
	return s.setExperimentStage(ctx, id, tracking.LifecycleDeleted, tracking.LifecycleActive)
}

func (s *Store) setExperimentStage(ctx context.Context, id, from, to string) error {
	n, err := parseExperimentID(id)
	if err != nil {
		return err
	}
	return s.inTx(ctx, func(tx *sql.Tx) error {
		var stage sql.NullString
		err := tx.QueryRowContext(ctx, s.rebind("SELECT lifecycle_stage FROM experiments WHERE experiment_id = ?"), n).Scan(&stage)
		if errors.Is(err, sql.ErrNoRows) || err == nil && stage.String != from {
			return tracking.NotFound("No Experiment with id=%d exists", n)
		}
		if err != nil {
			return fmt.Errorf("get experiment %d: %w", n, err)
		}
		now := s.nowMillis()
		if _, err := tx.ExecContext(ctx, s.rebind("UPDATE experiments SET lifecycle_stage = ?, last_update_time = ? WHERE experiment_id = ?"), to, now, n); err != nil {
			return fmt.Errorf("update experiment: %w", err)
		}
		var deletedTime any
		if to == tracking.LifecycleDeleted {
			deletedTime = now
		}
		if _, err := tx.ExecContext(ctx, s.rebind("UPDATE runs SET lifecycle_stage = ?, deleted_time = ? WHERE experiment_id = ?"), to, deletedTime, n); err != nil {
			return fmt.Errorf("update runs of experiment: %w", err)
		}
		return nil
	})
}

func (s *Store) SetExperimentTag(ctx context.Context, id string, tag tracking.Tag) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		n, err := s.activeExperiment(ctx, tx, id)
		if err != nil {
			return err
		}
		return s.upsertExperimentTags(ctx, tx, n, []tracking.Tag{tag})
	})
}

func (s *Store) DeleteExperimentTag(ctx context.Context, id, key string) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		n, err := s.activeExperiment(ctx, tx, id)
		if err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, s.rebind(`DELETE FROM experiment_tags WHERE experiment_id = ? AND "key" = ?`), n, key)
		if err != nil {
			return fmt.Errorf("delete experiment tag: %w", err)
		}
		if k, _ := res.RowsAffected(); k == 0 {
			return tracking.NotFound("No tag with name: %s in experiment with id %s", key, id)
		}
		return nil
	})
}

func (s *Store) SearchExperiments(ctx context.Context, q tracking.ExperimentQuery) ([]tracking.Experiment, error) {
	var (
		where []string
		args  []any
	)
	where = append(where, "e.workspace = ?")
	args = append(args, defaultWorkspace)
	stages := viewStages(q.ViewType)
	where = append(where, "e.lifecycle_stage IN ("+strings.TrimSuffix(strings.Repeat("?, ", len(stages)), ", ")+")")
	for _, st := range stages {
		args = append(args, st)
	}
	for _, c := range q.Filter {
		if (c.Op == search.OpIsNull || c.Op == search.OpIsNotNull) && c.Entity != search.EntityTag {
			return nil, tracking.InvalidParameter("IS NULL / IS NOT NULL is only supported for tags, not for attribute '%s'", c.Key)
		}
		switch c.Entity {
		case search.EntityAttribute:
			var col string
			switch c.Key {
			case "name":
				col = "e.name"
			case "creation_time", "last_update_time":
				col = "e." + c.Key
			case "experiment_id":
				col = "e.experiment_id"
				vals := c.Value.List
				if c.Value.Kind != search.ValueList {
					vals = []string{valueString(c.Value)}
				}
				ids := make([]string, 0, len(vals))
				for _, v := range vals {
					n, err := parseExperimentID(v)
					if err != nil {
						return nil, err
					}
					ids = append(ids, strconv.FormatInt(n, 10))
				}
				v := c.Value
				if v.Kind == search.ValueList {
					v.List = ids
				} else {
					v = search.Value{Kind: search.ValueNumber, Num: float64(mustInt(ids[0]))}
				}
				cond, cargs, err := s.compare(col, c.Op, v, true)
				if err != nil {
					return nil, err
				}
				where, args = append(where, cond), append(args, cargs...)
				continue
			default:
				return nil, tracking.InvalidParameter("Invalid attribute key '%s' specified.", c.Key)
			}
			numeric := c.Key != "name"
			v := c.Value
			if numeric && v.Kind == search.ValueString {
				n, err := strconv.ParseInt(v.Str, 10, 64)
				if err != nil {
					return nil, tracking.InvalidParameter("Invalid value for numeric attribute '%s': '%s'", c.Key, v.Str)
				}
				v = search.Value{Kind: search.ValueNumber, Num: float64(n)}
			}
			cond, cargs, err := s.compare(col, c.Op, v, numeric)
			if err != nil {
				return nil, err
			}
			where, args = append(where, cond), append(args, cargs...)
		case search.EntityTag:
			if c.Op == search.OpIsNull || c.Op == search.OpIsNotNull {
				where = append(where, existsCond(c.Op, `SELECT 1 FROM experiment_tags x WHERE x.experiment_id = e.experiment_id AND x."key" = ?`))
				args = append(args, c.Key)
				continue
			}
			cond, cargs, err := s.compare("t.value", c.Op, c.Value, false)
			if err != nil {
				return nil, err
			}
			where = append(where, `e.experiment_id IN (SELECT t.experiment_id FROM experiment_tags t WHERE t."key" = ? AND `+cond+")")
			args = append(args, c.Key)
			args = append(args, cargs...)
		default:
			return nil, tracking.InvalidParameter("Invalid token type: %s", c.Entity)
		}
	}
	order := q.OrderBy
	if len(order) == 0 {
		order = []search.OrderBy{
			{Entity: search.EntityAttribute, Key: "creation_time"},
			{Entity: search.EntityAttribute, Key: "experiment_id", Ascending: true},
		}
	}
	var clauses []string
	hasID := false
	for _, o := range order {
		if o.Entity != search.EntityAttribute {
			return nil, tracking.InvalidParameter("Invalid order_by entity: %s", o.Entity)
		}
		switch o.Key {
		case "name", "experiment_id", "creation_time", "last_update_time":
		default:
			return nil, tracking.InvalidParameter("Invalid order by key '%s' specified.", o.Key)
		}
		hasID = hasID || o.Key == "experiment_id"
		clauses = append(clauses, "e."+o.Key+dir(o.Ascending))
	}
	if !hasID {
		clauses = append(clauses, "e.experiment_id DESC")
	}
	query := "SELECT " + prefixCols("e.", experimentColumns) + " FROM experiments e WHERE " + strings.Join(where, " AND ") +
		" ORDER BY " + strings.Join(clauses, ", ")
	query, args = s.limitOffset(query, args, q.Limit, q.Offset)
	rows, err := s.r.QueryContext(ctx, s.rebind(query), args...)
	if err != nil {
		return nil, fmt.Errorf("search experiments: %w", err)
	}
	defer rows.Close()
	var out []tracking.Experiment
	for rows.Next() {
		e, err := scanExperiment(rows)
		if err != nil {
			return nil, fmt.Errorf("search experiments: %w", err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("search experiments: %w", err)
	}
	ptrs := make([]*tracking.Experiment, len(out))
	for i := range out {
		ptrs[i] = &out[i]
	}
	if err := s.loadExperimentTags(ctx, s.r, ptrs); err != nil {
		return nil, err
	}
	return out, nil
}

func mustInt(s string) int64 { n, _ := strconv.ParseInt(s, 10, 64); return n }

func dir(asc bool) string {
	if asc {
		return " ASC"
	}
	return " DESC"
}

func prefixCols(p, cols string) string {
	parts := strings.Split(cols, ", ")
	for i := range parts {
		parts[i] = p + parts[i]
	}
	return strings.Join(parts, ", ")
}

func (s *Store) limitOffset(query string, args []any, limit, offset int) (string, []any) {
	if limit > 0 {
		query += " LIMIT ?"
		args = append(args, limit)
	} else if offset > 0 {
		if s.d == dialectSQLite {
			query += " LIMIT -1"
		}
	}
	if offset > 0 {
		query += " OFFSET ?"
		args = append(args, offset)
	}
	return query, args
}

func viewStages(v tracking.ViewType) []string {
	switch v {
	case tracking.ViewDeletedOnly:
		return []string{tracking.LifecycleDeleted}
	case tracking.ViewAll:
		return []string{tracking.LifecycleActive, tracking.LifecycleDeleted}
	}
	return []string{tracking.LifecycleActive}
}

func valueString(v search.Value) string {
	if v.Kind == search.ValueNumber {
		return strconv.FormatFloat(v.Num, 'f', -1, 64)
	}
	return v.Str
}

// compare renders `col <op> value` with placeholders. LIKE is case-sensitive
// on both dialects (SQLite via PRAGMA case_sensitive_like, as MLflow sets it);
// ILIKE is lower() LIKE lower() on SQLite, as SQLAlchemy renders it there.
func (s *Store) compare(col string, op search.Op, v search.Value, numeric bool) (string, []any, error) {
	var arg any
	if numeric {
		if v.Kind != search.ValueNumber && v.Kind != search.ValueList {
			f, err := strconv.ParseFloat(v.Str, 64)
			if err != nil {
				return "", nil, tracking.InvalidParameter("Expected numeric value for %s, got '%s'", col, v.Str)
			}
			v = search.Value{Kind: search.ValueNumber, Num: f}
		}
		arg = v.Num
	} else {
		arg = valueString(v)
	}
	switch op {
	case search.OpEq, search.OpNe, search.OpLt, search.OpLe, search.OpGt, search.OpGe:
		if v.Kind == search.ValueList {
			return "", nil, tracking.InvalidParameter("Invalid comparator '%s' for a list value", op)
		}
		return col + " " + string(op) + " ?", []any{arg}, nil
	case search.OpLike:
		if numeric {
			break
		}
		return col + " LIKE ?", []any{arg}, nil
	case search.OpILike:
		if numeric {
			break
		}
		if s.d == dialectPostgres {
			return col + " ILIKE ?", []any{arg}, nil
		}
		return "lower(" + col + ") LIKE lower(?)", []any{arg}, nil
	case search.OpIn, search.OpNotIn:
		if v.Kind != search.ValueList {
			break
		}
		if len(v.List) == 0 {
			if op == search.OpIn {
				return "1 = 0", nil, nil
			}
			return "1 = 1", nil, nil
		}
		args := make([]any, len(v.List))
		for i, x := range v.List {
			if numeric {
				args[i] = mustInt(x)
			} else {
				args[i] = x
			}
		}
		return col + " " + string(op) + " (" + strings.TrimSuffix(strings.Repeat("?, ", len(args)), ", ") + ")", args, nil
	}
	return "", nil, tracking.InvalidParameter("Invalid comparator '%s'", op)
}
