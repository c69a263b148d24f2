package storetest

// memStore is a small in-memory tracking.Store that exists only to test the
// suite itself: when a conformance test fails against a real store, the
// suite having passed here is evidence the expectation is consistent. It is
// deliberately simple (one mutex, linear scans) and is not a product.

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mltrack/mltrack/internal/search"
	"github.com/mltrack/mltrack/internal/tracking"
)

func TestSuiteAgainstMemStore(t *testing.T) {
	Run(t, func(t *testing.T) tracking.Store { return newMemStore() })
}

type memRun struct {
	info    tracking.RunInfo
	params  map[string]string
	tags    map[string]string
	history map[string][]tracking.Metric
	inputs  tracking.RunInputs
	outputs tracking.RunOutputs
}

type memStore struct {
	mu     sync.Mutex
	nextID int
	exps   map[string]*tracking.Experiment
	runs   map[string]*memRun
	seq    int
	models map[string]*tracking.LoggedModel
	// datasets holds each experiment's datasets by name and digest, and
	// uses every (run, dataset) input with its tags, in logging order.
	datasets map[string]map[[2]string]tracking.Dataset
	uses     []memDatasetUse
}

func newMemStore() *memStore {
	s := &memStore{nextID: 1, exps: map[string]*tracking.Experiment{}, runs: map[string]*memRun{},
		models: map[string]*tracking.LoggedModel{}, datasets: map[string]map[[2]string]tracking.Dataset{}}
	now := time.Now().UnixMilli()
	s.exps["0"] = &tracking.Experiment{ID: "0", Name: "Default", ArtifactLocation: "/mem/0",
		LifecycleStage: tracking.LifecycleActive, CreationTime: now, LastUpdateTime: now}
	return s
}

func (s *memStore) Close() error { return nil }

func (s *memStore) now() int64 { return time.Now().UnixMilli() }

func (s *memStore) exp(id string) (*tracking.Experiment, error) {
	e, ok := s.exps[id]
	if !ok {
		return nil, tracking.NotFound("No Experiment with id=%s exists", id)
	}
	return e, nil
}

func copyExp(e *tracking.Experiment) tracking.Experiment {
	c := *e
	c.Tags = slices.Clone(e.Tags)
	return c
}

func (s *memStore) CreateExperiment(_ context.Context, n tracking.NewExperiment) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range s.exps {
		if e.Name == n.Name {
			return "", tracking.Errorf(tracking.ErrResourceAlreadyExists, "Experiment(name=%s) already exists.", n.Name)
		}
	}
	id := strconv.Itoa(s.nextID)
	s.nextID++
	loc := n.ArtifactLocation
	if loc == "" {
		loc = "/mem/" + id
	}
	now := s.now()
	s.exps[id] = &tracking.Experiment{ID: id, Name: n.Name, ArtifactLocation: loc, LifecycleStage: tracking.LifecycleActive,
		CreationTime: now, LastUpdateTime: now, Tags: slices.Clone(n.Tags)}
	return id, nil
}

func (s *memStore) GetExperiment(_ context.Context, id string) (*tracking.Experiment, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, err := s.exp(id)
	if err != nil {
		return nil, err
	}
	c := copyExp(e)
	return &c, nil
}

func (s *memStore) GetExperimentByName(_ context.Context, name string) (*tracking.Experiment, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range s.exps {
		if e.Name == name {
			c := copyExp(e)
			return &c, nil
		}
	}
	return nil, tracking.NotFound("Could not find experiment with name '%s'", name)
}

func (s *memStore) RenameExperiment(_ context.Context, id, name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, err := s.exp(id)
	if err != nil {
		return err
	}
	if e.LifecycleStage != tracking.LifecycleActive {
		return tracking.Errorf(tracking.ErrInvalidState, "Cannot rename a non-active experiment.")
	}
	for _, o := range s.exps {
		if o.Name == name && o.ID != id {
			return tracking.Errorf(tracking.ErrBadRequest, "name taken")
		}
	}
	e.Name, e.LastUpdateTime = name, s.now()
	return nil
}

func (s *memStore) setExpStage(id, from, to string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.exps[id]
	if !ok || e.LifecycleStage != from {
		return tracking.NotFound("No Experiment with id=%s exists", id)
	}
	e.LifecycleStage, e.LastUpdateTime = to, s.now()
	for _, r := range s.runs {
		if r.info.ExperimentID == id {
			r.info.LifecycleStage = to
		}
	}
	return nil
}

func (s *memStore) DeleteExperiment(_ context.Context, id string) error {
	return s.setExpStage(id, tracking.LifecycleActive, tracking.LifecycleDeleted)
}

func (s *memStore) RestoreExperiment(_ context.Context, id string) error {
	return s.setExpStage(id, tracking.LifecycleDeleted, tracking.LifecycleActive)
}

