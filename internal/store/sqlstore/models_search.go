package sqlstore

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/mltrack/mltrack/internal/search"
	"github.com/mltrack/mltrack/internal/tracking"
)

// modelAttrColumn maps the attribute names a logged-model filter or order_by
// may use to logged_models columns. MLflow resolves any column name; the
// aliases are its own plus last_updated_time, which the file store knows.
var modelAttrColumn = map[string]string{
	"model_id":                  "lm.model_id",
	"experiment_id":             "lm.experiment_id",
	"name":                      "lm.name",
	"model_type":                "lm.model_type",
	"status":                    "lm.status",
	"source_run_id":             "lm.source_run_id",
	"artifact_location":         "lm.artifact_location",
	"status_message":            "lm.status_message",
	"creation_timestamp_ms":     "lm.creation_timestamp_ms",
	"creation_timestamp":        "lm.creation_timestamp_ms",
	"creation_time":             "lm.creation_timestamp_ms",
	"last_updated_timestamp_ms": "lm.last_updated_timestamp_ms",
	"last_updated_timestamp":    "lm.last_updated_timestamp_ms",
	"last_updated_time":         "lm.last_updated_timestamp_ms",
}

// Comparators MLflow's logged-model filter accepts, in the order its error
// message lists them.
var (
	numericModelOps = []search.Op{search.OpLt, search.OpLe, search.OpGt, search.OpGe, search.OpEq, search.OpNe}
	stringModelOps  = []search.Op{search.OpEq, search.OpNe, search.OpLike, search.OpILike, search.OpIn, search.OpNotIn}
)

// modelStatusFilterValues are the names a status filter compares with: the
// Python enum's values, not the proto names.
var modelStatusFilterValues = map[string]tracking.LoggedModelStatus{
	"UNSPECIFIED": tracking.ModelStatusUnspecified,
	"PENDING":     tracking.ModelStatusPending,
	"READY":       tracking.ModelStatusReady,
	"FAILED":      tracking.ModelStatusUploadFailed,
}

// modelSearch accumulates the SQL of one SearchLoggedModels call. Join
// arguments precede WHERE arguments in the text, so they are kept apart.
type modelSearch struct {
	s        *Store
	expIDs   []any
	datasets []tracking.DatasetRef
	joins    []string
	jargs    []any
	where    []string
	wargs    []any
	order    []string
}

// SearchLoggedModels follows MLflow's SQL store: a metric filter or ordering
// reads each model's latest value of the metric (highest step, then
// timestamp, then value) among the points logged against q.Datasets; models
// lacking it never match a filter and sort last in either direction.
func (s *Store) SearchLoggedModels(ctx context.Context, q tracking.LoggedModelQuery) ([]tracking.LoggedModel, error) {
	for _, d := range q.Datasets {
		if d.Name == "" {
			return nil, tracking.InvalidParameter("`dataset_name` in the `datasets` clause must be specified.")
		}
	}
	if len(q.ExperimentIDs) == 0 {
		return nil, nil
	}
	ms := &modelSearch{s: s, datasets: q.Datasets}
	for _, id := range q.ExperimentIDs {
		n, err := parseExperimentID(id)
		if err != nil {
			return nil, err
		}
		ms.expIDs = append(ms.expIDs, n)
	}
	ms.where = append(ms.where, "lm.experiment_id IN "+inList(len(ms.expIDs)), "lm.lifecycle_stage <> 'deleted'")
	ms.wargs = append(ms.wargs, ms.expIDs...)
	hasMetricFilter := false
	for _, c := range q.Filter {
		if c.Entity == search.EntityMetric {
			hasMetricFilter = true
		}
		if err := ms.filter(c); err != nil {
			return nil, err
		}
	}
	if len(q.Datasets) > 0 && !hasMetricFilter {
		// Datasets alone keep the models with any metric logged against them.
		cond, args := datasetsCond("x", q.Datasets, "", "")
		ms.where = append(ms.where, "lm.model_id IN (SELECT x.model_id FROM logged_model_metrics x WHERE "+cond+")")
		ms.wargs = append(ms.wargs, args...)
	}
	if err := ms.orderBy(q.OrderBy); err != nil {
		return nil, err
	}
	query := "SELECT " + loggedModelColumns + " FROM logged_models lm " + strings.Join(ms.joins, " ") +
		" WHERE " + strings.Join(ms.where, " AND ") + " ORDER BY " + strings.Join(ms.order, ", ")
	args := append(ms.jargs, ms.wargs...)
	query, args = s.limitOffset(query, args, q.Limit, q.Offset)
	rows, err := s.r.QueryContext(ctx, s.rebind(query), args...)
	if err != nil {
		return nil, fmt.Errorf("search logged models: %w", err)
	}
	var out []tracking.LoggedModel
	for rows.Next() {
		m, err := scanLoggedModel(rows)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("search logged models: %w", err)
		}
		out = append(out, m)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("search logged models: %w", err)
	}
	if err := s.loadModelData(ctx, s.r, out); err != nil {
		return nil, err
	}
	return out, nil
}

