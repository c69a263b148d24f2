// Package storetest is the conformance suite every tracking.Store must pass.
//
// The expected behaviour is MLflow 3.18.0's SQL store (sqlalchemy_store.py),
// checked by running the real package; where a test pins a behaviour that is
// easy to get wrong, its comment says what MLflow does.
package storetest

import (
	"context"
	"math"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/mltrack/mltrack/internal/search"
	"github.com/mltrack/mltrack/internal/tracking"
)

// Run runs every conformance test against stores made by newStore; each call
// must return a fresh, empty store (holding only MLflow's Default experiment "0").
// newStore is expected to close the store through t.Cleanup. It is called
// once per area (experiments, runs, LogBatch, ...), not per subtest: subtests
// of an area share a store and keep out of each other's way by name, because
// a fresh PostgreSQL database costs seconds.
func Run(t *testing.T, newStore func(t *testing.T) tracking.Store) {
	t.Run("Experiments", func(t *testing.T) { testExperiments(t, newStore) })
	t.Run("SearchExperiments", func(t *testing.T) { testSearchExperiments(t, newStore) })
	t.Run("Runs", func(t *testing.T) { testRuns(t, newStore) })
	t.Run("LogBatch", func(t *testing.T) { testLogBatch(t, newStore) })
	t.Run("GetMetricHistory", func(t *testing.T) { testMetricHistory(t, newStore) })
	t.Run("SearchRuns", func(t *testing.T) { testSearchRuns(t, newStore) })
	t.Run("Concurrency", func(t *testing.T) { testConcurrency(t, newStore) })
	t.Run("LoggedModels", func(t *testing.T) { testLoggedModels(t, newStore) })
	t.Run("SearchLoggedModels", func(t *testing.T) { testSearchLoggedModels(t, newStore) })
	t.Run("Inputs", func(t *testing.T) { testInputs(t, newStore) })
}

// missingRunID is well formed but never issued.
const missingRunID = "0123456789abcdef0123456789abcdef"

// missingExperimentID is numeric (the SQL schema's ids are integers) and never issued.
const missingExperimentID = "987654321"

func ctxOf(t *testing.T) context.Context { return t.Context() }

// wantCode fails unless err carries one of the codes.
func wantCode(t *testing.T, err error, what string, codes ...tracking.ErrorCode) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: got no error, want %v", what, codes)
		return
	}
	got := tracking.Code(err)
	if !slices.Contains(codes, got) {
		t.Errorf("%s: got code %s (%v), want %v", what, got, err, codes)
	}
}

func mustNoErr(t *testing.T, err error, what string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func createExperiment(t *testing.T, s tracking.Store, name string, tags ...tracking.Tag) string {
	t.Helper()
	id, err := s.CreateExperiment(ctxOf(t), tracking.NewExperiment{Name: name, Tags: tags})
	mustNoErr(t, err, "CreateExperiment "+name)
	return id
}

func getExperiment(t *testing.T, s tracking.Store, id string) *tracking.Experiment {
	t.Helper()
	e, err := s.GetExperiment(ctxOf(t), id)
	mustNoErr(t, err, "GetExperiment "+id)
	return e
}

// createRun creates a run the way Service does: the run name is resolved and
// mirrored in the mlflow.runName tag before the store sees it.
func createRun(t *testing.T, s tracking.Store, expID, name string, start int64, tags ...tracking.Tag) *tracking.Run {
	t.Helper()
	all := append([]tracking.Tag{{Key: tracking.TagRunName, Value: name}}, tags...)
	r, err := s.CreateRun(ctxOf(t), tracking.NewRun{
		ExperimentID: expID, UserID: "tester", RunName: name, StartTime: start, Tags: all,
	})
	mustNoErr(t, err, "CreateRun "+name)
	return r
}

func getRun(t *testing.T, s tracking.Store, id string) *tracking.Run {
	t.Helper()
	r, err := s.GetRun(ctxOf(t), id)
	mustNoErr(t, err, "GetRun "+id)
	return r
}

func logBatch(t *testing.T, s tracking.Store, runID string, metrics []tracking.Metric, params []tracking.Param, tags []tracking.Tag) {
	t.Helper()
	mustNoErr(t, s.LogBatch(ctxOf(t), runID, metrics, params, tags), "LogBatch")
}

func metric(key string, value float64, ts, step int64) tracking.Metric {
	return tracking.Metric{Key: key, Value: value, Timestamp: ts, Step: step}
}

func tagMap(tags []tracking.Tag) map[string]string {
	m := make(map[string]string, len(tags))
	for _, tg := range tags {
		m[tg.Key] = tg.Value
	}
	return m
}

func paramMap(params []tracking.Param) map[string]string {
	m := make(map[string]string, len(params))
	for _, p := range params {
		m[p.Key] = p.Value
	}
	return m
}

func metricMap(metrics []tracking.Metric) map[string]tracking.Metric {
	m := make(map[string]tracking.Metric, len(metrics))
	for _, x := range metrics {
		m[x.Key] = x
	}
	return m
}

// sameValue compares metric values; NaN equals NaN. MLflow's SQL store keeps
// ±Inf as ±math.MaxFloat64 and returns it that way, so either is accepted for
// an infinite want.
func sameValue(got, want float64) bool {
	switch {
	case math.IsNaN(want):
		return math.IsNaN(got)
	case math.IsInf(want, 1):
		return math.IsInf(got, 1) || got == math.MaxFloat64
	case math.IsInf(want, -1):
		return math.IsInf(got, -1) || got == -math.MaxFloat64
	}
	return got == want
}

// point is a metric point without its key, for comparing histories.
type point struct {
	Value     float64
	Timestamp int64
	Step      int64
}

func samePoints(got []tracking.Metric, want []point) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if !sameValue(got[i].Value, want[i].Value) || got[i].Timestamp != want[i].Timestamp || got[i].Step != want[i].Step {
			return false
		}
	}
	return true
}

func pointsOf(ms []tracking.Metric) []point {
	out := make([]point, len(ms))
	for i, m := range ms {
		out[i] = point{m.Value, m.Timestamp, m.Step}
	}
	return out
}

// Filter builders keep the test tables readable.

func str(e search.Entity, key string, op search.Op, v string) search.Comparison {
	return search.Comparison{Entity: e, Key: key, Op: op, Value: search.Value{Kind: search.ValueString, Str: v}}
}

func num(e search.Entity, key string, op search.Op, v float64) search.Comparison {
	return search.Comparison{Entity: e, Key: key, Op: op, Value: search.Value{Kind: search.ValueNumber, Num: v}}
}

func list(e search.Entity, key string, op search.Op, v ...string) search.Comparison {
	return search.Comparison{Entity: e, Key: key, Op: op, Value: search.Value{Kind: search.ValueList, List: v}}
}

func asc(e search.Entity, key string) search.OrderBy {
	return search.OrderBy{Entity: e, Key: key, Ascending: true}
}

func desc(e search.Entity, key string) search.OrderBy {
	return search.OrderBy{Entity: e, Key: key, Ascending: false}
}

func sortedCopy(s []string) []string {
	c := slices.Clone(s)
	sort.Strings(c)
	return c
}

func join(s []string) string { return "[" + strings.Join(s, " ") + "]" }
