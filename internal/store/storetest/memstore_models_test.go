package storetest

// Logged models and inputs for memStore, kept as simple as the rest of it.

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/mltrack/mltrack/internal/search"
	"github.com/mltrack/mltrack/internal/tracking"
)

type memDatasetUse struct {
	exp, run, name, digest string
	tags                   []tracking.Tag
}

func copyModel(m *tracking.LoggedModel) *tracking.LoggedModel {
	c := *m
	c.Tags, c.Params, c.Metrics = slices.Clone(m.Tags), slices.Clone(m.Params), slices.Clone(m.Metrics)
	return &c
}

func (s *memStore) model(id string, allowDeleted bool) (*tracking.LoggedModel, error) {
	m, ok := s.models[id]
	if !ok || !allowDeleted && m.LifecycleStage == tracking.LifecycleDeleted {
		return nil, tracking.NotFound("Logged model with ID '%s' not found.", id)
	}
	return m, nil
}

func (s *memStore) CreateLoggedModel(_ context.Context, n tracking.NewLoggedModel) (*tracking.LoggedModel, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, err := s.activeExp(n.ExperimentID)
	if err != nil {
		return nil, err
	}
	s.seq++
	id := fmt.Sprintf("m-%032x", uint64(s.seq)*0x9e3779b97f4a7c15)
	name := n.Name
	if name == "" {
		name = tracking.GenerateRunName(nil)
	}
	now := s.now()
	m := &tracking.LoggedModel{ID: id, ExperimentID: n.ExperimentID, Name: name, CreationTime: now, LastUpdatedTime: now,
		ArtifactURI: e.ArtifactLocation + "/models/" + id + "/artifacts", Status: tracking.ModelStatusPending,
		ModelType: n.ModelType, SourceRunID: n.SourceRunID, LifecycleStage: tracking.LifecycleActive,
		Params: slices.Clone(n.Params)}
	setModelTags(m, n.Tags)
	s.models[id] = m
	return copyModel(m), nil
}

func setModelTags(m *tracking.LoggedModel, tags []tracking.Tag) {
	for _, t := range tags {
		if i := slices.IndexFunc(m.Tags, func(o tracking.Tag) bool { return o.Key == t.Key }); i >= 0 {
			m.Tags[i].Value = t.Value
		} else {
			m.Tags = append(m.Tags, t)
		}
	}
}

func (s *memStore) GetLoggedModel(_ context.Context, id string, allowDeleted bool) (*tracking.LoggedModel, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, err := s.model(id, allowDeleted)
	if err != nil {
		return nil, err
	}
	return copyModel(m), nil
}

func (s *memStore) FinalizeLoggedModel(_ context.Context, id string, st tracking.LoggedModelStatus) (*tracking.LoggedModel, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, err := s.model(id, true)
	if err != nil {
		return nil, err
	}
	m.Status, m.LastUpdatedTime = st, s.now()
	return copyModel(m), nil
}

func (s *memStore) DeleteLoggedModel(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, err := s.model(id, true)
	if err != nil {
		return err
	}
	m.LifecycleStage, m.LastUpdatedTime = tracking.LifecycleDeleted, s.now()
	return nil
}

func (s *memStore) SetLoggedModelTags(_ context.Context, id string, tags []tracking.Tag) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, err := s.model(id, true)
	if err != nil {
		return err
	}
	setModelTags(m, tags)
	return nil
}

func (s *memStore) DeleteLoggedModelTag(_ context.Context, id, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, err := s.model(id, true)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(m.Tags, func(t tracking.Tag) bool { return t.Key == key })
	if i < 0 {
		return tracking.NotFound("No tag with key '%s' found for model with ID '%s'.", key, id)
	}
	m.Tags = slices.Delete(m.Tags, i, i+1)
	return nil
}

func (s *memStore) LogLoggedModelParams(_ context.Context, id string, params []tracking.Param) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, err := s.model(id, true)
	if err != nil {
		return err
	}
	for _, p := range params {
		if slices.ContainsFunc(m.Params, func(o tracking.Param) bool { return o.Key == p.Key }) {
			return tracking.Errorf(tracking.ErrBadRequest, "param %s already logged", p.Key)
		}
		m.Params = append(m.Params, p)
	}
	return nil
}

