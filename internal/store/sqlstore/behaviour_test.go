package sqlstore

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/mltrack/mltrack/internal/search"
	"github.com/mltrack/mltrack/internal/tracking"
)

// These tests pin MLflow SQL-store behaviour that the shared conformance
// suite does not look at: exact messages and what lands in which table.

func forEachDialect(t *testing.T, fn func(t *testing.T, s *Store)) {
	for name, open := range testOpeners() {
		t.Run(name, func(t *testing.T) { fn(t, open(t)) })
	}
}

func mustRun(t *testing.T, s *Store, exp string, start int64, tags ...tracking.Tag) string {
	t.Helper()
	r, err := s.CreateRun(context.Background(), tracking.NewRun{ExperimentID: exp, UserID: "u", RunName: "r", StartTime: start, Tags: tags})
	if err != nil {
		t.Fatal(err)
	}
	return r.Info.RunID
}

func TestExperimentLifecycle(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		id, err := s.CreateExperiment(ctx, tracking.NewExperiment{Name: "e", Tags: []tracking.Tag{{Key: "k", Value: "v"}}})
		if err != nil {
			t.Fatal(err)
		}
		if id != "1" {
			t.Errorf("first experiment id = %s, want 1", id)
		}
		e, err := s.GetExperimentByName(ctx, "e")
		if err != nil || e.ID != id || len(e.Tags) != 1 || e.ArtifactLocation != appendToURIPath(s.root, "1") {
			t.Fatalf("GetExperimentByName = %+v, %v", e, err)
		}
		if _, err := s.GetExperimentByName(ctx, "nope"); !tracking.IsNotFound(err) {
			t.Errorf("missing name: %v", err)
		}
		if _, err := s.GetExperiment(ctx, "99"); !tracking.IsNotFound(err) || !strings.Contains(err.Error(), "No Experiment with id=99 exists") {
			t.Errorf("missing id: %v", err)
		}
		if _, err := s.GetExperiment(ctx, "x"); errCode(err) != tracking.ErrInvalidParameterValue {
			t.Errorf("bad id: %v", err)
		}
		runID := mustRun(t, s, id, 1)
		if err := s.DeleteExperiment(ctx, id); err != nil {
			t.Fatal(err)
		}
		r, _ := s.GetRun(ctx, runID)
		if r.Info.LifecycleStage != "deleted" {
			t.Errorf("run of deleted experiment is %s", r.Info.LifecycleStage)
		}
		var deletedTime *int64
		s.r.QueryRow(s.rebind("SELECT deleted_time FROM runs WHERE run_uuid = ?"), runID).Scan(&deletedTime)
		if deletedTime == nil {
			t.Error("deleted_time not set")
		}
		_, err = s.CreateExperiment(ctx, tracking.NewExperiment{Name: "e"})
		if errCode(err) != tracking.ErrResourceAlreadyExists || !strings.Contains(err.Error(), "Experiment(name=e) already exists.") {
			t.Errorf("duplicate of deleted: %v", err)
		}
		if err := s.RenameExperiment(ctx, id, "f"); errCode(err) != tracking.ErrInvalidState {
			t.Errorf("rename deleted: %v", err)
		}
		if _, err := s.CreateRun(ctx, tracking.NewRun{ExperimentID: id}); errCode(err) != tracking.ErrInvalidParameterValue ||
			!strings.Contains(err.Error(), "must be in the 'active' state. Current state is deleted.") {
			t.Errorf("run in deleted experiment: %v", err)
		}
		if err := s.DeleteExperiment(ctx, id); !tracking.IsNotFound(err) {
			t.Errorf("delete twice: %v", err)
		}
		if err := s.RestoreExperiment(ctx, id); err != nil {
			t.Fatal(err)
		}
		r, _ = s.GetRun(ctx, runID)
		if r.Info.LifecycleStage != "active" {
			t.Errorf("run after restore is %s", r.Info.LifecycleStage)
		}
		if err := s.RenameExperiment(ctx, id, "Default"); errCode(err) != tracking.ErrResourceAlreadyExists {
			t.Errorf("rename to taken name: %v", err)
		}
		if err := s.DeleteExperimentTag(ctx, id, "nope"); !tracking.IsNotFound(err) {
			t.Errorf("delete missing tag: %v", err)
		}
	})
}

