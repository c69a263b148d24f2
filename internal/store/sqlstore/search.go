package sqlstore

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/mltrack/mltrack/internal/search"
	"github.com/mltrack/mltrack/internal/tracking"
)

// runAttrColumn maps a canonical run attribute to its runs column.
var runAttrColumn = map[string]string{
	"run_id":          "r.run_uuid",
	"run_name":        "r.name",
	"status":          "r.status",
	"user_id":         "r.user_id",
	"artifact_uri":    "r.artifact_uri",
	"lifecycle_stage": "r.lifecycle_stage",
	"start_time":      "r.start_time",
	"end_time":        "r.end_time",
	"experiment_id":   "r.experiment_id",
}

var numericRunAttr = map[string]bool{"start_time": true, "end_time": true, "experiment_id": true}

// SearchRuns selects one page of run ids with the filter and order compiled
// to SQL, then loads those runs' data in bulk.
func (s *Store) SearchRuns(ctx context.Context, q tracking.RunQuery) ([]tracking.Run, error) {
	if len(q.ExperimentIDs) == 0 {
		return nil, nil
	}
	var (
		joins []string
		where []string
		args  []any // join args come first: they precede WHERE in the text
		wargs []any
	)
	expArgs := make([]any, 0, len(q.ExperimentIDs))
	for _, id := range q.ExperimentIDs {
		n, err := parseExperimentID(id)
		if err != nil {
			return nil, err
		}
		expArgs = append(expArgs, n)
	}
	where = append(where, "r.experiment_id IN ("+strings.TrimSuffix(strings.Repeat("?, ", len(expArgs)), ", ")+")")
	wargs = append(wargs, expArgs...)
	stages := viewStages(q.ViewType)
	where = append(where, "r.lifecycle_stage IN ("+strings.TrimSuffix(strings.Repeat("?, ", len(stages)), ", ")+")")
	for _, st := range stages {
		wargs = append(wargs, st)
	}

	for _, c := range q.Filter {
		cond, cargs, err := s.runCondition(c)
		if err != nil {
			return nil, err
		}
		where = append(where, cond)
		wargs = append(wargs, cargs...)
	}

	// Order: each clause sorts missing values (and NaN metrics) last in both
	// directions, then the value; start_time DESC and run_uuid break ties.
	var order []string
	seen := map[string]bool{}
	sawStart := false
	for i, o := range q.OrderBy {
		id := o.Entity.String() + "\x00" + o.Key
		if seen[id] {
			return nil, tracking.InvalidParameter("`order_by` contains duplicate fields: %s", o.Key)
		}
		seen[id] = true
		var col string
		switch o.Entity {
		case search.EntityAttribute:
			c, ok := runAttrColumn[o.Key]
			if !ok {
				return nil, tracking.InvalidParameter("Invalid order_by attribute key '%s'", o.Key)
			}
			col = c
			sawStart = sawStart || o.Key == "start_time"
			order = append(order, "CASE WHEN "+col+" IS NULL THEN 1 ELSE 0 END")
		case search.EntityMetric, search.EntityParam, search.EntityTag:
			table := map[search.Entity]string{search.EntityMetric: "latest_metrics", search.EntityParam: "params", search.EntityTag: "tags"}[o.Entity]
			alias := "o" + strconv.Itoa(i)
			joins = append(joins, "LEFT JOIN "+table+" "+alias+" ON "+alias+".run_uuid = r.run_uuid AND "+alias+`."key" = ?`)
			args = append(args, o.Key)
			col = alias + ".value"
			if o.Entity == search.EntityMetric {
				order = append(order, "CASE WHEN "+alias+".is_nan = "+s.boolLit(true)+" THEN 1 WHEN "+col+" IS NULL THEN 2 ELSE 0 END")
			} else {
				order = append(order, "CASE WHEN "+col+" IS NULL THEN 1 ELSE 0 END")
			}
		default:
			return nil, tracking.InvalidParameter("Invalid identifier type '%s'", o.Entity)
		}
		order = append(order, col+dir(o.Ascending))
	}
	if !sawStart {
		order = append(order, "r.start_time DESC")
	}
	order = append(order, "r.run_uuid ASC")

	query := "SELECT " + runColumns + " FROM runs r " + strings.Join(joins, " ") +
		" WHERE " + strings.Join(where, " AND ") + " ORDER BY " + strings.Join(order, ", ")
	args = append(args, wargs...)
	query, args = s.limitOffset(query, args, q.Limit, q.Offset)

	rows, err := s.r.QueryContext(ctx, s.rebind(query), args...)
	if err != nil {
		return nil, fmt.Errorf("search runs: %w", err)
	}
	var runs []tracking.Run
	for rows.Next() {
		ri, err := scanRunInfo(rows)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("search runs: %w", err)
		}
		runs = append(runs, tracking.Run{Info: ri})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("search runs: %w", err)
	}
	if err := s.loadRunData(ctx, s.r, runs, false); err != nil {
		return nil, err
	}
	return runs, nil
}

