package storetest

import (
	"strings"
	"testing"

	"github.com/mltrack/mltrack/internal/tracking"
)

func testExperiments(t *testing.T, newStore func(t *testing.T) tracking.Store) {
	s := newStore(t)
	t.Run("DefaultExists", func(t *testing.T) {
		e := getExperiment(t, s, tracking.DefaultExperimentID)
		if e.ID != "0" || e.Name != "Default" || e.LifecycleStage != tracking.LifecycleActive {
			t.Errorf("default experiment = %+v", e)
		}
		if !strings.HasSuffix(e.ArtifactLocation, "0") {
			t.Errorf("default artifact location %q should end with the id 0", e.ArtifactLocation)
		}
		byName, err := s.GetExperimentByName(ctxOf(t), "Default")
		mustNoErr(t, err, "GetExperimentByName Default")
		if byName.ID != "0" {
			t.Errorf("GetExperimentByName(Default).ID = %q", byName.ID)
		}
	})

	t.Run("CreateAndGet", func(t *testing.T) {
		seen := map[string]bool{"0": true}
		for _, name := range []string{"first", "second", "third"} {
			id := createExperiment(t, s, name)
			if seen[id] {
				t.Fatalf("experiment id %q issued twice", id)
			}
			seen[id] = true
			e := getExperiment(t, s, id)
			if e.ID != id || e.Name != name || e.LifecycleStage != tracking.LifecycleActive {
				t.Errorf("GetExperiment(%s) = %+v", id, e)
			}
			if e.CreationTime <= 0 || e.LastUpdateTime < e.CreationTime {
				t.Errorf("times of %s: creation %d, last update %d", name, e.CreationTime, e.LastUpdateTime)
			}
			// Without a location, MLflow uses <default root>/<id>.
			if !strings.HasSuffix(e.ArtifactLocation, "/"+id) {
				t.Errorf("artifact location %q should end with /%s", e.ArtifactLocation, id)
			}
			byName, err := s.GetExperimentByName(ctxOf(t), name)
			mustNoErr(t, err, "GetExperimentByName")
			if byName.ID != id {
				t.Errorf("GetExperimentByName(%s).ID = %q, want %q", name, byName.ID, id)
			}
		}
	})

	t.Run("CreateWithLocationAndTags", func(t *testing.T) {
		id, err := s.CreateExperiment(ctxOf(t), tracking.NewExperiment{
			Name:             "located",
			ArtifactLocation: "s3://bucket/some/prefix",
			Tags:             []tracking.Tag{{Key: "team", Value: "red"}, {Key: "mlflow.note.content", Value: "hello"}},
		})
		mustNoErr(t, err, "CreateExperiment")
		e := getExperiment(t, s, id)
		if e.ArtifactLocation != "s3://bucket/some/prefix" {
			t.Errorf("artifact location = %q", e.ArtifactLocation)
		}
		if got := tagMap(e.Tags); got["team"] != "red" || got["mlflow.note.content"] != "hello" || len(got) != 2 {
			t.Errorf("tags = %v", got)
		}
	})

	t.Run("DuplicateName", func(t *testing.T) {
		createExperiment(t, s, "dup")
		_, err := s.CreateExperiment(ctxOf(t), tracking.NewExperiment{Name: "dup"})
		wantCode(t, err, "duplicate of an active experiment", tracking.ErrResourceAlreadyExists)
		_, err = s.CreateExperiment(ctxOf(t), tracking.NewExperiment{Name: "Default"})
		wantCode(t, err, "duplicate of Default", tracking.ErrResourceAlreadyExists)

		gone := createExperiment(t, s, "gone")
		mustNoErr(t, s.DeleteExperiment(ctxOf(t), gone), "DeleteExperiment")
		_, err = s.CreateExperiment(ctxOf(t), tracking.NewExperiment{Name: "gone"})
		wantCode(t, err, "duplicate of a deleted experiment", tracking.ErrResourceAlreadyExists)
	})

	t.Run("NotFound", func(t *testing.T) {
		ctx := ctxOf(t)
		notFound := tracking.ErrResourceDoesNotExist
		_, err := s.GetExperiment(ctx, missingExperimentID)
		wantCode(t, err, "GetExperiment", notFound)
		_, err = s.GetExperimentByName(ctx, "no such experiment")
		wantCode(t, err, "GetExperimentByName", notFound)
		wantCode(t, s.RenameExperiment(ctx, missingExperimentID, "x"), "RenameExperiment", notFound)
		wantCode(t, s.DeleteExperiment(ctx, missingExperimentID), "DeleteExperiment", notFound)
		wantCode(t, s.RestoreExperiment(ctx, missingExperimentID), "RestoreExperiment", notFound)
		wantCode(t, s.SetExperimentTag(ctx, missingExperimentID, tracking.Tag{Key: "k", Value: "v"}), "SetExperimentTag", notFound)
		wantCode(t, s.DeleteExperimentTag(ctx, missingExperimentID, "k"), "DeleteExperimentTag", notFound)
		// MLflow's SQL store rejects a non-integer id as INVALID_PARAMETER_VALUE;
		// a store with string ids may simply not find it.
		_, err = s.GetExperiment(ctx, "not-a-number")
		wantCode(t, err, "GetExperiment(non-numeric)", notFound, tracking.ErrInvalidParameterValue)
	})

	t.Run("Rename", func(t *testing.T) {
		ctx := ctxOf(t)
		id := createExperiment(t, s, "old")
		before := getExperiment(t, s, id)
		mustNoErr(t, s.RenameExperiment(ctx, id, "new"), "RenameExperiment")
		after := getExperiment(t, s, id)
		if after.Name != "new" {
			t.Errorf("name after rename = %q", after.Name)
		}
		if after.LastUpdateTime < before.LastUpdateTime {
			t.Errorf("last_update_time went back: %d -> %d", before.LastUpdateTime, after.LastUpdateTime)
		}
		if _, err := s.GetExperimentByName(ctx, "old"); tracking.Code(err) != tracking.ErrResourceDoesNotExist {
			t.Errorf("old name still resolves: %v", err)
		}
		if e, err := s.GetExperimentByName(ctx, "new"); err != nil || e.ID != id {
			t.Errorf("GetExperimentByName(new) = %v, %v", e, err)
		}
		// Renaming to its own name is a no-op.
		mustNoErr(t, s.RenameExperiment(ctx, id, "new"), "rename to same name")

		// MLflow's SQL store surfaces the unique-name violation as BAD_REQUEST
		// (its session wrapper's code for IntegrityError); both are 400s and
		// neither may be an internal error, which clients retry.
		other := createExperiment(t, s, "taken")
		wantCode(t, s.RenameExperiment(ctx, id, "taken"), "rename onto an existing name",
			tracking.ErrBadRequest, tracking.ErrResourceAlreadyExists)
		if e := getExperiment(t, s, id); e.Name != "new" {
			t.Errorf("failed rename changed the name to %q", e.Name)
		}

		mustNoErr(t, s.DeleteExperiment(ctx, other), "DeleteExperiment")
		wantCode(t, s.RenameExperiment(ctx, other, "revived"), "rename a deleted experiment", tracking.ErrInvalidState)
	})

	t.Run("DeleteRestore", func(t *testing.T) {
		ctx := ctxOf(t)
		id := createExperiment(t, s, "doomed")
		r1 := createRun(t, s, id, "r1", 100)
		r2 := createRun(t, s, id, "r2", 200)
		before := getExperiment(t, s, id)

		mustNoErr(t, s.DeleteExperiment(ctx, id), "DeleteExperiment")
		e := getExperiment(t, s, id) // deleted experiments stay readable
		if e.LifecycleStage != tracking.LifecycleDeleted {
			t.Errorf("lifecycle after delete = %q", e.LifecycleStage)
		}
		if e.LastUpdateTime < before.LastUpdateTime {
			t.Errorf("last_update_time went back on delete")
		}
		if byName, err := s.GetExperimentByName(ctx, "doomed"); err != nil || byName.LifecycleStage != tracking.LifecycleDeleted {
			t.Errorf("GetExperimentByName of deleted = %v, %v", byName, err)
		}
		// MLflow marks every run of a deleted experiment deleted too.
		for _, r := range []*tracking.Run{r1, r2} {
			if got := getRun(t, s, r.Info.RunID).Info.LifecycleStage; got != tracking.LifecycleDeleted {
				t.Errorf("run %s lifecycle after experiment delete = %q", r.Info.RunName, got)
			}
		}
		wantCode(t, s.DeleteExperiment(ctx, id), "delete twice", tracking.ErrResourceDoesNotExist)
		_, err := s.CreateRun(ctx, tracking.NewRun{ExperimentID: id, RunName: "x", StartTime: 1,
			Tags: []tracking.Tag{{Key: tracking.TagRunName, Value: "x"}}})
		wantCode(t, err, "CreateRun in a deleted experiment", tracking.ErrInvalidParameterValue)
		wantCode(t, s.SetExperimentTag(ctx, id, tracking.Tag{Key: "k", Value: "v"}), "SetExperimentTag on deleted", tracking.ErrInvalidParameterValue)
		wantCode(t, s.DeleteExperimentTag(ctx, id, "k"), "DeleteExperimentTag on deleted", tracking.ErrInvalidParameterValue)

		mustNoErr(t, s.RestoreExperiment(ctx, id), "RestoreExperiment")
		if got := getExperiment(t, s, id).LifecycleStage; got != tracking.LifecycleActive {
			t.Errorf("lifecycle after restore = %q", got)
		}
		for _, r := range []*tracking.Run{r1, r2} {
			if got := getRun(t, s, r.Info.RunID).Info.LifecycleStage; got != tracking.LifecycleActive {
				t.Errorf("run %s lifecycle after experiment restore = %q", r.Info.RunName, got)
			}
		}
		wantCode(t, s.RestoreExperiment(ctx, id), "restore an active experiment", tracking.ErrResourceDoesNotExist)
	})

	t.Run("Tags", func(t *testing.T) {
		ctx := ctxOf(t)
		id := createExperiment(t, s, "tagged", tracking.Tag{Key: "a", Value: "1"})
		mustNoErr(t, s.SetExperimentTag(ctx, id, tracking.Tag{Key: "b", Value: "2"}), "set b")
		mustNoErr(t, s.SetExperimentTag(ctx, id, tracking.Tag{Key: "a", Value: "overwritten"}), "overwrite a")
		mustNoErr(t, s.SetExperimentTag(ctx, id, tracking.Tag{Key: "c", Value: ""}), "set empty c")
		got := tagMap(getExperiment(t, s, id).Tags)
		want := map[string]string{"a": "overwritten", "b": "2", "c": ""}
		if len(got) != len(want) || got["a"] != want["a"] || got["b"] != want["b"] {
			t.Errorf("tags = %v, want %v", got, want)
		}
		if v, ok := got["c"]; !ok || v != "" {
			t.Errorf("empty-valued tag c = %q, %v", v, ok)
		}
		mustNoErr(t, s.DeleteExperimentTag(ctx, id, "b"), "delete b")
		if got := tagMap(getExperiment(t, s, id).Tags); len(got) != 2 || got["a"] != "overwritten" {
			t.Errorf("tags after delete = %v", got)
		}
		wantCode(t, s.DeleteExperimentTag(ctx, id, "b"), "delete a missing tag", tracking.ErrResourceDoesNotExist)
		// Tags are per experiment.
		other := createExperiment(t, s, "other")
		if got := getExperiment(t, s, other).Tags; len(got) != 0 {
			t.Errorf("fresh experiment has tags %v", got)
		}
	})
}
