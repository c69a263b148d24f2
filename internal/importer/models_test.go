package importer_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/mltrack/mltrack/internal/importer"
	"github.com/mltrack/mltrack/internal/store/filestore"
	"github.com/mltrack/mltrack/internal/tracking"
)

// writeModels adds logged models to a writeMlruns folder through the file
// store: one finalized with params, tags and metric points (two runs, one
// point against a dataset, a NaN), one deleted, one in the deleted
// experiment; runs use and produce them.
func writeModels(t *testing.T, dir string) {
	t.Helper()
	ctx := context.Background()
	st, err := filestore.Open(ctx, dir, filestore.Options{Now: func() time.Time { return time.UnixMilli(t0 + 5000) }})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	exp, err := st.GetExperimentByName(ctx, "exp-one")
	if err != nil {
		t.Fatal(err)
	}
	runs, err := st.SearchRuns(ctx, tracking.RunQuery{ExperimentIDs: []string{exp.ID}, Limit: 100, ViewType: tracking.ViewActiveOnly})
	if err != nil || len(runs) < 2 {
		t.Fatalf("runs: %v %d", err, len(runs))
	}
	r1, r2 := runs[0].Info.RunID, runs[1].Info.RunID
	m, err := st.CreateLoggedModel(ctx, tracking.NewLoggedModel{ExperimentID: exp.ID, Name: "net", ModelType: "pytorch",
		SourceRunID: r1, Params: []tracking.Param{{Key: "layers", Value: "3"}, {Key: "opt/lr", Value: "0.1"}},
		Tags: []tracking.Tag{{Key: "stage", Value: "dev"}}})
	if err != nil {
		t.Fatal(err)
	}
	var pts []tracking.Metric
	for s := range 5 {
		pts = append(pts, tracking.Metric{Key: "acc", Value: float64(s) / 10, Timestamp: t0 + int64(s), Step: int64(s), ModelID: m.ID})
	}
	pts = append(pts, tracking.Metric{Key: "acc", Value: 0.9, Timestamp: t0 + 9, Step: 9, ModelID: m.ID, DatasetName: "eval", DatasetDigest: "abc123"},
		tracking.Metric{Key: "nan", Value: math.NaN(), Timestamp: t0, Step: 0, ModelID: m.ID})
	if err := st.LogBatch(ctx, r1, pts, nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := st.LogBatch(ctx, r2, []tracking.Metric{{Key: "acc", Value: 0.5, Timestamp: t0, Step: 0, ModelID: m.ID}}, nil, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := st.FinalizeLoggedModel(ctx, m.ID, tracking.ModelStatusReady); err != nil {
		t.Fatal(err)
	}
	if err := st.LogOutputs(ctx, r1, []tracking.ModelOutput{{ModelID: m.ID, Step: 4}}); err != nil {
		t.Fatal(err)
	}
	if err := st.LogInputs(ctx, r2, nil, []tracking.ModelInput{{ModelID: m.ID}}); err != nil {
		t.Fatal(err)
	}
	gone, err := st.CreateLoggedModel(ctx, tracking.NewLoggedModel{ExperimentID: exp.ID, Name: "gone"})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.DeleteLoggedModel(ctx, gone.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateLoggedModel(ctx, tracking.NewLoggedModel{ExperimentID: exp.ID, Name: "pending", SourceRunID: r2}); err != nil {
		t.Fatal(err)
	}
}

// modelSnapshot is every logged model of a store by experiment name and
// model id, with points as SQL keeps them (NaN as 0) and in a fixed order.
func modelSnapshot(t *testing.T, src importer.Source) map[string]tracking.LoggedModel {
	t.Helper()
	ctx := context.Background()
	ms := src.(importer.ModelSource)
	exps, _, err := src.Experiments(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]tracking.LoggedModel{}
	for _, e := range exps {
		ids, err := ms.ModelIDs(ctx, e.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range ids {
			m, err := ms.ReadModel(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			m.ExperimentID = e.Name
			if m.LifecycleStage == "" {
				m.LifecycleStage = tracking.LifecycleActive
			}
			for i := range m.Metrics {
				if math.IsNaN(m.Metrics[i].Value) {
					m.Metrics[i].Value = 0
				}
			}
			sort.Slice(m.Metrics, func(i, j int) bool {
				return fmt.Sprintf("%+v", m.Metrics[i]) < fmt.Sprintf("%+v", m.Metrics[j])
			})
			if len(m.Params) == 0 {
				m.Params = nil
			}
			if len(m.Tags) == 0 {
				m.Tags = nil
			}
			if len(m.Metrics) == 0 {
				m.Metrics = nil
			}
			out[id] = *m
		}
	}
	return out
}

// runLinks is every run's model inputs and outputs.
func runLinks(t *testing.T, src importer.Source) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, id := range allRunIDs(t, src) {
		r, err := src.ReadRun(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		var l []string
		for _, m := range r.ModelInputs {
			l = append(l, "in "+m.ModelID)
		}
		for _, m := range r.ModelOutputs {
			l = append(l, fmt.Sprintf("out %s %d", m.ModelID, m.Step))
		}
		if len(l) > 0 {
			sort.Strings(l)
			out[id] = l
		}
	}
	return out
}

func TestModelsRoundTrip(t *testing.T) {
	dir := t.TempDir()
	root := filepath.Join(dir, "mlruns")
	writeMlruns(t, root)
	writeModels(t, root)
	src := openFile(t, root)
	want, wantLinks := modelSnapshot(t, src), runLinks(t, src)
	if len(want) != 3 || len(wantLinks) != 2 {
		t.Fatalf("fixture: %d models, %d runs with links", len(want), len(wantLinks))
	}

	var last importer.Source = src
	hops := []struct {
		name string
		dst  func(t *testing.T) importer.Sink
	}{
		{"sqlite", func(t *testing.T) importer.Sink { return openSQL(t, "sqlite:///"+filepath.Join(dir, "a.db")) }},
		{"postgres", func(t *testing.T) importer.Sink { return openSQL(t, postgresDB(t)) }},
		{"mlruns", func(t *testing.T) importer.Sink { return openFile(t, filepath.Join(dir, "back")) }},
	}
	for _, hop := range hops {
		if hop.name == "postgres" && os.Getenv("MLTRACK_TEST_POSTGRES_URI") == "" && os.Getenv("CI") != "true" {
			continue
		}
		dst := hop.dst(t)
		sum := mustImport(t, last, dst, importer.Options{})
		if sum.Source.Models != 3 || sum.Written.Models != 3 || sum.Source.ModelLinks != 2 {
			t.Errorf("%s: summary %+v, written %+v", hop.name, sum.Source, sum.Written)
		}
		got := modelSnapshot(t, dst)
		for id, wm := range want {
			if gm := got[id]; !reflect.DeepEqual(wm, gm) {
				t.Errorf("%s: model %s:\nwant %+v\n got %+v", hop.name, id, wm, gm)
			}
		}
		if len(got) != len(want) {
			t.Errorf("%s: %d models, want %d", hop.name, len(got), len(want))
		}
		if gl := runLinks(t, dst); !reflect.DeepEqual(gl, wantLinks) {
			t.Errorf("%s: run links\nwant %v\n got %v", hop.name, wantLinks, gl)
		}
		again := mustImport(t, last, dst, importer.Options{})
		if again.Written != (importer.Counts{}) || again.ModelsUnchanged != 3 {
			t.Errorf("%s: re-import wrote %+v, %d models unchanged", hop.name, again.Written, again.ModelsUnchanged)
		}
		last = dst
	}

	// The mlruns written last is one the file store reads as MLflow would.
	st, err := filestore.Open(context.Background(), filepath.Join(dir, "back"), filestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for id, wm := range want {
		m, err := st.GetLoggedModel(context.Background(), id, false)
		if wm.LifecycleStage == tracking.LifecycleDeleted {
			if !tracking.IsNotFound(err) {
				t.Errorf("deleted model %s: %v", id, err)
			}
			continue
		}
		if err != nil || m.Name != wm.Name || m.Status != wm.Status {
			t.Errorf("file store reads model %s as %+v (%v)", id, m, err)
		}
	}
}

// TestModelArtifacts: a model's artifacts go to
// <experiment location>/models/<id>/artifacts in the target.
func TestModelArtifacts(t *testing.T) {
	dir := t.TempDir()
	root := filepath.Join(dir, "mlruns")
	writeMlruns(t, root)
	writeModels(t, root)
	src := openFile(t, root)
	ms := modelSnapshot(t, src)
	var id string
	for mid, m := range ms {
		if m.Name == "net" {
			id = mid
		}
	}
	srcDir := strings.TrimPrefix(ms[id].ArtifactURI, "file://")
	if err := os.MkdirAll(filepath.Join(srcDir, "data"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string]string{"MLmodel": "flavors: {}", "data/model.pth": strings.Repeat("x", 4096)} {
		if err := os.WriteFile(filepath.Join(srcDir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	dest := openLocal(t, filepath.Join(dir, "dest"))
	dst := openSQL(t, "sqlite:///"+filepath.Join(dir, "a.db"))
	copier := &importer.ArtifactCopier{Root: "mlflow-artifacts:/", TargetProxy: dest}
	sum := mustImport(t, src, dst, importer.Options{Artifacts: copier})
	if sum.Written.ArtifactFiles != 2 {
		t.Errorf("copied %d artifact files, want the model's 2", sum.Written.ArtifactFiles)
	}
	m, err := dst.ReadModel(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	rel, ok := strings.CutPrefix(m.ArtifactURI, "mlflow-artifacts:/")
	if !ok || !strings.HasSuffix(rel, "/models/"+id+"/artifacts") {
		t.Fatalf("model artifact URI %q", m.ArtifactURI)
	}
	got := readTree(t, dest, rel)
	if len(got) != 2 || got["MLmodel"] != "flavors: {}" {
		t.Errorf("target model artifacts: %v", keys(got))
	}
}

// TestModelBadInput: a model metric file cut short is reported with its
// path; Skip imports everything else, Stop stops.
func TestModelBadInput(t *testing.T) {
	dir := t.TempDir()
	root := filepath.Join(dir, "mlruns")
	writeMlruns(t, root)
	writeModels(t, root)
	src := openFile(t, root)
	var bad string
	for id, m := range modelSnapshot(t, src) {
		if m.Name == "net" {
			bad = filepath.Join(strings.TrimSuffix(strings.TrimPrefix(m.ArtifactURI, "file://"), "/artifacts"), "metrics", "acc")
			if !strings.HasSuffix(filepath.Dir(filepath.Dir(bad)), id) {
				t.Fatalf("model %s's folder is not where its artifact URI says: %s", id, bad)
			}
		}
	}
	f, err := os.OpenFile(bad, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("1650000009999 0.7")
	f.Close()
	for _, onErr := range []importer.OnError{importer.Stop, importer.Skip} {
		dst := openSQL(t, "sqlite:///"+filepath.Join(t.TempDir(), "a.db"))
		sum, err := importer.Import(context.Background(), src, dst, importer.Options{OnError: onErr})
		var p *importer.Problem
		switch onErr {
		case importer.Stop:
			if !errors.As(err, &p) || p.Path != bad {
				t.Fatalf("stop: err = %v, want a problem naming %s", err, bad)
			}
		case importer.Skip:
			if err != nil || sum.Match() || len(sum.Problems) != 1 || !errors.As(sum.Problems[0], &p) || p.Path != bad {
				t.Fatalf("skip: err %v, match %v, problems %v", err, sum.Match(), sum.Problems)
			}
			if sum.Written.Models != 2 || sum.Written.Runs != 6 {
				t.Errorf("skip wrote %d models and %d runs, want the other 2 and all 6", sum.Written.Models, sum.Written.Runs)
			}
		}
	}
}
