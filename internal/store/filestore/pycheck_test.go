package filestore

import (
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/mltrack/mltrack/internal/tracking"
)

// TestRealMLflowReadsWhatWeWrite writes a folder with this store, reads it
// with the real MLflow FileStore (testdata/pycheck/read.py) and compares with
// what this store reads. It needs MLflow, so it runs only when asked:
//
//	FILESTORE_MLFLOW_PYTHON=/work/scratch/venv/bin/python go test -run RealMLflow ./internal/store/filestore/
func TestRealMLflowReadsWhatWeWrite(t *testing.T) {
	py := os.Getenv("FILESTORE_MLFLOW_PYTHON")
	if py == "" {
		t.Skip("set FILESTORE_MLFLOW_PYTHON to a python with mlflow installed")
	}
	ctx := t.Context()
	root := filepath.Join(t.TempDir(), "mlruns")
	if keep := os.Getenv("FILESTORE_KEEP"); keep != "" {
		root = keep // leave the folder for inspection
	}
	clock := time.UnixMilli(1700000000000)
	s, err := Open(ctx, root, Options{Now: func() time.Time { clock = clock.Add(time.Millisecond); return clock }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	eid, err := s.CreateExperiment(ctx, tracking.NewExperiment{Name: "exp: one", Tags: []tracking.Tag{{Key: "a/b", Value: "c"}, {Key: "k", Value: "multi\nline"}}})
	must(t, err)
	r, err := s.CreateRun(ctx, tracking.NewRun{ExperimentID: eid, UserID: "alice", RunName: "r1", StartTime: 1700000000000,
		Tags: []tracking.Tag{{Key: tracking.TagRunName, Value: "r1"}, {Key: "x/y", Value: "z"}}})
	must(t, err)
	id := r.Info.RunID
	must(t, s.LogBatch(ctx, id, []tracking.Metric{
		{Key: "loss", Value: 1, Timestamp: 1, Step: 0}, {Key: "loss", Value: math.NaN(), Timestamp: 2, Step: 1},
		{Key: "loss", Value: math.Inf(-1), Timestamp: 3, Step: 2}, {Key: "nested/m", Value: 1e-7, Timestamp: 4, Step: 3},
	}, []tracking.Param{{Key: "lr", Value: "0.1"}, {Key: "p/q", Value: "yes"}}, []tracking.Tag{{Key: "note", Value: "it's"}}))
	fin, end := tracking.StatusFinished, int64(1700000005000)
	newName := "renamed run"
	_, err = s.UpdateRun(ctx, id, tracking.RunUpdate{Status: &fin, EndTime: &end, RunName: &newName})
	must(t, err)
	r2, err := s.CreateRun(ctx, tracking.NewRun{ExperimentID: eid, UserID: "bob", RunName: "r2", StartTime: 1700000000001,
		Tags: []tracking.Tag{{Key: tracking.TagRunName, Value: "r2"}}})
	must(t, err)
	must(t, s.DeleteRun(ctx, r2.Info.RunID))
	gone, err := s.CreateExperiment(ctx, tracking.NewExperiment{Name: "gone"})
	must(t, err)
	_, err = s.CreateRun(ctx, tracking.NewRun{ExperimentID: gone, UserID: "u", RunName: "r3", StartTime: 5,
		Tags: []tracking.Tag{{Key: tracking.TagRunName, Value: "r3"}}})
	must(t, err)
	must(t, s.DeleteExperiment(ctx, gone))
	must(t, s.RenameExperiment(ctx, eid, "exp two"))

	out, err := exec.CommandContext(ctx, py, "testdata/pycheck/read.py", root).Output()
	if err != nil {
		t.Fatalf("read.py: %v", err)
	}
	var py3 struct {
		Experiments []map[string]any
		Runs        []map[string]any
	}
	must(t, json.Unmarshal(out, &py3))
	exps, err := s.SearchExperiments(ctx, tracking.ExperimentQuery{ViewType: tracking.ViewAll})
	must(t, err)
	if len(exps) != len(py3.Experiments) {
		t.Fatalf("mlflow sees %d experiments, we %d", len(py3.Experiments), len(exps))
	}
	sort.Slice(exps, func(i, j int) bool { return exps[i].ID < exps[j].ID })
	for i, e := range exps {
		pe := py3.Experiments[i]
		tags := map[string]any{}
		for _, tg := range e.Tags {
			tags[tg.Key] = tg.Value
		}
		want := map[string]any{"id": e.ID, "name": e.Name, "artifact_location": e.ArtifactLocation,
			"lifecycle_stage": e.LifecycleStage, "creation_time": float64(e.CreationTime),
			"last_update_time": float64(e.LastUpdateTime), "tags": tags}
		sameJSON(t, "experiment "+e.ID, pe, want)
	}
	for _, pr := range py3.Runs {
		rid := pr["run_id"].(string)
		got, err := s.GetRun(ctx, rid)
		must(t, err)
		var endTime any
		if got.Info.EndTime != nil {
			endTime = float64(*got.Info.EndTime)
		}
		params, tags, metrics, hist := map[string]any{}, map[string]any{}, map[string]any{}, map[string]any{}
		for _, p := range got.Data.Params {
			params[p.Key] = p.Value
		}
		for _, tg := range got.Data.Tags {
			tags[tg.Key] = tg.Value
		}
		for _, m := range got.Data.Metrics {
			metrics[m.Key] = pyNum(m.Value)
			h, err := s.GetMetricHistory(ctx, rid, m.Key, 0, 0)
			must(t, err)
			var pts []any
			for _, p := range h {
				pts = append(pts, []any{float64(p.Timestamp), pyNum(p.Value), float64(p.Step)})
			}
			hist[m.Key] = pts
		}
		want := map[string]any{"run_id": rid, "run_name": got.Info.RunName, "experiment_id": got.Info.ExperimentID,
			"user_id": got.Info.UserID, "status": string(got.Info.Status), "start_time": float64(got.Info.StartTime),
			"end_time": endTime, "artifact_uri": got.Info.ArtifactURI, "lifecycle_stage": got.Info.LifecycleStage,
			"params": params, "tags": tags, "metrics": metrics, "history": hist}
		sameJSON(t, "run "+rid, pr, want)
	}
	if len(py3.Runs) != 3 {
		t.Errorf("mlflow sees %d runs, want 3", len(py3.Runs))
	}

	if keep := os.Getenv("FILESTORE_KEEP"); keep != "" {
		// Keep the folder as this store wrote it, for diffing with MLflow's.
		must(t, exec.CommandContext(ctx, "cp", "-r", keep, keep+".before").Run())
	}

	// The other direction: the real client writes while this store is open.
	// (The run was finished above; MLflow's FileStore only checks that it is active.)
	out, err = exec.CommandContext(ctx, py, "testdata/pycheck/write.py", root, eid, id).Output()
	if err != nil {
		t.Fatalf("write.py: %v", err)
	}
	newRun := strings.TrimSpace(string(out))
	eventually(t, "python's writes", func() bool {
		got, err := s.GetRun(ctx, id)
		if err != nil {
			return false
		}
		m := map[string]bool{}
		for _, x := range got.Data.Metrics {
			m["m:"+x.Key] = x.Key != "from_python" || x.Value == 42
		}
		for _, x := range got.Data.Params {
			m["p:"+x.Key] = true
		}
		for _, x := range got.Data.Tags {
			m["t:"+x.Key] = true
		}
		nr, err := s.GetRun(ctx, newRun)
		return m["m:from_python"] && m["p:py_param"] && m["t:py_tag"] && err == nil && nr.Info.RunName == "py-run"
	})
}

func pyNum(v float64) any {
	switch {
	case math.IsNaN(v):
		return "nan"
	case math.IsInf(v, 1):
		return "inf"
	case math.IsInf(v, -1):
		return "-inf"
	}
	return v
}

func sameJSON(t *testing.T, what string, got, want any) {
	t.Helper()
	a, _ := json.Marshal(got)
	b, _ := json.Marshal(want)
	if string(a) != string(b) {
		t.Errorf("%s:\nmlflow reads %s\n   we read  %s", what, a, b)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
