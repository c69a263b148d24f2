package filestore

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/mltrack/mltrack/internal/search"
	"github.com/mltrack/mltrack/internal/tracking"
)

// SearchLoggedModels evaluates the query over the model folders of the named
// experiments with the SQL store's observable semantics (MLflow's FileStore
// agrees with it wherever a metric is logged against at most one dataset):
//   - a metric comparison or ordering uses the model's latest value of that
//     metric by (step, timestamp, value) among the points logged against the
//     query's datasets (any point when there are none);
//   - a model lacking the metric, param or tag never matches, even with !=;
//   - datasets without a metric comparison keep the models with any metric
//     logged against one of them;
//   - NULL sorts last in both directions; ties break on creation_timestamp
//     DESC, then model_id ASC.

// modelStatusByName maps the names a filter may use (LoggedModelStatus
// values in MLflow's Python enum) to stored numbers.
var modelStatusByName = map[string]tracking.LoggedModelStatus{
	"UNSPECIFIED": tracking.ModelStatusUnspecified, "PENDING": tracking.ModelStatusPending,
	"READY": tracking.ModelStatusReady, "FAILED": tracking.ModelStatusUploadFailed,
}

// modelAttribute canonicalises an attribute name, MLflow's aliases included.
func modelAttribute(key string) (string, bool) {
	switch key {
	case "creation_time", "creation_timestamp", "creation_timestamp_ms":
		return "creation_timestamp", true
	case "last_updated_timestamp", "last_updated_timestamp_ms":
		return "last_updated_timestamp", true
	case "name", "model_id", "model_type", "status", "source_run_id":
		return key, true
	}
	return "", false
}

func modelAttrNumber(m *tracking.LoggedModel, key string) (float64, bool) {
	switch key {
	case "creation_timestamp":
		return float64(m.CreationTime), true
	case "last_updated_timestamp":
		return float64(m.LastUpdatedTime), true
	case "status":
		return float64(m.Status), true
	}
	return 0, false
}

func modelAttrString(m *tracking.LoggedModel, key string) string {
	switch key {
	case "name":
		return m.Name
	case "model_id":
		return m.ID
	case "model_type":
		return m.ModelType
	case "source_run_id":
		return m.SourceRunID
	}
	return ""
}

// modelMatcher is one compiled comparison of a logged-model filter.
type modelMatcher struct {
	matcher
	attr     string // canonical attribute name
	statuses map[tracking.LoggedModelStatus]bool
}

func compileModelFilter(f search.Filter) ([]modelMatcher, error) {
	base, err := compileFilter(f)
	if err != nil {
		return nil, err
	}
	out := make([]modelMatcher, len(f))
	for i, c := range f {
		mm := modelMatcher{matcher: base[i]}
		switch c.Entity {
		case search.EntityAttribute:
			attr, ok := modelAttribute(c.Key)
			if !ok {
				return nil, tracking.InvalidParameter("Invalid logged model search key '%s'", c.Key)
			}
			mm.attr = attr
			if attr == "status" {
				if mm.statuses, err = compileStatus(c); err != nil {
					return nil, err
				}
			}
		case search.EntityMetric, search.EntityParam, search.EntityTag:
		default:
			return nil, tracking.InvalidParameter("Invalid entity type: '%s'. Expected one of "+
				"['attributes', 'metrics', 'params', 'tags'].", c.Entity)
		}
		out[i] = mm
	}
	return out, nil
}

// compileStatus turns a status comparison into the set of statuses it
// accepts, with the SQL store's checks and messages.
func compileStatus(c search.Comparison) (map[tracking.LoggedModelStatus]bool, error) {
	var values []string
	switch c.Op {
	case search.OpEq, search.OpNe:
		values = []string{c.Value.Str}
		if c.Value.Kind == search.ValueNumber {
			values = []string{strconv.FormatFloat(c.Value.Num, 'f', -1, 64)}
		}
	case search.OpIn, search.OpNotIn:
		values = c.Value.List
	default:
		return nil, tracking.InvalidParameter("Invalid comparison operator for status: %s", c.Op)
	}
	set := map[tracking.LoggedModelStatus]bool{}
	for _, v := range values {
		st, ok := modelStatusByName[v]
		if !ok {
			repr := search.PyRepr(values[0])
			if c.Op == search.OpIn || c.Op == search.OpNotIn {
				repr = pyTupleRepr(values)
			}
			return nil, tracking.InvalidParameter("Unknown model status in filter: %s", repr)
		}
		set[st] = true
	}
	negate := c.Op == search.OpNe || c.Op == search.OpNotIn
	out := map[tracking.LoggedModelStatus]bool{}
	for st := tracking.ModelStatusUnspecified; st <= tracking.ModelStatusUploadFailed; st++ {
		if set[st] != negate {
			out[st] = true
		}
	}
	return out, nil
}

