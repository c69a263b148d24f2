package filestore

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/mltrack/mltrack/internal/tracking"
)

// CreateExperiment implements tracking.ExperimentStore.
func (s *Store) CreateExperiment(ctx context.Context, ne tracking.NewExperiment) (string, error) {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	// The root lock and a look at the disk keep names unique across
	// processes, which the index alone (a few ms behind) cannot.
	lk, err := lockDir(s.root)
	if err != nil {
		return "", err
	}
	defer lk.unlock()
	if err := s.checkNameFree(ne.Name); err != nil {
		return "", err
	}
	for range 100 {
		id, err := newExperimentID()
		if err != nil {
			return "", err
		}
		if s.idTaken(id) {
			continue
		}
		return s.createExperimentWithID(id, ne)
	}
	return "", fmt.Errorf("could not find a free experiment id")
}

func (s *Store) idTaken(id string) bool {
	s.mu.RLock()
	_, ok := s.exps[id]
	s.mu.RUnlock()
	if ok {
		return true
	}
	for _, p := range []string{filepath.Join(s.root, id), filepath.Join(s.root, trashDir, id)} {
		if _, err := os.Lstat(p); err == nil {
			return true
		}
	}
	return false
}

func (s *Store) checkNameFree(name string) error {
	s.mu.RLock()
	var found *experimentMeta
	for _, e := range s.exps {
		if e.meta.Name == name {
			m := e.meta
			found = &m
			break
		}
	}
	s.mu.RUnlock()
	if found == nil {
		found = s.findNameOnDisk(name)
	}
	if found == nil {
		return nil
	}
	if found.LifecycleStage == tracking.LifecycleDeleted {
		return tracking.Errorf(tracking.ErrResourceAlreadyExists,
			"Experiment '%s' already exists in deleted state. You can restore the experiment, "+
				"or permanently delete the experiment from the .trash folder (under tracking "+
				"server's root folder) in order to use this experiment name again.", name)
	}
	return tracking.Errorf(tracking.ErrResourceAlreadyExists, "Experiment '%s' already exists.", name)
}

// findNameOnDisk reads every experiment's meta.yaml looking for name.
func (s *Store) findNameOnDisk(name string) *experimentMeta {
	for _, parent := range []string{s.root, filepath.Join(s.root, trashDir)} {
		ents, err := os.ReadDir(parent)
		if err != nil {
			continue
		}
		for _, d := range ents {
			if !d.IsDir() || d.Name() == trashDir || d.Name() == "models" {
				continue
			}
			m, err := readYAMLMap(filepath.Join(parent, d.Name(), metaFile))
			if err != nil {
				continue
			}
			if meta := parseExperimentMeta(m); meta.Name == name && meta.ID == d.Name() {
				return &meta
			}
		}
	}
	return nil
}

// createExperimentWithID writes the experiment folder. The caller holds
// writeMu (or is Open, before anyone else can see the store).
func (s *Store) createExperimentWithID(id string, ne tracking.NewExperiment) (string, error) {
	loc := appendURIPath(s.artifactRoot, id)
	if ne.ArtifactLocation != "" {
		loc = resolveArtifactLocation(ne.ArtifactLocation)
	}
	now := s.nowMillis()
	e := &expEntry{
		meta: experimentMeta{Experiment: tracking.Experiment{
			ID: id, Name: ne.Name, ArtifactLocation: loc, LifecycleStage: tracking.LifecycleActive,
			CreationTime: now, LastUpdateTime: now,
		}},
		tags: map[string]string{},
		runs: map[string]*runEntry{},
	}
	dir := s.expDir(e)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	if err := writeFileAtomic(dir, filepath.Join(dir, metaFile), experimentYAML(e.meta, nil, false)); err != nil {
		return "", err
	}
	for _, t := range ne.Tags {
		if err := writeFileAtomic(dir, filepath.Join(dir, tagsDir, filepath.FromSlash(t.Key)), []byte(t.Value)); err != nil {
			return "", err
		}
		e.tags[t.Key] = t.Value
	}
	s.mu.Lock()
	s.exps[id] = e
	s.mu.Unlock()
	if s.watch != nil {
		s.watch.addExperiment(dir)
	}
	return id, nil
}

// GetExperiment implements tracking.ExperimentStore.
func (s *Store) GetExperiment(ctx context.Context, id string) (*tracking.Experiment, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	e, ok := s.exps[id]
	if !ok {
		return nil, errExperimentNotFound(id)
	}
	x := e.experiment()
	return &x, nil
}

// GetExperimentByName implements tracking.ExperimentStore.
func (s *Store) GetExperimentByName(ctx context.Context, name string) (*tracking.Experiment, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, e := range s.exps {
		if e.meta.Name == name {
			x := e.experiment()
			return &x, nil
		}
	}
	return nil, tracking.NotFound("Experiment with name '%s' does not exist.", name)
}

// RenameExperiment implements tracking.ExperimentStore.
func (s *Store) RenameExperiment(ctx context.Context, id, newName string) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	e, err := s.experimentForWrite(id)
	if err != nil {
		return err
	}
	if e.deleted {
		return tracking.Errorf(tracking.ErrInvalidState, "Cannot rename a non-active experiment.")
	}
	lk, err := lockDir(s.root)
	if err != nil {
		return err
	}
	defer lk.unlock()
	if e.meta.Name != newName {
		if err := s.checkNameFree(newName); err != nil {
			return err
		}
	}
	return s.rewriteExperiment(e, func(m *experimentMeta) {
		m.Name = newName
		m.LastUpdateTime = s.nowMillis()
	})
}

