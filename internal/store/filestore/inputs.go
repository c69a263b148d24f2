package filestore

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/mltrack/mltrack/internal/tracking"
)

// Run inputs and outputs as MLflow 3.18's FileStore lays them out:
//
//	<exp>/datasets/<md5(name+digest)>/meta.yaml        the dataset, once per experiment
//	<run>/inputs/<md5(dataset id+run id)>/meta.yaml    a dataset input with its tags
//	<run>/inputs/<md5(model id+run id)>/meta.yaml      a model input
//	<run>/outputs/<model id>/meta.yaml                 a model output with its step
//
// Every record's destination_id repeats its source_id: MLflow writes it so.

// maxDatasetSummaries is MLflow's MAX_DATASET_SUMMARIES_RESULTS.
const maxDatasetSummaries = 1000

// datasetYAML is a dataset's meta.yaml: dict(Dataset), with null for an
// absent schema or profile.
func datasetYAML(d tracking.Dataset) []byte {
	return emitYAML([]yamlField{{"digest", d.Digest}, {"name", d.Name}, {"profile", nullable(d.Profile)},
		{"schema", nullable(d.Schema)}, {"source", d.Source}, {"source_type", d.SourceType}})
}

// inputYAML is a run input record: sourceType DATASET or MODEL.
func inputYAML(sourceType, sourceID string, tags []tracking.Tag) []byte {
	m := make(map[string]string, len(tags))
	for _, t := range tags {
		m[t.Key] = t.Value
	}
	return emitYAML([]yamlField{{"destination_id", sourceID}, {"destination_type", "RUN"},
		{"source_id", sourceID}, {"source_type", sourceType}, {"tags", m}})
}

// outputYAML is a run output record for a logged model.
func outputYAML(modelID string, step int64) []byte {
	return emitYAML([]yamlField{{"destination_id", modelID}, {"destination_type", "MODEL_OUTPUT"},
		{"source_id", modelID}, {"source_type", "RUN_OUTPUT"}, {"step", step}, {"tags", map[string]string{}}})
}

// writeOnce writes dir/meta.yaml unless it exists: MLflow never rewrites an
// input record or a dataset. Checking the file rather than the folder lets a
// folder left empty by a crash be completed later.
func writeOnce(dir string, data []byte) error {
	path := filepath.Join(dir, metaFile)
	if _, err := os.Stat(path); err == nil {
		return nil
	} else if !os.IsNotExist(err) {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return writeFileAtomic(dir, path, data)
}

// writeRunDatasetInput records one dataset input of a run: the dataset in the
// experiment (once) and the input record in the run (once).
func writeRunDatasetInput(expDir, runDir, runID string, in tracking.DatasetInput) error {
	dsID := md5Hex(in.Dataset.Name, in.Dataset.Digest)
	if err := writeOnce(filepath.Join(expDir, datasetsDir, dsID), datasetYAML(in.Dataset)); err != nil {
		return err
	}
	return writeOnce(filepath.Join(runDir, inputsDir, md5Hex(dsID, runID)), inputYAML("DATASET", dsID, in.Tags))
}

// activeRunForWrite is runForWrite plus MLflow's check_run_is_active.
func (s *Store) activeRunForWrite(id string) (*runEntry, error) {
	r, err := s.runForWrite(id)
	if err != nil {
		return nil, err
	}
	if r.meta.LifecycleStage != tracking.LifecycleActive {
		return nil, errRunNotActive(r)
	}
	return r, nil
}

// LogInputs implements tracking.InputStore. Model ids are not checked
// against existing models, as in MLflow.
func (s *Store) LogInputs(ctx context.Context, runID string, datasets []tracking.DatasetInput, models []tracking.ModelInput) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	r, err := s.activeRunForWrite(runID)
	if err != nil {
		return err
	}
	if len(datasets) == 0 && len(models) == 0 {
		return nil
	}
	s.mu.RLock()
	expDir, runDir := s.expDir(r.exp), s.runDir(r)
	s.mu.RUnlock()
	lk, err := lockDir(runDir)
	if err != nil {
		return err
	}
	defer lk.unlock()
	for _, in := range datasets {
		if err := writeRunDatasetInput(expDir, runDir, runID, in); err != nil {
			return err
		}
	}
	for _, m := range models {
		dir := filepath.Join(runDir, inputsDir, md5Hex(m.ModelID, runID))
		if err := writeOnce(dir, inputYAML("MODEL", m.ModelID, nil)); err != nil {
			return err
		}
	}
	return s.refreshRunLinks(r, runDir)
}

