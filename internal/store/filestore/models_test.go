package filestore

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/mltrack/mltrack/internal/search"
	"github.com/mltrack/mltrack/internal/tracking"
)

// The fixture testdata/mlruns-models was written by the real MLflow 3.18
// Python client on its file store (testdata/pycheck/models_fixture.py).
const (
	fxExp     = "417817524359319313"
	fxRun     = "3dea46060344455986368f78b53df9e5"
	fxModel   = "m-824d2e5e7e6446bab12635ffacaa54b2"
	fxUnnamed = "m-372d277c6f8040daa5f8be95f49b8448"
	fxDeleted = "m-0d480420350143c29ba4f10346b55afb"
)

func TestReadMLflowModels(t *testing.T) {
	ctx := t.Context()
	s := openT(t, copyTree(t, "testdata/mlruns-models"))
	m, err := s.GetLoggedModel(ctx, fxModel, false)
	must(t, err)
	if m.Name != "my-model" || m.ExperimentID != fxExp || m.Status != tracking.ModelStatusReady ||
		m.ModelType != "sklearn" || m.SourceRunID != fxRun || m.LifecycleStage != tracking.LifecycleActive ||
		!strings.HasSuffix(m.ArtifactURI, "/models/"+fxModel+"/artifacts") || m.LastUpdatedTime <= m.CreationTime {
		t.Errorf("model = %+v", m)
	}
	if got := tagsString(m.Tags); got != "t1=new,t2=it's" {
		t.Errorf("tags = %s", got)
	}
	params := make([]tracking.Tag, len(m.Params))
	for i, p := range m.Params {
		params[i] = tracking.Tag(p)
	}
	if got := tagsString(params); got != "a/b=c,lr=0.1,p2=v2" {
		t.Errorf("params = %s", got)
	}
	// One latest point per key and dataset, as MLflow's FileStore reports them.
	var pts []string
	for _, p := range m.Metrics {
		pts = append(pts, strings.Join([]string{p.Key, formatPythonFloat(p.Value), strconv.FormatInt(p.Step, 10),
			p.RunID, p.ModelID, p.DatasetName, p.DatasetDigest}, " "))
	}
	want := []string{
		"acc 0.5 0 " + fxRun + " " + fxModel + "  ",
		"acc 0.7 1 " + fxRun + " " + fxModel + " ds abc",
		"loss nan 2 " + fxRun + " " + fxModel + "  ",
	}
	if strings.Join(pts, "\n") != strings.Join(want, "\n") {
		t.Errorf("metrics:\n%s\nwant\n%s", strings.Join(pts, "\n"), strings.Join(want, "\n"))
	}
	// The Python client leaves absent fields null; they read as empty.
	u, err := s.GetLoggedModel(ctx, fxUnnamed, false)
	must(t, err)
	if u.Name == "" || u.ModelType != "" || u.SourceRunID != "" || u.Status != tracking.ModelStatusPending {
		t.Errorf("unnamed model = %+v", u)
	}
	if _, err := s.GetLoggedModel(ctx, fxDeleted, false); !tracking.IsNotFound(err) {
		t.Errorf("deleted model: %v", err)
	}
	found, err := s.SearchLoggedModels(ctx, tracking.LoggedModelQuery{ExperimentIDs: []string{fxExp}})
	must(t, err)
	if len(found) != 2 {
		t.Errorf("search found %d models, want 2", len(found))
	}
	// models/ is not a run, and the run's links read back.
	runs, err := s.SearchRuns(ctx, tracking.RunQuery{ExperimentIDs: []string{fxExp}, ViewType: tracking.ViewAll})
	must(t, err)
	if len(runs) != 2 {
		t.Errorf("runs = %d, want 2", len(runs))
	}
	r, err := s.GetRun(ctx, fxRun)
	must(t, err)
	if len(r.Inputs.ModelInputs) != 1 || r.Inputs.ModelInputs[0].ModelID != fxUnnamed ||
		len(r.Outputs.ModelOutputs) != 1 || r.Outputs.ModelOutputs[0] != (tracking.ModelOutput{ModelID: fxModel, Step: 3}) {
		t.Errorf("run links = %+v %+v", r.Inputs, r.Outputs)
	}
	ds, err := s.SearchDatasets(ctx, []string{fxExp})
	must(t, err)
	if len(ds) != 2 || ds[0].Name != "mydata" || ds[0].Context != "training" || ds[1].Name != "np" || ds[1].Context != "eval" {
		t.Errorf("datasets = %+v", ds)
	}
}

