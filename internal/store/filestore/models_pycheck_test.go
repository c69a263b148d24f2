package filestore

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/mltrack/mltrack/internal/search"
	"github.com/mltrack/mltrack/internal/tracking"
)

// mlflowPython is a python with MLflow 3.18 installed: $FILESTORE_MLFLOW_PYTHON,
// else the repository's .venv (made by scripts/setup-venv.sh).
func mlflowPython(t *testing.T) string {
	t.Helper()
	if py := os.Getenv("FILESTORE_MLFLOW_PYTHON"); py != "" {
		return py
	}
	py, err := filepath.Abs("../../../.venv/bin/python")
	if err == nil {
		if _, err := os.Stat(py); err == nil {
			return py
		}
	}
	t.Skip("no python with mlflow: set FILESTORE_MLFLOW_PYTHON or run scripts/setup-venv.sh")
	return ""
}

// TestModelsMatchMLflow performs the same logged-model, input and output
// operations with this store and with MLflow's own FileStore
// (testdata/pycheck/models_ops.py), from copies of one folder, with the same
// ids, generated name and clock. The two folders must be equal byte for byte,
// and what this store reads back must be what MLflow reads back.
func TestModelsMatchMLflow(t *testing.T) {
	py := mlflowPython(t)
	ctx := t.Context()
	base := t.TempDir()
	ours := filepath.Join(base, "ours")
	const t0 = int64(1700000000000)
	clock, counting := t0, false
	s, err := Open(ctx, ours, Options{Now: func() time.Time {
		if !counting {
			return time.UnixMilli(t0 - 1000)
		}
		clock++
		return time.UnixMilli(clock - 1)
	}})
	must(t, err)
	defer s.Close()
	eid, err := s.CreateExperiment(ctx, tracking.NewExperiment{Name: "models"})
	must(t, err)
	run, err := s.CreateRun(ctx, tracking.NewRun{ExperimentID: eid, UserID: "u", RunName: "r", StartTime: t0 - 5,
		Tags: []tracking.Tag{{Key: tracking.TagRunName, Value: "r"}}})
	must(t, err)
	rid := run.Info.RunID
	theirs := filepath.Join(base, "theirs")
	must(t, exec.Command("cp", "-a", ours, theirs).Run())

	counting = true
	m1, err := s.CreateLoggedModel(ctx, tracking.NewLoggedModel{ExperimentID: eid, Name: "my-model", SourceRunID: rid,
		ModelType: "sklearn", Tags: []tracking.Tag{{Key: "t1", Value: "v1"}, {Key: "x/y", Value: "z"}, {Key: "t0", Value: "gone"}},
		Params: []tracking.Param{{Key: "lr", Value: "0.1"}, {Key: "a/b", Value: "c"}}})
	must(t, err)
	m2, err := s.CreateLoggedModel(ctx, tracking.NewLoggedModel{ExperimentID: eid})
	must(t, err)
	m3, err := s.CreateLoggedModel(ctx, tracking.NewLoggedModel{ExperimentID: eid, Name: "123", ModelType: "torch"})
	must(t, err)
	must(t, s.SetLoggedModelTags(ctx, m1.ID, []tracking.Tag{{Key: "t2", Value: "it's"}, {Key: "t1", Value: "new"}, {Key: "multi", Value: "a\nb"}}))
	must(t, s.DeleteLoggedModelTag(ctx, m1.ID, "t0"))
	must(t, s.DeleteLoggedModelTag(ctx, m1.ID, "x/y"))
	must(t, s.LogLoggedModelParams(ctx, m1.ID, []tracking.Param{{Key: "p2", Value: "v2"}}))
	_, err = s.FinalizeLoggedModel(ctx, m1.ID, tracking.ModelStatusReady)
	must(t, err)
	_, err = s.FinalizeLoggedModel(ctx, m3.ID, tracking.ModelStatusUploadFailed)
	must(t, err)
	must(t, s.LogBatch(ctx, rid, []tracking.Metric{
		{Key: "acc", Value: 0.5, Timestamp: 1000, Step: 0, ModelID: m1.ID},
		{Key: "acc", Value: 0.7, Timestamp: 1001, Step: 1, ModelID: m1.ID, DatasetName: "ds", DatasetDigest: "abc"},
		{Key: "acc", Value: 0.25, Timestamp: 1002, Step: 2, ModelID: m1.ID, DatasetName: "other", DatasetDigest: "d1"},
		{Key: "loss", Value: math.NaN(), Timestamp: 1002, Step: 2, ModelID: m1.ID},
		{Key: "loss", Value: 1e-7, Timestamp: 1003, Step: 1, ModelID: m3.ID},
		{Key: "plain", Value: 1, Timestamp: 1004, Step: 0},
	}, nil, nil))
	must(t, s.LogOutputs(ctx, rid, []tracking.ModelOutput{{ModelID: m1.ID, Step: 3}}))
	schema := `{"mlflow_colspec": [{"type": "double", "name": "a", "required": true}]}`
	must(t, s.LogInputs(ctx, rid, []tracking.DatasetInput{
		{Dataset: tracking.Dataset{Name: "mydata", Digest: "c42e9dfe", SourceType: "s3", Source: `{"uri": "s3://bucket/d.csv"}`,
			Schema: schema, Profile: `{"num_rows": 2, "num_elements": 2}`},
			Tags: []tracking.Tag{{Key: "mlflow.data.context", Value: "training"}}},
		{Dataset: tracking.Dataset{Name: "np", Digest: "8be7b4a3", SourceType: "code", Source: `{"tags": {"mlflow.user": "root"}}`},
			Tags: []tracking.Tag{{Key: "k", Value: "v"}, {Key: "mlflow.data.context", Value: "eval"}}},
		{Dataset: tracking.Dataset{Name: "mydata", Digest: "c42e9dfe", SourceType: "s3", Source: "ignored: logged already"},
			Tags: []tracking.Tag{{Key: "x", Value: "y"}}},
	}, []tracking.ModelInput{{ModelID: m2.ID}}))
	must(t, s.DeleteLoggedModel(ctx, m2.ID))

	cmd := exec.CommandContext(ctx, py, "testdata/pycheck/models_ops.py", theirs, eid, rid, m1.ID, m2.ID, m3.ID,
		m2.Name, strconv.FormatInt(t0, 10))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("models_ops.py: %v", err)
	}
	compareTrees(t, theirs, ours)

	var want map[string]any
	must(t, json.Unmarshal(out, &want))
	got := map[string]any{}
	var models []any
	for _, id := range []string{m1.ID, m3.ID} {
		m, err := s.GetLoggedModel(ctx, id, false)
		must(t, err)
		models = append(models, modelForPy(m))
	}
	got["models"] = models
	str := func(v string) search.Value { return search.Value{Kind: search.ValueString, Str: v} }
	searches := map[string]any{}
	for name, q := range map[string]tracking.LoggedModelQuery{
		"all":     {},
		"by_name": {OrderBy: []tracking.LoggedModelOrder{{Field: "name", Ascending: true}}},
		"acc_gt": {Filter: search.Filter{{Entity: search.EntityMetric, Key: "acc", Op: search.OpGt,
			Value: search.Value{Kind: search.ValueNumber, Num: 0.1}}}},
		"on_ds":      {Datasets: []tracking.DatasetRef{{Name: "ds"}}},
		"tag_eq":     {Filter: search.Filter{{Entity: search.EntityTag, Key: "t1", Op: search.OpEq, Value: str("new")}}},
		"param_like": {Filter: search.Filter{{Entity: search.EntityParam, Key: "lr", Op: search.OpLike, Value: str("0.%")}}},
		"acc_asc":    {OrderBy: []tracking.LoggedModelOrder{{Field: "metrics.acc", Ascending: true}}},
		"type_ne":    {Filter: search.Filter{{Entity: search.EntityAttribute, Key: "model_type", Op: search.OpNe, Value: str("sklearn")}}},
	} {
		q.ExperimentIDs = []string{eid}
		ms, err := s.SearchLoggedModels(ctx, q)
		must(t, err)
		ids := []any{}
		for _, m := range ms {
			ids = append(ids, m.ID)
		}
		searches[name] = ids
	}
	got["searches"] = searches
	ds, err := s.SearchDatasets(ctx, []string{eid})
	must(t, err)
	var dsl [][]any
	for _, d := range ds {
		dsl = append(dsl, []any{d.ExperimentID, d.Name, d.Digest, nilIfEmpty(d.Context)})
	}
	got["datasets"] = sortedRows(dsl)
	r, err := s.GetRun(ctx, rid)
	must(t, err)
	var inputs [][]any
	for _, in := range r.Inputs.DatasetInputs {
		var tags [][]any
		for _, tg := range in.Tags {
			tags = append(tags, []any{tg.Key, tg.Value})
		}
		d := in.Dataset
		inputs = append(inputs, []any{d.Name, d.Digest, d.Source, nilIfEmpty(d.Schema), nilIfEmpty(d.Profile), sortedRows(tags)})
	}
	got["inputs"] = sortedRows(inputs)
	var mins, mouts []any
	for _, m := range r.Inputs.ModelInputs {
		mins = append(mins, m.ModelID)
	}
	for _, m := range r.Outputs.ModelOutputs {
		mouts = append(mouts, []any{m.ModelID, float64(m.Step)})
	}
	got["model_inputs"], got["model_outputs"] = mins, mouts
	for k := range want {
		sameJSON(t, k, want[k], got[k])
	}
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func sortedRows[T any](rows []T) []T {
	sort.Slice(rows, func(i, j int) bool {
		a, _ := json.Marshal(rows[i])
		b, _ := json.Marshal(rows[j])
		return string(a) < string(b)
	})
	return rows
}