func TestLogBatchSemantics(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		id := mustRun(t, s, "0", 5, tracking.Tag{Key: tracking.TagRunName, Value: "r"})
		ms := []tracking.Metric{
			{Key: "a", Value: 1, Timestamp: 10, Step: 0},
			{Key: "a", Value: 3, Timestamp: 5, Step: 2},
			{Key: "a", Value: 2, Timestamp: 20, Step: 1},
			{Key: "a", Value: 1, Timestamp: 10, Step: 0}, // duplicate point
			{Key: "nan", Value: math.NaN(), Timestamp: 1, Step: 0},
			{Key: "inf", Value: math.Inf(1), Timestamp: 1, Step: 0},
			{Key: "ninf", Value: math.Inf(-1), Timestamp: 1, Step: 0},
		}
		if err := s.LogBatch(ctx, id, ms, []tracking.Param{{Key: "p", Value: "1"}}, []tracking.Tag{{Key: "t", Value: "x"}}); err != nil {
			t.Fatal(err)
		}
		// Re-logging the same points and param is fine.
		if err := s.LogBatch(ctx, id, ms[:1], []tracking.Param{{Key: "p", Value: "1"}}, nil); err != nil {
			t.Fatal(err)
		}
		var n int
		s.r.QueryRow(s.rebind(`SELECT count(*) FROM metrics WHERE run_uuid = ? AND "key" = 'a'`), id).Scan(&n)
		if n != 3 {
			t.Errorf("metric rows for a = %d, want 3", n)
		}
		var v float64
		var nan bool
		s.r.QueryRow(s.rebind(`SELECT value, is_nan FROM metrics WHERE run_uuid = ? AND "key" = 'nan'`), id).Scan(&v, &nan)
		if v != 0 || !nan {
			t.Errorf("NaN stored as %v, %v", v, nan)
		}
		s.r.QueryRow(s.rebind(`SELECT value FROM metrics WHERE run_uuid = ? AND "key" = 'ninf'`), id).Scan(&v)
		if v != -math.MaxFloat64 {
			t.Errorf("-Inf stored as %v", v)
		}
		r, err := s.GetRun(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]tracking.Metric{}
		for _, m := range r.Data.Metrics {
			got[m.Key] = m
		}
		if a := got["a"]; a.Value != 3 || a.Step != 2 {
			t.Errorf("latest a = %+v, want step 2 value 3", a)
		}
		if !math.IsNaN(got["nan"].Value) || got["inf"].Value != math.MaxFloat64 {
			t.Errorf("latest nan/inf = %v/%v", got["nan"].Value, got["inf"].Value)
		}
		// An older point does not move latest_metrics.
		s.LogBatch(ctx, id, []tracking.Metric{{Key: "a", Value: 100, Timestamp: 100, Step: 1}}, nil, nil)
		r, _ = s.GetRun(ctx, id)
		for _, m := range r.Data.Metrics {
			if m.Key == "a" && m.Value != 3 {
				t.Errorf("older step replaced latest: %+v", m)
			}
		}

		err = s.LogBatch(ctx, id, []tracking.Metric{{Key: "z", Value: 1, Timestamp: 1}}, []tracking.Param{{Key: "p", Value: "2"}}, nil)
		want := "Changing param values is not allowed. Params were already logged='[{'key': 'p', 'old_value': '1', 'new_value': '2'}]' for run ID='" + id + "'."
		if errCode(err) != tracking.ErrInvalidParameterValue || !strings.Contains(err.Error(), want) {
			t.Errorf("param change: %v\nwant %s", err, want)
		}
		s.r.QueryRow(s.rebind(`SELECT count(*) FROM metrics WHERE run_uuid = ? AND "key" = 'z'`), id).Scan(&n)
		if n != 0 {
			t.Error("failed batch wrote metrics")
		}

		if err := s.LogBatch(ctx, id, nil, nil, []tracking.Tag{{Key: tracking.TagRunName, Value: "renamed"}}); err != nil {
			t.Fatal(err)
		}
		r, _ = s.GetRun(ctx, id)
		if r.Info.RunName != "renamed" {
			t.Errorf("run name = %q after tag", r.Info.RunName)
		}
		name := "again"
		if _, err := s.UpdateRun(ctx, id, tracking.RunUpdate{RunName: &name}); err != nil {
			t.Fatal(err)
		}
		r, _ = s.GetRun(ctx, id)
		for _, tg := range r.Data.Tags {
			if tg.Key == tracking.TagRunName && tg.Value != "again" {
				t.Errorf("runName tag = %q", tg.Value)
			}
		}

		hist, err := s.GetMetricHistory(ctx, id, "a", 0, 0)
		if err != nil || len(hist) != 4 {
			t.Fatalf("history = %v, %v", hist, err)
		}
		// MLflow's SQL store orders history by timestamp, step, value.
		if hist[0].Timestamp != 5 || hist[1].Timestamp != 10 || hist[2].Timestamp != 20 || hist[3].Timestamp != 100 {
			t.Errorf("history order = %+v", hist)
		}
		page, _ := s.GetMetricHistory(ctx, id, "a", 1, 1)
		if len(page) != 1 || page[0].Timestamp != 10 {
			t.Errorf("history page = %+v", page)
		}

		if err := s.DeleteTag(ctx, id, "nope"); !tracking.IsNotFound(err) {
			t.Errorf("delete missing tag: %v", err)
		}
		if err := s.DeleteRun(ctx, id); err != nil {
			t.Fatal(err)
		}
		err = s.LogBatch(ctx, id, nil, []tracking.Param{{Key: "q", Value: "1"}}, nil)
		want = "The run " + id + " must be in the 'active' state. Current state is deleted."
		if errCode(err) != tracking.ErrInvalidParameterValue || !strings.Contains(err.Error(), want) {
			t.Errorf("write to deleted run: %v", err)
		}
		if err := s.RestoreRun(ctx, id); err != nil {
			t.Fatal(err)
		}
		if err := s.LogBatch(ctx, "0123", nil, nil, nil); !tracking.IsNotFound(err) {
			t.Errorf("missing run: %v", err)
		}
	})
}

