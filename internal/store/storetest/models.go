package storetest

import (
	"regexp"
	"testing"

	"github.com/mltrack/mltrack/internal/tracking"
)

// MLflow 3 logged models. Where MLflow's two stores differ (the SQL store
// lets writes reach a deleted model and returns every metric point; the file
// store does neither), these tests pin only what both do.

var modelIDRe = regexp.MustCompile(`^m-[0-9a-f]{32}$`)

func createModel(t *testing.T, s tracking.Store, nm tracking.NewLoggedModel) *tracking.LoggedModel {
	t.Helper()
	m, err := s.CreateLoggedModel(ctxOf(t), nm)
	mustNoErr(t, err, "CreateLoggedModel "+nm.Name)
	return m
}

func getModel(t *testing.T, s tracking.Store, id string) *tracking.LoggedModel {
	t.Helper()
	m, err := s.GetLoggedModel(ctxOf(t), id, false)
	mustNoErr(t, err, "GetLoggedModel "+id)
	return m
}

// missingModelID is well formed but never issued.
const missingModelID = "m-0123456789abcdef0123456789abcdef"

func testLoggedModels(t *testing.T, newStore func(t *testing.T) tracking.Store) {
	s := newStore(t)

	t.Run("Create", func(t *testing.T) {
		expID := createExperiment(t, s, "models-create")
		exp := getExperiment(t, s, expID)
		run := createRun(t, s, expID, "producer", 1)
		m := createModel(t, s, tracking.NewLoggedModel{
			ExperimentID: expID, Name: "clf", ModelType: "sklearn", SourceRunID: run.Info.RunID,
			Params: []tracking.Param{{Key: "alpha", Value: "0.5"}, {Key: "depth", Value: "3"}},
			Tags:   []tracking.Tag{{Key: "team", Value: "vision"}},
		})
		if !modelIDRe.MatchString(m.ID) {
			t.Errorf("model id %q is not m-<32 hex>", m.ID)
		}
		if m.ExperimentID != expID || m.Name != "clf" || m.ModelType != "sklearn" || m.SourceRunID != run.Info.RunID ||
			m.Status != tracking.ModelStatusPending || m.CreationTime <= 0 || m.LastUpdatedTime != m.CreationTime {
			t.Errorf("created model = %+v", m)
		}
		// MLflow: <experiment artifact_location>/models/<model_id>/artifacts.
		if want := exp.ArtifactLocation + "/models/" + m.ID + "/artifacts"; m.ArtifactURI != want {
			t.Errorf("artifact uri = %q, want %q", m.ArtifactURI, want)
		}
		wantParams := map[string]string{"alpha": "0.5", "depth": "3"}
		wantTags := map[string]string{"team": "vision"}
		if got := paramMap(m.Params); !sameStrings(got, wantParams) {
			t.Errorf("create params = %v, want %v", got, wantParams)
		}
		if got := tagMap(m.Tags); !sameStrings(got, wantTags) {
			t.Errorf("create tags = %v, want %v", got, wantTags)
		}
		got := getModel(t, s, m.ID)
		if got.ID != m.ID || got.Name != m.Name || got.ExperimentID != expID || got.ArtifactURI != m.ArtifactURI ||
			got.Status != tracking.ModelStatusPending || got.CreationTime != m.CreationTime || got.ModelType != "sklearn" ||
			got.SourceRunID != run.Info.RunID {
			t.Errorf("GetLoggedModel = %+v, want %+v", got, m)
		}
		if !sameStrings(paramMap(got.Params), wantParams) || !sameStrings(tagMap(got.Tags), wantTags) || len(got.Metrics) != 0 {
			t.Errorf("GetLoggedModel data: params %v tags %v metrics %v", got.Params, got.Tags, got.Metrics)
		}

		unnamed := createModel(t, s, tracking.NewLoggedModel{ExperimentID: expID})
		if unnamed.Name == "" || unnamed.ID == m.ID {
			t.Errorf("unnamed model: name %q id %q", unnamed.Name, unnamed.ID)
		}
		if def := createModel(t, s, tracking.NewLoggedModel{ExperimentID: tracking.DefaultExperimentID, Name: "d"}); def.ExperimentID != "0" {
			t.Errorf("model in Default has experiment id %q", def.ExperimentID)
		}
	})

	t.Run("CreateInMissingOrDeletedExperiment", func(t *testing.T) {
		ctx := ctxOf(t)
		_, err := s.CreateLoggedModel(ctx, tracking.NewLoggedModel{ExperimentID: missingExperimentID, Name: "x"})
		wantCode(t, err, "missing experiment", tracking.ErrResourceDoesNotExist)
		id := createExperiment(t, s, "models-gone")
		mustNoErr(t, s.DeleteExperiment(ctx, id), "DeleteExperiment")
		_, err = s.CreateLoggedModel(ctx, tracking.NewLoggedModel{ExperimentID: id, Name: "x"})
		// The SQL store says INVALID_PARAMETER_VALUE, the file store INVALID_STATE.
		wantCode(t, err, "deleted experiment", tracking.ErrInvalidParameterValue, tracking.ErrInvalidState)
	})

	t.Run("Missing", func(t *testing.T) {
		ctx := ctxOf(t)
		_, err := s.GetLoggedModel(ctx, missingModelID, false)
		wantCode(t, err, "GetLoggedModel", tracking.ErrResourceDoesNotExist)
		_, err = s.FinalizeLoggedModel(ctx, missingModelID, tracking.ModelStatusReady)
		wantCode(t, err, "FinalizeLoggedModel", tracking.ErrResourceDoesNotExist)
		wantCode(t, s.DeleteLoggedModel(ctx, missingModelID), "DeleteLoggedModel", tracking.ErrResourceDoesNotExist)
		wantCode(t, s.SetLoggedModelTags(ctx, missingModelID, []tracking.Tag{{Key: "k", Value: "v"}}), "SetLoggedModelTags",
			tracking.ErrResourceDoesNotExist)
		wantCode(t, s.DeleteLoggedModelTag(ctx, missingModelID, "k"), "DeleteLoggedModelTag", tracking.ErrResourceDoesNotExist)
		wantCode(t, s.LogLoggedModelParams(ctx, missingModelID, []tracking.Param{{Key: "k", Value: "v"}}), "LogLoggedModelParams",
			tracking.ErrResourceDoesNotExist)
	})

	t.Run("Finalize", func(t *testing.T) {
		expID := createExperiment(t, s, "models-finalize")
		for _, st := range []tracking.LoggedModelStatus{tracking.ModelStatusReady, tracking.ModelStatusUploadFailed} {
			m := createModel(t, s, tracking.NewLoggedModel{ExperimentID: expID, Name: st.String()})
			got, err := s.FinalizeLoggedModel(ctxOf(t), m.ID, st)
			mustNoErr(t, err, "FinalizeLoggedModel")
			if got.ID != m.ID || got.Status != st || got.LastUpdatedTime < m.CreationTime || got.CreationTime != m.CreationTime {
				t.Errorf("finalize to %s returned %+v", st, got)
			}
			if again := getModel(t, s, m.ID); again.Status != st || again.LastUpdatedTime != got.LastUpdatedTime {
				t.Errorf("after finalize to %s, get = status %s updated %d", st, again.Status, again.LastUpdatedTime)
			}
		}
	})

	t.Run("Tags", func(t *testing.T) {
		ctx := ctxOf(t)
		expID := createExperiment(t, s, "models-tags")
		m := createModel(t, s, tracking.NewLoggedModel{ExperimentID: expID, Name: "tagged",
			Tags: []tracking.Tag{{Key: "a", Value: "1"}, {Key: "b", Value: "2"}}})
		// A key repeated in one call keeps its last value.
		mustNoErr(t, s.SetLoggedModelTags(ctx, m.ID, []tracking.Tag{{Key: "a", Value: "one"}, {Key: "c", Value: "x"}, {Key: "c", Value: "3"}}),
			"SetLoggedModelTags")
		want := map[string]string{"a": "one", "b": "2", "c": "3"}
		if got := tagMap(getModel(t, s, m.ID).Tags); !sameStrings(got, want) {
			t.Errorf("tags = %v, want %v", got, want)
		}
		mustNoErr(t, s.DeleteLoggedModelTag(ctx, m.ID, "b"), "DeleteLoggedModelTag")
		delete(want, "b")
		if got := tagMap(getModel(t, s, m.ID).Tags); !sameStrings(got, want) {
			t.Errorf("tags after delete = %v, want %v", got, want)
		}
		wantCode(t, s.DeleteLoggedModelTag(ctx, m.ID, "b"), "delete a missing tag", tracking.ErrResourceDoesNotExist)
	})

	t.Run("Params", func(t *testing.T) {
		expID := createExperiment(t, s, "models-params")
		m := createModel(t, s, tracking.NewLoggedModel{ExperimentID: expID, Name: "p", Params: []tracking.Param{{Key: "a", Value: "1"}}})
		mustNoErr(t, s.LogLoggedModelParams(ctxOf(t), m.ID, []tracking.Param{{Key: "b", Value: "2"}, {Key: "c", Value: ""}}),
			"LogLoggedModelParams")
		want := map[string]string{"a": "1", "b": "2", "c": ""}
		if got := paramMap(getModel(t, s, m.ID).Params); !sameStrings(got, want) {
			t.Errorf("params = %v, want %v", got, want)
		}
	})

	t.Run("Metrics", func(t *testing.T) {
		// Metrics reach a model through LogBatch on a run, each point naming
		// the model and optionally a dataset. One point per key and dataset:
		// MLflow's SQL store returns every point, its file store the latest.
		expID := createExperiment(t, s, "models-metrics")
		run := createRun(t, s, expID, "evaluator", 1)
		m := createModel(t, s, tracking.NewLoggedModel{ExperimentID: expID, Name: "scored", SourceRunID: run.Info.RunID})
		pts := []tracking.Metric{
			{Key: "acc", Value: 0.75, Timestamp: 1000, Step: 2, ModelID: m.ID, DatasetName: "val", DatasetDigest: "d1"},
			{Key: "loss", Value: 0.25, Timestamp: 1001, Step: 3, ModelID: m.ID},
			{Key: "acc", Value: 0.5, Timestamp: 1002, Step: 0}, // the run's only
		}
		logBatch(t, s, run.Info.RunID, pts, nil, nil)
		got := getModel(t, s, m.ID).Metrics
		if len(got) != 2 {
			t.Fatalf("model metrics = %+v, want 2 points", got)
		}
		byKey := metricMap(got)
		for _, want := range pts[:2] {
			g, ok := byKey[want.Key]
			if !ok || g.Value != want.Value || g.Timestamp != want.Timestamp || g.Step != want.Step || g.RunID != run.Info.RunID ||
				g.ModelID != m.ID || g.DatasetName != want.DatasetName || g.DatasetDigest != want.DatasetDigest {
				t.Errorf("model metric %s = %+v, want %+v with run %s", want.Key, g, want, run.Info.RunID)
			}
		}
		// The run keeps its own latest values as usual.
		if acc := metricMap(getRun(t, s, run.Info.RunID).Data.Metrics)["acc"]; acc.Value != 0.75 {
			t.Errorf("run's latest acc = %v, want 0.75 (step 2 beats step 0)", acc.Value)
		}
	})

	t.Run("Delete", func(t *testing.T) {
		ctx := ctxOf(t)
		expID := createExperiment(t, s, "models-delete")
		m := createModel(t, s, tracking.NewLoggedModel{ExperimentID: expID, Name: "doomed"})
		keep := createModel(t, s, tracking.NewLoggedModel{ExperimentID: expID, Name: "kept"})
		mustNoErr(t, s.DeleteLoggedModel(ctx, m.ID), "DeleteLoggedModel")
		_, err := s.GetLoggedModel(ctx, m.ID, false)
		wantCode(t, err, "get a deleted model", tracking.ErrResourceDoesNotExist)
		got, err := s.GetLoggedModel(ctx, m.ID, true)
		mustNoErr(t, err, "GetLoggedModel(allowDeleted)")
		if got.ID != m.ID || got.Name != "doomed" || got.LifecycleStage != tracking.LifecycleDeleted {
			t.Errorf("deleted model with allowDeleted = %+v, want %s named doomed, stage deleted", got, m.ID)
		}
		if live, err := s.GetLoggedModel(ctx, keep.ID, true); err != nil || live.LifecycleStage != tracking.LifecycleActive {
			t.Errorf("live model with allowDeleted = %+v, %v; want stage active", live, err)
		}
		found, err := s.SearchLoggedModels(ctx, tracking.LoggedModelQuery{ExperimentIDs: []string{expID}})
		mustNoErr(t, err, "SearchLoggedModels")
		if ids := modelIDs(found); join(ids) != join([]string{keep.ID}) {
			t.Errorf("search after delete = %v, want only %s", ids, keep.ID)
		}
	})
}

func modelIDs(ms []tracking.LoggedModel) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.ID
	}
	return out
}

func modelNames(ms []tracking.LoggedModel) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.Name
	}
	return out
}