func tagsString(tags []tracking.Tag) string {
	parts := make([]string, len(tags))
	for i, t := range tags {
		parts[i] = t.Key + "=" + t.Value
	}
	return strings.Join(parts, ",")
}

// TestModelMetaRoundTrip re-renders every model meta.yaml MLflow wrote (with
// nulls, and without lifecycle_stage after finalize): the bytes must not change.
func TestModelMetaRoundTrip(t *testing.T) {
	paths, _ := filepath.Glob("testdata/mlruns-models/*/models/*/meta.yaml")
	if len(paths) != 3 {
		t.Fatalf("fixture has %d model meta.yaml files, want 3", len(paths))
	}
	for _, path := range paths {
		raw, err := os.ReadFile(path)
		must(t, err)
		m, err := readYAMLMap(path)
		must(t, err)
		if got := modelYAML(parseModelMeta(m)); !bytes.Equal(got, raw) {
			t.Errorf("%s:\n got %q\nwant %q", path, got, raw)
		}
	}
}

func TestModelMetricLine(t *testing.T) {
	for _, tc := range []struct {
		m    tracking.Metric
		line string
	}{
		{tracking.Metric{Key: "k", Value: 0.5, Timestamp: 10, Step: 2, RunID: "r", ModelID: "m"}, "10 0.5 2 r\n"},
		{tracking.Metric{Key: "k", Value: math.Inf(-1), Timestamp: 10, Step: -1, RunID: "r", ModelID: "m",
			DatasetName: "ds", DatasetDigest: "abc"}, "10 -inf -1 r ds abc\n"},
		{tracking.Metric{Key: "k", Value: 1e20, Timestamp: 0, Step: 0, RunID: "r", ModelID: "m"}, "0 1e+20 0 r\n"},
	} {
		if got := modelMetricLine(tc.m); got != tc.line {
			t.Errorf("modelMetricLine(%+v) = %q, want %q", tc.m, got, tc.line)
		}
		back, err := parseModelMetricLine("m", "k", tc.line)
		if err != nil || back != tc.m {
			t.Errorf("parseModelMetricLine(%q) = %+v, %v; want %+v", tc.line, back, err, tc.m)
		}
	}
	// MLflow reads model metric lines of 4 or 6 fields only.
	for _, bad := range []string{"1 2 3", "1 2 3 r ds", "1 x 3 r", "1 2 3 r a b c"} {
		if _, err := parseModelMetricLine("m", "k", bad); err == nil {
			t.Errorf("parseModelMetricLine(%q) gave no error", bad)
		}
	}
}

func newModelStore(t *testing.T) (*Store, string) {
	t.Helper()
	s := openT(t, filepath.Join(t.TempDir(), "mlruns"))
	eid, err := s.CreateExperiment(t.Context(), tracking.NewExperiment{Name: "e"})
	must(t, err)
	return s, eid
}

