// Package importer copies tracking data between stores (an mlruns folder, a
// SQLite file, a PostgreSQL database) keeping run ids, times and every
// metric point. tracking.Store cannot create a run with a given id or start
// time, so each backend implements the narrow Source and Sink interfaces
// declared here, which read and write rows as they are.
package importer

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"

	"github.com/mltrack/mltrack/internal/tracking"
)

// Run is everything of one run the importer carries: its info, all params
// and tags, every metric point (not only the latest) and its dataset inputs.
type Run struct {
	Info        tracking.RunInfo
	DeletedTime *int64
	Params      []tracking.Param
	Tags        []tracking.Tag
	Metrics     []tracking.Metric
	Inputs      []tracking.DatasetInput
	// Logged models the run used and produced.
	ModelInputs  []tracking.ModelInput
	ModelOutputs []tracking.ModelOutput
}

// Source reads a store whole. Experiments include deleted ones and their
// tags; RunIDs include deleted runs.
type Source interface {
	// Experiments returns the readable experiments and, as bad, a *Problem
	// for each one that cannot be read.
	Experiments(ctx context.Context) (exps []tracking.Experiment, bad []error, err error)
	RunIDs(ctx context.Context, experimentID string) ([]string, error)
	// ReadRun returns a tracking.NotFound error when the run is absent.
	ReadRun(ctx context.Context, runID string) (*Run, error)
}

// RunWrite is what a Sink applies to one run, atomically where the backend
// can (SQL: one transaction; mlruns: a new run appears by one rename).
type RunWrite struct {
	Info        tracking.RunInfo // ExperimentID is the target's id
	DeletedTime *int64
	Create      bool // the run is absent from the target
	SetInfo     bool // rewrite the info row / meta.yaml
	Params      []tracking.Param
	Tags        []tracking.Tag
	Metrics     []tracking.Metric // points to append
	Latest      []tracking.Metric // latest point of every key touched by Metrics
	Inputs      []tracking.DatasetInput
	// Model links to add.
	ModelInputs  []tracking.ModelInput
	ModelOutputs []tracking.ModelOutput
}

// Sink is a store the importer writes to. Experiment ids are kept when
// KeepsExperimentID allows it; otherwise InsertExperiment picks one.
type Sink interface {
	Source
	KeepsExperimentID(id string) bool
	// InsertExperiment writes e with all its fields and tags; with keepID
	// it uses e.ID, else a fresh id, which it returns.
	InsertExperiment(ctx context.Context, e tracking.Experiment, keepID bool) (string, error)
	// OverwriteExperiment sets an existing experiment's fields to e's and its
	// tags to include e's.
	OverwriteExperiment(ctx context.Context, id string, e tracking.Experiment) error
	WriteRun(ctx context.Context, w RunWrite) error
}

// BatchSink is a Sink that applies several runs atomically at once (SQL:
// one transaction). The importer then pays a commit per batch instead of per
// run; a run is still either wholly in the target or not at all.
type BatchSink interface {
	Sink
	WriteRuns(ctx context.Context, ws []RunWrite) error
}

// ModelSource reads logged models. A store kind without them need not
// implement it.
type ModelSource interface {
	// ModelIDs lists the logged models of an experiment, deleted ones
	// included.
	ModelIDs(ctx context.Context, experimentID string) ([]string, error)
	// ReadModel returns a model, deleted or not, with every metric point
	// (each with its RunID); a tracking.NotFound error when it is absent.
	ReadModel(ctx context.Context, id string) (*tracking.LoggedModel, error)
}

// ModelSink is a store the importer writes logged models to.
type ModelSink interface {
	ModelSource
	// WriteModel applies w atomically where the backend can.
	WriteModel(ctx context.Context, w ModelWrite) error
}

// ModelWrite is what a ModelSink applies to one model. Model's
// ExperimentID is the target's; its Params, Tags and Metrics hold only what
// to add (tags: to set).
type ModelWrite struct {
	Model   tracking.LoggedModel
	Create  bool
	SetInfo bool
}

// Problem is bad input found in the source; Path names the file or row.
type Problem struct {
	Path string
	Err  error
}

func (p *Problem) Error() string { return fmt.Sprintf("%s: %v", p.Path, p.Err) }
func (p *Problem) Unwrap() error { return p.Err }

// AsProblem wraps err with the path it concerns.
func AsProblem(path string, err error) error {
	var p *Problem
	if errors.As(err, &p) {
		return err
	}
	return &Problem{Path: path, Err: err}
}

// metricKey identifies a point for deduplication. SQL stores keep ±Inf as
// ±MaxFloat64 and NaN as a flag, so both spellings are the same point.
type metricKey struct {
	key      string
	ts, step int64
	bits     uint64
	nan      bool
	dsn, dsd string
}