// entityName is how MLflow names an identifier in its error messages.
func entityName(c search.Comparison) string {
	switch c.Entity {
	case search.EntityMetric:
		return "metrics." + c.Key
	case search.EntityParam:
		return "params." + c.Key
	case search.EntityTag:
		return "tags." + c.Key
	}
	return "attributes." + c.Key
}

func checkModelOp(c search.Comparison, numeric bool) error {
	ops := stringModelOps
	if numeric {
		ops = numericModelOps
	}
	for _, op := range ops {
		if op == c.Op {
			return nil
		}
	}
	quoted := make([]string, len(ops))
	for i, op := range ops {
		quoted[i] = search.PyRepr(string(op))
	}
	return tracking.InvalidParameter("Invalid comparison operator for %s: %s. Expected one of (%s).",
		entityName(c), search.PyRepr(string(c.Op)), strings.Join(quoted, ", "))
}

func (ms *modelSearch) filter(c search.Comparison) error {
	s := ms.s
	switch c.Entity {
	case search.EntityAttribute:
		col, ok := modelAttrColumn[c.Key]
		if !ok {
			return tracking.InvalidParameter("Invalid attribute key '%s' specified.", c.Key)
		}
		numeric := strings.HasSuffix(col, "_ms")
		if err := checkModelOp(c, numeric); err != nil {
			return err
		}
		switch c.Key {
		case "status":
			return ms.statusFilter(c)
		case "experiment_id":
			return ms.experimentFilter(c)
		}
		cond, args, err := s.compare(col, c.Op, c.Value, numeric)
		if err != nil {
			return err
		}
		ms.where, ms.wargs = append(ms.where, cond), append(ms.wargs, args...)
	case search.EntityMetric:
		if err := checkModelOp(c, true); err != nil {
			return err
		}
		sub, subArgs := ms.latestMetric(c.Key, "", "")
		cond, args, err := s.compare("lv.metric_value", c.Op, c.Value, true)
		if err != nil {
			return err
		}
		ms.where = append(ms.where, "lm.model_id IN (SELECT lv.model_id FROM "+sub+" lv WHERE "+cond+")")
		ms.wargs = append(append(ms.wargs, subArgs...), args...)
	case search.EntityParam, search.EntityTag:
		if err := checkModelOp(c, false); err != nil {
			return err
		}
		table, key, val := "logged_model_params", "param_key", "param_value"
		if c.Entity == search.EntityTag {
			table, key, val = "logged_model_tags", "tag_key", "tag_value"
		}
		cond, args, err := s.compare("x."+val, c.Op, c.Value, false)
		if err != nil {
			return err
		}
		ms.where = append(ms.where, "lm.model_id IN (SELECT x.model_id FROM "+table+" x WHERE x."+key+" = ? AND "+cond+")")
		ms.wargs = append(append(ms.wargs, c.Key), args...)
	default:
		return tracking.InvalidParameter("Invalid entity type: '%s'. Expected one of ['attributes', 'metrics', 'params', 'tags'].", c.Entity)
	}
	return nil
}

// statusFilter compares the integer status column with the enum names a
// user writes (READY, not LOGGED_MODEL_READY), with MLflow's messages.
func (ms *modelSearch) statusFilter(c search.Comparison) error {
	var names []string
	switch c.Op {
	case search.OpEq, search.OpNe:
		names = []string{valueString(c.Value)}
	case search.OpIn, search.OpNotIn:
		names = c.Value.List
	default:
		return tracking.InvalidParameter("Invalid comparison operator for status: %s", c.Op)
	}
	nums := make([]any, len(names))
	for i, n := range names {
		st, ok := modelStatusFilterValues[n]
		if !ok {
			shown := search.PyRepr(valueString(c.Value))
			if c.Value.Kind == search.ValueList {
				shown = pyTuple(c.Value.List)
			}
			return tracking.InvalidParameter("Unknown model status in filter: %s", shown)
		}
		nums[i] = int(st)
	}
	switch c.Op {
	case search.OpEq, search.OpNe:
		ms.where = append(ms.where, "lm.status "+string(c.Op)+" ?")
	default:
		if len(nums) == 0 {
			if c.Op == search.OpIn {
				ms.where = append(ms.where, "1 = 0")
			}
			return nil
		}
		ms.where = append(ms.where, "lm.status "+string(c.Op)+" "+inList(len(nums)))
	}
	ms.wargs = append(ms.wargs, nums...)
	return nil
}