func pyTupleRepr(values []string) string {
	parts := make([]string, len(values))
	for i, v := range values {
		parts[i] = search.PyRepr(v)
	}
	if len(parts) == 1 {
		return "(" + parts[0] + ",)"
	}
	return "(" + strings.Join(parts, ", ") + ")"
}

// onDatasets reports whether a point was logged against one of datasets; an
// empty digest matches any digest.
func onDatasets(p tracking.Metric, datasets []tracking.DatasetRef) bool {
	for _, d := range datasets {
		if p.DatasetName == d.Name && (d.Digest == "" || p.DatasetDigest == d.Digest) {
			return true
		}
	}
	return false
}

// latestModelMetric is the latest point of key among those keep accepts.
// The model's metrics are already the latest per dataset, so the latest of
// those is the latest of every point.
func latestModelMetric(m *tracking.LoggedModel, key string, keep func(tracking.Metric) bool) (tracking.Metric, bool) {
	var best tracking.Metric
	found := false
	for _, p := range m.Metrics {
		if p.Key != key || !keep(p) {
			continue
		}
		if !found || metricLess(best, p) {
			best, found = p, true
		}
	}
	return best, found
}

func (mm *modelMatcher) match(m *tracking.LoggedModel, datasets []tracking.DatasetRef) bool {
	c := mm.c
	switch c.Entity {
	case search.EntityAttribute:
		if mm.statuses != nil {
			return mm.statuses[m.Status]
		}
		if v, ok := modelAttrNumber(m, mm.attr); ok {
			return mm.matchNumber(v)
		}
		return mm.matchString(modelAttrString(m, mm.attr))
	case search.EntityMetric:
		p, ok := latestModelMetric(m, c.Key, func(p tracking.Metric) bool {
			return len(datasets) == 0 || onDatasets(p, datasets)
		})
		return ok && mm.matchNumber(p.Value)
	case search.EntityParam:
		v, ok := paramValue(m, c.Key)
		return matchKeyed(&mm.matcher, v, ok)
	case search.EntityTag:
		v, ok := tagValue(m, c.Key)
		return matchKeyed(&mm.matcher, v, ok)
	}
	return false
}

func matchKeyed(mt *matcher, v string, ok bool) bool {
	switch mt.c.Op {
	case search.OpIsNull:
		return !ok
	case search.OpIsNotNull:
		return ok
	}
	return ok && mt.matchString(v)
}

func paramValue(m *tracking.LoggedModel, key string) (string, bool) {
	for _, p := range m.Params {
		if p.Key == key {
			return p.Value, true
		}
	}
	return "", false
}

func tagValue(m *tracking.LoggedModel, key string) (string, bool) {
	for _, t := range m.Tags {
		if t.Key == key {
			return t.Value, true
		}
	}
	return "", false
}

// modelOrder is one compiled order_by entry.
type modelOrder struct {
	attr      string // canonical attribute, or "" for a metric
	metric    string
	ascending bool
	dsName    string
	dsDigest  string
}

func compileModelOrder(orders []tracking.LoggedModelOrder) ([]modelOrder, error) {
	out := make([]modelOrder, 0, len(orders)+2)
	hasCreation, hasID := false, false
	for _, o := range orders {
		mo := modelOrder{ascending: o.Ascending, dsName: o.DatasetName, dsDigest: o.DatasetDigest}
		if entity, key, ok := strings.Cut(o.Field, "."); ok {
			if entity != "metrics" {
				return nil, tracking.InvalidParameter("Invalid order by field name: %s. Only metrics are supported.", o.Field)
			}
			mo.metric = key
		} else {
			attr, ok := modelAttribute(strings.TrimSpace(o.Field))
			if !ok {
				return nil, tracking.InvalidParameter("Invalid order by field name: %s", o.Field)
			}
			mo.attr = attr
			hasCreation = hasCreation || attr == "creation_timestamp"
			hasID = hasID || attr == "model_id"
		}
		out = append(out, mo)
	}
	if !hasCreation {
		out = append(out, modelOrder{attr: "creation_timestamp"})
	}
	if !hasID {
		out = append(out, modelOrder{attr: "model_id", ascending: true})
	}
	return out, nil
}

