package storetest

import (
	"cmp"
	"slices"
	"testing"

	"github.com/mltrack/mltrack/internal/search"
	"github.com/mltrack/mltrack/internal/tracking"
)

// modelFixture is five models in one experiment and one in another:
//
//	name     type     status  params    tags        acc (latest; dataset)
//	alpha    sklearn  PENDING lr=0.1    team=red    0.3 (0.9 at an earlier step)
//	beta     torch    READY   lr=0.2    team=blue   0.8 on eval/d1
//	gamma    sklearn  FAILED  lr=0.1    -           0.6
//	delta    -        PENDING -         -           0.7 on eval/d2
//	epsilon  -        PENDING -         -           -
//	zeta (second experiment)
type modelFixture struct {
	exp, exp2 string
	runID     string
	byName    map[string]*tracking.LoggedModel
	all       []tracking.LoggedModel // exp's models in MLflow's default order
}

func newModelFixture(t *testing.T, s tracking.Store) *modelFixture {
	t.Helper()
	ctx := ctxOf(t)
	f := &modelFixture{byName: map[string]*tracking.LoggedModel{}}
	f.exp = createExperiment(t, s, "models-search")
	f.exp2 = createExperiment(t, s, "models-search-2")
	run := createRun(t, s, f.exp, "trainer", 1)
	f.runID = run.Info.RunID
	add := func(exp string, nm tracking.NewLoggedModel) string {
		nm.ExperimentID = exp
		m := createModel(t, s, nm)
		f.byName[nm.Name] = m
		return m.ID
	}
	alpha := add(f.exp, tracking.NewLoggedModel{Name: "alpha", ModelType: "sklearn", SourceRunID: f.runID,
		Params: []tracking.Param{{Key: "lr", Value: "0.1"}}, Tags: []tracking.Tag{{Key: "team", Value: "red"}}})
	beta := add(f.exp, tracking.NewLoggedModel{Name: "beta", ModelType: "torch", SourceRunID: f.runID,
		Params: []tracking.Param{{Key: "lr", Value: "0.2"}}, Tags: []tracking.Tag{{Key: "team", Value: "blue"}}})
	gamma := add(f.exp, tracking.NewLoggedModel{Name: "gamma", ModelType: "sklearn", Params: []tracking.Param{{Key: "lr", Value: "0.1"}}})
	delta := add(f.exp, tracking.NewLoggedModel{Name: "delta"})
	add(f.exp, tracking.NewLoggedModel{Name: "epsilon"})
	add(f.exp2, tracking.NewLoggedModel{Name: "zeta"})
	logBatch(t, s, f.runID, []tracking.Metric{
		{Key: "acc", Value: 0.9, Timestamp: 100, Step: 0, ModelID: alpha},
		{Key: "acc", Value: 0.3, Timestamp: 200, Step: 1, ModelID: alpha},
		{Key: "acc", Value: 0.8, Timestamp: 100, Step: 0, ModelID: beta, DatasetName: "eval", DatasetDigest: "d1"},
		{Key: "acc", Value: 0.6, Timestamp: 100, Step: 0, ModelID: gamma},
		{Key: "acc", Value: 0.7, Timestamp: 100, Step: 0, ModelID: delta, DatasetName: "eval", DatasetDigest: "d2"},
	}, nil, nil)
	_, err := s.FinalizeLoggedModel(ctx, beta, tracking.ModelStatusReady)
	mustNoErr(t, err, "finalize beta")
	_, err = s.FinalizeLoggedModel(ctx, gamma, tracking.ModelStatusUploadFailed)
	mustNoErr(t, err, "finalize gamma")
	for _, n := range []string{"alpha", "beta", "gamma", "delta", "epsilon"} {
		f.all = append(f.all, *f.byName[n])
	}
	// Models made within one millisecond share a creation time; the
	// default order then falls back to the model id.
	slices.SortFunc(f.all, func(a, b tracking.LoggedModel) int {
		return cmp.Or(cmp.Compare(b.CreationTime, a.CreationTime), cmp.Compare(a.ID, b.ID))
	})
	return f
}