func onDatasets(x tracking.Metric, ds []tracking.DatasetRef) bool {
	if len(ds) == 0 {
		return true
	}
	return slices.ContainsFunc(ds, func(d tracking.DatasetRef) bool {
		return x.DatasetName == d.Name && (d.Digest == "" || x.DatasetDigest == d.Digest)
	})
}

// latestModelMetric is the model's latest point of key (by step, timestamp,
// value) among those that keep passes.
func latestModelMetric(m *tracking.LoggedModel, key string, keep func(tracking.Metric) bool) (float64, bool) {
	var best *tracking.Metric
	for i := range m.Metrics {
		x := &m.Metrics[i]
		if x.Key != key || !keep(*x) {
			continue
		}
		if best == nil || cmp.Or(cmp.Compare(x.Step, best.Step), cmp.Compare(x.Timestamp, best.Timestamp), cmp.Compare(x.Value, best.Value)) > 0 {
			best = x
		}
	}
	if best == nil {
		return 0, false
	}
	return best.Value, true
}

var memStatusNames = map[string]tracking.LoggedModelStatus{
	"UNSPECIFIED": tracking.ModelStatusUnspecified, "PENDING": tracking.ModelStatusPending,
	"READY": tracking.ModelStatusReady, "FAILED": tracking.ModelStatusUploadFailed,
}

// modelValue returns what a comparison reads from a model, and whether the
// model has it. status reads as its short name (READY), as filters write it.
func modelValue(m *tracking.LoggedModel, c search.Comparison, ds []tracking.DatasetRef) (any, bool) {
	switch c.Entity {
	case search.EntityMetric:
		return latestModelMetric(m, c.Key, func(x tracking.Metric) bool { return onDatasets(x, ds) })
	case search.EntityParam:
		i := slices.IndexFunc(m.Params, func(p tracking.Param) bool { return p.Key == c.Key })
		if i < 0 {
			return nil, false
		}
		return m.Params[i].Value, true
	case search.EntityTag:
		v, ok := tagMap(m.Tags)[c.Key]
		return v, ok
	}
	switch c.Key {
	case "name":
		return m.Name, true
	case "model_id":
		return m.ID, true
	case "model_type":
		return m.ModelType, true
	case "source_run_id":
		return m.SourceRunID, true
	case "status":
		for n, st := range memStatusNames {
			if st == m.Status {
				return n, true
			}
		}
	case "creation_timestamp", "creation_time":
		return float64(m.CreationTime), true
	case "last_updated_timestamp", "last_updated_time":
		return float64(m.LastUpdatedTime), true
	}
	return nil, false
}

