package storetest

import (
	"testing"

	"github.com/mltrack/mltrack/internal/tracking"
)

func testRuns(t *testing.T, newStore func(t *testing.T) tracking.Store) {
	s := newStore(t)
	t.Run("Create", func(t *testing.T) {
		expID := createExperiment(t, s, "e")
		exp := getExperiment(t, s, expID)
		r := createRun(t, s, expID, "my-run", 1700000000123,
			tracking.Tag{Key: "mlflow.user", Value: "tester"}, tracking.Tag{Key: "custom", Value: "v"})
		info := r.Info
		if info.RunID == "" || info.ExperimentID != expID || info.RunName != "my-run" || info.UserID != "tester" ||
			info.Status != tracking.StatusRunning || info.StartTime != 1700000000123 || info.EndTime != nil ||
			info.LifecycleStage != tracking.LifecycleActive {
			t.Errorf("created run info = %+v", info)
		}
		// MLflow: <experiment artifact_location>/<run_id>/artifacts.
		if want := exp.ArtifactLocation + "/" + info.RunID + "/artifacts"; info.ArtifactURI != want {
			t.Errorf("artifact_uri = %q, want %q", info.ArtifactURI, want)
		}
		wantTags := map[string]string{tracking.TagRunName: "my-run", "mlflow.user": "tester", "custom": "v"}
		if got := tagMap(r.Data.Tags); !sameStrings(got, wantTags) {
			t.Errorf("CreateRun tags = %v, want %v", got, wantTags)
		}
		got := getRun(t, s, info.RunID)
		if !sameInfo(got.Info, info) {
			t.Errorf("GetRun info = %+v, want %+v", got.Info, info)
		}
		if gt := tagMap(got.Data.Tags); !sameStrings(gt, wantTags) {
			t.Errorf("GetRun tags = %v, want %v", gt, wantTags)
		}
		if len(got.Data.Metrics) != 0 || len(got.Data.Params) != 0 {
			t.Errorf("fresh run has data %+v", got.Data)
		}
		other := createRun(t, s, expID, "second", 1)
		if other.Info.RunID == info.RunID {
			t.Errorf("two runs got the same id %s", info.RunID)
		}
		def := createRun(t, s, tracking.DefaultExperimentID, "in-default", 1)
		if def.Info.ExperimentID != "0" {
			t.Errorf("run in Default has experiment id %q", def.Info.ExperimentID)
		}
	})

	t.Run("CreateInMissingOrDeletedExperiment", func(t *testing.T) {
		ctx := ctxOf(t)
		newRun := func(exp string) tracking.NewRun {
			return tracking.NewRun{ExperimentID: exp, UserID: "u", RunName: "r", StartTime: 1,
				Tags: []tracking.Tag{{Key: tracking.TagRunName, Value: "r"}}}
		}
		_, err := s.CreateRun(ctx, newRun(missingExperimentID))
		wantCode(t, err, "missing experiment", tracking.ErrResourceDoesNotExist)
		id := createExperiment(t, s, "gone")
		mustNoErr(t, s.DeleteExperiment(ctx, id), "DeleteExperiment")
		_, err = s.CreateRun(ctx, newRun(id))
		wantCode(t, err, "deleted experiment", tracking.ErrInvalidParameterValue)
	})

	t.Run("GetMissing", func(t *testing.T) {
		_, err := s.GetRun(ctxOf(t), missingRunID)
		wantCode(t, err, "GetRun", tracking.ErrResourceDoesNotExist)
	})

	t.Run("Update", func(t *testing.T) {
		ctx := ctxOf(t)
		r := createRun(t, s, "0", "before", 10)
		id := r.Info.RunID

		finished, end := tracking.StatusFinished, int64(99)
		info, err := s.UpdateRun(ctx, id, tracking.RunUpdate{Status: &finished, EndTime: &end})
		mustNoErr(t, err, "UpdateRun status")
		if info.Status != finished || info.EndTime == nil || *info.EndTime != 99 || info.RunName != "before" || info.RunID != id {
			t.Errorf("UpdateRun returned %+v", info)
		}
		if got := getRun(t, s, id).Info; !sameInfo(got, *info) {
			t.Errorf("GetRun after update = %+v, want %+v", got, *info)
		}

		name := "after"
		info, err = s.UpdateRun(ctx, id, tracking.RunUpdate{RunName: &name})
		mustNoErr(t, err, "UpdateRun name")
		if info.RunName != "after" || info.Status != finished || info.EndTime == nil || *info.EndTime != 99 {
			t.Errorf("rename kept nothing else: %+v", info)
		}
		got := getRun(t, s, id)
		if got.Info.RunName != "after" || tagMap(got.Data.Tags)[tracking.TagRunName] != "after" {
			t.Errorf("run name %q, tag %q; want both after", got.Info.RunName, tagMap(got.Data.Tags)[tracking.TagRunName])
		}

		// A run whose mlflow.runName tag was deleted gets it back on rename.
		mustNoErr(t, s.DeleteTag(ctx, id, tracking.TagRunName), "DeleteTag runName")
		name = "third"
		_, err = s.UpdateRun(ctx, id, tracking.RunUpdate{RunName: &name})
		mustNoErr(t, err, "UpdateRun name again")
		if v := tagMap(getRun(t, s, id).Data.Tags)[tracking.TagRunName]; v != "third" {
			t.Errorf("mlflow.runName after rename = %q", v)
		}

		running := tracking.StatusRunning
		info, err = s.UpdateRun(ctx, id, tracking.RunUpdate{Status: &running})
		mustNoErr(t, err, "UpdateRun back to RUNNING")
		if info.Status != running || info.EndTime == nil || *info.EndTime != 99 {
			t.Errorf("resumed run = %+v (end_time is kept when not given)", info)
		}

		_, err = s.UpdateRun(ctx, missingRunID, tracking.RunUpdate{Status: &finished})
		wantCode(t, err, "UpdateRun missing", tracking.ErrResourceDoesNotExist)
	})

	t.Run("DeleteRestore", func(t *testing.T) {
		ctx := ctxOf(t)
		id := createRun(t, s, "0", "r", 1).Info.RunID
		mustNoErr(t, s.DeleteRun(ctx, id), "DeleteRun")
		got := getRun(t, s, id) // deleted runs stay readable
		if got.Info.LifecycleStage != tracking.LifecycleDeleted {
			t.Errorf("lifecycle after delete = %q", got.Info.LifecycleStage)
		}
		// MLflow's SQL store accepts deleting a deleted run and restoring an active one.
		mustNoErr(t, s.DeleteRun(ctx, id), "DeleteRun twice")
		mustNoErr(t, s.RestoreRun(ctx, id), "RestoreRun")
		if got := getRun(t, s, id).Info.LifecycleStage; got != tracking.LifecycleActive {
			t.Errorf("lifecycle after restore = %q", got)
		}
		mustNoErr(t, s.RestoreRun(ctx, id), "RestoreRun twice")
		wantCode(t, s.DeleteRun(ctx, missingRunID), "DeleteRun missing", tracking.ErrResourceDoesNotExist)
		wantCode(t, s.RestoreRun(ctx, missingRunID), "RestoreRun missing", tracking.ErrResourceDoesNotExist)
	})

	t.Run("WritesToDeletedRun", func(t *testing.T) {
		ctx := ctxOf(t)
		id := createRun(t, s, "0", "r", 1).Info.RunID
		logBatch(t, s, id, []tracking.Metric{metric("m", 1, 1, 0)}, []tracking.Param{{Key: "p", Value: "1"}}, []tracking.Tag{{Key: "t", Value: "1"}})
		mustNoErr(t, s.DeleteRun(ctx, id), "DeleteRun")
		bad := tracking.ErrInvalidParameterValue
		wantCode(t, s.LogBatch(ctx, id, []tracking.Metric{metric("m", 2, 2, 1)}, nil, nil), "metric", bad)
		wantCode(t, s.LogBatch(ctx, id, nil, []tracking.Param{{Key: "q", Value: "1"}}, nil), "param", bad)
		wantCode(t, s.LogBatch(ctx, id, nil, nil, []tracking.Tag{{Key: "t", Value: "2"}}), "tag", bad)
		wantCode(t, s.DeleteTag(ctx, id, "t"), "DeleteTag", bad)
		finished := tracking.StatusFinished
		_, err := s.UpdateRun(ctx, id, tracking.RunUpdate{Status: &finished})
		wantCode(t, err, "UpdateRun", bad)

		got := getRun(t, s, id)
		if m := metricMap(got.Data.Metrics)["m"]; m.Value != 1 || len(got.Data.Params) != 1 || tagMap(got.Data.Tags)["t"] != "1" ||
			got.Info.Status != tracking.StatusRunning {
			t.Errorf("deleted run changed: %+v", got)
		}
	})
}

func sameStrings(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func sameInfo(a, b tracking.RunInfo) bool {
	endEq := (a.EndTime == nil) == (b.EndTime == nil) && (a.EndTime == nil || *a.EndTime == *b.EndTime)
	a.EndTime, b.EndTime = nil, nil
	return endEq && a == b
}