func TestCreateRunFields(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		r, err := s.CreateRun(ctx, tracking.NewRun{ExperimentID: "0", UserID: "me", RunName: "n", StartTime: 7,
			Tags: []tracking.Tag{{Key: tracking.TagRunName, Value: "n"}}})
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Info.RunID) != 32 || r.Info.Status != tracking.StatusRunning || r.Info.EndTime != nil ||
			r.Info.ArtifactURI != appendToURIPath(s.root, "0", r.Info.RunID, "artifacts") {
			t.Errorf("run info = %+v", r.Info)
		}
		var st, sn, ep, sv string
		s.r.QueryRow(s.rebind("SELECT source_type, source_name, entry_point_name, source_version FROM runs WHERE run_uuid = ?"), r.Info.RunID).Scan(&st, &sn, &ep, &sv)
		if st != "UNKNOWN" || sn != "" || ep != "" || sv != "" {
			t.Errorf("source columns = %q %q %q %q", st, sn, ep, sv)
		}
		// MLflow 3.18's server stores a missing start_time as 0; the store
		// keeps whatever it is given.
		zero, err := s.CreateRun(ctx, tracking.NewRun{ExperimentID: "0", RunName: "z"})
		if err != nil {
			t.Fatal(err)
		}
		if got, err := s.GetRun(ctx, zero.Info.RunID); err != nil || got.Info.StartTime != 0 {
			t.Errorf("start_time = %v, %v; want 0", got, err)
		}
		if _, err := s.GetRun(ctx, "nope"); !tracking.IsNotFound(err) || !strings.Contains(err.Error(), "Run with id=nope not found") {
			t.Errorf("missing run: %v", err)
		}
	})
}