func (s *memStore) SearchLoggedModels(_ context.Context, q tracking.LoggedModelQuery) ([]tracking.LoggedModel, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range q.Datasets {
		if d.Name == "" {
			return nil, tracking.InvalidParameter("`dataset_name` in the `datasets` clause must be specified.")
		}
	}
	for _, o := range q.OrderBy {
		if entity, _, dotted := strings.Cut(o.Field, "."); dotted && entity != "metrics" {
			return nil, tracking.InvalidParameter("Invalid order by field name: %s. Only metrics are supported.", o.Field)
		} else if !dotted {
			if _, ok := modelValue(&tracking.LoggedModel{}, search.Comparison{Entity: search.EntityAttribute, Key: o.Field}, nil); !ok {
				return nil, tracking.InvalidParameter("Invalid order by field name: %s", o.Field)
			}
		}
	}
	hasMetricFilter := slices.ContainsFunc(q.Filter, func(c search.Comparison) bool { return c.Entity == search.EntityMetric })
	var hits []*tracking.LoggedModel
	for _, m := range s.models {
		if m.LifecycleStage == tracking.LifecycleDeleted || !slices.Contains(q.ExperimentIDs, m.ExperimentID) {
			continue
		}
		if len(q.Datasets) > 0 && !hasMetricFilter &&
			!slices.ContainsFunc(m.Metrics, func(x tracking.Metric) bool { return onDatasets(x, q.Datasets) }) {
			continue
		}
		ok := true
		for _, c := range q.Filter {
			v, present := modelValue(m, c, q.Datasets)
			if !present || !match(v, c) {
				ok = false
				break
			}
		}
		if ok {
			hits = append(hits, m)
		}
	}
	order := slices.Clone(q.OrderBy)
	if !slices.ContainsFunc(order, func(o tracking.LoggedModelOrder) bool {
		return o.Field == "creation_timestamp" || o.Field == "creation_time"
	}) {
		order = append(order, tracking.LoggedModelOrder{Field: "creation_timestamp"})
	}
	if !slices.ContainsFunc(order, func(o tracking.LoggedModelOrder) bool { return o.Field == "model_id" }) {
		order = append(order, tracking.LoggedModelOrder{Field: "model_id", Ascending: true})
	}
	value := func(m *tracking.LoggedModel, o tracking.LoggedModelOrder) (any, bool) {
		if metric, ok := strings.CutPrefix(o.Field, "metrics."); ok {
			return latestModelMetric(m, metric, func(x tracking.Metric) bool {
				return onDatasets(x, q.Datasets) && (o.DatasetName == "" || x.DatasetName == o.DatasetName) &&
					(o.DatasetDigest == "" || x.DatasetDigest == o.DatasetDigest)
			})
		}
		return modelValue(m, search.Comparison{Entity: search.EntityAttribute, Key: o.Field}, nil)
	}
	slices.SortFunc(hits, func(a, b *tracking.LoggedModel) int {
		for _, o := range order {
			av, aok := value(a, o)
			bv, bok := value(b, o)
			if aok != bok { // missing values last in both directions
				if aok {
					return -1
				}
				return 1
			}
			if !aok {
				continue
			}
			var c int
			switch x := av.(type) {
			case float64:
				c = cmp.Compare(x, bv.(float64))
			case string:
				c = cmp.Compare(x, bv.(string))
			}
			if !o.Ascending {
				c = -c
			}
			if c != 0 {
				return c
			}
		}
		return 0
	})
	var out []tracking.LoggedModel
	for _, m := range page(hits, q.Offset, q.Limit) {
		out = append(out, *copyModel(m))
	}
	return out, nil
}

func (s *memStore) LogInputs(_ context.Context, runID string, ds []tracking.DatasetInput, models []tracking.ModelInput) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.activeRun(runID)
	if err != nil {
		return err
	}
	exp := r.info.ExperimentID
	if s.datasets[exp] == nil {
		s.datasets[exp] = map[[2]string]tracking.Dataset{}
	}
	for _, di := range ds {
		k := [2]string{di.Dataset.Name, di.Dataset.Digest}
		if _, ok := s.datasets[exp][k]; !ok {
			s.datasets[exp][k] = di.Dataset
		}
		if slices.ContainsFunc(s.uses, func(u memDatasetUse) bool {
			return u.run == runID && u.name == k[0] && u.digest == k[1]
		}) {
			continue
		}
		s.uses = append(s.uses, memDatasetUse{exp: exp, run: runID, name: k[0], digest: k[1], tags: slices.Clone(di.Tags)})
		r.inputs.DatasetInputs = append(r.inputs.DatasetInputs, tracking.DatasetInput{Dataset: s.datasets[exp][k], Tags: slices.Clone(di.Tags)})
	}
	for _, m := range models {
		if !slices.Contains(r.inputs.ModelInputs, m) {
			r.inputs.ModelInputs = append(r.inputs.ModelInputs, m)
		}
	}
	return nil
}

func (s *memStore) LogOutputs(_ context.Context, runID string, models []tracking.ModelOutput) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.activeRun(runID)
	if err != nil {
		return err
	}
	r.outputs.ModelOutputs = append(r.outputs.ModelOutputs, models...)
	return nil
}

func (s *memStore) SearchDatasets(_ context.Context, ids []string) ([]tracking.DatasetSummary, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	seen := map[tracking.DatasetSummary]bool{}
	var out []tracking.DatasetSummary
	for _, u := range s.uses {
		if !slices.Contains(ids, u.exp) {
			continue
		}
		d := tracking.DatasetSummary{ExperimentID: u.exp, Name: u.name, Digest: u.digest, Context: tagMap(u.tags)["mlflow.data.context"]}
		if !seen[d] && len(out) < 1000 {
			seen[d] = true
			out = append(out, d)
		}
	}
	return out, nil
}