// experimentFilter compares the integer experiment_id column with the ids a
// user writes as strings: as integers for equality and lists, as text for
// LIKE and ILIKE.
func (ms *modelSearch) experimentFilter(c search.Comparison) error {
	switch c.Op {
	case search.OpLike, search.OpILike:
		cond, args, err := ms.s.compare("CAST(lm.experiment_id AS VARCHAR(32))", c.Op, c.Value, false)
		if err != nil {
			return err
		}
		ms.where, ms.wargs = append(ms.where, cond), append(ms.wargs, args...)
		return nil
	}
	vals := c.Value.List
	if c.Value.Kind != search.ValueList {
		vals = []string{valueString(c.Value)}
	}
	ids := make([]any, len(vals))
	for i, v := range vals {
		n, err := parseExperimentID(v)
		if err != nil {
			return err
		}
		ids[i] = n
	}
	switch {
	case c.Value.Kind != search.ValueList:
		ms.where = append(ms.where, "lm.experiment_id "+string(c.Op)+" ?")
	case len(ids) == 0 && c.Op == search.OpIn:
		ms.where = append(ms.where, "1 = 0")
	case len(ids) == 0:
		return nil
	default:
		ms.where = append(ms.where, "lm.experiment_id "+string(c.Op)+" "+inList(len(ids)))
	}
	ms.wargs = append(ms.wargs, ids...)
	return nil
}

// pyTuple renders strings as Python prints a tuple of them.
func pyTuple(vals []string) string {
	q := make([]string, len(vals))
	for i, v := range vals {
		q[i] = search.PyRepr(v)
	}
	if len(q) == 1 {
		return "(" + q[0] + ",)"
	}
	return "(" + strings.Join(q, ", ") + ")"
}

// datasetsCond matches metric rows (alias a) logged against any of the
// datasets and, when set, the order_by entry's own dataset name and digest.
func datasetsCond(a string, datasets []tracking.DatasetRef, name, digest string) (string, []any) {
	var conds []string
	var args []any
	if len(datasets) > 0 {
		var ors []string
		for _, d := range datasets {
			if d.Digest == "" {
				ors = append(ors, a+".dataset_name = ?")
				args = append(args, d.Name)
				continue
			}
			ors = append(ors, "("+a+".dataset_name = ? AND "+a+".dataset_digest = ?)")
			args = append(args, d.Name, d.Digest)
		}
		conds = append(conds, "("+strings.Join(ors, " OR ")+")")
	}
	if name != "" {
		conds, args = append(conds, a+".dataset_name = ?"), append(args, name)
	}
	if digest != "" {
		conds, args = append(conds, a+".dataset_digest = ?"), append(args, digest)
	}
	if len(conds) == 0 {
		return "1 = 1", nil
	}
	return strings.Join(conds, " AND "), args
}

// latestMetric is a derived table (model_id, metric_value) holding each
// searched model's latest point of key, ranked as MLflow ranks it. Only
// models of the searched experiments are ranked: the metric row's own
// experiment is the logging run's, which may differ.
func (ms *modelSearch) latestMetric(key, dsName, dsDigest string) (string, []any) {
	dcond, dargs := datasetsCond("m", ms.datasets, dsName, dsDigest)
	sub := `(SELECT r.model_id, r.metric_value FROM (SELECT m.model_id, m.metric_value, ROW_NUMBER() OVER (
		PARTITION BY m.model_id ORDER BY m.metric_step DESC, m.metric_timestamp_ms DESC, m.metric_value DESC) AS rn
		FROM logged_model_metrics m WHERE m.metric_name = ? AND ` + dcond + `
		AND m.model_id IN (SELECT e.model_id FROM logged_models e WHERE e.experiment_id IN ` + inList(len(ms.expIDs)) + `)) r
		WHERE r.rn = 1)`
	args := append([]any{key}, dargs...)
	return sub, append(args, ms.expIDs...)
}

// orderBy compiles order_by entries; each sorts missing values last in both
// directions, and creation_timestamp DESC then model_id break ties unless
// already named.
func (ms *modelSearch) orderBy(order []tracking.LoggedModelOrder) error {
	hasCreation, hasID := false, false
	for i, o := range order {
		field := o.Field
		if !strings.Contains(field, ".") {
			col, ok := modelAttrColumn[strings.TrimSpace(field)]
			if !ok {
				return tracking.InvalidParameter("Invalid order by field name: %s", field)
			}
			hasCreation = hasCreation || col == "lm.creation_timestamp_ms"
			hasID = hasID || col == "lm.model_id"
			ms.order = append(ms.order, "CASE WHEN "+col+" IS NULL THEN 1 ELSE 0 END", col+dir(o.Ascending))
			continue
		}
		entity, key, _ := strings.Cut(field, ".")
		if entity != "metrics" {
			return tracking.InvalidParameter("Invalid order by field name: %s. Only metrics are supported.", field)
		}
		sub, args := ms.latestMetric(key, o.DatasetName, o.DatasetDigest)
		alias := "o" + strconv.Itoa(i)
		ms.joins = append(ms.joins, "LEFT JOIN "+sub+" "+alias+" ON "+alias+".model_id = lm.model_id")
		ms.jargs = append(ms.jargs, args...)
		col := alias + ".metric_value"
		ms.order = append(ms.order, "CASE WHEN "+col+" IS NULL THEN 1 ELSE 0 END", col+dir(o.Ascending))
	}
	if !hasCreation {
		ms.order = append(ms.order, "lm.creation_timestamp_ms DESC")
	}
	if !hasID {
		ms.order = append(ms.order, "lm.model_id ASC")
	}
	return nil
}