// TestModelIDsAreNotPaths: ids name folders, so anything but one plain path
// element is refused before it reaches the disk.
func TestModelIDsAreNotPaths(t *testing.T) {
	ctx := t.Context()
	s, eid := newModelStore(t)
	m, err := s.CreateLoggedModel(ctx, tracking.NewLoggedModel{ExperimentID: eid, Name: "m"})
	must(t, err)
	run, err := s.CreateRun(ctx, tracking.NewRun{ExperimentID: eid, RunName: "r"})
	must(t, err)
	for _, id := range []string{"", ".", "..", "../" + eid, "models/" + m.ID, m.ID + "/", m.ID + " ", m.ID + ".", "a\\b"} {
		if _, err := s.GetLoggedModel(ctx, id, false); !tracking.IsNotFound(err) {
			t.Errorf("GetLoggedModel(%q) = %v, want not found", id, err)
		}
		if err := s.LogOutputs(ctx, run.Info.RunID, []tracking.ModelOutput{{ModelID: id}}); tracking.Code(err) != tracking.ErrInvalidParameterValue {
			t.Errorf("LogOutputs(%q) = %v, want INVALID_PARAMETER_VALUE", id, err)
		}
	}
	err = s.LogOutputs(ctx, run.Info.RunID, []tracking.ModelOutput{{ModelID: ".."}})
	if want := `Invalid value ".." for parameter 'model_id' supplied: must be a single path component`; err == nil ||
		!strings.HasSuffix(err.Error(), want) {
		t.Errorf("message = %v, want %q", err, want)
	}
	for _, key := range []string{"../x", "a/../../b", "/abs"} {
		if err := s.SetLoggedModelTags(ctx, m.ID, []tracking.Tag{{Key: key, Value: "v"}}); tracking.Code(err) != tracking.ErrInvalidParameterValue {
			t.Errorf("SetLoggedModelTags(%q) = %v", key, err)
		}
		if err := s.LogLoggedModelParams(ctx, m.ID, []tracking.Param{{Key: key, Value: "v"}}); tracking.Code(err) != tracking.ErrInvalidParameterValue {
			t.Errorf("LogLoggedModelParams(%q) = %v", key, err)
		}
	}
}

func TestDeletedModelRefusesWrites(t *testing.T) {
	ctx := t.Context()
	s, eid := newModelStore(t)
	m, err := s.CreateLoggedModel(ctx, tracking.NewLoggedModel{ExperimentID: eid, Name: "m", Tags: []tracking.Tag{{Key: "k", Value: "v"}}})
	must(t, err)
	must(t, s.DeleteLoggedModel(ctx, m.ID))
	// MLflow's FileStore looks deleted models up as missing for every write.
	for name, err := range map[string]error{
		"delete":   s.DeleteLoggedModel(ctx, m.ID),
		"set tags": s.SetLoggedModelTags(ctx, m.ID, []tracking.Tag{{Key: "a", Value: "b"}}),
		"del tag":  s.DeleteLoggedModelTag(ctx, m.ID, "k"),
		"params":   s.LogLoggedModelParams(ctx, m.ID, []tracking.Param{{Key: "a", Value: "b"}}),
	} {
		if !tracking.IsNotFound(err) {
			t.Errorf("%s on a deleted model: %v", name, err)
		}
	}
	if _, err := s.FinalizeLoggedModel(ctx, m.ID, tracking.ModelStatusReady); !tracking.IsNotFound(err) {
		t.Errorf("finalize on a deleted model: %v", err)
	}
	raw, err := os.ReadFile(filepath.Join(s.root, eid, modelsDir, m.ID, metaFile))
	must(t, err)
	if !strings.Contains(string(raw), "lifecycle_stage: deleted\n") {
		t.Errorf("meta.yaml after delete:\n%s", raw)
	}
}

func TestModelErrorMessages(t *testing.T) {
	ctx := t.Context()
	s, eid := newModelStore(t)
	m, err := s.CreateLoggedModel(ctx, tracking.NewLoggedModel{ExperimentID: eid, Name: "m"})
	must(t, err)
	for _, tc := range []struct {
		err  error
		code tracking.ErrorCode
		msg  string
	}{
		{func() error { _, err := s.GetLoggedModel(ctx, "m-x", false); return err }(), tracking.ErrResourceDoesNotExist,
			"Logged model with ID 'm-x' not found."},
		{s.DeleteLoggedModelTag(ctx, m.ID, "nope"), tracking.ErrResourceDoesNotExist,
			"No tag with key 'nope' found for model with ID '" + m.ID + "'."},
		{func() error {
			_, err := s.CreateLoggedModel(ctx, tracking.NewLoggedModel{ExperimentID: "12345", Name: "x"})
			return err
		}(), tracking.ErrResourceDoesNotExist, "No Experiment with id=12345 exists"},
	} {
		var e *tracking.Error
		if tracking.Code(tc.err) != tc.code || !asError(tc.err, &e) || e.Message != tc.msg {
			t.Errorf("got %v, want %s: %s", tc.err, tc.code, tc.msg)
		}
	}
}

func asError(err error, target **tracking.Error) bool {
	e, ok := err.(*tracking.Error)
	if ok {
		*target = e
	}
	return ok
}

