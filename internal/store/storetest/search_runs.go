package storetest

import (
	"math"
	"slices"
	"testing"

	"github.com/mltrack/mltrack/internal/search"
	"github.com/mltrack/mltrack/internal/tracking"
)

// runFixture is one run of the SearchRuns data set.
type runFixture struct {
	name    string
	exp     string // "e1" or "e2"
	user    string
	start   int64
	status  tracking.RunStatus // "" stays RUNNING
	end     int64              // 0: never set
	metrics map[string]float64
	params  map[string]string
	tags    map[string]string
	deleted bool
}

// The data set is built so every ordering below has at most one tie, between
// gamma and zeta (same start_time), which run_id must break.
var searchRunFixtures = []runFixture{
	{name: "alpha", exp: "e1", user: "alice", start: 1000, status: tracking.StatusFinished, end: 2000,
		metrics: map[string]float64{"m": 1, "acc": 0.5}, params: map[string]string{"p": "x", "model": "cnn"},
		tags: map[string]string{"t": "foo", "o": "b"}},
	{name: "beta", exp: "e1", user: "bob", start: 1001,
		metrics: map[string]float64{"m": math.NaN()}, params: map[string]string{"p": "y", "model": "rnn"},
		tags: map[string]string{"t": "Foo"}},
	{name: "gamma", exp: "e1", user: "alice", start: 1002},
	{name: "delta", exp: "e1", user: "carol", start: 1003, status: tracking.StatusFailed, end: 1500,
		metrics: map[string]float64{"m": 3}, params: map[string]string{"p": "z", "model": "cnn"},
		tags: map[string]string{"t": "bar", "o": "a"}},
	{name: "eps", exp: "e1", user: "dave", start: 1004,
		metrics: map[string]float64{"m": math.Inf(1)}, params: map[string]string{"p": "w"},
		tags: map[string]string{"t": "Bar"}},
	{name: "zeta", exp: "e1", user: "erin", start: 1002,
		metrics: map[string]float64{"m": 2}, params: map[string]string{"model": "rnn"},
		tags: map[string]string{"o": "c"}},
	{name: "dead", exp: "e1", user: "alice", start: 1005, metrics: map[string]float64{"m": 10}, deleted: true},
	{name: "other", exp: "e2", user: "alice", start: 999, metrics: map[string]float64{"m": 1}},
}

