package sqlstore

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/mltrack/mltrack/internal/search"
	"github.com/mltrack/mltrack/internal/tracking"
)

// Logged-model behaviour of MLflow's SQL store that its file store does not
// share, so the conformance suite leaves it out: messages, BAD_REQUEST on
// re-inserted keys, writes reaching deleted models, every metric point.

func mustModel(t *testing.T, s *Store, exp, name string) *tracking.LoggedModel {
	t.Helper()
	m, err := s.CreateLoggedModel(context.Background(), tracking.NewLoggedModel{ExperimentID: exp, Name: name})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestSearchLoggedModelsErrors(t *testing.T) {
	attr := func(key string, op search.Op, v string) search.Comparison {
		return search.Comparison{Entity: search.EntityAttribute, Key: key, Op: op, Value: search.Value{Kind: search.ValueString, Str: v}}
	}
	listOf := func(e search.Entity, key string, op search.Op, v ...string) search.Comparison {
		return search.Comparison{Entity: e, Key: key, Op: op, Value: search.Value{Kind: search.ValueList, List: v}}
	}
	cases := []struct {
		name   string
		filter search.Comparison
		order  string
		want   string // MLflow 3.18's message, checked against the real server
	}{
		{name: "metric LIKE", filter: search.Comparison{Entity: search.EntityMetric, Key: "acc", Op: search.OpLike,
			Value: search.Value{Kind: search.ValueString, Str: "1"}},
			want: "Invalid comparison operator for metrics.acc: 'LIKE'. Expected one of ('<', '<=', '>', '>=', '=', '!=')."},
		{name: "param <", filter: search.Comparison{Entity: search.EntityParam, Key: "p", Op: search.OpLt,
			Value: search.Value{Kind: search.ValueString, Str: "1"}},
			want: "Invalid comparison operator for params.p: '<'. Expected one of ('=', '!=', 'LIKE', 'ILIKE', 'IN', 'NOT IN')."},
		{name: "status LIKE", filter: attr("status", search.OpLike, "R%"), want: "Invalid comparison operator for status: LIKE"},
		{name: "status proto name", filter: attr("status", search.OpEq, "LOGGED_MODEL_READY"),
			want: "Unknown model status in filter: 'LOGGED_MODEL_READY'"},
		{name: "status IN", filter: listOf(search.EntityAttribute, "status", search.OpIn, "READY", "X"),
			want: "Unknown model status in filter: ('READY', 'X')"},
		{name: "order by param", order: "params.x", want: "Invalid order by field name: params.x. Only metrics are supported."},
		{name: "order by unknown", order: "foo", want: "Invalid order by field name: foo"},
	}
	forEachDialect(t, func(t *testing.T, s *Store) {
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				q := tracking.LoggedModelQuery{ExperimentIDs: []string{"0"}}
				if c.order != "" {
					q.OrderBy = []tracking.LoggedModelOrder{{Field: c.order}}
				} else {
					q.Filter = search.Filter{c.filter}
				}
				_, err := s.SearchLoggedModels(context.Background(), q)
				if e, ok := err.(*tracking.Error); !ok || e.Code != tracking.ErrInvalidParameterValue || e.Message != c.want {
					t.Errorf("got %v, want INVALID_PARAMETER_VALUE %q", err, c.want)
				}
			})
		}
	})
}