func keyOfMetric(m tracking.Metric) metricKey {
	k := metricKey{key: m.Key, ts: m.Timestamp, step: m.Step}
	switch v := m.Value; {
	case math.IsNaN(v):
		k.nan = true
	case math.IsInf(v, 1):
		k.bits = math.Float64bits(math.MaxFloat64)
	case math.IsInf(v, -1):
		k.bits = math.Float64bits(-math.MaxFloat64)
	default:
		k.bits = math.Float64bits(v)
	}
	return k
}

// latestOf returns the newest point per key by (step, timestamp, value), the
// rule MLflow keeps latest_metrics by; a NaN never replaces a point.
func latestOf(points []tracking.Metric) map[string]tracking.Metric {
	out := map[string]tracking.Metric{}
	for _, p := range points {
		cur, ok := out[p.Key]
		if !ok || newer(p, cur) {
			out[p.Key] = p
		}
	}
	return out
}

func newer(a, b tracking.Metric) bool {
	if a.Step != b.Step {
		return a.Step > b.Step
	}
	if a.Timestamp != b.Timestamp {
		return a.Timestamp > b.Timestamp
	}
	return a.Value > b.Value
}

// sameInfo compares what an import copies of a run's info.
func sameInfo(a, b tracking.RunInfo) bool {
	eq := a.RunName == b.RunName && a.UserID == b.UserID && a.Status == b.Status &&
		a.StartTime == b.StartTime && a.ArtifactURI == b.ArtifactURI && a.LifecycleStage == b.LifecycleStage &&
		a.ExperimentID == b.ExperimentID
	switch {
	case a.EndTime == nil && b.EndTime == nil:
		return eq
	case a.EndTime == nil || b.EndTime == nil:
		return false
	}
	return eq && *a.EndTime == *b.EndTime
}

func sameExperiment(a, b tracking.Experiment) bool {
	if a.Name != b.Name || a.ArtifactLocation != b.ArtifactLocation || a.LifecycleStage != b.LifecycleStage ||
		a.CreationTime != b.CreationTime || a.LastUpdateTime != b.LastUpdateTime {
		return false
	}
	have := map[string]string{}
	for _, t := range b.Tags {
		have[t.Key] = t.Value
	}
	for _, t := range a.Tags {
		if v, ok := have[t.Key]; !ok || v != t.Value {
			return false
		}
	}
	return true
}

func datasetKey(d tracking.DatasetInput) string {
	tags := append([]tracking.Tag(nil), d.Tags...)
	sort.Slice(tags, func(i, j int) bool { return tags[i].Key < tags[j].Key })
	return fmt.Sprintf("%q|%q|%v", d.Dataset.Name, d.Dataset.Digest, tags)
}

// diffRun works out what the target lacks of src. It fails when a param
// differs: params are immutable, so the stores disagree and a human must
// decide.
//
// A non-empty artifactURI replaces the source's: the run's artifacts are
// copied there.
func diffRun(src, dst *Run, targetExp, artifactURI string) (RunWrite, bool, error) {
	w := RunWrite{Info: src.Info, DeletedTime: src.DeletedTime}
	w.Info.ExperimentID = targetExp
	if artifactURI != "" {
		w.Info.ArtifactURI = artifactURI
	}
	if dst == nil {
		w.Create, w.SetInfo = true, true
		w.Params, w.Tags, w.Metrics, w.Inputs = src.Params, src.Tags, src.Metrics, src.Inputs
		w.ModelInputs, w.ModelOutputs = src.ModelInputs, src.ModelOutputs
		for _, m := range latestOf(src.Metrics) {
			w.Latest = append(w.Latest, m)
		}
		sortMetrics(w.Latest)
		return w, true, nil
	}
	changed := false
	if !sameInfo(w.Info, dst.Info) {
		w.SetInfo, changed = true, true
	}
	params := map[string]string{}
	for _, p := range dst.Params {
		params[p.Key] = p.Value
	}
	for _, p := range src.Params {
		v, ok := params[p.Key]
		if !ok {
			w.Params = append(w.Params, p)
			changed = true
		} else if v != p.Value {
			return w, false, fmt.Errorf("run %s: param %q is %q in the source and %q in the target", src.Info.RunID, p.Key, p.Value, v)
		}
	}
	tags := map[string]string{}
	for _, t := range dst.Tags {
		tags[t.Key] = t.Value
	}
	for _, t := range src.Tags {
		if v, ok := tags[t.Key]; !ok || v != t.Value {
			w.Tags = append(w.Tags, t)
			changed = true
		}
	}
	have := make(map[metricKey]struct{}, len(dst.Metrics))
	for _, m := range dst.Metrics {
		have[keyOfMetric(m)] = struct{}{}
	}
	touched := map[string]bool{}
	for _, m := range src.Metrics {
		k := keyOfMetric(m)
		if _, ok := have[k]; ok {
			continue
		}
		have[k] = struct{}{}
		w.Metrics = append(w.Metrics, m)
		touched[m.Key] = true
	}
	if len(w.Metrics) > 0 {
		changed = true
		all := latestOf(append(append([]tracking.Metric(nil), dst.Metrics...), w.Metrics...))
		for k := range touched {
			w.Latest = append(w.Latest, all[k])
		}
		sortMetrics(w.Latest)
	}
	// Inputs and model links are keyed as the SQL schema keys them: a dataset
	// by name and digest, a model once per direction.
	w.Inputs = missing(dst.Inputs, src.Inputs, datasetKey)
	w.ModelInputs = missing(dst.ModelInputs, src.ModelInputs, func(m tracking.ModelInput) string { return m.ModelID })
	w.ModelOutputs = missing(dst.ModelOutputs, src.ModelOutputs, func(m tracking.ModelOutput) string { return m.ModelID })
	if len(w.Inputs)+len(w.ModelInputs)+len(w.ModelOutputs) > 0 {
		changed = true
	}
	return w, changed, nil
}

