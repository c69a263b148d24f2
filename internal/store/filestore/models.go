package filestore

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/mltrack/mltrack/internal/search"
	"github.com/mltrack/mltrack/internal/tracking"
)

// Logged models are not indexed: each call reads the model's folder, and a
// search reads the folders of the experiments it names. Models are few next
// to runs and metric points, and reading them from disk keeps this process
// current with other writers without watching models/ folders.

// newModelID is MLflow's "m-" + uuid4 hex.
func newModelID() (string, error) {
	id, err := newRunID()
	return "m-" + id, err
}

func errModelNotFound(id string) error {
	return tracking.NotFound("Logged model with ID '%s' not found.", id)
}

// isPathComponent is MLflow's _validate_path_component: an id that names a
// folder must be one path element that no normalisation would change.
func isPathComponent(id string) bool {
	return id != "" && id != "." && id != ".." && strings.TrimRight(id, " .") == id &&
		!strings.ContainsAny(id, "/\\\x00")
}

func (s *Store) modelDir(e *expEntry, id string) string {
	return filepath.Join(s.expDir(e), modelsDir, id)
}

// locateModel finds the folder of model id and the id of the experiment
// that holds it: active experiments first, then deleted ones, as MLflow
// looks. A folder without meta.yaml (MLflow leaves such when a run logs
// metrics for a model of another experiment) is passed over.
func (s *Store) locateModel(id string) (expID, dir string, err error) {
	if !isPathComponent(id) {
		return "", "", errModelNotFound(id)
	}
	type place struct {
		expID, dir string
		deleted    bool
	}
	s.mu.RLock()
	places := make([]place, 0, len(s.exps))
	for _, e := range s.exps {
		places = append(places, place{e.meta.ID, s.modelDir(e, id), e.deleted})
	}
	s.mu.RUnlock()
	sort.Slice(places, func(i, j int) bool {
		if places[i].deleted != places[j].deleted {
			return !places[i].deleted
		}
		return places[i].expID < places[j].expID
	})
	for _, p := range places {
		if _, err := os.Stat(filepath.Join(p.dir, metaFile)); err == nil {
			return p.expID, p.dir, nil
		}
	}
	return "", "", errModelNotFound(id)
}

// loadModel reads model id. Deleted models are not found unless allowDeleted.
func (s *Store) loadModel(id string, allowDeleted bool) (string, modelMeta, error) {
	expID, dir, err := s.locateModel(id)
	if err != nil {
		return "", modelMeta{}, err
	}
	mm, err := readLoggedModel(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "", modelMeta{}, errModelNotFound(id)
		}
		return "", modelMeta{}, err
	}
	if mm.LifecycleStage == tracking.LifecycleDeleted && !allowDeleted {
		return "", modelMeta{}, errModelNotFound(id)
	}
	if mm.ExperimentID != expID || mm.ID != id {
		return "", modelMeta{}, tracking.Errorf(tracking.ErrInvalidState,
			"Model '%s' metadata is in invalid state.", id)
	}
	return dir, mm, nil
}

// CreateLoggedModel implements tracking.LoggedModelStore.
func (s *Store) CreateLoggedModel(ctx context.Context, nm tracking.NewLoggedModel) (*tracking.LoggedModel, error) {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	e, err := s.experimentForWrite(nm.ExperimentID)
	if err != nil {
		return nil, err
	}
	if e.meta.LifecycleStage != tracking.LifecycleActive {
		return nil, errExperimentNotActive(e)
	}
	id, err := newModelID()
	if err != nil {
		return nil, err
	}
	name := nm.Name
	if name == "" {
		name = tracking.GenerateRunName(nil)
	}
	now := s.nowMillis()
	m := tracking.LoggedModel{
		ID: id, ExperimentID: e.meta.ID, Name: name, CreationTime: now, LastUpdatedTime: now,
		ArtifactURI: appendURIPath(e.meta.ArtifactLocation, modelsDir, id, artifactsDir),
		Status:      tracking.ModelStatusPending, ModelType: nm.ModelType, SourceRunID: nm.SourceRunID,
		LifecycleStage: tracking.LifecycleActive,
		Tags:           dedupeTags(nm.Tags), Params: dedupeParams(nm.Params),
	}
	dir := s.modelDir(e, id)
	if err := writeLoggedModel(dir, m); err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	m.Metrics = []tracking.Metric{}
	return &m, nil
}

// dedupeTags keeps the last value of each key, in key order, as the model
// reads back.
func dedupeTags(tags []tracking.Tag) []tracking.Tag {
	m := make(map[string]string, len(tags))
	for _, t := range tags {
		m[t.Key] = t.Value
	}
	return sortedTags(m)
}

func dedupeParams(params []tracking.Param) []tracking.Param {
	m := make(map[string]string, len(params))
	for _, p := range params {
		m[p.Key] = p.Value
	}
	out := make([]tracking.Param, 0, len(m))
	for _, t := range sortedTags(m) {
		out = append(out, tracking.Param(t))
	}
	return out
}