// modelForPy renders a model as models_ops.py prints one.
func modelForPy(m *tracking.LoggedModel) map[string]any {
	tags, params := map[string]any{}, map[string]any{}
	for _, tg := range m.Tags {
		tags[tg.Key] = tg.Value
	}
	for _, p := range m.Params {
		params[p.Key] = p.Value
	}
	var metrics [][]any
	for _, p := range m.Metrics {
		metrics = append(metrics, []any{p.Key, formatPythonFloat(p.Value), float64(p.Timestamp), float64(p.Step),
			p.RunID, nilIfEmpty(p.DatasetName), nilIfEmpty(p.DatasetDigest)})
	}
	return map[string]any{
		"model_id": m.ID, "name": m.Name, "experiment_id": m.ExperimentID, "artifact_location": m.ArtifactURI,
		"creation_timestamp": float64(m.CreationTime), "last_updated_timestamp": float64(m.LastUpdatedTime),
		"model_type": m.ModelType, "source_run_id": m.SourceRunID, "status": float64(m.Status),
		"status_message": nilIfEmpty(m.StatusMessage), "tags": tags, "params": params, "metrics": sortedRows(metrics),
	}
}

// compareTrees fails on any file or folder that is in one tree and not the
// other, and on any file whose bytes differ.
func compareTrees(t *testing.T, want, got string) {
	t.Helper()
	list := func(root string) map[string][]byte {
		out := map[string][]byte{}
		err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(root, path)
			if d.IsDir() {
				out[rel+"/"] = nil
				return nil
			}
			b, err := os.ReadFile(path)
			out[rel] = b
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	w, g := list(want), list(got)
	var paths []string
	for p := range w {
		paths = append(paths, p)
	}
	for p := range g {
		if _, ok := w[p]; !ok {
			paths = append(paths, p)
		}
	}
	sort.Strings(paths)
	for _, p := range paths {
		wb, inW := w[p]
		gb, inG := g[p]
		switch {
		case !inG:
			t.Errorf("MLflow wrote %s, this store did not", p)
		case !inW:
			t.Errorf("this store wrote %s, MLflow did not", p)
		case !bytes.Equal(wb, gb):
			t.Errorf("%s differs:\nMLflow:\n%s\nours:\n%s", p, wb, gb)
		}
	}
}
