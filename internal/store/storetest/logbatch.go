package storetest

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/mltrack/mltrack/internal/search"
	"github.com/mltrack/mltrack/internal/tracking"
)

func testLogBatch(t *testing.T, newStore func(t *testing.T) tracking.Store) {
	s := newStore(t)
	t.Run("Params", func(t *testing.T) {
		ctx := ctxOf(t)
		id := createRun(t, s, "0", "r", 1).Info.RunID
		logBatch(t, s, id, nil, []tracking.Param{{Key: "optimizer", Value: "adam"}, {Key: "lr", Value: "0.1"}, {Key: "empty", Value: ""}}, nil)
		// Re-logging the same value is a no-op, also next to new params.
		logBatch(t, s, id, nil, []tracking.Param{{Key: "optimizer", Value: "adam"}, {Key: "depth", Value: "3"}}, nil)

		err := s.LogBatch(ctx, id,
			[]tracking.Metric{metric("should-not-exist", 1, 1, 0)},
			[]tracking.Param{{Key: "fresh", Value: "1"}, {Key: "optimizer", Value: "sgd"}},
			[]tracking.Tag{{Key: "should-not-exist", Value: "x"}})
		wantCode(t, err, "changing a param", tracking.ErrInvalidParameterValue)
		if err != nil {
			msg := err.Error()
			for _, part := range []string{"optimizer", "adam", "sgd"} {
				if !strings.Contains(msg, part) {
					t.Errorf("param-change message %q does not name %q", msg, part)
				}
			}
		}
		got := getRun(t, s, id)
		want := map[string]string{"optimizer": "adam", "lr": "0.1", "empty": "", "depth": "3"}
		if p := paramMap(got.Data.Params); !sameStrings(p, want) {
			t.Errorf("params = %v, want %v (the failed batch must write nothing)", p, want)
		}
		if len(got.Data.Metrics) != 0 {
			t.Errorf("failed batch wrote metrics %v", got.Data.Metrics)
		}
		if _, ok := tagMap(got.Data.Tags)["should-not-exist"]; ok {
			t.Errorf("failed batch wrote its tag")
		}
		if h, err := s.GetMetricHistory(ctx, id, "should-not-exist", 0, 0); err == nil && len(h) != 0 {
			t.Errorf("failed batch wrote metric history %v", h)
		}
	})

	t.Run("Tags", func(t *testing.T) {
		id := createRun(t, s, "0", "r", 1).Info.RunID
		logBatch(t, s, id, nil, nil, []tracking.Tag{{Key: "a", Value: "1"}, {Key: "b", Value: "2"}})
		logBatch(t, s, id, nil, nil, []tracking.Tag{{Key: "a", Value: "overwritten"}, {Key: "c", Value: ""}})
		want := map[string]string{tracking.TagRunName: "r", "a": "overwritten", "b": "2", "c": ""}
		if got := tagMap(getRun(t, s, id).Data.Tags); !sameStrings(got, want) {
			t.Errorf("tags = %v, want %v", got, want)
		}
		// The same key twice in one batch: the last value wins.
		logBatch(t, s, id, nil, nil, []tracking.Tag{{Key: "d", Value: "first"}, {Key: "d", Value: "last"}})
		if got := tagMap(getRun(t, s, id).Data.Tags)["d"]; got != "last" {
			t.Errorf("duplicate key in one batch: d = %q, want last", got)
		}
		// MLflow keeps the run name in sync when mlflow.runName is set as a tag.
		logBatch(t, s, id, nil, nil, []tracking.Tag{{Key: tracking.TagRunName, Value: "renamed"}})
		got := getRun(t, s, id)
		if got.Info.RunName != "renamed" || tagMap(got.Data.Tags)[tracking.TagRunName] != "renamed" {
			t.Errorf("after runName tag: name %q, tag %q", got.Info.RunName, tagMap(got.Data.Tags)[tracking.TagRunName])
		}
	})

	t.Run("MetricsAppend", func(t *testing.T) {
		ctx := ctxOf(t)
		id := createRun(t, s, "0", "r", 1).Info.RunID
		logBatch(t, s, id, []tracking.Metric{metric("loss", 3, 100, 0), metric("loss", 2, 200, 1)}, nil, nil)
		logBatch(t, s, id, []tracking.Metric{metric("loss", 1, 300, 2)}, nil, nil)
		// MLflow's SQL store drops an exact duplicate (key, value, timestamp,
		// step), within a batch and across batches; a different value at the
		// same timestamp and step is a new point.
		logBatch(t, s, id, []tracking.Metric{metric("loss", 1, 300, 2), metric("loss", 1, 300, 2), metric("loss", 5, 300, 2)}, nil, nil)
		h, err := s.GetMetricHistory(ctx, id, "loss", 0, 0)
		mustNoErr(t, err, "GetMetricHistory")
		want := []point{{3, 100, 0}, {2, 200, 1}, {1, 300, 2}, {5, 300, 2}}
		if !samePoints(h, want) {
			t.Errorf("history = %v, want %v", pointsOf(h), want)
		}
		for _, m := range h {
			if m.Key != "loss" {
				t.Errorf("history point has key %q", m.Key)
			}
		}
		if m := metricMap(getRun(t, s, id).Data.Metrics)["loss"]; m.Value != 5 || m.Step != 2 || m.Timestamp != 300 {
			t.Errorf("latest loss = %+v", m)
		}
	})

	t.Run("NonFiniteValues", func(t *testing.T) {
		ctx := ctxOf(t)
		id := createRun(t, s, "0", "r", 1).Info.RunID
		vals := map[string]float64{"nan": math.NaN(), "pinf": math.Inf(1), "ninf": math.Inf(-1), "zero": 0, "neg": -1.5, "big": 1e300}
		var ms []tracking.Metric
		for k, v := range vals {
			ms = append(ms, metric(k, v, 10, 0))
		}
		logBatch(t, s, id, ms, nil, nil)
		latest := metricMap(getRun(t, s, id).Data.Metrics)
		for k, v := range vals {
			if got, ok := latest[k]; !ok || !sameValue(got.Value, v) {
				t.Errorf("latest %s = %v (present %v), want %v", k, got.Value, ok, v)
			}
			h, err := s.GetMetricHistory(ctx, id, k, 0, 0)
			mustNoErr(t, err, "GetMetricHistory "+k)
			if len(h) != 1 || !sameValue(h[0].Value, v) {
				t.Errorf("history %s = %v, want [%v]", k, pointsOf(h), v)
			}
		}
		// A NaN logged again at the same point is a duplicate, not a new row.
		logBatch(t, s, id, []tracking.Metric{metric("nan", math.NaN(), 10, 0)}, nil, nil)
		if h, _ := s.GetMetricHistory(ctx, id, "nan", 0, 0); len(h) != 1 {
			t.Errorf("NaN re-logged: history %v", pointsOf(h))
		}
	})

	t.Run("LatestMetric", func(t *testing.T) {
		// The latest value is the maximum by (step, timestamp, value), whatever
		// the logging order.
		for _, tc := range []struct {
			name    string
			batches [][]point
			want    point
		}{
			{"higher step wins over later time", [][]point{{{5, 100, 2}}, {{1, 200, 1}}}, point{5, 100, 2}},
			{"same step: later time", [][]point{{{1, 100, 3}}, {{2, 50, 3}}}, point{1, 100, 3}},
			{"same step and time: larger value", [][]point{{{1, 10, 4}}, {{0.5, 10, 4}}}, point{1, 10, 4}},
			{"larger value logged second", [][]point{{{0.5, 10, 4}}, {{1, 10, 4}}}, point{1, 10, 4}},
			{"negative values", [][]point{{{-1, 1, 0}}, {{-2, 1, 0}}}, point{-1, 1, 0}},
			{"out of order in one batch", [][]point{{{7, 30, 9}, {9, 40, 2}, {8, 10, 9}}}, point{7, 30, 9}},
			{"then an older point", [][]point{{{1, 100, 5}}, {{2, 1, 0}, {3, 2, 1}}}, point{1, 100, 5}},
			{"newer point later", [][]point{{{1, 1, 0}}, {{2, 2, 0}}, {{3, 3, 1}}}, point{3, 3, 1}},
			{"negative step", [][]point{{{1, 5, -1}}, {{2, 1, 0}}}, point{2, 1, 0}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				id := createRun(t, s, "0", "r", 1).Info.RunID
				for _, b := range tc.batches {
					var ms []tracking.Metric
					for _, p := range b {
						ms = append(ms, metric("m", p.Value, p.Timestamp, p.Step))
					}
					logBatch(t, s, id, ms, nil, nil)
				}
				got, ok := metricMap(getRun(t, s, id).Data.Metrics)["m"]
				if !ok || !sameValue(got.Value, tc.want.Value) || got.Timestamp != tc.want.Timestamp || got.Step != tc.want.Step {
					t.Errorf("latest = %+v, want %+v", got, tc.want)
				}
			})
		}
	})

	t.Run("ThousandMetrics", func(t *testing.T) {
		ctx := ctxOf(t)
		id := createRun(t, s, "0", "r", 1).Info.RunID
		keys := make([]tracking.Metric, 1000)
		steps := make([]tracking.Metric, 1000)
		for i := range keys {
			keys[i] = metric(fmt.Sprintf("k%04d", i), float64(i), int64(i), 0)
			steps[i] = metric("curve", float64(i)/10, 1000+int64(i), int64(i))
		}
		logBatch(t, s, id, keys, nil, nil)
		logBatch(t, s, id, steps, nil, nil)
		latest := metricMap(getRun(t, s, id).Data.Metrics)
		if len(latest) != 1001 {
			t.Errorf("run has %d metric keys, want 1001", len(latest))
		}
		if m := latest["k0999"]; m.Value != 999 {
			t.Errorf("k0999 = %v", m.Value)
		}
		if m := latest["curve"]; m.Step != 999 || m.Value != 99.9 {
			t.Errorf("latest curve = %+v", m)
		}
		h, err := s.GetMetricHistory(ctx, id, "curve", 0, 0)
		mustNoErr(t, err, "GetMetricHistory")
		if len(h) != 1000 {
			t.Fatalf("curve history has %d points", len(h))
		}
		for i, m := range h {
			if m.Step != int64(i) {
				t.Fatalf("history[%d].Step = %d", i, m.Step)
			}
		}
	})

	t.Run("EmptyBatch", func(t *testing.T) {
		id := createRun(t, s, "0", "r", 1).Info.RunID
		logBatch(t, s, id, nil, nil, nil)
		wantCode(t, s.LogBatch(ctxOf(t), missingRunID, nil, nil, []tracking.Tag{{Key: "a", Value: "b"}}), "LogBatch to a missing run",
			tracking.ErrResourceDoesNotExist)
	})

	t.Run("KeysAndValues", func(t *testing.T) {
		// Service admits keys of word characters, '.', '-', ' ', '/' and ':',
		// params up to 6000 and run tags up to 8000 characters; stores must keep
		// them exactly, multi-byte text included.
		ctx := ctxOf(t)
		expID := createExperiment(t, s, "keys")
		id := createRun(t, s, expID, "r", 1).Info.RunID
		const key = "dir/sub key:v1.2-x_y"
		longParam := strings.Repeat("é", 6000)
		longTag := strings.Repeat("z", 7999) + "€"
		logBatch(t, s, id,
			[]tracking.Metric{metric(key, 1.5, 1700000000123, 1<<40)},
			[]tracking.Param{{Key: key, Value: longParam}, {Key: "unicode", Value: "日本語 ✓"}},
			[]tracking.Tag{{Key: key, Value: longTag}})
		got := getRun(t, s, id)
		if v := paramMap(got.Data.Params)[key]; v != longParam {
			t.Errorf("long param came back with %d bytes, want %d", len(v), len(longParam))
		}
		if v := paramMap(got.Data.Params)["unicode"]; v != "日本語 ✓" {
			t.Errorf("unicode param = %q", v)
		}
		if v := tagMap(got.Data.Tags)[key]; v != longTag {
			t.Errorf("long tag came back with %d bytes, want %d", len(v), len(longTag))
		}
		if m := metricMap(got.Data.Metrics)[key]; m.Value != 1.5 || m.Timestamp != 1700000000123 || m.Step != 1<<40 {
			t.Errorf("metric = %+v", m)
		}
		h, err := s.GetMetricHistory(ctx, id, key, 0, 0)
		mustNoErr(t, err, "GetMetricHistory")
		if !samePoints(h, []point{{1.5, 1700000000123, 1 << 40}}) {
			t.Errorf("history = %v", pointsOf(h))
		}
		for _, f := range []search.Comparison{
			num(search.EntityMetric, key, search.OpEq, 1.5),
			str(search.EntityParam, "unicode", search.OpEq, "日本語 ✓"),
			str(search.EntityParam, key, search.OpLike, "é%"),
			str(search.EntityTag, key, search.OpLike, "%€"),
		} {
			rs, err := s.SearchRuns(ctx, tracking.RunQuery{ExperimentIDs: []string{expID}, Filter: search.Filter{f},
				ViewType: tracking.ViewActiveOnly, Limit: 10})
			mustNoErr(t, err, "SearchRuns")
			if len(rs) != 1 || rs[0].Info.RunID != id {
				t.Errorf("search %s %s %v found %d runs", f.Entity, f.Op, f.Value, len(rs))
			}
		}
		mustNoErr(t, s.SetExperimentTag(ctx, expID, tracking.Tag{Key: key, Value: strings.Repeat("x", 5000)}), "SetExperimentTag long")
		if v := tagMap(getExperiment(t, s, expID).Tags)[key]; len(v) != 5000 {
			t.Errorf("experiment tag came back with %d bytes", len(v))
		}
	})

	t.Run("DeleteTag", func(t *testing.T) {
		ctx := ctxOf(t)
		id := createRun(t, s, "0", "r", 1).Info.RunID
		logBatch(t, s, id, nil, nil, []tracking.Tag{{Key: "a", Value: "1"}, {Key: "b", Value: "2"}})
		mustNoErr(t, s.DeleteTag(ctx, id, "a"), "DeleteTag")
		want := map[string]string{tracking.TagRunName: "r", "b": "2"}
		if got := tagMap(getRun(t, s, id).Data.Tags); !sameStrings(got, want) {
			t.Errorf("tags = %v, want %v", got, want)
		}
		wantCode(t, s.DeleteTag(ctx, id, "a"), "deleting a missing tag", tracking.ErrResourceDoesNotExist)
		wantCode(t, s.DeleteTag(ctx, missingRunID, "a"), "deleting on a missing run", tracking.ErrResourceDoesNotExist)
		// A deleted tag can be set again.
		logBatch(t, s, id, nil, nil, []tracking.Tag{{Key: "a", Value: "again"}})
		if got := tagMap(getRun(t, s, id).Data.Tags)["a"]; got != "again" {
			t.Errorf("re-set tag a = %q", got)
		}
	})
}