func TestSearchRunsCompiled(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		a := mustRun(t, s, "0", 100, tracking.Tag{Key: tracking.TagRunName, Value: "Alpha"})
		b := mustRun(t, s, "0", 200, tracking.Tag{Key: tracking.TagRunName, Value: "beta"})
		c := mustRun(t, s, "0", 300, tracking.Tag{Key: tracking.TagRunName, Value: "gamma"})
		d := mustRun(t, s, "0", 300)
		s.LogBatch(ctx, a, []tracking.Metric{{Key: "acc", Value: 0.5, Timestamp: 1}}, []tracking.Param{{Key: "lr", Value: "0.1"}}, []tracking.Tag{{Key: "team", Value: "Red"}})
		s.LogBatch(ctx, b, []tracking.Metric{{Key: "acc", Value: math.NaN(), Timestamp: 1}}, []tracking.Param{{Key: "lr", Value: "0.2"}}, []tracking.Tag{{Key: "team", Value: "red"}})
		s.LogBatch(ctx, c, []tracking.Metric{{Key: "acc", Value: 0.9, Timestamp: 1}}, nil, []tracking.Tag{{Key: "empty", Value: ""}})

		num := func(f float64) search.Value { return search.Value{Kind: search.ValueNumber, Num: f} }
		str := func(v string) search.Value { return search.Value{Kind: search.ValueString, Str: v} }
		tests := []struct {
			name   string
			filter search.Filter
			order  []search.OrderBy
			want   []string
		}{
			{name: "default order", want: []string{minID(c, d), maxID(c, d), b, a}},
			{name: "metric >", filter: search.Filter{{Entity: search.EntityMetric, Key: "acc", Op: search.OpGt, Value: num(0.4)}}, want: []string{c, a}},
			{name: "metric != includes NaN", filter: search.Filter{{Entity: search.EntityMetric, Key: "acc", Op: search.OpNe, Value: num(0.5)}}, want: []string{c, b}},
			{name: "param =", filter: search.Filter{{Entity: search.EntityParam, Key: "lr", Op: search.OpEq, Value: str("0.2")}}, want: []string{b}},
			{name: "tag LIKE is case-sensitive", filter: search.Filter{{Entity: search.EntityTag, Key: "team", Op: search.OpLike, Value: str("r%")}}, want: []string{b}},
			{name: "tag ILIKE", filter: search.Filter{{Entity: search.EntityTag, Key: "team", Op: search.OpILike, Value: str("r%")}}, want: []string{b, a}},
			{name: "tag != skips runs without it", filter: search.Filter{{Entity: search.EntityTag, Key: "team", Op: search.OpNe, Value: str("x")}}, want: []string{b, a}},
			{name: "run_name", filter: search.Filter{{Entity: search.EntityAttribute, Key: "run_name", Op: search.OpEq, Value: str("beta")}}, want: []string{b}},
			{name: "run_id IN", filter: search.Filter{{Entity: search.EntityAttribute, Key: "run_id", Op: search.OpIn, Value: search.Value{Kind: search.ValueList, List: []string{a, c}}}}, want: []string{c, a}},
			{name: "start_time <", filter: search.Filter{{Entity: search.EntityAttribute, Key: "start_time", Op: search.OpLt, Value: num(250)}}, want: []string{b, a}},
			{name: "status", filter: search.Filter{{Entity: search.EntityAttribute, Key: "status", Op: search.OpEq, Value: str("RUNNING")}}, want: []string{minID(c, d), maxID(c, d), b, a}},
			{name: "metric asc, NaN and missing last", order: []search.OrderBy{{Entity: search.EntityMetric, Key: "acc", Ascending: true}}, want: []string{a, c, b, d}},
			{name: "metric desc, NaN and missing last", order: []search.OrderBy{{Entity: search.EntityMetric, Key: "acc"}}, want: []string{c, a, b, d}},
			{name: "param desc, missing last", order: []search.OrderBy{{Entity: search.EntityParam, Key: "lr"}}, want: []string{b, a, minID(c, d), maxID(c, d)}},
			{name: "param IS NULL", filter: search.Filter{{Entity: search.EntityParam, Key: "lr", Op: search.OpIsNull}}, want: []string{minID(c, d), maxID(c, d)}},
			{name: "param IS NOT NULL", filter: search.Filter{{Entity: search.EntityParam, Key: "lr", Op: search.OpIsNotNull}}, want: []string{b, a}},
			{name: "tag IS NULL", filter: search.Filter{{Entity: search.EntityTag, Key: "team", Op: search.OpIsNull}}, want: []string{minID(c, d), maxID(c, d)}},
			{name: "tag IS NOT NULL and param =", filter: search.Filter{{Entity: search.EntityTag, Key: "team", Op: search.OpIsNotNull}, {Entity: search.EntityParam, Key: "lr", Op: search.OpEq, Value: str("0.1")}}, want: []string{a}},
			{name: "tag IS NOT NULL counts an empty value", filter: search.Filter{{Entity: search.EntityTag, Key: "empty", Op: search.OpIsNotNull}}, want: []string{c}},
			{name: "start_time asc", order: []search.OrderBy{{Entity: search.EntityAttribute, Key: "start_time", Ascending: true}}, want: []string{a, b, minID(c, d), maxID(c, d)}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				runs, err := s.SearchRuns(ctx, tracking.RunQuery{ExperimentIDs: []string{"0"}, Filter: tt.filter, OrderBy: tt.order, Limit: 100})
				if err != nil {
					t.Fatal(err)
				}
				var got []string
				for _, r := range runs {
					got = append(got, r.Info.RunID)
				}
				if strings.Join(got, ",") != strings.Join(tt.want, ",") {
					t.Errorf("got %v\nwant %v", got, tt.want)
				}
			})
		}
		for _, op := range []search.Op{search.OpIsNull, search.OpIsNotNull} {
			for _, ent := range []search.Entity{search.EntityMetric, search.EntityAttribute, search.EntityDataset} {
				_, err := s.SearchRuns(ctx, tracking.RunQuery{ExperimentIDs: []string{"0"}, Filter: search.Filter{{Entity: ent, Key: "acc", Op: op}}, Limit: 10})
				if tracking.Code(err) != tracking.ErrInvalidParameterValue || !strings.Contains(err.Error(), "only supported for tags and params") {
					t.Errorf("%s %s: err = %v, want INVALID_PARAMETER_VALUE", ent, op, err)
				}
			}
		}
		// The default tie-break puts c and d (same start_time) in run id order.
		runs, _ := s.SearchRuns(ctx, tracking.RunQuery{ExperimentIDs: []string{"0"}, Limit: 2, Offset: 1})
		if len(runs) != 2 {
			t.Fatalf("page = %d runs", len(runs))
		}
		if runs[0].Info.RunID != maxID(c, d) || runs[1].Info.RunID != b || len(runs[1].Data.Params) != 1 {
			t.Errorf("offset page = %v, %v", runs[0].Info.RunID, runs[1].Data)
		}
	})
}