// LogOutputs implements tracking.InputStore.
func (s *Store) LogOutputs(ctx context.Context, runID string, models []tracking.ModelOutput) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	r, err := s.activeRunForWrite(runID)
	if err != nil {
		return err
	}
	for _, m := range models {
		// The model id names a folder.
		if !isPathComponent(m.ModelID) {
			return tracking.InvalidParameter("%s", tracking.InvalidValueMessage("model_id", m.ModelID,
				"must be a single path component"))
		}
	}
	if len(models) == 0 {
		return nil
	}
	s.mu.RLock()
	runDir := s.runDir(r)
	s.mu.RUnlock()
	lk, err := lockDir(runDir)
	if err != nil {
		return err
	}
	defer lk.unlock()
	for _, m := range models {
		if err := writeOnce(filepath.Join(runDir, outputsDir, m.ModelID), outputYAML(m.ModelID, m.Step)); err != nil {
			return err
		}
	}
	return s.refreshRunLinks(r, runDir)
}

// refreshRunLinks re-reads a run's inputs and outputs into the index, so the
// index holds them in the order a reload from disk gives.
func (s *Store) refreshRunLinks(r *runEntry, runDir string) error {
	fresh := &runEntry{exp: r.exp, meta: r.meta}
	if err := s.loadInputs(fresh, runDir); err != nil {
		return err
	}
	s.mu.Lock()
	r.inputs, r.outputs, r.datasets = fresh.inputs, fresh.outputs, fresh.datasets
	s.mu.Unlock()
	return nil
}

// SearchDatasets implements tracking.InputStore from the index: the distinct
// (experiment, name, digest, context) of every run's dataset inputs, deleted
// runs included, as both MLflow stores do. Unknown experiments are skipped.
func (s *Store) SearchDatasets(ctx context.Context, experimentIDs []string) ([]tracking.DatasetSummary, error) {
	return s.searchDatasets(experimentIDs, maxDatasetSummaries), nil
}

func (s *Store) searchDatasets(experimentIDs []string, limit int) []tracking.DatasetSummary {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := []tracking.DatasetSummary{}
	done := map[string]bool{}
	for _, id := range experimentIDs {
		e, ok := s.exps[id]
		if !ok || done[id] {
			continue
		}
		done[id] = true
		set := map[datasetRef]bool{}
		for _, r := range e.runs {
			for _, d := range r.datasets {
				set[d] = true
			}
		}
		refs := make([]datasetRef, 0, len(set))
		for d := range set {
			refs = append(refs, d)
		}
		sort.Slice(refs, func(i, j int) bool {
			a, b := refs[i], refs[j]
			if a.name != b.name {
				return a.name < b.name
			}
			if a.digest != b.digest {
				return a.digest < b.digest
			}
			return a.context < b.context
		})
		for _, d := range refs {
			if len(out) == limit {
				return out
			}
			out = append(out, tracking.DatasetSummary{ExperimentID: id, Name: d.name, Digest: d.digest, Context: d.context})
		}
	}
	return out
}

// appendModelMetrics copies the points of a LogBatch that name a model into
// that model's metric files, where MLflow's FileStore keeps them too. MLflow
// writes under the run's experiment whatever the model's; this store writes
// to the model's own folder, so a model logged from a run of another
// experiment still sees its metrics, and it skips points for a model that
// does not exist rather than leave a folder without meta.yaml. The caller
// holds writeMu.
func (s *Store) appendModelMetrics(runID string, metrics []tracking.Metric) error {
	type fileKey struct{ model, key string }
	var order []fileKey
	lines := map[fileKey]*strings.Builder{}
	dirs := map[string]string{}
	for _, m := range metrics {
		if m.ModelID == "" {
			continue
		}
		dir, known := dirs[m.ModelID]
		if !known {
			if _, d, err := s.locateModel(m.ModelID); err == nil {
				dir = d
			} else {
				s.log.Debug("metric names an unknown logged model; not linked", "model_id", m.ModelID, "run", runID)
			}
			dirs[m.ModelID] = dir
		}
		if dir == "" {
			continue
		}
		k := fileKey{m.ModelID, m.Key}
		b, ok := lines[k]
		if !ok {
			b = &strings.Builder{}
			lines[k] = b
			order = append(order, k)
		}
		m.RunID = runID
		b.WriteString(modelMetricLine(m))
	}
	for _, k := range order {
		path, err := keyPath(dirs[k.model], metricsDir, k.key)
		if err != nil {
			return err
		}
		if err := appendFile(path, []byte(lines[k].String())); err != nil {
			return err
		}
	}
	return nil
}