// TestModelMetricsFollowTheModel: a run of one experiment may log metrics for
// a model of another; they land in the model's own folder. Points for a model
// that does not exist leave no folder behind.
func TestModelMetricsFollowTheModel(t *testing.T) {
	ctx := t.Context()
	s, eid := newModelStore(t)
	other, err := s.CreateExperiment(ctx, tracking.NewExperiment{Name: "other"})
	must(t, err)
	m, err := s.CreateLoggedModel(ctx, tracking.NewLoggedModel{ExperimentID: eid, Name: "m"})
	must(t, err)
	run, err := s.CreateRun(ctx, tracking.NewRun{ExperimentID: other, RunName: "eval"})
	must(t, err)
	ghost := "m-00000000000000000000000000000000"
	must(t, s.LogBatch(ctx, run.Info.RunID, []tracking.Metric{
		{Key: "acc", Value: 0.5, Timestamp: 1, Step: 0, ModelID: m.ID},
		{Key: "acc", Value: 0.5, Timestamp: 1, Step: 0, ModelID: m.ID}, // MLflow appends repeats too
		{Key: "acc", Value: 0.9, Timestamp: 2, Step: 0, ModelID: ghost},
	}, nil, nil))
	raw, err := os.ReadFile(filepath.Join(s.root, eid, modelsDir, m.ID, metricsDir, "acc"))
	must(t, err)
	if want := strings.Repeat("1 0.5 0 "+run.Info.RunID+"\n", 2); string(raw) != want {
		t.Errorf("model metric file = %q, want %q", raw, want)
	}
	if _, err := os.Stat(filepath.Join(s.root, other, modelsDir)); !os.IsNotExist(err) {
		t.Errorf("a models folder was made in the run's experiment: %v", err)
	}
	got, err := s.GetLoggedModel(ctx, m.ID, false)
	must(t, err)
	if len(got.Metrics) != 1 || got.Metrics[0].RunID != run.Info.RunID {
		t.Errorf("metrics = %+v", got.Metrics)
	}

	// mlflow.log_model links the run's earlier points to the new model by
	// logging them again with its id: the run keeps one copy, the model gets one.
	must(t, s.LogBatch(ctx, run.Info.RunID, []tracking.Metric{{Key: "loss", Value: 0.25, Timestamp: 7, Step: 3}}, nil, nil))
	must(t, s.LogBatch(ctx, run.Info.RunID, []tracking.Metric{{Key: "loss", Value: 0.25, Timestamp: 7, Step: 3, ModelID: m.ID}}, nil, nil))
	h, err := s.GetMetricHistory(ctx, run.Info.RunID, "loss", 0, 0)
	must(t, err)
	if len(h) != 1 {
		t.Errorf("run history = %+v, want one point", h)
	}
	got, err = s.GetLoggedModel(ctx, m.ID, false)
	must(t, err)
	if len(got.Metrics) != 2 || got.Metrics[1].Key != "loss" || got.Metrics[1].Value != 0.25 || got.Metrics[1].Step != 3 {
		t.Errorf("model metrics after linking = %+v", got.Metrics)
	}
}

