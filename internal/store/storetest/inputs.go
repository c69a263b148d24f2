package storetest

import (
	"fmt"
	"testing"

	"github.com/mltrack/mltrack/internal/tracking"
)

func dataset(name, digest string) tracking.Dataset {
	return tracking.Dataset{Name: name, Digest: digest, SourceType: "local", Source: `{"uri": "/data/` + name + `"}`,
		Schema: `{"mlflow_colspec": []}`, Profile: `{"num_rows": 10}`}
}

func contextTag(v string) []tracking.Tag {
	return []tracking.Tag{{Key: "mlflow.data.context", Value: v}}
}

// inputsOf renders a run's dataset inputs as sorted "name/digest{tags}" strings.
func inputsOf(r *tracking.Run) []string {
	var out []string
	for _, di := range r.Inputs.DatasetInputs {
		out = append(out, fmt.Sprintf("%s/%s%v", di.Dataset.Name, di.Dataset.Digest, tagMap(di.Tags)))
	}
	return sortedCopy(out)
}

// summariesOf renders summaries as sorted "experiment:name/digest:context"
// strings; MLflow leaves their order to the database.
func summariesOf(ds []tracking.DatasetSummary) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.ExperimentID + ":" + d.Name + "/" + d.Digest + ":" + d.Context
	}
	return sortedCopy(out)
}