func (s *memStore) activeExp(id string) (*tracking.Experiment, error) {
	e, err := s.exp(id)
	if err != nil {
		return nil, err
	}
	if e.LifecycleStage != tracking.LifecycleActive {
		return nil, tracking.InvalidParameter("The experiment %s must be in the 'active' state.", id)
	}
	return e, nil
}

func (s *memStore) SetExperimentTag(_ context.Context, id string, tag tracking.Tag) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, err := s.activeExp(id)
	if err != nil {
		return err
	}
	for i := range e.Tags {
		if e.Tags[i].Key == tag.Key {
			e.Tags[i].Value = tag.Value
			return nil
		}
	}
	e.Tags = append(e.Tags, tag)
	return nil
}

func (s *memStore) DeleteExperimentTag(_ context.Context, id, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, err := s.activeExp(id)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(e.Tags, func(t tracking.Tag) bool { return t.Key == key })
	if i < 0 {
		return tracking.NotFound("No tag with name: %s in experiment with id %s", key, id)
	}
	e.Tags = slices.Delete(e.Tags, i, i+1)
	return nil
}

func (s *memStore) SearchExperiments(_ context.Context, q tracking.ExperimentQuery) ([]tracking.Experiment, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []tracking.Experiment
	for _, e := range s.exps {
		if !q.ViewType.Includes(e.LifecycleStage) {
			continue
		}
		ok := true
		for _, c := range q.Filter {
			var v any
			present := true
			switch {
			case c.Entity == search.EntityTag:
				m := tagMap(e.Tags)
				var s string
				s, present = m[c.Key]
				v = s
			case c.Key == "name":
				v = e.Name
			case c.Key == "creation_time":
				v = float64(e.CreationTime)
			case c.Key == "last_update_time":
				v = float64(e.LastUpdateTime)
			}
			if !present || !match(v, c) {
				ok = false
			}
		}
		if ok {
			out = append(out, copyExp(e))
		}
	}
	order := q.OrderBy
	if len(order) == 0 {
		order = []search.OrderBy{desc(search.EntityAttribute, "creation_time"), asc(search.EntityAttribute, "experiment_id")}
	}
	if !slices.ContainsFunc(order, func(o search.OrderBy) bool { return o.Key == "experiment_id" }) {
		order = append(slices.Clone(order), desc(search.EntityAttribute, "experiment_id"))
	}
	slices.SortFunc(out, func(a, b tracking.Experiment) int {
		for _, o := range order {
			var c int
			switch o.Key {
			case "name":
				c = cmp.Compare(a.Name, b.Name)
			case "creation_time":
				c = cmp.Compare(a.CreationTime, b.CreationTime)
			case "last_update_time":
				c = cmp.Compare(a.LastUpdateTime, b.LastUpdateTime)
			case "experiment_id":
				c = expIDCmp(a.ID, b.ID)
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
	return page(out, q.Offset, q.Limit), nil
}

func page[T any](s []T, offset, limit int) []T {
	if offset >= len(s) {
		return nil
	}
	s = s[offset:]
	if limit > 0 && limit < len(s) {
		s = s[:limit]
	}
	return s
}

func likeRe(pattern string, fold bool) *regexp.Regexp {
	var b strings.Builder
	if fold {
		b.WriteString("(?is)^")
	} else {
		b.WriteString("(?s)^")
	}
	for _, r := range pattern {
		switch r {
		case '%':
			b.WriteString(".*")
		case '_':
			b.WriteString(".")
		default:
			b.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	b.WriteString("$")
	return regexp.MustCompile(b.String())
}

// match applies one comparison to a present value (string or float64).
func match(v any, c search.Comparison) bool {
	switch x := v.(type) {
	case float64:
		y := c.Value.Num
		if math.IsNaN(x) {
			return c.Op == search.OpNe
		}
		switch c.Op {
		case search.OpEq:
			return x == y
		case search.OpNe:
			return x != y
		case search.OpLt:
			return x < y
		case search.OpLe:
			return x <= y
		case search.OpGt:
			return x > y
		case search.OpGe:
			return x >= y
		}
	case string:
		switch c.Op {
		case search.OpEq:
			return x == c.Value.Str
		case search.OpNe:
			return x != c.Value.Str
		case search.OpLike:
			return likeRe(c.Value.Str, false).MatchString(x)
		case search.OpILike:
			return likeRe(c.Value.Str, true).MatchString(x)
		case search.OpIn:
			return slices.Contains(c.Value.List, x)
		case search.OpNotIn:
			return !slices.Contains(c.Value.List, x)
		}
	}
	return false
}

func (s *memStore) CreateRun(_ context.Context, n tracking.NewRun) (*tracking.Run, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, err := s.activeExp(n.ExperimentID)
	if err != nil {
		return nil, err
	}
	s.seq++
	id := fmt.Sprintf("%032x", uint64(s.seq)*0x9e3779b97f4a7c15)
	r := &memRun{
		info: tracking.RunInfo{RunID: id, RunName: n.RunName, ExperimentID: n.ExperimentID, UserID: n.UserID,
			Status: tracking.StatusRunning, StartTime: n.StartTime, ArtifactURI: e.ArtifactLocation + "/" + id + "/artifacts",
			LifecycleStage: tracking.LifecycleActive},
		params: map[string]string{}, tags: map[string]string{}, history: map[string][]tracking.Metric{},
	}
	for _, t := range n.Tags {
		r.tags[t.Key] = t.Value
	}
	s.runs[id] = r
	return r.toRun(), nil
}

func (r *memRun) toRun() *tracking.Run {
	out := &tracking.Run{Info: r.info}
	if r.info.EndTime != nil {
		end := *r.info.EndTime
		out.Info.EndTime = &end
	}
	for k, v := range r.params {
		out.Data.Params = append(out.Data.Params, tracking.Param{Key: k, Value: v})
	}
	for k, v := range r.tags {
		out.Data.Tags = append(out.Data.Tags, tracking.Tag{Key: k, Value: v})
	}
	for k := range r.history {
		out.Data.Metrics = append(out.Data.Metrics, r.latest(k))
	}
	for _, di := range r.inputs.DatasetInputs {
		out.Inputs.DatasetInputs = append(out.Inputs.DatasetInputs, tracking.DatasetInput{Dataset: di.Dataset, Tags: slices.Clone(di.Tags)})
	}
	out.Inputs.ModelInputs = slices.Clone(r.inputs.ModelInputs)
	out.Outputs.ModelOutputs = slices.Clone(r.outputs.ModelOutputs)
	return out
}

// sortable maps NaN to 0 as MLflow's SQL store does before comparing points.
func sortable(v float64) float64 {
	if math.IsNaN(v) {
		return 0
	}
	return v
}

func (r *memRun) latest(key string) tracking.Metric {
	h := r.history[key]
	best := h[0]
	for _, m := range h[1:] {
		if c := cmp.Or(cmp.Compare(m.Step, best.Step), cmp.Compare(m.Timestamp, best.Timestamp),
			cmp.Compare(sortable(m.Value), sortable(best.Value))); c > 0 {
			best = m
		}
	}
	return best
}

func (s *memStore) run(id string) (*memRun, error) {
	r, ok := s.runs[id]
	if !ok {
		return nil, tracking.NotFound("Run with id=%s not found", id)
	}
	return r, nil
}

func (s *memStore) activeRun(id string) (*memRun, error) {
	r, err := s.run(id)
	if err != nil {
		return nil, err
	}
	if r.info.LifecycleStage != tracking.LifecycleActive {
		return nil, tracking.InvalidParameter("The run %s must be in the 'active' state. Current state is %s.", id, r.info.LifecycleStage)
	}
	return r, nil
}

func (s *memStore) GetRun(_ context.Context, id string) (*tracking.Run, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.run(id)
	if err != nil {
		return nil, err
	}
	return r.toRun(), nil
}

func (s *memStore) UpdateRun(_ context.Context, id string, u tracking.RunUpdate) (*tracking.RunInfo, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.activeRun(id)
	if err != nil {
		return nil, err
	}
	if u.Status != nil {
		r.info.Status = *u.Status
	}
	if u.EndTime != nil {
		end := *u.EndTime
		r.info.EndTime = &end
	}
	if u.RunName != nil && *u.RunName != "" {
		r.info.RunName = *u.RunName
		r.tags[tracking.TagRunName] = *u.RunName
	}
	return &r.toRun().Info, nil
}

func (s *memStore) setRunStage(id, stage string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.run(id)
	if err != nil {
		return err
	}
	r.info.LifecycleStage = stage
	return nil
}

func (s *memStore) DeleteRun(_ context.Context, id string) error {
	return s.setRunStage(id, tracking.LifecycleDeleted)
}

func (s *memStore) RestoreRun(_ context.Context, id string) error {
	return s.setRunStage(id, tracking.LifecycleActive)
}

func samePoint(a, b tracking.Metric) bool {
	return a.Timestamp == b.Timestamp && a.Step == b.Step &&
		(a.Value == b.Value || math.IsNaN(a.Value) && math.IsNaN(b.Value))
}

func (s *memStore) LogBatch(_ context.Context, id string, metrics []tracking.Metric, params []tracking.Param, tags []tracking.Tag) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.activeRun(id)
	if err != nil {
		return err
	}
	for _, p := range params {
		if old, ok := r.params[p.Key]; ok && old != p.Value {
			return tracking.InvalidParameter("Changing param values is not allowed. Param with key='%s' was already logged with value='%s' for run ID='%s'. Attempted logging new value '%s'.",
				p.Key, old, id, p.Value)
		}
	}
	for _, p := range params {
		r.params[p.Key] = p.Value
	}
	for _, m := range metrics {
		if slices.ContainsFunc(r.history[m.Key], func(o tracking.Metric) bool { return samePoint(o, m) }) {
			continue
		}
		r.history[m.Key] = append(r.history[m.Key], m)
	}
	for _, m := range metrics {
		if lm := s.models[m.ModelID]; lm != nil {
			m.RunID = id
			// The SQL store's primary key makes a repeated point one row.
			if !slices.ContainsFunc(lm.Metrics, func(o tracking.Metric) bool {
				return o.Key == m.Key && o.Timestamp == m.Timestamp && o.Step == m.Step && o.RunID == id
			}) {
				lm.Metrics = append(lm.Metrics, m)
			}
		}
	}
	for _, t := range tags {
		r.tags[t.Key] = t.Value
		if t.Key == tracking.TagRunName {
			r.info.RunName = t.Value
		}
	}
	return nil
}

func (s *memStore) DeleteTag(_ context.Context, id, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.activeRun(id)
	if err != nil {
		return err
	}
	if _, ok := r.tags[key]; !ok {
		return tracking.NotFound("No tag with name: %s in run with id %s", key, id)
	}
	delete(r.tags, key)
	return nil
}

func (s *memStore) GetMetricHistory(_ context.Context, id, key string, offset, limit int) ([]tracking.Metric, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.runs[id]
	if !ok {
		return nil, nil
	}
	h := slices.Clone(r.history[key])
	slices.SortStableFunc(h, func(a, b tracking.Metric) int {
		return cmp.Or(cmp.Compare(a.Timestamp, b.Timestamp), cmp.Compare(a.Step, b.Step), cmp.Compare(sortable(a.Value), sortable(b.Value)))
	})
	return page(h, offset, limit), nil
}

// runValue returns the value a comparison or ordering reads from a run, and
// whether the run has it.
func (r *memRun) value(e search.Entity, key string) (any, bool) {
	switch e {
	case search.EntityMetric:
		if _, ok := r.history[key]; !ok {
			return nil, false
		}
		return r.latest(key).Value, true
	case search.EntityParam:
		v, ok := r.params[key]
		return v, ok
	case search.EntityTag:
		v, ok := r.tags[key]
		return v, ok
	}
	switch key {
	case "run_id":
		return r.info.RunID, true
	case "run_name":
		v, ok := r.tags[tracking.TagRunName]
		return v, ok
	case "status":
		return string(r.info.Status), true
	case "user_id":
		return r.info.UserID, true
	case "artifact_uri":
		return r.info.ArtifactURI, true
	case "start_time":
		return float64(r.info.StartTime), true
	case "end_time":
		if r.info.EndTime == nil {
			return nil, false
		}
		return float64(*r.info.EndTime), true
	}
	return nil, false
}

func (s *memStore) SearchRuns(_ context.Context, q tracking.RunQuery) ([]tracking.Run, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var hits []*memRun
	for _, r := range s.runs {
		if !slices.Contains(q.ExperimentIDs, r.info.ExperimentID) || !q.ViewType.Includes(r.info.LifecycleStage) {
			continue
		}
		ok := true
		for _, c := range q.Filter {
			v, present := r.value(c.Entity, c.Key)
			if !present || !match(v, c) {
				ok = false
				break
			}
		}
		if ok {
			hits = append(hits, r)
		}
	}
	order := slices.Clone(q.OrderBy)
	if !slices.ContainsFunc(order, func(o search.OrderBy) bool {
		return o.Entity == search.EntityAttribute && o.Key == "start_time"
	}) {
		order = append(order, desc(search.EntityAttribute, "start_time"))
	}
	order = append(order, asc(search.EntityAttribute, "run_id"))
	// rank puts present values first, NaN next and missing values last,
	// whatever the direction.
	rank := func(v any, ok bool) int {
		if !ok {
			return 2
		}
		if f, isF := v.(float64); isF && math.IsNaN(f) {
			return 1
		}
		return 0
	}
	slices.SortFunc(hits, func(a, b *memRun) int {
		for _, o := range order {
			av, aok := a.value(o.Entity, o.Key)
			bv, bok := b.value(o.Entity, o.Key)
			if c := cmp.Compare(rank(av, aok), rank(bv, bok)); c != 0 {
				return c
			}
			if rank(av, aok) != 0 {
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
	var out []tracking.Run
	for _, r := range page(hits, q.Offset, q.Limit) {
		out = append(out, *r.toRun())
	}
	return out, nil
}