// TestModelsInReloadedAndTrashedExperiments: the index never takes models/
// for a run, a reopened store finds models, and a model stays readable while
// its experiment is in .trash (MLflow looks there too).
func TestModelsInReloadedAndTrashedExperiments(t *testing.T) {
	ctx := t.Context()
	root := filepath.Join(t.TempDir(), "mlruns")
	s, err := Open(ctx, root, Options{})
	must(t, err)
	eid, err := s.CreateExperiment(ctx, tracking.NewExperiment{Name: "e"})
	must(t, err)
	m, err := s.CreateLoggedModel(ctx, tracking.NewLoggedModel{ExperimentID: eid, Name: "m"})
	must(t, err)
	_, err = s.CreateRun(ctx, tracking.NewRun{ExperimentID: eid, RunName: "r"})
	must(t, err)
	s.Close()

	s2 := openT(t, root)
	runs, err := s2.SearchRuns(ctx, tracking.RunQuery{ExperimentIDs: []string{eid}, ViewType: tracking.ViewAll})
	must(t, err)
	if len(runs) != 1 {
		t.Errorf("runs after reopen = %d, want 1", len(runs))
	}
	if _, err := s2.GetLoggedModel(ctx, m.ID, false); err != nil {
		t.Errorf("model after reopen: %v", err)
	}
	must(t, s2.DeleteExperiment(ctx, eid))
	if got, err := s2.GetLoggedModel(ctx, m.ID, false); err != nil || got.ExperimentID != eid {
		t.Errorf("model of a trashed experiment = %+v, %v", got, err)
	}
	found, err := s2.SearchLoggedModels(ctx, tracking.LoggedModelQuery{ExperimentIDs: []string{eid}})
	must(t, err)
	if len(found) != 1 {
		t.Errorf("search in a trashed experiment found %d", len(found))
	}
	if _, err := s2.CreateLoggedModel(ctx, tracking.NewLoggedModel{ExperimentID: eid, Name: "late"}); tracking.Code(err) != tracking.ErrInvalidParameterValue {
		t.Errorf("create in a deleted experiment: %v", err)
	}
}

// TestModelWrittenByAnotherProcess: models are read from disk, so one written
// behind the store's back is visible at once.
func TestModelWrittenByAnotherProcess(t *testing.T) {
	ctx := t.Context()
	s, eid := newModelStore(t)
	id := "m-" + strings.Repeat("ab", 16)
	must(t, writeLoggedModel(filepath.Join(s.root, eid, modelsDir, id), tracking.LoggedModel{
		ID: id, ExperimentID: eid, Name: "outside", CreationTime: 5, LastUpdatedTime: 5, Status: tracking.ModelStatusReady,
		Tags:    []tracking.Tag{{Key: "a/b", Value: "c"}},
		Metrics: []tracking.Metric{{Key: "loss", Value: 0.1, Timestamp: 9, Step: 1, RunID: "r1"}},
	}))
	// Another process is halfway through appending a point.
	must(t, appendFile(filepath.Join(s.root, eid, modelsDir, id, metricsDir, "loss"), []byte("10 0.05 2 r")))
	got, err := s.GetLoggedModel(ctx, id, false)
	must(t, err)
	if got.Name != "outside" || tagsString(got.Tags) != "a/b=c" || len(got.Metrics) != 1 || got.Metrics[0].RunID != "r1" ||
		got.Metrics[0].Value != 0.1 {
		t.Errorf("model = %+v", got)
	}
	must(t, appendFile(filepath.Join(s.root, eid, modelsDir, id, metricsDir, "loss"), []byte("2\n")))
	if got, err = s.GetLoggedModel(ctx, id, false); err != nil || len(got.Metrics) != 1 || got.Metrics[0].Value != 0.05 ||
		got.Metrics[0].RunID != "r2" {
		t.Errorf("after the append completed: %+v, %v", got, err)
	}
	pts, err := readModelMetricPoints(filepath.Join(s.root, eid, modelsDir, id), id)
	if err != nil || len(pts) != 2 {
		t.Errorf("all points = %+v, %v", pts, err)
	}
	// A model folder that records another experiment is not trusted.
	bad := "m-" + strings.Repeat("cd", 16)
	must(t, writeLoggedModel(filepath.Join(s.root, eid, modelsDir, bad), tracking.LoggedModel{ID: bad, ExperimentID: "0", Name: "x"}))
	if _, err := s.GetLoggedModel(ctx, bad, false); tracking.Code(err) != tracking.ErrInvalidState {
		t.Errorf("mismatched experiment: %v", err)
	}
	found, err := s.SearchLoggedModels(ctx, tracking.LoggedModelQuery{ExperimentIDs: []string{eid}})
	must(t, err)
	if len(found) != 1 || found[0].ID != id {
		t.Errorf("search = %v", found)
	}
}