func testInputs(t *testing.T, newStore func(t *testing.T) tracking.Store) {
	s := newStore(t)

	t.Run("Datasets", func(t *testing.T) {
		ctx := ctxOf(t)
		expID := createExperiment(t, s, "inputs-datasets")
		run := createRun(t, s, expID, "reader", 1)
		train := dataset("train", "aaaa1111")
		mustNoErr(t, s.LogInputs(ctx, run.Info.RunID, []tracking.DatasetInput{
			{Dataset: train, Tags: append(contextTag("training"), tracking.Tag{Key: "extra", Value: "x"})},
			{Dataset: dataset("test", "bbbb2222")},
			// A repeat within one call keeps the first.
			{Dataset: train, Tags: contextTag("ignored")},
		}, nil), "LogInputs")
		got := getRun(t, s, run.Info.RunID)
		want := []string{"test/bbbb2222map[]", "train/aaaa1111map[extra:x mlflow.data.context:training]"}
		if g := inputsOf(got); join(g) != join(want) {
			t.Errorf("inputs = %v, want %v", g, want)
		}
		for _, di := range got.Inputs.DatasetInputs {
			if di.Dataset.Name == "train" && di.Dataset != train {
				t.Errorf("stored dataset = %+v, want %+v", di.Dataset, train)
			}
		}
		// Logging a dataset the run already has changes nothing, tags included.
		mustNoErr(t, s.LogInputs(ctx, run.Info.RunID, []tracking.DatasetInput{{Dataset: train, Tags: contextTag("eval")}}, nil),
			"LogInputs again")
		if g := inputsOf(getRun(t, s, run.Info.RunID)); join(g) != join(want) {
			t.Errorf("inputs after re-log = %v, want %v", g, want)
		}
		// The same name with another digest is another dataset.
		mustNoErr(t, s.LogInputs(ctx, run.Info.RunID, []tracking.DatasetInput{{Dataset: dataset("train", "cccc3333")}}, nil),
			"LogInputs new digest")
		if g := getRun(t, s, run.Info.RunID); len(g.Inputs.DatasetInputs) != 3 {
			t.Errorf("inputs after a new digest = %v", inputsOf(g))
		}
	})

	t.Run("Models", func(t *testing.T) {
		ctx := ctxOf(t)
		expID := createExperiment(t, s, "inputs-models")
		run := createRun(t, s, expID, "user", 1)
		used := createModel(t, s, tracking.NewLoggedModel{ExperimentID: expID, Name: "used"})
		made := createModel(t, s, tracking.NewLoggedModel{ExperimentID: expID, Name: "made"})
		mustNoErr(t, s.LogInputs(ctx, run.Info.RunID, nil, []tracking.ModelInput{{ModelID: used.ID}}), "LogInputs models")
		mustNoErr(t, s.LogInputs(ctx, run.Info.RunID, nil, []tracking.ModelInput{{ModelID: used.ID}}), "LogInputs models again")
		mustNoErr(t, s.LogOutputs(ctx, run.Info.RunID, []tracking.ModelOutput{{ModelID: made.ID, Step: 7}}), "LogOutputs")
		got := getRun(t, s, run.Info.RunID)
		if len(got.Inputs.ModelInputs) != 1 || got.Inputs.ModelInputs[0].ModelID != used.ID {
			t.Errorf("model inputs = %+v, want [%s]", got.Inputs.ModelInputs, used.ID)
		}
		if len(got.Outputs.ModelOutputs) != 1 || got.Outputs.ModelOutputs[0] != (tracking.ModelOutput{ModelID: made.ID, Step: 7}) {
			t.Errorf("model outputs = %+v, want [{%s 7}]", got.Outputs.ModelOutputs, made.ID)
		}
	})

	t.Run("BadRun", func(t *testing.T) {
		ctx := ctxOf(t)
		expID := createExperiment(t, s, "inputs-bad-run")
		run := createRun(t, s, expID, "gone", 1)
		mustNoErr(t, s.DeleteRun(ctx, run.Info.RunID), "DeleteRun")
		ds := []tracking.DatasetInput{{Dataset: dataset("d", "1")}}
		outs := []tracking.ModelOutput{{ModelID: missingModelID}}
		wantCode(t, s.LogInputs(ctx, run.Info.RunID, ds, nil), "LogInputs to a deleted run", tracking.ErrInvalidParameterValue)
		wantCode(t, s.LogOutputs(ctx, run.Info.RunID, outs), "LogOutputs to a deleted run", tracking.ErrInvalidParameterValue)
		wantCode(t, s.LogInputs(ctx, missingRunID, ds, nil), "LogInputs to a missing run", tracking.ErrResourceDoesNotExist)
		wantCode(t, s.LogOutputs(ctx, missingRunID, outs), "LogOutputs to a missing run", tracking.ErrResourceDoesNotExist)
	})

	t.Run("SearchDatasets", func(t *testing.T) {
		ctx := ctxOf(t)
		e1 := createExperiment(t, s, "datasets-1")
		e2 := createExperiment(t, s, "datasets-2")
		r1 := createRun(t, s, e1, "r1", 1)
		r2 := createRun(t, s, e1, "r2", 2)
		r3 := createRun(t, s, e2, "r3", 3)
		mustNoErr(t, s.LogInputs(ctx, r1.Info.RunID, []tracking.DatasetInput{
			{Dataset: dataset("iris", "d1"), Tags: contextTag("train")},
			{Dataset: dataset("wine", "d2")},
		}, nil), "LogInputs r1")
		mustNoErr(t, s.LogInputs(ctx, r2.Info.RunID, []tracking.DatasetInput{
			{Dataset: dataset("iris", "d1"), Tags: contextTag("eval")},
			{Dataset: dataset("iris", "d1b"), Tags: contextTag("train")},
		}, nil), "LogInputs r2")
		mustNoErr(t, s.LogInputs(ctx, r3.Info.RunID, []tracking.DatasetInput{
			{Dataset: dataset("iris", "d1"), Tags: contextTag("train")},
		}, nil), "LogInputs r3")

		got, err := s.SearchDatasets(ctx, []string{e1})
		mustNoErr(t, err, "SearchDatasets")
		want := []string{e1 + ":iris/d1:eval", e1 + ":iris/d1:train", e1 + ":iris/d1b:train", e1 + ":wine/d2:"}
		if g := summariesOf(got); join(g) != join(sortedCopy(want)) {
			t.Errorf("SearchDatasets([e1]) = %v, want %v", g, sortedCopy(want))
		}
		got, err = s.SearchDatasets(ctx, []string{e1, e2})
		mustNoErr(t, err, "SearchDatasets")
		want = append(want, e2+":iris/d1:train")
		if g := summariesOf(got); join(g) != join(sortedCopy(want)) {
			t.Errorf("SearchDatasets([e1 e2]) = %v, want %v", g, sortedCopy(want))
		}
		// The SQL store finds nothing; MLflow's file store fails the lookup.
		got, err = s.SearchDatasets(ctx, []string{missingExperimentID})
		if err != nil {
			wantCode(t, err, "SearchDatasets of a missing experiment", tracking.ErrResourceDoesNotExist)
		} else if len(got) != 0 {
			t.Errorf("SearchDatasets of a missing experiment = %v", summariesOf(got))
		}
	})
}