func (o *modelOrder) key(m *tracking.LoggedModel, datasets []tracking.DatasetRef) sortKey {
	if o.attr != "" {
		if v, ok := modelAttrNumber(m, o.attr); ok {
			return sortKey{isNum: true, num: v}
		}
		return sortKey{str: modelAttrString(m, o.attr)}
	}
	p, ok := latestModelMetric(m, o.metric, func(p tracking.Metric) bool {
		return (len(datasets) == 0 || onDatasets(p, datasets)) &&
			(o.dsName == "" || p.DatasetName == o.dsName) &&
			(o.dsDigest == "" || p.DatasetDigest == o.dsDigest)
	})
	switch {
	case !ok:
		return sortKey{null: true}
	case math.IsNaN(p.Value):
		return sortKey{nan: true}
	}
	return sortKey{isNum: true, num: p.Value}
}

// SearchLoggedModels implements tracking.LoggedModelStore.
func (s *Store) SearchLoggedModels(ctx context.Context, q tracking.LoggedModelQuery) ([]tracking.LoggedModel, error) {
	for _, d := range q.Datasets {
		if d.Name == "" {
			return nil, tracking.InvalidParameter("`dataset_name` in the `datasets` clause must be specified.")
		}
	}
	ms, err := compileModelFilter(q.Filter)
	if err != nil {
		return nil, err
	}
	order, err := compileModelOrder(q.OrderBy)
	if err != nil {
		return nil, err
	}
	hasMetricFilter := false
	for _, c := range q.Filter {
		hasMetricFilter = hasMetricFilter || c.Entity == search.EntityMetric
	}
	models, err := s.listModels(ctx, q.ExperimentIDs)
	if err != nil {
		return nil, err
	}
	type hit struct {
		m    *tracking.LoggedModel
		keys []sortKey
	}
	var hits []hit
models:
	for i := range models {
		m := &models[i]
		if len(q.Datasets) > 0 && !hasMetricFilter {
			if !hasMetricOn(m, q.Datasets) {
				continue
			}
		}
		for j := range ms {
			if !ms[j].match(m, q.Datasets) {
				continue models
			}
		}
		keys := make([]sortKey, len(order))
		for n := range order {
			keys[n] = order[n].key(m, q.Datasets)
		}
		hits = append(hits, hit{m, keys})
	}
	// model_id is always among the keys, so the order is total.
	sort.Slice(hits, func(i, j int) bool {
		for n, o := range order {
			if c := compareKeys(hits[i].keys[n], hits[j].keys[n], o.ascending); c != 0 {
				return c < 0
			}
		}
		return false
	})
	page := paginate(len(hits), q.Offset, q.Limit)
	out := make([]tracking.LoggedModel, 0, page[1]-page[0])
	for _, h := range hits[page[0]:page[1]] {
		out = append(out, *h.m)
	}
	return out, nil
}

func hasMetricOn(m *tracking.LoggedModel, datasets []tracking.DatasetRef) bool {
	for _, p := range m.Metrics {
		if onDatasets(p, datasets) {
			return true
		}
	}
	return false
}

// listModels reads every live model of the given experiments, deleted
// experiments included, as MLflow does. Unreadable folders are skipped, as
// MLflow skips them.
func (s *Store) listModels(ctx context.Context, experimentIDs []string) ([]tracking.LoggedModel, error) {
	type source struct{ id, dir string }
	var sources []source
	seen := map[string]bool{}
	s.mu.RLock()
	for _, id := range experimentIDs {
		e, ok := s.exps[id]
		if !ok || seen[id] {
			continue
		}
		seen[id] = true
		sources = append(sources, source{id, filepath.Join(s.expDir(e), modelsDir)})
	}
	s.mu.RUnlock()
	var out []tracking.LoggedModel
	for _, src := range sources {
		ents, err := os.ReadDir(src.dir)
		if err != nil {
			if os.IsNotExist(err) {
				continue
			}
			return nil, err
		}
		for _, d := range ents {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			// Hidden folders are imports in progress (tmpPrefix).
			if !d.IsDir() || strings.HasPrefix(d.Name(), ".") {
				continue
			}
			mm, err := readLoggedModel(filepath.Join(src.dir, d.Name()))
			if err != nil {
				s.log.Debug("skipping model folder", "dir", filepath.Join(src.dir, d.Name()), "err", err)
				continue
			}
			if mm.LifecycleStage == tracking.LifecycleDeleted {
				continue
			}
			if mm.ExperimentID != src.id || mm.ID != d.Name() {
				s.log.Warn("model folder records another experiment or id; ignored",
					"dir", filepath.Join(src.dir, d.Name()), "experiment_id", mm.ExperimentID, "model_id", mm.ID)
				continue
			}
			out = append(out, mm.LoggedModel)
		}
	}
	return out, nil
}