func testMetricHistory(t *testing.T, newStore func(t *testing.T) tracking.Store) {
	s := newStore(t)
	ctx := ctxOf(t)
	id := createRun(t, s, "0", "r", 1).Info.RunID
	other := createRun(t, s, "0", "other", 1).Info.RunID
	logBatch(t, s, id, []tracking.Metric{
		metric("h", 3, 1, 5), metric("h", 1, 2, 1), metric("h", 2, 3, 1), metric("h", 0.5, 2, 1), metric("h", 9, 2, 0),
	}, nil, nil)
	logBatch(t, s, id, []tracking.Metric{metric("h", 4, 1, 2)}, nil, nil)
	logBatch(t, s, other, []tracking.Metric{metric("h", 100, 1, 1)}, nil, nil)
	// MLflow's SQL store orders history by timestamp, then step, then value
	// (sqlalchemy_store.get_metric_history), not by step first.
	ordered := []point{{4, 1, 2}, {3, 1, 5}, {9, 2, 0}, {0.5, 2, 1}, {1, 2, 1}, {2, 3, 1}}

	t.Run("Order", func(t *testing.T) {
		h, err := s.GetMetricHistory(ctx, id, "h", 0, 0)
		mustNoErr(t, err, "GetMetricHistory")
		if !samePoints(h, ordered) {
			t.Errorf("history = %v, want %v", pointsOf(h), ordered)
		}
	})

	t.Run("OffsetLimit", func(t *testing.T) {
		for _, tc := range []struct{ offset, limit, from, to int }{
			{0, 2, 0, 2}, {2, 2, 2, 4}, {4, 2, 4, 6}, {5, 10, 5, 6}, {6, 2, 6, 6}, {10, 1, 6, 6}, {3, 0, 3, 6}, {0, 6, 0, 6},
		} {
			h, err := s.GetMetricHistory(ctx, id, "h", tc.offset, tc.limit)
			mustNoErr(t, err, "GetMetricHistory")
			if want := ordered[tc.from:tc.to]; !samePoints(h, want) {
				t.Errorf("offset %d limit %d: got %v, want %v", tc.offset, tc.limit, pointsOf(h), want)
			}
		}
	})

	t.Run("UnknownKeyOrRun", func(t *testing.T) {
		// MLflow's SQL store answers both with an empty history, not an error.
		h, err := s.GetMetricHistory(ctx, id, "never-logged", 0, 0)
		if err != nil || len(h) != 0 {
			t.Errorf("unknown key: %v, %v; want empty, nil", pointsOf(h), err)
		}
		h, err = s.GetMetricHistory(ctx, missingRunID, "h", 0, 0)
		if err != nil || len(h) != 0 {
			t.Errorf("unknown run: %v, %v; want empty, nil", pointsOf(h), err)
		}
	})

	t.Run("DeletedRun", func(t *testing.T) {
		mustNoErr(t, s.DeleteRun(ctx, other), "DeleteRun")
		h, err := s.GetMetricHistory(ctx, other, "h", 0, 0)
		mustNoErr(t, err, "GetMetricHistory of a deleted run")
		if !samePoints(h, []point{{100, 1, 1}}) {
			t.Errorf("deleted run history = %v", pointsOf(h))
		}
	})
}