func (s *Store) experimentForWrite(id string) (*expEntry, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	e, ok := s.exps[id]
	if !ok {
		return nil, errExperimentNotFound(id)
	}
	return e, nil
}

// rewriteExperiment applies edit to the experiment's meta.yaml under the
// folder lock, re-reading the file first so another writer's change is kept.
func (s *Store) rewriteExperiment(e *expEntry, edit func(*experimentMeta)) error {
	dir := s.expDir(e)
	lk, err := lockDir(dir)
	if err != nil {
		return err
	}
	defer lk.unlock()
	meta := e.meta
	if m, err := readYAMLMap(filepath.Join(dir, metaFile)); err == nil {
		meta = parseExperimentMeta(m)
	}
	edit(&meta)
	s.mu.RLock()
	tags := cloneMap(e.tags)
	s.mu.RUnlock()
	if err := writeFileAtomic(dir, filepath.Join(dir, metaFile), experimentYAML(meta, tags, true)); err != nil {
		return err
	}
	s.mu.Lock()
	e.meta = meta
	s.mu.Unlock()
	return nil
}

// DeleteExperiment marks the experiment and its active runs deleted and moves
// the folder to .trash, as MLflow does.
func (s *Store) DeleteExperiment(ctx context.Context, id string) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	e, err := s.experimentForWrite(id)
	if err != nil {
		return err
	}
	if e.deleted {
		return errExperimentNotFound(id)
	}
	now := s.nowMillis()
	for _, r := range s.runsOf(e) {
		if r.meta.LifecycleStage != tracking.LifecycleActive {
			continue
		}
		if err := s.rewriteRun(r, func(m *runMeta) {
			m.LifecycleStage = tracking.LifecycleDeleted
			m.hasDeletedTime, m.deletedTime = true, &now
		}); err != nil {
			return err
		}
	}
	if err := s.rewriteExperiment(e, func(m *experimentMeta) {
		m.LifecycleStage = tracking.LifecycleDeleted
		m.LastUpdateTime = now
	}); err != nil {
		return err
	}
	return s.moveExperiment(e, true)
}

// RestoreExperiment moves the folder back and reactivates all its runs.
func (s *Store) RestoreExperiment(ctx context.Context, id string) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	e, err := s.experimentForWrite(id)
	if err != nil {
		return err
	}
	if !e.deleted {
		return errExperimentNotFound(id)
	}
	if _, err := os.Lstat(filepath.Join(s.root, id)); err == nil {
		return tracking.Errorf(tracking.ErrResourceAlreadyExists,
			"Cannot restore experiment with ID %s. An experiment with same ID already exists.", id)
	}
	if err := s.moveExperiment(e, false); err != nil {
		return err
	}
	for _, r := range s.runsOf(e) {
		if r.meta.LifecycleStage != tracking.LifecycleDeleted {
			continue
		}
		if err := s.rewriteRun(r, func(m *runMeta) {
			m.LifecycleStage = tracking.LifecycleActive
			m.hasDeletedTime, m.deletedTime = false, nil
		}); err != nil {
			return err
		}
	}
	return s.rewriteExperiment(e, func(m *experimentMeta) {
		m.LifecycleStage = tracking.LifecycleActive
		m.LastUpdateTime = s.nowMillis()
	})
}

func (s *Store) moveExperiment(e *expEntry, toTrash bool) error {
	from := s.expDir(e)
	s.mu.Lock()
	e.deleted = toTrash
	to := s.expDir(e)
	e.deleted = !toTrash
	s.mu.Unlock()
	if err := os.Rename(from, to); err != nil {
		return err
	}
	s.mu.Lock()
	e.deleted = toTrash
	s.mu.Unlock()
	if s.watch != nil {
		s.watch.addTree(to)
	}
	return nil
}

func (s *Store) runsOf(e *expEntry) []*runEntry {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]*runEntry, 0, len(e.runs))
	for _, r := range e.runs {
		out = append(out, r)
	}
	return out
}

// SetExperimentTag implements tracking.ExperimentStore.
func (s *Store) SetExperimentTag(ctx context.Context, id string, tag tracking.Tag) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	e, err := s.experimentForWrite(id)
	if err != nil {
		return err
	}
	if e.meta.LifecycleStage != tracking.LifecycleActive {
		return errExperimentNotActive(e)
	}
	dir := s.expDir(e)
	if err := writeFileAtomic(dir, filepath.Join(dir, tagsDir, filepath.FromSlash(tag.Key)), []byte(tag.Value)); err != nil {
		return err
	}
	s.mu.Lock()
	e.tags[tag.Key] = tag.Value
	s.mu.Unlock()
	return nil
}

// DeleteExperimentTag implements tracking.ExperimentStore.
func (s *Store) DeleteExperimentTag(ctx context.Context, id, key string) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	e, err := s.experimentForWrite(id)
	if err != nil {
		return err
	}
	if e.meta.LifecycleStage != tracking.LifecycleActive {
		return errExperimentNotActive(e)
	}
	// As for run tags (DeleteTag): never a file outside the tags folder.
	if err := tracking.ValidateKeyName(key, "key"); err != nil {
		return err
	}
	path := filepath.Join(s.expDir(e), tagsDir, filepath.FromSlash(key))
	if err := os.Remove(path); err != nil {
		if os.IsNotExist(err) {
			return tracking.NotFound("No tag with name: %s in experiment with id %s", key, id)
		}
		return err
	}
	s.mu.Lock()
	delete(e.tags, key)
	s.mu.Unlock()
	return nil
}