func testSearchRuns(t *testing.T, newStore func(t *testing.T) tracking.Store) {
	s := newStore(t)
	ctx := ctxOf(t)
	exps := map[string]string{"e1": createExperiment(t, s, "e1"), "e2": createExperiment(t, s, "e2")}
	empty := createExperiment(t, s, "empty")
	runs := map[string]*tracking.Run{} // by name
	names := map[string]string{}       // run id -> name
	for _, f := range searchRunFixtures {
		r, err := s.CreateRun(ctx, tracking.NewRun{
			ExperimentID: exps[f.exp], UserID: f.user, RunName: f.name, StartTime: f.start,
			Tags: []tracking.Tag{{Key: tracking.TagRunName, Value: f.name}},
		})
		mustNoErr(t, err, "CreateRun "+f.name)
		id := r.Info.RunID
		var ms []tracking.Metric
		for k, v := range f.metrics {
			ms = append(ms, metric(k, v, 1, 0))
		}
		var ps []tracking.Param
		for k, v := range f.params {
			ps = append(ps, tracking.Param{Key: k, Value: v})
		}
		var ts []tracking.Tag
		for k, v := range f.tags {
			ts = append(ts, tracking.Tag{Key: k, Value: v})
		}
		logBatch(t, s, id, ms, ps, ts)
		if f.status != "" {
			st, end := f.status, f.end
			_, err := s.UpdateRun(ctx, id, tracking.RunUpdate{Status: &st, EndTime: &end})
			mustNoErr(t, err, "UpdateRun "+f.name)
		}
		if f.deleted {
			mustNoErr(t, s.DeleteRun(ctx, id), "DeleteRun "+f.name)
		}
		runs[f.name] = getRun(t, s, id)
		names[id] = f.name
	}
	id := func(name string) string { return runs[name].Info.RunID }
	// tie lists runs of equal sort keys in the final tie-breaker's order, run_id ASC.
	tie := func(a, b string) []string {
		if id(a) < id(b) {
			return []string{a, b}
		}
		return []string{b, a}
	}
	seq := func(parts ...any) []string {
		var out []string
		for _, p := range parts {
			switch v := p.(type) {
			case string:
				out = append(out, v)
			case []string:
				out = append(out, v...)
			}
		}
		return out
	}
	runNames := func(rs []tracking.Run) []string {
		out := make([]string, len(rs))
		for i, r := range rs {
			out[i] = names[r.Info.RunID]
		}
		return out
	}
	query := func(t *testing.T, q tracking.RunQuery) []tracking.Run {
		t.Helper()
		if q.ExperimentIDs == nil {
			q.ExperimentIDs = []string{exps["e1"]}
		}
		if q.ViewType == 0 {
			q.ViewType = tracking.ViewActiveOnly
		}
		if q.Limit == 0 {
			q.Limit = 1000
		}
		got, err := s.SearchRuns(ctx, q)
		mustNoErr(t, err, "SearchRuns")
		return got
	}

	attr, met, par, tag := search.EntityAttribute, search.EntityMetric, search.EntityParam, search.EntityTag
	t.Run("Filters", func(t *testing.T) {
		for _, tc := range []struct {
			name   string
			filter search.Filter
			want   []string
		}{
			{"none", nil, []string{"alpha", "beta", "gamma", "delta", "eps", "zeta"}},
			{"metric =", search.Filter{num(met, "m", search.OpEq, 1)}, []string{"alpha"}},
			{"metric = never matches a NaN", search.Filter{num(met, "m", search.OpEq, 0)}, nil},
			{"metric != matches NaN, not a missing key", search.Filter{num(met, "m", search.OpNe, 1)}, []string{"beta", "delta", "eps", "zeta"}},
			{"metric <", search.Filter{num(met, "m", search.OpLt, 3)}, []string{"alpha", "zeta"}},
			{"metric <=", search.Filter{num(met, "m", search.OpLe, 3)}, []string{"alpha", "delta", "zeta"}},
			{"metric >", search.Filter{num(met, "m", search.OpGt, 2)}, []string{"delta", "eps"}},
			{"metric >=", search.Filter{num(met, "m", search.OpGe, 2)}, []string{"delta", "eps", "zeta"}},
			{"metric > huge matches +Inf", search.Filter{num(met, "m", search.OpGt, 1e308)}, []string{"eps"}},
			{"metric fraction", search.Filter{num(met, "acc", search.OpEq, 0.5)}, []string{"alpha"}},
			{"param =", search.Filter{str(par, "p", search.OpEq, "x")}, []string{"alpha"}},
			{"param !=", search.Filter{str(par, "p", search.OpNe, "x")}, []string{"beta", "delta", "eps"}},
			{"param LIKE", search.Filter{str(par, "model", search.OpLike, "c%")}, []string{"alpha", "delta"}},
			{"param LIKE is case-sensitive", search.Filter{str(par, "model", search.OpLike, "CNN")}, nil},
			{"param ILIKE", search.Filter{str(par, "model", search.OpILike, "CNN")}, []string{"alpha", "delta"}},
			{"param missing never matches", search.Filter{str(par, "nope", search.OpNe, "x")}, nil},
			{"tag =", search.Filter{str(tag, "t", search.OpEq, "Foo")}, []string{"beta"}},
			{"tag !=", search.Filter{str(tag, "t", search.OpNe, "foo")}, []string{"beta", "delta", "eps"}},
			{"tag LIKE", search.Filter{str(tag, "t", search.OpLike, "f%")}, []string{"alpha"}},
			{"tag LIKE upper", search.Filter{str(tag, "t", search.OpLike, "B%")}, []string{"eps"}},
			{"tag LIKE underscore", search.Filter{str(tag, "t", search.OpLike, "_oo")}, []string{"alpha", "beta"}},
			{"tag ILIKE", search.Filter{str(tag, "t", search.OpILike, "f%")}, []string{"alpha", "beta"}},
			{"tag ILIKE suffix", search.Filter{str(tag, "t", search.OpILike, "%AR")}, []string{"delta", "eps"}},
			{"tag with a dot", search.Filter{str(tag, tracking.TagRunName, search.OpEq, "gamma")}, []string{"gamma"}},
			{"status =", search.Filter{str(attr, "status", search.OpEq, "FINISHED")}, []string{"alpha"}},
			{"status !=", search.Filter{str(attr, "status", search.OpNe, "RUNNING")}, []string{"alpha", "delta"}},
			{"run_name =", search.Filter{str(attr, "run_name", search.OpEq, "beta")}, []string{"beta"}},
			{"run_name !=", search.Filter{str(attr, "run_name", search.OpNe, "alpha")}, []string{"beta", "gamma", "delta", "eps", "zeta"}},
			{"run_name LIKE", search.Filter{str(attr, "run_name", search.OpLike, "%ta")}, []string{"beta", "delta", "zeta"}},
			{"run_name ILIKE", search.Filter{str(attr, "run_name", search.OpILike, "ALPHA")}, []string{"alpha"}},
			{"user_id =", search.Filter{str(attr, "user_id", search.OpEq, "alice")}, []string{"alpha", "gamma"}},
			{"user_id !=", search.Filter{str(attr, "user_id", search.OpNe, "alice")}, []string{"beta", "delta", "eps", "zeta"}},
			{"user_id LIKE", search.Filter{str(attr, "user_id", search.OpLike, "%a%")}, []string{"alpha", "gamma", "delta", "eps"}},
			{"start_time =", search.Filter{num(attr, "start_time", search.OpEq, 1002)}, []string{"gamma", "zeta"}},
			{"start_time !=", search.Filter{num(attr, "start_time", search.OpNe, 1002)}, []string{"alpha", "beta", "delta", "eps"}},
			{"start_time >=", search.Filter{num(attr, "start_time", search.OpGe, 1002)}, []string{"gamma", "delta", "eps", "zeta"}},
			{"start_time <", search.Filter{num(attr, "start_time", search.OpLt, 1001)}, []string{"alpha"}},
			{"end_time >", search.Filter{num(attr, "end_time", search.OpGt, 1600)}, []string{"alpha"}},
			{"end_time <=", search.Filter{num(attr, "end_time", search.OpLe, 2000)}, []string{"alpha", "delta"}},
			{"end_time != skips runs without one", search.Filter{num(attr, "end_time", search.OpNe, 1500)}, []string{"alpha"}},
			{"run_id =", search.Filter{str(attr, "run_id", search.OpEq, id("beta"))}, []string{"beta"}},
			{"run_id !=", search.Filter{str(attr, "run_id", search.OpNe, id("beta"))}, []string{"alpha", "gamma", "delta", "eps", "zeta"}},
			{"run_id IN", search.Filter{list(attr, "run_id", search.OpIn, id("alpha"), id("gamma"), id("other"))}, []string{"alpha", "gamma"}},
			{"run_id NOT IN", search.Filter{list(attr, "run_id", search.OpNotIn, id("alpha"), id("gamma"))}, []string{"beta", "delta", "eps", "zeta"}},
			{"artifact_uri =", search.Filter{str(attr, "artifact_uri", search.OpEq, runs["delta"].Info.ArtifactURI)}, []string{"delta"}},
			{"artifact_uri LIKE", search.Filter{str(attr, "artifact_uri", search.OpLike, "%"+id("eps")+"%")}, []string{"eps"}},
			{"three terms ANDed", search.Filter{
				num(met, "m", search.OpGe, 1), str(par, "model", search.OpEq, "cnn"), str(attr, "user_id", search.OpEq, "carol"),
			}, []string{"delta"}},
			{"metric and tag ANDed", search.Filter{num(met, "m", search.OpGt, 0), str(tag, "o", search.OpEq, "b")}, []string{"alpha"}},
			{"contradiction", search.Filter{str(par, "p", search.OpEq, "x"), str(par, "p", search.OpEq, "y")}, nil},
		} {
			t.Run(tc.name, func(t *testing.T) {
				got := sortedCopy(runNames(query(t, tracking.RunQuery{Filter: tc.filter})))
				if want := sortedCopy(tc.want); !slices.Equal(got, want) {
					t.Errorf("got %v, want %v", got, want)
				}
			})
		}
	})

	t.Run("ExperimentsAndViews", func(t *testing.T) {
		for _, tc := range []struct {
			name   string
			exps   []string
			view   tracking.ViewType
			filter search.Filter
			want   []string
		}{
			{"two experiments", []string{exps["e1"], exps["e2"]}, 0, search.Filter{num(met, "m", search.OpEq, 1)}, []string{"alpha", "other"}},
			{"second experiment only", []string{exps["e2"]}, 0, nil, []string{"other"}},
			{"experiment without runs", []string{empty}, tracking.ViewAll, nil, nil},
			{"deleted only", nil, tracking.ViewDeletedOnly, nil, []string{"dead"}},
			{"all with filter", nil, tracking.ViewAll, search.Filter{num(met, "m", search.OpGe, 3)}, []string{"delta", "eps", "dead"}},
			{"all, two experiments", []string{exps["e1"], exps["e2"]}, tracking.ViewAll, search.Filter{str(attr, "user_id", search.OpEq, "alice")},
				[]string{"alpha", "gamma", "dead", "other"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				got := sortedCopy(runNames(query(t, tracking.RunQuery{ExperimentIDs: tc.exps, ViewType: tc.view, Filter: tc.filter})))
				if want := sortedCopy(tc.want); !slices.Equal(got, want) {
					t.Errorf("got %v, want %v", got, want)
				}
			})
		}
	})

	t.Run("Order", func(t *testing.T) {
		for _, tc := range []struct {
			name    string
			orderBy []search.OrderBy
			want    []string
		}{
			{"default start_time DESC then run_id", nil, seq("eps", "delta", tie("gamma", "zeta"), "beta", "alpha")},
			// Missing values, then NaN, sort last in both directions; +Inf is the largest value.
			{"metric ASC", []search.OrderBy{asc(met, "m")}, seq("alpha", "zeta", "delta", "eps", "beta", "gamma")},
			{"metric DESC", []search.OrderBy{desc(met, "m")}, seq("eps", "delta", "zeta", "alpha", "beta", "gamma")},
			{"metric with one value", []search.OrderBy{asc(met, "acc")}, seq("alpha", "eps", "delta", tie("gamma", "zeta"), "beta")},
			{"param ASC", []search.OrderBy{asc(par, "p")}, seq("eps", "alpha", "beta", "delta", tie("gamma", "zeta"))},
			{"param DESC", []search.OrderBy{desc(par, "p")}, seq("delta", "beta", "alpha", "eps", tie("gamma", "zeta"))},
			{"tag ASC", []search.OrderBy{asc(tag, "o")}, seq("delta", "alpha", "zeta", "eps", "gamma", "beta")},
			{"tag DESC", []search.OrderBy{desc(tag, "o")}, seq("zeta", "alpha", "delta", "eps", "gamma", "beta")},
			{"end_time ASC", []search.OrderBy{asc(attr, "end_time")}, seq("delta", "alpha", "eps", tie("gamma", "zeta"), "beta")},
			{"end_time DESC", []search.OrderBy{desc(attr, "end_time")}, seq("alpha", "delta", "eps", tie("gamma", "zeta"), "beta")},
			{"run_name ASC", []search.OrderBy{asc(attr, "run_name")}, seq("alpha", "beta", "delta", "eps", "gamma", "zeta")},
			{"run_name DESC", []search.OrderBy{desc(attr, "run_name")}, seq("zeta", "gamma", "eps", "delta", "beta", "alpha")},
			{"start_time ASC", []search.OrderBy{asc(attr, "start_time")}, seq("alpha", "beta", tie("gamma", "zeta"), "delta", "eps")},
			{"start_time DESC", []search.OrderBy{desc(attr, "start_time")}, seq("eps", "delta", tie("gamma", "zeta"), "beta", "alpha")},
			{"user_id ASC", []search.OrderBy{asc(attr, "user_id")}, seq("gamma", "alpha", "beta", "delta", "eps", "zeta")},
			{"param then metric", []search.OrderBy{asc(par, "model"), desc(met, "m")}, seq("delta", "alpha", "zeta", "beta", "eps", "gamma")},
			{"status then run_name", []search.OrderBy{asc(attr, "status"), desc(attr, "run_name")}, seq("delta", "alpha", "zeta", "gamma", "eps", "beta")},
		} {
			t.Run(tc.name, func(t *testing.T) {
				if got := runNames(query(t, tracking.RunQuery{OrderBy: tc.orderBy})); !slices.Equal(got, tc.want) {
					t.Errorf("got %v, want %v", got, tc.want)
				}
			})
		}
	})

	t.Run("Paging", func(t *testing.T) {
		both := []string{exps["e1"], exps["e2"]}
		for _, orderBy := range [][]search.OrderBy{nil, {desc(met, "m")}, {asc(par, "p")}} {
			full := runNames(query(t, tracking.RunQuery{ExperimentIDs: both, ViewType: tracking.ViewAll, OrderBy: orderBy}))
			if len(full) != len(searchRunFixtures) {
				t.Fatalf("full search found %d runs, want %d", len(full), len(searchRunFixtures))
			}
			for _, size := range []int{1, 3, 5, 8} {
				var paged []string
				for off := 0; off < len(full)+size; off += size {
					page := query(t, tracking.RunQuery{ExperimentIDs: both, ViewType: tracking.ViewAll, OrderBy: orderBy, Offset: off, Limit: size})
					if len(page) > size {
						t.Fatalf("page of %d at %d has %d runs", size, off, len(page))
					}
					paged = append(paged, runNames(page)...)
				}
				if !slices.Equal(paged, full) {
					t.Errorf("order %v, pages of %d: %v, want %v", orderBy, size, paged, full)
				}
			}
		}
	})

	t.Run("ResultsCarryData", func(t *testing.T) {
		got := query(t, tracking.RunQuery{Filter: search.Filter{str(attr, "run_name", search.OpEq, "alpha")}})
		if len(got) != 1 {
			t.Fatalf("got %d runs", len(got))
		}
		want := runs["alpha"]
		if !sameInfo(got[0].Info, want.Info) {
			t.Errorf("info = %+v, want %+v", got[0].Info, want.Info)
		}
		if !sameStrings(paramMap(got[0].Data.Params), paramMap(want.Data.Params)) ||
			!sameStrings(tagMap(got[0].Data.Tags), tagMap(want.Data.Tags)) {
			t.Errorf("data = %+v, want %+v", got[0].Data, want.Data)
		}
		gm, wm := metricMap(got[0].Data.Metrics), metricMap(want.Data.Metrics)
		if len(gm) != len(wm) || gm["m"].Value != 1 || gm["acc"].Value != 0.5 {
			t.Errorf("metrics = %+v, want %+v", gm, wm)
		}
		nan := query(t, tracking.RunQuery{Filter: search.Filter{str(attr, "run_name", search.OpEq, "beta")}})
		if len(nan) != 1 || !math.IsNaN(metricMap(nan[0].Data.Metrics)["m"].Value) {
			t.Errorf("beta's NaN metric came back as %+v", nan)
		}
	})
}
