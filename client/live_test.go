package client_test

import (
	"context"
	"errors"
	"math"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/mltrack/mltrack/client"
)

func TestExperimentsLive(t *testing.T) {
	forEachServer(t, func(t *testing.T, srv liveServer) {
		ctx := t.Context()
		c := newClient(t, srv.url)
		name := uniq("exp")
		id, err := c.CreateExperiment(ctx, client.CreateExperimentRequest{Name: name, Tags: []client.Tag{{Key: "team", Value: "a"}}})
		if err != nil {
			t.Fatalf("CreateExperiment: %v", err)
		}
		_, err = c.CreateExperiment(ctx, client.CreateExperimentRequest{Name: name})
		if !errors.Is(err, client.ErrAlreadyExists) || errors.Is(err, client.ErrInvalid) {
			t.Fatalf("duplicate CreateExperiment: got %v, want ErrAlreadyExists only", err)
		}
		var apiErr *client.APIError
		if !errors.As(err, &apiErr) || apiErr.ErrorCode != "RESOURCE_ALREADY_EXISTS" || apiErr.StatusCode != 400 || apiErr.Message == "" {
			t.Fatalf("duplicate CreateExperiment: APIError = %+v", apiErr)
		}

		exp, err := c.GetExperiment(ctx, id)
		if err != nil {
			t.Fatalf("GetExperiment: %v", err)
		}
		if exp.Name != name || exp.LifecycleStage != "active" || exp.CreationTime == 0 {
			t.Errorf("GetExperiment = %+v", exp)
		}
		if v, _ := exp.Tag("team"); v != "a" {
			t.Errorf("tag team = %q, want a", v)
		}
		byName, err := c.GetExperimentByName(ctx, name)
		if err != nil || byName.ExperimentID != id {
			t.Fatalf("GetExperimentByName = %+v, %v", byName, err)
		}
		if _, err := c.GetExperimentByName(ctx, uniq("missing")); !errors.Is(err, client.ErrNotFound) {
			t.Errorf("GetExperimentByName(missing): got %v, want ErrNotFound", err)
		}
		if _, err := c.GetExperiment(ctx, "987654321"); !errors.Is(err, client.ErrNotFound) {
			t.Errorf("GetExperiment(missing): got %v, want ErrNotFound", err)
		}

		if err := c.SetExperimentTag(ctx, id, "stage", "dev"); err != nil {
			t.Fatalf("SetExperimentTag: %v", err)
		}
		if err := c.DeleteExperimentTag(ctx, id, "team"); err != nil {
			t.Fatalf("DeleteExperimentTag: %v", err)
		}
		newName := name + "-renamed"
		if err := c.UpdateExperiment(ctx, id, newName); err != nil {
			t.Fatalf("UpdateExperiment: %v", err)
		}
		exp, err = c.GetExperiment(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := exp.Tag("team"); ok || exp.Name != newName {
			t.Errorf("after rename/tag changes: %+v", exp)
		}
		if v, _ := exp.Tag("stage"); v != "dev" {
			t.Errorf("tag stage = %q, want dev", v)
		}

		search := func(view client.ViewType) []string {
			t.Helper()
			res, err := c.SearchExperiments(ctx, client.SearchExperimentsRequest{Filter: "name = '" + newName + "'", ViewType: view, MaxResults: 10})
			if err != nil {
				t.Fatalf("SearchExperiments(%s): %v", view, err)
			}
			var ids []string
			for _, e := range res.Experiments {
				ids = append(ids, e.ExperimentID)
			}
			return ids
		}
		if got := search(""); !slices.Equal(got, []string{id}) {
			t.Errorf("search active = %v, want [%s]", got, id)
		}
		if err := c.DeleteExperiment(ctx, id); err != nil {
			t.Fatalf("DeleteExperiment: %v", err)
		}
		if got := search(client.ViewActiveOnly); len(got) != 0 {
			t.Errorf("search active after delete = %v", got)
		}
		if got := search(client.ViewDeletedOnly); !slices.Equal(got, []string{id}) {
			t.Errorf("search deleted = %v", got)
		}
		if err := c.RestoreExperiment(ctx, id); err != nil {
			t.Fatalf("RestoreExperiment: %v", err)
		}
		if got := search(client.ViewAll); !slices.Equal(got, []string{id}) {
			t.Errorf("search all after restore = %v", got)
		}

		// Paging: three experiments with a common prefix, one per page.
		prefix := uniq("page")
		for i := range 3 {
			if _, err := c.CreateExperiment(ctx, client.CreateExperimentRequest{Name: prefix + "-" + string(rune('a'+i))}); err != nil {
				t.Fatal(err)
			}
		}
		var names []string
		req := client.SearchExperimentsRequest{Filter: "name LIKE '" + prefix + "-%'", MaxResults: 1, OrderBy: []string{"name ASC"}}
		for {
			res, err := c.SearchExperiments(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range res.Experiments {
				names = append(names, e.Name)
			}
			if res.NextPageToken == "" {
				break
			}
			req.PageToken = res.NextPageToken
		}
		if want := []string{prefix + "-a", prefix + "-b", prefix + "-c"}; !slices.Equal(names, want) {
			t.Errorf("paged search = %v, want %v", names, want)
		}
	})
}

func TestRunsLive(t *testing.T) {
	forEachServer(t, func(t *testing.T, srv liveServer) {
		ctx := t.Context()
		c := newClient(t, srv.url)
		expID, err := c.CreateExperiment(ctx, client.CreateExperimentRequest{Name: uniq("runs")})
		if err != nil {
			t.Fatal(err)
		}
		run, err := c.CreateRun(ctx, client.CreateRunRequest{ExperimentID: expID, RunName: "first", Tags: []client.Tag{{Key: "k", Value: "v"}}})
		if err != nil {
			t.Fatalf("CreateRun: %v", err)
		}
		id := run.Info.RunID
		if id == "" || run.Info.Status != client.StatusRunning || run.Info.RunName != "first" || run.Info.StartTime == 0 {
			t.Fatalf("CreateRun = %+v", run.Info)
		}

		if err := c.LogParam(ctx, id, "lr", "0.1"); err != nil {
			t.Fatalf("LogParam: %v", err)
		}
		if err := c.LogParam(ctx, id, "lr", "0.2"); !errors.Is(err, client.ErrInvalid) {
			t.Errorf("changing a param: got %v, want ErrInvalid", err)
		}
		if err := c.SetTag(ctx, id, "color", "red"); err != nil {
			t.Fatalf("SetTag: %v", err)
		}
		if err := c.DeleteTag(ctx, id, "k"); err != nil {
			t.Fatalf("DeleteTag: %v", err)
		}
		if err := c.DeleteTag(ctx, id, "never-set"); !errors.Is(err, client.ErrNotFound) {
			t.Errorf("DeleteTag(missing): got %v, want ErrNotFound", err)
		}
		// Non-finite doubles travel as strings both ways.
		values := []float64{1.5, math.NaN(), math.Inf(1), math.Inf(-1)}
		for i, v := range values {
			if err := c.LogMetric(ctx, id, client.Metric{Key: "m", Value: v, Step: int64(i), Timestamp: 1000 + int64(i)}); err != nil {
				t.Fatalf("LogMetric(%v): %v", v, err)
			}
		}
		hist, err := c.GetMetricHistoryAll(ctx, id, "m", 0)
		if err != nil {
			t.Fatalf("GetMetricHistory: %v", err)
		}
		if len(hist) != len(values) {
			t.Fatalf("history has %d values, want %d", len(hist), len(values))
		}
		slices.SortFunc(hist, func(a, b client.Metric) int { return int(a.Step - b.Step) })
		for i, m := range hist {
			want := values[i]
			// MLflow's SQL store keeps ±Inf as ±MaxFloat64 and returns that.
			same := m.Value == want || (math.IsNaN(want) && math.IsNaN(m.Value)) ||
				(math.IsInf(want, 0) && math.Abs(m.Value) == math.MaxFloat64 && math.Signbit(m.Value) == math.Signbit(want))
			if !same || m.Timestamp != 1000+int64(i) {
				t.Errorf("history[%d] = %+v, want value %v ts %d", i, m, want, 1000+i)
			}
		}

		// LogBatch splits over MLflow's limits: 250 params, 150 tags, 2500 metrics.
		var ms []client.Metric
		for i := range 2500 {
			ms = append(ms, client.Metric{Key: "b", Value: float64(i), Step: int64(i), Timestamp: 5000})
		}
		var ps []client.Param
		for i := range 250 {
			ps = append(ps, client.Param{Key: "p" + itoa(i), Value: itoa(i)})
		}
		var ts []client.Tag
		for i := range 150 {
			ts = append(ts, client.Tag{Key: "t" + itoa(i), Value: itoa(i)})
		}
		if err := c.LogBatch(ctx, id, ms, ps, ts); err != nil {
			t.Fatalf("LogBatch: %v", err)
		}

		got, err := c.GetRun(ctx, id)
		if err != nil {
			t.Fatalf("GetRun: %v", err)
		}
		if v, _ := got.Param("lr"); v != "0.1" {
			t.Errorf("param lr = %q", v)
		}
		if v, _ := got.Param("p249"); v != "249" {
			t.Errorf("param p249 = %q", v)
		}
		if len(got.Data.Params) != 251 {
			t.Errorf("%d params, want 251", len(got.Data.Params))
		}
		if v, _ := got.Tag("t149"); v != "149" {
			t.Errorf("tag t149 = %q", v)
		}
		if _, ok := got.Tag("k"); ok {
			t.Errorf("deleted tag k still present")
		}
		if v, _ := got.Tag("color"); v != "red" {
			t.Errorf("tag color = %q", v)
		}
		if m, _ := got.Metric("b"); m.Step != 2499 || m.Value != 2499 {
			t.Errorf("latest b = %+v", m)
		}

		// Paged history.
		paged, err := c.GetMetricHistoryAll(ctx, id, "b", 700)
		if err != nil {
			t.Fatalf("paged history: %v", err)
		}
		if len(paged) != 2500 {
			t.Errorf("paged history: %d values, want 2500", len(paged))
		}
		steps := map[int64]bool{}
		for _, m := range paged {
			steps[m.Step] = true
		}
		if len(steps) != 2500 {
			t.Errorf("paged history: %d distinct steps, want 2500", len(steps))
		}
		page, err := c.GetMetricHistory(ctx, client.GetMetricHistoryRequest{RunID: id, MetricKey: "b", MaxResults: 100})
		if err != nil || len(page.Metrics) != 100 || page.NextPageToken == "" {
			t.Errorf("first page: %d values, token %q, err %v", len(page.Metrics), page.NextPageToken, err)
		}

		// Bulk interval across two runs.
		run2, err := c.CreateRun(ctx, client.CreateRunRequest{ExperimentID: expID})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.LogBatch(ctx, run2.Info.RunID, ms[:100], nil, nil); err != nil {
			t.Fatal(err)
		}
		start, end := int64(0), int64(99)
		bulk, err := c.GetMetricHistoryBulkInterval(ctx, client.BulkIntervalRequest{RunIDs: []string{id, run2.Info.RunID}, MetricKey: "b", StartStep: &start, EndStep: &end, MaxResults: 200})
		if err != nil {
			t.Fatalf("GetMetricHistoryBulkInterval: %v", err)
		}
		perRun := map[string]int{}
		for _, m := range bulk {
			if m.Step < 0 || m.Step > 99 || m.Key != "b" {
				t.Errorf("bulk value out of range: %+v", m)
			}
			perRun[m.RunID]++
		}
		if perRun[id] != 100 || perRun[run2.Info.RunID] != 100 {
			t.Errorf("bulk per run = %v, want 100 each", perRun)
		}
		if _, err := c.GetMetricHistoryBulkInterval(ctx, client.BulkIntervalRequest{RunIDs: []string{id}, MetricKey: "b", StartStep: &start}); !errors.Is(err, client.ErrInvalid) {
			t.Errorf("half a step range: got %v, want ErrInvalid", err)
		}

		// Update, search, delete, restore.
		info, err := c.UpdateRun(ctx, client.UpdateRunRequest{RunID: id, Status: client.StatusFinished, EndTime: time.Now().UnixMilli(), RunName: "renamed"})
		if err != nil {
			t.Fatalf("UpdateRun: %v", err)
		}
		if info.Status != client.StatusFinished || info.RunName != "renamed" || info.EndTime == 0 {
			t.Errorf("UpdateRun = %+v", info)
		}
		searchIDs := func(filter string, view client.ViewType) []string {
			t.Helper()
			res, err := c.SearchRuns(ctx, client.SearchRunsRequest{ExperimentIDs: []string{expID}, Filter: filter, RunViewType: view, OrderBy: []string{"attributes.start_time ASC"}})
			if err != nil {
				t.Fatalf("SearchRuns(%q): %v", filter, err)
			}
			var ids []string
			for _, r := range res.Runs {
				ids = append(ids, r.Info.RunID)
			}
			return ids
		}
		if got := searchIDs("params.lr = '0.1' AND attributes.status = 'FINISHED'", ""); !slices.Equal(got, []string{id}) {
			t.Errorf("search by param = %v, want [%s]", got, id)
		}
		if got := searchIDs("", ""); len(got) != 2 {
			t.Errorf("search all runs = %v, want 2", got)
		}
		if err := c.DeleteRun(ctx, id); err != nil {
			t.Fatalf("DeleteRun: %v", err)
		}
		if got := searchIDs("", client.ViewDeletedOnly); !slices.Equal(got, []string{id}) {
			t.Errorf("deleted runs = %v", got)
		}
		if err := c.SetTag(ctx, id, "x", "y"); !errors.Is(err, client.ErrInvalid) {
			t.Errorf("write to deleted run: got %v, want ErrInvalid", err)
		}
		if err := c.RestoreRun(ctx, id); err != nil {
			t.Fatalf("RestoreRun: %v", err)
		}
		if got, err := c.GetRun(ctx, id); err != nil || got.Info.LifecycleStage != "active" {
			t.Errorf("after restore: %+v, %v", got, err)
		}
		if _, err := c.GetRun(ctx, "0123456789abcdef0123456789abcdef"); !errors.Is(err, client.ErrNotFound) {
			t.Errorf("GetRun(missing): got %v, want ErrNotFound", err)
		}
	})
}

func itoa(i int) string { return strconv.Itoa(i) }

// contextFor bounds a live call so a hung server fails the test, not the run.
func contextFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}