func minID(a, b string) string { return min(a, b) }
func maxID(a, b string) string { return max(a, b) }

func TestSearchExperimentsCompiled(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		clock := time.UnixMilli(1000)
		s.now = func() time.Time { clock = clock.Add(time.Millisecond); return clock }
		x, _ := s.CreateExperiment(ctx, tracking.NewExperiment{Name: "Xray", Tags: []tracking.Tag{{Key: "k", Value: "v"}}})
		y, _ := s.CreateExperiment(ctx, tracking.NewExperiment{Name: "yankee"})
		z, _ := s.CreateExperiment(ctx, tracking.NewExperiment{Name: "zulu"})
		s.DeleteExperiment(ctx, z)
		str := func(v string) search.Value { return search.Value{Kind: search.ValueString, Str: v} }
		tests := []struct {
			name string
			q    tracking.ExperimentQuery
			want []string
		}{
			// Experiment 0 was created at Open with the real clock: it is newest.
			{name: "default order", q: tracking.ExperimentQuery{}, want: []string{"0", y, x}},
			{name: "all", q: tracking.ExperimentQuery{ViewType: tracking.ViewAll}, want: []string{"0", z, y, x}},
			{name: "deleted", q: tracking.ExperimentQuery{ViewType: tracking.ViewDeletedOnly}, want: []string{z}},
			{name: "name ILIKE", q: tracking.ExperimentQuery{Filter: search.Filter{{Entity: search.EntityAttribute, Key: "name", Op: search.OpILike, Value: str("x%")}}}, want: []string{x}},
			{name: "name LIKE case-sensitive", q: tracking.ExperimentQuery{Filter: search.Filter{{Entity: search.EntityAttribute, Key: "name", Op: search.OpLike, Value: str("x%")}}}, want: nil},
			{name: "tag", q: tracking.ExperimentQuery{Filter: search.Filter{{Entity: search.EntityTag, Key: "k", Op: search.OpEq, Value: str("v")}}}, want: []string{x}},
			{name: "tag IS NULL", q: tracking.ExperimentQuery{Filter: search.Filter{{Entity: search.EntityTag, Key: "k", Op: search.OpIsNull}}}, want: []string{"0", y}},
			{name: "tag IS NOT NULL", q: tracking.ExperimentQuery{ViewType: tracking.ViewAll, Filter: search.Filter{{Entity: search.EntityTag, Key: "k", Op: search.OpIsNotNull}}}, want: []string{x}},
			{name: "order name asc", q: tracking.ExperimentQuery{OrderBy: []search.OrderBy{{Entity: search.EntityAttribute, Key: "name", Ascending: true}}}, want: []string{"0", x, y}},
			{name: "paged", q: tracking.ExperimentQuery{Offset: 1, Limit: 1}, want: []string{y}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				exps, err := s.SearchExperiments(ctx, tt.q)
				if err != nil {
					t.Fatal(err)
				}
				var got []string
				for _, e := range exps {
					got = append(got, e.ID)
				}
				if strings.Join(got, ",") != strings.Join(tt.want, ",") {
					t.Errorf("got %v, want %v", got, tt.want)
				}
			})
		}
	})
}