func TestSearchLoggedModelsErrors(t *testing.T) {
	ctx := t.Context()
	s, eid := newModelStore(t)
	str := func(e search.Entity, k string, op search.Op, v string) search.Comparison {
		return search.Comparison{Entity: e, Key: k, Op: op, Value: search.Value{Kind: search.ValueString, Str: v}}
	}
	for _, tc := range []struct {
		name   string
		filter search.Filter
		order  []tracking.LoggedModelOrder
		msg    string
	}{
		{"unknown status", search.Filter{str(search.EntityAttribute, "status", search.OpEq, "DONE")}, nil,
			"Unknown model status in filter: 'DONE'"},
		{"unknown status in a list", search.Filter{{Entity: search.EntityAttribute, Key: "status", Op: search.OpIn,
			Value: search.Value{Kind: search.ValueList, List: []string{"READY", "DONE"}}}}, nil,
			"Unknown model status in filter: ('READY', 'DONE')"},
		{"status LIKE", search.Filter{str(search.EntityAttribute, "status", search.OpLike, "R%")}, nil,
			"Invalid comparison operator for status: LIKE"},
		{"unknown attribute", search.Filter{str(search.EntityAttribute, "colour", search.OpEq, "red")}, nil,
			"Invalid logged model search key 'colour'"},
		{"order by a param", nil, []tracking.LoggedModelOrder{{Field: "params.lr"}},
			"Invalid order by field name: params.lr. Only metrics are supported."},
		{"order by nonsense", nil, []tracking.LoggedModelOrder{{Field: "colour"}}, "Invalid order by field name: colour"},
	} {
		_, err := s.SearchLoggedModels(ctx, tracking.LoggedModelQuery{ExperimentIDs: []string{eid}, Filter: tc.filter, OrderBy: tc.order})
		var e *tracking.Error
		if !asError(err, &e) || e.Code != tracking.ErrInvalidParameterValue || e.Message != tc.msg {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.msg)
		}
	}
}

// TestSearchLoggedModelsNaN: a NaN metric matches no comparison and sorts
// after every number, before models without the metric.
func TestSearchLoggedModelsNaN(t *testing.T) {
	ctx := t.Context()
	s, eid := newModelStore(t)
	run, err := s.CreateRun(ctx, tracking.NewRun{ExperimentID: eid, RunName: "r"})
	must(t, err)
	ids := map[string]string{}
	for _, n := range []string{"nan", "one", "none", "two"} {
		m, err := s.CreateLoggedModel(ctx, tracking.NewLoggedModel{ExperimentID: eid, Name: n})
		must(t, err)
		ids[n] = m.ID
	}
	must(t, s.LogBatch(ctx, run.Info.RunID, []tracking.Metric{
		{Key: "x", Value: math.NaN(), Timestamp: 1, ModelID: ids["nan"]},
		{Key: "x", Value: 1, Timestamp: 1, ModelID: ids["one"]},
		{Key: "x", Value: 2, Timestamp: 1, ModelID: ids["two"]},
	}, nil, nil))
	names := func(q tracking.LoggedModelQuery) string {
		q.ExperimentIDs = []string{eid}
		ms, err := s.SearchLoggedModels(ctx, q)
		must(t, err)
		var out []string
		for _, m := range ms {
			out = append(out, m.Name)
		}
		return strings.Join(out, ",")
	}
	if got := names(tracking.LoggedModelQuery{OrderBy: []tracking.LoggedModelOrder{{Field: "metrics.x", Ascending: true}}}); got != "one,two,nan,none" {
		t.Errorf("ascending = %s", got)
	}
	if got := names(tracking.LoggedModelQuery{OrderBy: []tracking.LoggedModelOrder{{Field: "metrics.x"}}}); got != "two,one,nan,none" {
		t.Errorf("descending = %s", got)
	}
	gt := search.Filter{{Entity: search.EntityMetric, Key: "x", Op: search.OpGe, Value: search.Value{Kind: search.ValueNumber, Num: 0}}}
	if got := names(tracking.LoggedModelQuery{Filter: gt, OrderBy: []tracking.LoggedModelOrder{{Field: "name", Ascending: true}}}); got != "one,two" {
		t.Errorf("x >= 0 = %s", got)
	}
}