func TestLoggedModelSQLStoreBehaviour(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		run := mustRun(t, s, "0", 1)
		m := mustModel(t, s, "0", "m")

		if err := s.LogLoggedModelParams(ctx, m.ID, []tracking.Param{{Key: "a", Value: "1"}}); err != nil {
			t.Fatal(err)
		}
		// MLflow inserts params: a key logged again, even with its value, is
		// an IntegrityError it reports as BAD_REQUEST; nothing of the call stays.
		err := s.LogLoggedModelParams(ctx, m.ID, []tracking.Param{{Key: "b", Value: "2"}, {Key: "a", Value: "1"}})
		if errCode(err) != tracking.ErrBadRequest {
			t.Errorf("re-logged param: %v, want BAD_REQUEST", err)
		}
		got, _ := s.GetLoggedModel(ctx, m.ID, false)
		if len(got.Params) != 1 {
			t.Errorf("params after a failed call = %v", got.Params)
		}
		_, err = s.CreateLoggedModel(ctx, tracking.NewLoggedModel{ExperimentID: "0",
			Tags: []tracking.Tag{{Key: "t", Value: "1"}, {Key: "t", Value: "2"}}})
		if errCode(err) != tracking.ErrBadRequest {
			t.Errorf("create with a repeated tag: %v, want BAD_REQUEST", err)
		}

		if err := s.DeleteLoggedModelTag(ctx, m.ID, "nope"); err == nil ||
			err.(*tracking.Error).Message != "No tag with key 'nope' found for model with ID '"+m.ID+"'." {
			t.Errorf("missing tag: %v", err)
		}
		if _, err := s.GetLoggedModel(ctx, "m-0000", false); err == nil || err.(*tracking.Error).Message != "Logged model with ID 'm-0000' not found." {
			t.Errorf("missing model: %v", err)
		}

		// Every point is kept and returned, not only the latest.
		pts := []tracking.Metric{
			{Key: "acc", Value: 0.1, Timestamp: 10, Step: 0, ModelID: m.ID},
			{Key: "acc", Value: 0.2, Timestamp: 20, Step: 1, ModelID: m.ID},
			{Key: "acc", Value: 0.2, Timestamp: 20, Step: 1, ModelID: m.ID},
		}
		if err := s.LogBatch(ctx, run, pts, nil, nil); err != nil {
			t.Fatal(err)
		}
		got, _ = s.GetLoggedModel(ctx, m.ID, false)
		if len(got.Metrics) != 2 || got.Metrics[0].Value != 0.1 || got.Metrics[1].Value != 0.2 {
			t.Errorf("metrics = %+v, want both points", got.Metrics)
		}

		// Writes find deleted models; only get and search hide them.
		if err := s.DeleteLoggedModel(ctx, m.ID); err != nil {
			t.Fatal(err)
		}
		if err := s.SetLoggedModelTags(ctx, m.ID, []tracking.Tag{{Key: "k", Value: "v"}}); err != nil {
			t.Errorf("tag a deleted model: %v", err)
		}
		fin, err := s.FinalizeLoggedModel(ctx, m.ID, tracking.ModelStatusReady)
		if err != nil || fin.Status != tracking.ModelStatusReady || fin.LifecycleStage != tracking.LifecycleDeleted {
			t.Errorf("finalize a deleted model: %+v, %v", fin, err)
		}
		if err := s.DeleteLoggedModel(ctx, m.ID); err != nil {
			t.Errorf("delete twice: %v", err)
		}

		// An output logged twice is an IntegrityError too.
		out := mustModel(t, s, "0", "out")
		if err := s.LogOutputs(ctx, run, []tracking.ModelOutput{{ModelID: out.ID, Step: 1}}); err != nil {
			t.Fatal(err)
		}
		if err := s.LogOutputs(ctx, run, []tracking.ModelOutput{{ModelID: out.ID, Step: 2}}); errCode(err) != tracking.ErrBadRequest {
			t.Errorf("output logged twice: %v, want BAD_REQUEST", err)
		}
	})
}

// TestLoggedModelRows checks the rows against what MLflow 3.18 writes for the
// same REST calls (compared with a real server's database).
func TestLoggedModelRows(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		run := mustRun(t, s, "0", 1)
		m := mustModel(t, s, "0", "rows")
		ds := tracking.DatasetInput{Dataset: tracking.Dataset{Name: "d", Digest: "x", SourceType: "local", Source: "{}"},
			Tags: []tracking.Tag{{Key: "mlflow.data.context", Value: "train"}}}
		if err := s.LogInputs(ctx, run, []tracking.DatasetInput{ds}, []tracking.ModelInput{{ModelID: m.ID}}); err != nil {
			t.Fatal(err)
		}
		if err := s.LogOutputs(ctx, run, []tracking.ModelOutput{{ModelID: m.ID, Step: 4}}); err != nil {
			t.Fatal(err)
		}
		var modelType, sourceRun, stage string
		var status int
		err := s.r.QueryRowContext(ctx, s.rebind("SELECT model_type, source_run_id, lifecycle_stage, status FROM logged_models WHERE model_id = ?"),
			m.ID).Scan(&modelType, &sourceRun, &stage, &status)
		if err != nil || modelType != "" || sourceRun != "" || stage != "active" || status != 1 {
			t.Errorf("logged_models row: type %q run %q stage %q status %d, %v", modelType, sourceRun, stage, status, err)
		}
		rows, err := s.r.QueryContext(ctx, "SELECT source_type, destination_type, step FROM inputs ORDER BY source_type")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var got []string
		for rows.Next() {
			var src, dst string
			var step int64
			if err := rows.Scan(&src, &dst, &step); err != nil {
				t.Fatal(err)
			}
			got = append(got, src+">"+dst+":"+strconv.FormatInt(step, 10))
		}
		want := "[DATASET>RUN:0 RUN_INPUT>MODEL_INPUT:0 RUN_OUTPUT>MODEL_OUTPUT:4]"
		if g := "[" + strings.Join(got, " ") + "]"; g != want {
			t.Errorf("inputs rows = %s, want %s", g, want)
		}
	})
}