// GetLoggedModel implements tracking.LoggedModelStore.
func (s *Store) GetLoggedModel(ctx context.Context, id string, allowDeleted bool) (*tracking.LoggedModel, error) {
	_, mm, err := s.loadModel(id, allowDeleted)
	if err != nil {
		return nil, err
	}
	return &mm.LoggedModel, nil
}

// rewriteModel applies edit to a live model's meta.yaml under the folder's
// lock, re-reading the file inside the lock so another writer's change is
// kept. The caller holds writeMu.
func (s *Store) rewriteModel(id string, edit func(*modelMeta)) (string, error) {
	dir, _, err := s.loadModel(id, false)
	if err != nil {
		return "", err
	}
	lk, err := lockDir(dir)
	if err != nil {
		return "", err
	}
	defer lk.unlock()
	m, err := readYAMLMap(filepath.Join(dir, metaFile))
	if err != nil {
		return "", err
	}
	mm := parseModelMeta(m)
	if mm.LifecycleStage == tracking.LifecycleDeleted {
		return "", errModelNotFound(id)
	}
	edit(&mm)
	if err := writeFileAtomic(dir, filepath.Join(dir, metaFile), modelYAML(mm)); err != nil {
		return "", err
	}
	return dir, nil
}

// FinalizeLoggedModel sets the status. MLflow's rewrite drops the
// lifecycle_stage key, which readers take as active.
func (s *Store) FinalizeLoggedModel(ctx context.Context, id string, status tracking.LoggedModelStatus) (*tracking.LoggedModel, error) {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	now := s.nowMillis()
	dir, err := s.rewriteModel(id, func(mm *modelMeta) {
		mm.Status = status
		mm.LastUpdatedTime = now
		mm.hasLifecycle = false
		mm.LifecycleStage = tracking.LifecycleActive
	})
	if err != nil {
		return nil, err
	}
	mm, err := readLoggedModel(dir)
	if err != nil {
		return nil, err
	}
	return &mm.LoggedModel, nil
}

// DeleteLoggedModel marks the model deleted in its meta.yaml; the folder
// stays until garbage collection, as in MLflow.
func (s *Store) DeleteLoggedModel(ctx context.Context, id string) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	now := s.nowMillis()
	_, err := s.rewriteModel(id, func(mm *modelMeta) {
		mm.LastUpdatedTime = now
		mm.hasLifecycle = true
		mm.LifecycleStage = tracking.LifecycleDeleted
	})
	return err
}

// SetLoggedModelTags implements tracking.LoggedModelStore; a repeated key
// keeps its last value.
func (s *Store) SetLoggedModelTags(ctx context.Context, id string, tags []tracking.Tag) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	dir, _, err := s.loadModel(id, false)
	if err != nil {
		return err
	}
	return writeKeyFiles(dir, tagsDir, dedupeTags(tags))
}

// LogLoggedModelParams implements tracking.LoggedModelStore. MLflow's file
// store overwrites a param logged again; so does this one.
func (s *Store) LogLoggedModelParams(ctx context.Context, id string, params []tracking.Param) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	dir, _, err := s.loadModel(id, false)
	if err != nil {
		return err
	}
	tags := make([]tracking.Tag, len(params))
	for i, p := range params {
		tags[i] = tracking.Tag(p)
	}
	return writeKeyFiles(dir, paramsDir, dedupeTags(tags))
}

// writeKeyFiles validates every key before writing any, so a bad key leaves
// nothing half-written.
func writeKeyFiles(dir, sub string, kv []tracking.Tag) error {
	paths := make([]string, len(kv))
	for i, t := range kv {
		p, err := keyPath(dir, sub, t.Key)
		if err != nil {
			return err
		}
		paths[i] = p
	}
	for i, t := range kv {
		if err := writeFileAtomic(dir, paths[i], []byte(t.Value)); err != nil {
			return err
		}
	}
	return nil
}

// DeleteLoggedModelTag implements tracking.LoggedModelStore.
func (s *Store) DeleteLoggedModelTag(ctx context.Context, id, key string) error {
	if err := tracking.ValidateKeyName(key, "key"); err != nil {
		return err // before the model is looked up, as MLflow's file store does
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	dir, _, err := s.loadModel(id, false)
	if err != nil {
		return err
	}
	path, err := keyPath(dir, tagsDir, key)
	if err != nil {
		return err
	}
	fi, err := os.Lstat(path)
	if err != nil || !fi.Mode().IsRegular() {
		if err == nil || os.IsNotExist(err) {
			return tracking.NotFound("No tag with key %s found for model with ID %s.", search.PyRepr(key), search.PyRepr(id))
		}
		return err
	}
	return os.Remove(path)
}