// names lists model names in the fixture's default order, filtered.
func (f *modelFixture) names(keep func(m tracking.LoggedModel) bool) []string {
	var out []string
	for _, m := range f.all {
		if keep(m) {
			out = append(out, m.Name)
		}
	}
	return out
}

func (f *modelFixture) only(names ...string) []string {
	return f.names(func(m tracking.LoggedModel) bool { return slices.Contains(names, m.Name) })
}

func (f *modelFixture) except(names ...string) []string {
	return f.names(func(m tracking.LoggedModel) bool { return !slices.Contains(names, m.Name) })
}

func testSearchLoggedModels(t *testing.T, newStore func(t *testing.T) tracking.Store) {
	s := newStore(t)
	f := newModelFixture(t, s)
	at := func(name string) float64 { return float64(f.byName[name].CreationTime) }

	search1 := func(t *testing.T, q tracking.LoggedModelQuery) []string {
		t.Helper()
		if q.ExperimentIDs == nil {
			q.ExperimentIDs = []string{f.exp}
		}
		got, err := s.SearchLoggedModels(ctxOf(t), q)
		mustNoErr(t, err, "SearchLoggedModels")
		return modelNames(got)
	}

	t.Run("Filter", func(t *testing.T) {
		attr, metric, param, tag := search.EntityAttribute, search.EntityMetric, search.EntityParam, search.EntityTag
		cases := []struct {
			name     string
			filter   search.Filter
			datasets []tracking.DatasetRef
			want     []string // in default order
		}{
			{"all", nil, nil, f.except()},
			{"name =", search.Filter{str(attr, "name", search.OpEq, "alpha")}, nil, f.only("alpha")},
			{"name !=", search.Filter{str(attr, "name", search.OpNe, "alpha")}, nil, f.except("alpha")},
			{"name LIKE", search.Filter{str(attr, "name", search.OpLike, "%ta")}, nil, f.only("beta", "delta")},
			{"LIKE is case-sensitive", search.Filter{str(attr, "name", search.OpLike, "EPS%")}, nil, nil},
			{"name ILIKE", search.Filter{str(attr, "name", search.OpILike, "EPS%")}, nil, f.only("epsilon")},
			{"name IN", search.Filter{list(attr, "name", search.OpIn, "alpha", "gamma", "zeta")}, nil, f.only("alpha", "gamma")},
			{"name NOT IN", search.Filter{list(attr, "name", search.OpNotIn, "alpha", "gamma")}, nil, f.except("alpha", "gamma")},
			{"model_id", search.Filter{str(attr, "model_id", search.OpEq, f.byName["gamma"].ID)}, nil, f.only("gamma")},
			{"model_type", search.Filter{str(attr, "model_type", search.OpEq, "sklearn")}, nil, f.only("alpha", "gamma")},
			{"source_run_id", search.Filter{str(attr, "source_run_id", search.OpEq, f.runID)}, nil, f.only("alpha", "beta")},
			// status compares with the enum's short names.
			{"status =", search.Filter{str(attr, "status", search.OpEq, "READY")}, nil, f.only("beta")},
			{"status !=", search.Filter{str(attr, "status", search.OpNe, "PENDING")}, nil, f.only("beta", "gamma")},
			{"status IN", search.Filter{list(attr, "status", search.OpIn, "READY", "FAILED")}, nil, f.only("beta", "gamma")},
			{"status NOT IN", search.Filter{list(attr, "status", search.OpNotIn, "READY", "FAILED")}, nil, f.only("alpha", "delta", "epsilon")},
			{"creation_timestamp >=", search.Filter{num(attr, "creation_timestamp", search.OpGe, at("gamma"))}, nil,
				f.names(func(m tracking.LoggedModel) bool { return float64(m.CreationTime) >= at("gamma") })},
			{"creation_time alias <", search.Filter{num(attr, "creation_time", search.OpLt, at("gamma"))}, nil,
				f.names(func(m tracking.LoggedModel) bool { return float64(m.CreationTime) < at("gamma") })},
			{"last_updated_timestamp", search.Filter{num(attr, "last_updated_timestamp", search.OpGt, 0)}, nil, f.except()},
			{"params =", search.Filter{str(param, "lr", search.OpEq, "0.1")}, nil, f.only("alpha", "gamma")},
			{"params != skips models without it", search.Filter{str(param, "lr", search.OpNe, "0.1")}, nil, f.only("beta")},
			{"params IN", search.Filter{list(param, "lr", search.OpIn, "0.2", "9")}, nil, f.only("beta")},
			{"tags =", search.Filter{str(tag, "team", search.OpEq, "red")}, nil, f.only("alpha")},
			{"tags LIKE", search.Filter{str(tag, "team", search.OpLike, "%e%")}, nil, f.only("alpha", "beta")},
			{"missing tag", search.Filter{str(tag, "nope", search.OpEq, "x")}, nil, nil},
			// A metric filter reads each model's latest value (by step): alpha's
			// 0.9 at step 0 was superseded by 0.3 at step 1.
			{"metric >", search.Filter{num(metric, "acc", search.OpGt, 0.5)}, nil, f.only("beta", "gamma", "delta")},
			{"metric <", search.Filter{num(metric, "acc", search.OpLt, 0.5)}, nil, f.only("alpha")},
			{"metric =", search.Filter{num(metric, "acc", search.OpEq, 0.3)}, nil, f.only("alpha")},
			{"metric != skips models without it", search.Filter{num(metric, "acc", search.OpNe, 0.3)}, nil, f.only("beta", "gamma", "delta")},
			{"metric on a dataset", search.Filter{num(metric, "acc", search.OpGt, 0.5)},
				[]tracking.DatasetRef{{Name: "eval", Digest: "d1"}}, f.only("beta")},
			{"metric on a dataset of any digest", search.Filter{num(metric, "acc", search.OpGt, 0.5)},
				[]tracking.DatasetRef{{Name: "eval"}}, f.only("beta", "delta")},
			{"datasets alone keep models with metrics on them", nil,
				[]tracking.DatasetRef{{Name: "eval", Digest: "d2"}, {Name: "other"}}, f.only("delta")},
			{"conjunction", search.Filter{
				str(attr, "model_type", search.OpEq, "sklearn"), str(param, "lr", search.OpEq, "0.1"), num(metric, "acc", search.OpGt, 0.5),
			}, nil, f.only("gamma")},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				got := search1(t, tracking.LoggedModelQuery{Filter: c.filter, Datasets: c.datasets})
				if join(got) != join(c.want) {
					t.Errorf("got %v, want %v", got, c.want)
				}
			})
		}
	})

	t.Run("Experiments", func(t *testing.T) {
		if got := search1(t, tracking.LoggedModelQuery{ExperimentIDs: []string{f.exp2}}); join(got) != "[zeta]" {
			t.Errorf("second experiment: %v", got)
		}
		if got := search1(t, tracking.LoggedModelQuery{ExperimentIDs: []string{f.exp, f.exp2}}); len(got) != 6 {
			t.Errorf("both experiments: %v", got)
		}
		if got := search1(t, tracking.LoggedModelQuery{ExperimentIDs: []string{missingExperimentID}}); len(got) != 0 {
			t.Errorf("missing experiment: %v", got)
		}
	})

	t.Run("Order", func(t *testing.T) {
		rest := func(first ...string) []string { return append(first, f.except(first...)...) }
		cases := []struct {
			name  string
			order []tracking.LoggedModelOrder
			want  []string
		}{
			{"default: creation_timestamp DESC, model_id", nil, f.except()},
			{"name", []tracking.LoggedModelOrder{{Field: "name", Ascending: true}}, []string{"alpha", "beta", "delta", "epsilon", "gamma"}},
			{"name DESC", []tracking.LoggedModelOrder{{Field: "name"}}, []string{"gamma", "epsilon", "delta", "beta", "alpha"}},
			// Models without the metric come last in both directions.
			{"metric DESC", []tracking.LoggedModelOrder{{Field: "metrics.acc"}}, rest("beta", "delta", "gamma", "alpha")},
			{"metric ASC", []tracking.LoggedModelOrder{{Field: "metrics.acc", Ascending: true}}, rest("alpha", "gamma", "delta", "beta")},
			{"metric on a dataset", []tracking.LoggedModelOrder{{Field: "metrics.acc", Ascending: true, DatasetName: "eval"}}, rest("delta", "beta")},
			{"metric on a dataset digest", []tracking.LoggedModelOrder{{Field: "metrics.acc", DatasetName: "eval", DatasetDigest: "d2"}}, rest("delta")},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				got := search1(t, tracking.LoggedModelQuery{OrderBy: c.order})
				if join(got) != join(c.want) {
					t.Errorf("got %v, want %v", got, c.want)
				}
			})
		}
		t.Run("creation_timestamp ASC", func(t *testing.T) {
			want := slices.Clone(f.all)
			slices.SortStableFunc(want, func(a, b tracking.LoggedModel) int {
				return cmp.Or(cmp.Compare(a.CreationTime, b.CreationTime), cmp.Compare(a.ID, b.ID))
			})
			got := search1(t, tracking.LoggedModelQuery{OrderBy: []tracking.LoggedModelOrder{{Field: "creation_timestamp", Ascending: true}}})
			if join(got) != join(modelNames(want)) {
				t.Errorf("got %v, want %v", got, modelNames(want))
			}
		})
		t.Run("Invalid", func(t *testing.T) {
			for _, o := range []string{"params.lr", "bogus"} {
				_, err := s.SearchLoggedModels(ctxOf(t), tracking.LoggedModelQuery{ExperimentIDs: []string{f.exp},
					OrderBy: []tracking.LoggedModelOrder{{Field: o}}})
				wantCode(t, err, "order by "+o, tracking.ErrInvalidParameterValue)
			}
			_, err := s.SearchLoggedModels(ctxOf(t), tracking.LoggedModelQuery{ExperimentIDs: []string{f.exp},
				Datasets: []tracking.DatasetRef{{Digest: "d1"}}})
			wantCode(t, err, "dataset without a name", tracking.ErrInvalidParameterValue)
		})
	})

	t.Run("Paging", func(t *testing.T) {
		order := []tracking.LoggedModelOrder{{Field: "name", Ascending: true}}
		var pages [][]string
		for off := 0; off < 8; off += 2 {
			pages = append(pages, search1(t, tracking.LoggedModelQuery{OrderBy: order, Offset: off, Limit: 2}))
		}
		want := [][]string{{"alpha", "beta"}, {"delta", "epsilon"}, {"gamma"}, nil}
		for i := range want {
			if join(pages[i]) != join(want[i]) {
				t.Errorf("page %d = %v, want %v", i, pages[i], want[i])
			}
		}
	})

	t.Run("ResultsCarryData", func(t *testing.T) {
		got, err := s.SearchLoggedModels(ctxOf(t), tracking.LoggedModelQuery{ExperimentIDs: []string{f.exp},
			Filter: search.Filter{str(search.EntityAttribute, "name", search.OpEq, "beta")}})
		mustNoErr(t, err, "SearchLoggedModels")
		if len(got) != 1 {
			t.Fatalf("got %d models", len(got))
		}
		b := got[0]
		if b.Status != tracking.ModelStatusReady || b.ModelType != "torch" || b.SourceRunID != f.runID ||
			paramMap(b.Params)["lr"] != "0.2" || tagMap(b.Tags)["team"] != "blue" || len(b.Metrics) != 1 ||
			b.Metrics[0].Value != 0.8 || b.Metrics[0].DatasetDigest != "d1" || b.ArtifactURI != f.byName["beta"].ArtifactURI {
			t.Errorf("beta from search = %+v", b)
		}
	})
}