// runCondition compiles one comparison to a WHERE term over runs r. A run
// lacking the metric/param/tag never matches (the IN subquery has no row).
func (s *Store) runCondition(c search.Comparison) (string, []any, error) {
	if c.Op == search.OpIsNull || c.Op == search.OpIsNotNull {
		// MLflow 3.18 tests only whether the run has the key; an empty value
		// still counts as present.
		var table string
		switch c.Entity {
		case search.EntityParam:
			table = "params"
		case search.EntityTag:
			table = "tags"
		default:
			return "", nil, tracking.InvalidParameter("IS NULL / IS NOT NULL is only supported for tags and params, not for '%s' '%s'", c.Entity, c.Key)
		}
		return existsCond(c.Op, "SELECT 1 FROM "+table+` x WHERE x.run_uuid = r.run_uuid AND x."key" = ?`), []any{c.Key}, nil
	}
	switch c.Entity {
	case search.EntityAttribute:
		if c.Key == "run_name" {
			// MLflow matches run names against the mlflow.runName tag: runs
			// logged by old clients have an empty name column.
			cond, args, err := s.compare("t.value", c.Op, c.Value, false)
			if err != nil {
				return "", nil, err
			}
			return `r.run_uuid IN (SELECT t.run_uuid FROM tags t WHERE t."key" = ? AND ` + cond + ")",
				append([]any{tracking.TagRunName}, args...), nil
		}
		col, ok := runAttrColumn[c.Key]
		if !ok {
			return "", nil, tracking.InvalidParameter("Invalid attribute key '%s' specified.", c.Key)
		}
		return s.compare(col, c.Op, c.Value, numericRunAttr[c.Key])
	case search.EntityMetric:
		cond, args, err := s.compare("m.value", c.Op, c.Value, true)
		if err != nil {
			return "", nil, err
		}
		// NaN is stored as 0 with is_nan: it satisfies only "!=".
		if c.Op == search.OpNe {
			cond = "(" + cond + " OR m.is_nan = " + s.boolLit(true) + ")"
		} else {
			cond = "(" + cond + " AND m.is_nan = " + s.boolLit(false) + ")"
		}
		return `r.run_uuid IN (SELECT m.run_uuid FROM latest_metrics m WHERE m."key" = ? AND ` + cond + ")",
			append([]any{c.Key}, args...), nil
	case search.EntityParam, search.EntityTag:
		table := "params"
		if c.Entity == search.EntityTag {
			table = "tags"
		}
		cond, args, err := s.compare("p.value", c.Op, c.Value, false)
		if err != nil {
			return "", nil, err
		}
		return "r.run_uuid IN (SELECT p.run_uuid FROM " + table + ` p WHERE p."key" = ? AND ` + cond + ")",
			append([]any{c.Key}, args...), nil
	case search.EntityDataset:
		switch c.Key {
		case "name", "digest":
			cond, args, err := s.compare("d."+c.Key, c.Op, c.Value, false)
			if err != nil {
				return "", nil, err
			}
			return "r.run_uuid IN (SELECT i.destination_id FROM datasets d JOIN inputs i ON i.source_id = d.dataset_uuid WHERE " + cond + ")", args, nil
		case "context":
			cond, args, err := s.compare("it.value", c.Op, c.Value, false)
			if err != nil {
				return "", nil, err
			}
			return "r.run_uuid IN (SELECT i.destination_id FROM datasets d JOIN inputs i ON i.source_id = d.dataset_uuid " +
					"JOIN input_tags it ON it.input_uuid = i.input_uuid AND it.name = ? AND " + cond + ")",
				append([]any{"mlflow.data.context"}, args...), nil
		}
		return "", nil, tracking.InvalidParameter("Invalid dataset key '%s' specified.", c.Key)
	}
	return "", nil, tracking.InvalidParameter("Invalid search expression type '%s'", c.Entity)
}

// existsCond wraps a correlated subquery as EXISTS for IS NOT NULL and NOT
// EXISTS for IS NULL.
func existsCond(op search.Op, subquery string) string {
	if op == search.OpIsNull {
		return "NOT EXISTS (" + subquery + ")"
	}
	return "EXISTS (" + subquery + ")"
}