// TestSearchDatasetsLimit checks the cut with a small limit: a thousand
// real inputs would take seconds of mkdir and fsync.
func TestSearchDatasetsLimit(t *testing.T) {
	ctx := t.Context()
	s, eid := newModelStore(t)
	other, err := s.CreateExperiment(ctx, tracking.NewExperiment{Name: "other"})
	must(t, err)
	for _, e := range []string{eid, other} {
		run, err := s.CreateRun(ctx, tracking.NewRun{ExperimentID: e, RunName: "r"})
		must(t, err)
		var ds []tracking.DatasetInput
		for _, n := range []string{"b", "a", "c"} {
			ds = append(ds, tracking.DatasetInput{Dataset: tracking.Dataset{Name: n, Digest: "x", SourceType: "local", Source: "{}"}})
		}
		must(t, s.LogInputs(ctx, run.Info.RunID, ds, nil))
	}
	for _, tc := range []struct {
		limit int
		want  string
	}{
		{10, eid + ":a," + eid + ":b," + eid + ":c," + other + ":a," + other + ":b," + other + ":c"},
		{4, eid + ":a," + eid + ":b," + eid + ":c," + other + ":a"},
		{2, eid + ":a," + eid + ":b"},
	} {
		var got []string
		for _, d := range s.searchDatasets([]string{eid, "404", eid, other}, tc.limit) {
			got = append(got, d.ExperimentID+":"+d.Name)
		}
		if strings.Join(got, ",") != tc.want {
			t.Errorf("limit %d: %v, want %s", tc.limit, got, tc.want)
		}
	}
}

// TestDatasetMetricStepSurvivesReload: a run metric point logged against a
// dataset is written with its step ("<ts> <value> <step> <name> <digest>");
// the index must read the step back, or the latest value would change when
// the watcher reloads the run. (MLflow's own reader drops that step.)
func TestDatasetMetricStepSurvivesReload(t *testing.T) {
	ctx := t.Context()
	s, eid := newModelStore(t)
	run, err := s.CreateRun(ctx, tracking.NewRun{ExperimentID: eid, RunName: "r"})
	must(t, err)
	must(t, s.LogBatch(ctx, run.Info.RunID, []tracking.Metric{
		{Key: "acc", Value: 0.75, Timestamp: 1000, Step: 2, DatasetName: "val", DatasetDigest: "d1"},
		{Key: "acc", Value: 0.5, Timestamp: 1002, Step: 0},
	}, nil, nil))
	for _, when := range []string{"before reload", "after reload"} {
		r, err := s.GetRun(ctx, run.Info.RunID)
		must(t, err)
		if len(r.Data.Metrics) != 1 || r.Data.Metrics[0].Value != 0.75 || r.Data.Metrics[0].Step != 2 {
			t.Errorf("%s: latest = %+v, want 0.75 at step 2", when, r.Data.Metrics)
		}
		s.reload(eid, run.Info.RunID)
	}
}

// BenchmarkSearchLoggedModels measures a search that reads every model
// folder of an experiment (models are not indexed).
func BenchmarkSearchLoggedModels(b *testing.B) {
	ctx := b.Context()
	s, err := Open(ctx, filepath.Join(b.TempDir(), "mlruns"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	eid, err := s.CreateExperiment(ctx, tracking.NewExperiment{Name: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	e := s.exps[eid]
	for i := range 500 {
		id, _ := newModelID()
		err := writeLoggedModel(s.modelDir(e, id), tracking.LoggedModel{
			ID: id, ExperimentID: eid, Name: "m" + strconv.Itoa(i), CreationTime: int64(i), LastUpdatedTime: int64(i),
			Params:  []tracking.Param{{Key: "lr", Value: "0.1"}, {Key: "depth", Value: strconv.Itoa(i % 7)}},
			Tags:    []tracking.Tag{{Key: "team", Value: "a"}},
			Metrics: []tracking.Metric{{Key: "acc", Value: float64(i) / 500, Timestamp: 1, RunID: "r"}},
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	q := tracking.LoggedModelQuery{ExperimentIDs: []string{eid}, Limit: 100,
		Filter:  search.Filter{{Entity: search.EntityMetric, Key: "acc", Op: search.OpGt, Value: search.Value{Kind: search.ValueNumber, Num: 0.5}}},
		OrderBy: []tracking.LoggedModelOrder{{Field: "metrics.acc"}}}
	for b.Loop() {
		if _, err := s.SearchLoggedModels(ctx, q); err != nil {
			b.Fatal(err)
		}
	}
}