// modelPointKey identifies a logged model's metric point: the point of a
// run metric plus the run that logged it.
type modelPointKey struct {
	metricKey
	run string
}

// keyOfModelPoint: the SQL schema keeps a model point's NaN as 0 (it has no
// is_nan column for models), so NaN keys as 0 for an import to stay
// idempotent.
func keyOfModelPoint(m tracking.Metric) modelPointKey {
	if math.IsNaN(m.Value) {
		m.Value = 0
	}
	k := keyOfMetric(m)
	k.dsn, k.dsd = m.DatasetName, m.DatasetDigest
	return modelPointKey{k, m.RunID}
}

func sameModelInfo(a, b tracking.LoggedModel) bool {
	return a.ExperimentID == b.ExperimentID && a.Name == b.Name && a.CreationTime == b.CreationTime &&
		a.LastUpdatedTime == b.LastUpdatedTime && a.ArtifactURI == b.ArtifactURI && a.Status == b.Status &&
		a.StatusMessage == b.StatusMessage && a.ModelType == b.ModelType && a.SourceRunID == b.SourceRunID &&
		lifecycle(a.LifecycleStage) == lifecycle(b.LifecycleStage)
}

// lifecycle reads an unset stage as active, as both stores do.
func lifecycle(s string) string {
	if s == "" {
		return tracking.LifecycleActive
	}
	return s
}

// diffModel works out what the target lacks of src, as diffRun does.
func diffModel(src, dst *tracking.LoggedModel, targetExp, artifactURI string) (ModelWrite, bool, error) {
	info := *src
	info.ExperimentID, info.LifecycleStage = targetExp, lifecycle(src.LifecycleStage)
	if artifactURI != "" {
		info.ArtifactURI = artifactURI
	}
	info.Params, info.Tags, info.Metrics = nil, nil, nil
	w := ModelWrite{Model: info}
	if dst == nil {
		w.Create, w.SetInfo = true, true
		w.Model.Params, w.Model.Tags, w.Model.Metrics = src.Params, src.Tags, src.Metrics
		return w, true, nil
	}
	changed := false
	if !sameModelInfo(info, *dst) {
		w.SetInfo, changed = true, true
	}
	params := map[string]string{}
	for _, p := range dst.Params {
		params[p.Key] = p.Value
	}
	for _, p := range src.Params {
		v, ok := params[p.Key]
		if !ok {
			w.Model.Params = append(w.Model.Params, p)
			changed = true
		} else if v != p.Value {
			return w, false, fmt.Errorf("logged model %s: param %q is %q in the source and %q in the target", src.ID, p.Key, p.Value, v)
		}
	}
	tags := map[string]string{}
	for _, t := range dst.Tags {
		tags[t.Key] = t.Value
	}
	for _, t := range src.Tags {
		if v, ok := tags[t.Key]; !ok || v != t.Value {
			w.Model.Tags = append(w.Model.Tags, t)
			changed = true
		}
	}
	have := make(map[modelPointKey]struct{}, len(dst.Metrics))
	for _, m := range dst.Metrics {
		have[keyOfModelPoint(m)] = struct{}{}
	}
	for _, m := range src.Metrics {
		k := keyOfModelPoint(m)
		if _, ok := have[k]; ok {
			continue
		}
		have[k] = struct{}{}
		w.Model.Metrics = append(w.Model.Metrics, m)
		changed = true
	}
	return w, changed, nil
}

// missing returns the entries of src whose key is neither in dst nor earlier
// in src.
func missing[T any](dst, src []T, key func(T) string) []T {
	seen := make(map[string]bool, len(dst))
	for _, x := range dst {
		seen[key(x)] = true
	}
	var out []T
	for _, x := range src {
		if k := key(x); !seen[k] {
			seen[k] = true
			out = append(out, x)
		}
	}
	return out
}

func sortMetrics(ms []tracking.Metric) {
	sort.Slice(ms, func(i, j int) bool { return ms[i].Key < ms[j].Key })
}