// TestSearchLoggedModelsParsed runs filters and orderings through the real
// parser, so the keys and values reaching the store are the ones clients
// produce (canonical attribute names, status names, experiment ids as text).
func TestSearchLoggedModelsParsed(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		exp, err := s.CreateExperiment(ctx, tracking.NewExperiment{Name: "parsed"})
		if err != nil {
			t.Fatal(err)
		}
		run := mustRun(t, s, exp, 1)
		a := mustModel(t, s, exp, "a")
		b := mustModel(t, s, exp, "b")
		mustModel(t, s, "0", "in-default")
		if _, err := s.FinalizeLoggedModel(ctx, b.ID, tracking.ModelStatusReady); err != nil {
			t.Fatal(err)
		}
		err = s.LogBatch(ctx, run, []tracking.Metric{
			{Key: "loss", Value: 2, Timestamp: 1, Step: 0, ModelID: a.ID},
			{Key: "loss", Value: 1, Timestamp: 1, Step: 0, ModelID: b.ID, DatasetName: "val", DatasetDigest: "abc"},
		}, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		cases := []struct {
			filter string
			order  string
			want   string
		}{
			{filter: "name = 'a'", want: "[a]"},
			{filter: "attributes.name LIKE '%'", order: "name", want: "[a b]"},
			{filter: "status = 'READY'", want: "[b]"},
			{filter: "status IN ('PENDING', 'FAILED')", want: "[a]"},
			{filter: "experiment_id = '" + exp + "'", order: "name", want: "[a b]"},
			{filter: "experiment_id IN ('0', '" + exp + "')", order: "name", want: "[a b]"},
			{filter: "experiment_id != '" + exp + "'", want: "[]"},
			{filter: "experiment_id LIKE '" + exp + "%'", order: "name", want: "[a b]"},
			{filter: "creation_time > 0 AND last_updated_timestamp_ms > 0", order: "name", want: "[a b]"},
			{filter: "metrics.loss < 1.5", want: "[b]"},
			{filter: "metrics.`loss` >= 1", order: "metrics.loss", want: "[b a]"},
			{filter: "name = 'a'", order: "creation_timestamp_ms", want: "[a]"},
		}
		for _, c := range cases {
			t.Run(c.filter+" / "+c.order, func(t *testing.T) {
				f, err := search.ParseLoggedModelFilter(c.filter)
				if err != nil {
					t.Fatal(err)
				}
				q := tracking.LoggedModelQuery{ExperimentIDs: []string{exp}, Filter: f}
				if c.order != "" {
					ob, err := search.ParseLoggedModelOrderBy(c.order)
					if err != nil {
						t.Fatal(err)
					}
					field := ob.Key
					if ob.Entity == search.EntityMetric {
						field = "metrics." + ob.Key
					}
					q.OrderBy = []tracking.LoggedModelOrder{{Field: field, Ascending: true}}
				}
				got, err := s.SearchLoggedModels(ctx, q)
				if err != nil {
					t.Fatal(err)
				}
				names := make([]string, len(got))
				for i, m := range got {
					names[i] = m.Name
				}
				if g := "[" + strings.Join(names, " ") + "]"; g != c.want {
					t.Errorf("got %s, want %s", g, c.want)
				}
			})
		}
	})
}
