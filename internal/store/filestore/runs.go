package filestore

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/mltrack/mltrack/internal/tracking"
)

// CreateRun implements tracking.RunStore.
func (s *Store) CreateRun(ctx context.Context, nr tracking.NewRun) (*tracking.Run, error) {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	e, err := s.experimentForWrite(nr.ExperimentID)
	if err != nil {
		return nil, err
	}
	if e.meta.LifecycleStage != tracking.LifecycleActive {
		return nil, errExperimentNotActive(e)
	}
	id, err := newRunID()
	if err != nil {
		return nil, err
	}
	r := &runEntry{
		exp: e,
		meta: runMeta{RunInfo: tracking.RunInfo{
			RunID: id, RunName: nr.RunName, ExperimentID: e.meta.ID, UserID: nr.UserID,
			Status: tracking.StatusRunning, StartTime: nr.StartTime,
			ArtifactURI:    appendURIPath(e.meta.ArtifactLocation, id, artifactsDir),
			LifecycleStage: tracking.LifecycleActive,
		}},
		params: map[string]string{}, tags: map[string]string{}, metrics: map[string]tracking.Metric{},
	}
	dir := s.runDir(r)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	if err := writeFileAtomic(dir, filepath.Join(dir, metaFile), runYAML(r.meta)); err != nil {
		return nil, err
	}
	for _, sub := range []string{metricsDir, paramsDir, artifactsDir} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return nil, err
		}
	}
	for _, t := range nr.Tags {
		if err := writeFileAtomic(dir, filepath.Join(dir, tagsDir, filepath.FromSlash(t.Key)), []byte(t.Value)); err != nil {
			return nil, err
		}
		r.tags[t.Key] = t.Value
	}
	// No deleted_time: MLflow writes "deleted_time: null" at create but then
	// rewrites meta.yaml without it when it sets the mlflow.runName tag, which
	// every run gets, so its finished file never has the key.
	s.mu.Lock()
	e.runs[id] = r
	s.runs[id] = r
	out := r.run()
	s.mu.Unlock()
	if s.watch != nil {
		s.watch.addTree(dir)
	}
	return &out, nil
}

// GetRun implements tracking.RunStore.
func (s *Store) GetRun(ctx context.Context, id string) (*tracking.Run, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	r, ok := s.runs[id]
	if !ok {
		return nil, errRunNotFound(id)
	}
	out := r.run()
	return &out, nil
}

func (s *Store) runForWrite(id string) (*runEntry, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	r, ok := s.runs[id]
	if !ok {
		return nil, errRunNotFound(id)
	}
	return r, nil
}

// rewriteRun applies edit to a run's meta.yaml under the run folder's lock.
// MLflow drops deleted_time on every rewrite that does not set it.
func (s *Store) rewriteRun(r *runEntry, edit func(*runMeta)) error {
	dir := s.runDir(r)
	lk, err := lockDir(dir)
	if err != nil {
		return err
	}
	defer lk.unlock()
	meta := r.meta
	if m, err := readYAMLMap(filepath.Join(dir, metaFile)); err == nil {
		meta = parseRunMeta(m)
		if meta.RunName == "" {
			meta.RunName = r.meta.RunName
		}
	}
	meta.hasDeletedTime, meta.deletedTime = false, nil
	edit(&meta)
	if err := writeFileAtomic(dir, filepath.Join(dir, metaFile), runYAML(meta)); err != nil {
		return err
	}
	s.mu.Lock()
	r.meta = meta
	s.mu.Unlock()
	return nil
}

// UpdateRun implements tracking.RunStore.
func (s *Store) UpdateRun(ctx context.Context, id string, u tracking.RunUpdate) (*tracking.RunInfo, error) {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	r, err := s.runForWrite(id)
	if err != nil {
		return nil, err
	}
	if r.meta.LifecycleStage != tracking.LifecycleActive {
		return nil, errRunNotActive(r)
	}
	if u.RunName != nil && *u.RunName != "" {
		if err := s.writeRunTag(r, tracking.Tag{Key: tracking.TagRunName, Value: *u.RunName}); err != nil {
			return nil, err
		}
	}
	err = s.rewriteRun(r, func(m *runMeta) {
		if u.Status != nil {
			m.Status = *u.Status
		}
		if u.EndTime != nil {
			v := *u.EndTime
			m.EndTime = &v
		}
		if u.RunName != nil && *u.RunName != "" {
			m.RunName = *u.RunName
		}
	})
	if err != nil {
		return nil, err
	}
	s.mu.RLock()
	info := r.info()
	s.mu.RUnlock()
	return &info, nil
}

func (s *Store) writeRunTag(r *runEntry, t tracking.Tag) error {
	dir := s.runDir(r)
	if err := writeFileAtomic(dir, filepath.Join(dir, tagsDir, filepath.FromSlash(t.Key)), []byte(t.Value)); err != nil {
		return err
	}
	s.mu.Lock()
	r.tags[t.Key] = t.Value
	s.mu.Unlock()
	return nil
}

// DeleteRun implements tracking.RunStore.
func (s *Store) DeleteRun(ctx context.Context, id string) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	r, err := s.runForWrite(id)
	if err != nil {
		return err
	}
	now := s.nowMillis()
	return s.rewriteRun(r, func(m *runMeta) {
		m.LifecycleStage = tracking.LifecycleDeleted
		m.hasDeletedTime, m.deletedTime = true, &now
	})
}

// RestoreRun implements tracking.RunStore.
func (s *Store) RestoreRun(ctx context.Context, id string) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	r, err := s.runForWrite(id)
	if err != nil {
		return err
	}
	return s.rewriteRun(r, func(m *runMeta) { m.LifecycleStage = tracking.LifecycleActive })
}

// LogBatch validates the whole batch (run state, param conflicts against the
// files, not only the index) before writing anything, then writes params,
// metrics and tags. A crash can still leave part of a batch on disk: a
// directory has no transactions.
func (s *Store) LogBatch(ctx context.Context, runID string, metrics []tracking.Metric, params []tracking.Param, tags []tracking.Tag) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	r, err := s.runForWrite(runID)
	if err != nil {
		return err
	}
	if r.meta.LifecycleStage != tracking.LifecycleActive {
		return errRunNotActive(r)
	}
	dir := s.runDir(r)
	lk, err := lockDir(dir)
	if err != nil {
		return err
	}
	locked := true
	unlock := func() {
		if locked {
			lk.unlock()
			locked = false
		}
	}
	defer unlock()

	var newParams []tracking.Param
	seen := map[string]string{}
	for _, p := range params {
		if v, ok := seen[p.Key]; ok {
			if v != p.Value {
				return tracking.InvalidParameter("Duplicate parameter keys have been submitted: ['%s']", p.Key)
			}
			continue
		}
		seen[p.Key] = p.Value
		old, err := os.ReadFile(filepath.Join(dir, paramsDir, filepath.FromSlash(p.Key)))
		switch {
		case err == nil && string(old) != p.Value:
			return tracking.InvalidParameter("Changing param values is not allowed. Param with key='%s' was "+
				"already logged with value='%s' for run ID='%s'. Attempted logging new value '%s'.",
				p.Key, string(old), runID, p.Value)
		case err == nil:
		case os.IsNotExist(err):
			newParams = append(newParams, p)
		default:
			return err
		}
	}

	for _, p := range newParams {
		if err := writeFileAtomic(dir, filepath.Join(dir, paramsDir, filepath.FromSlash(p.Key)), []byte(p.Value)); err != nil {
			return err
		}
	}
	// The SQL store drops a point equal in key, timestamp, step and value to
	// one already logged; so does this store, using a per-key cache of the
	// file's points that is rebuilt whenever the file's size is not the one
	// the cache saw (another process appended).
	byKey := map[string]*strings.Builder{}
	var keys []string
	var kept []tracking.Metric
	for _, m := range metrics {
		pc, err := s.pointCacheFor(r, dir, m.Key)
		if err != nil {
			return err
		}
		k := keyOf(m)
		if _, dup := pc.set[k]; dup {
			continue
		}
		pc.set[k] = struct{}{}
		kept = append(kept, m)
		b, ok := byKey[m.Key]
		if !ok {
			b = &strings.Builder{}
			byKey[m.Key] = b
			keys = append(keys, m.Key)
		}
		b.WriteString(metricLine(m))
	}
	for _, k := range keys {
		data := byKey[k].String()
		if err := appendFile(filepath.Join(dir, metricsDir, filepath.FromSlash(k)), []byte(data)); err != nil {
			delete(r.points, k)
			return err
		}
		r.points[k].size += int64(len(data))
	}
	// Every point naming a model goes to the model too, even one the run
	// already had: MLflow's log_model re-logs the run's points that way.
	if err := s.appendModelMetrics(runID, metrics); err != nil {
		return err
	}
	metrics = kept
	var newName string
	for _, t := range tags {
		if err := writeFileAtomic(dir, filepath.Join(dir, tagsDir, filepath.FromSlash(t.Key)), []byte(t.Value)); err != nil {
			return err
		}
		if t.Key == tracking.TagRunName {
			newName = t.Value
		}
	}

	s.mu.Lock()
	for _, p := range newParams {
		r.params[p.Key] = p.Value
	}
	for _, m := range metrics {
		m.RunID = ""
		if cur, ok := r.metrics[m.Key]; !ok || metricLess(cur, m) {
			r.metrics[m.Key] = m
		}
	}
	for _, t := range tags {
		r.tags[t.Key] = t.Value
	}
	s.mu.Unlock()

	if newName != "" && newName != r.meta.RunName {
		unlock() // rewriteRun takes the folder lock itself
		return s.rewriteRun(r, func(m *runMeta) { m.RunName = newName })
	}
	return nil
}

// pointCacheFor returns the duplicate-detection cache of one metric file.
// The caller holds writeMu.
func (s *Store) pointCacheFor(r *runEntry, dir, key string) (*pointCache, error) {
	path := filepath.Join(dir, metricsDir, filepath.FromSlash(key))
	size := int64(0)
	if fi, err := os.Stat(path); err == nil {
		size = fi.Size()
	} else if !os.IsNotExist(err) {
		return nil, err
	}
	if r.points == nil {
		r.points = map[string]*pointCache{}
	}
	if pc, ok := r.points[key]; ok && pc.size == size {
		return pc, nil
	}
	pc := &pointCache{size: size, set: map[pointKey]struct{}{}}
	if size > 0 {
		points, err := readMetricFile(path, key)
		if err != nil {
			return nil, err
		}
		for _, p := range points {
			pc.set[keyOf(p)] = struct{}{}
		}
	}
	r.points[key] = pc
	return pc, nil
}

// DeleteTag implements tracking.RunStore.
func (s *Store) DeleteTag(ctx context.Context, runID, key string) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	r, err := s.runForWrite(runID)
	if err != nil {
		return err
	}
	if r.meta.LifecycleStage != tracking.LifecycleActive {
		return errRunNotActive(r)
	}
	// The key names a file below the run's tags folder: one that would
	// resolve elsewhere ("../meta.yaml") is refused, as MLflow's file store
	// refuses it, before anything is removed.
	if err := tracking.ValidateKeyName(key, "key"); err != nil {
		return err
	}
	if err := os.Remove(filepath.Join(s.runDir(r), tagsDir, filepath.FromSlash(key))); err != nil {
		if os.IsNotExist(err) {
			return tracking.NotFound("No tag with name: %s in run with id %s", key, runID)
		}
		return err
	}
	s.mu.Lock()
	delete(r.tags, key)
	s.mu.Unlock()
	return nil
}

// GetMetricHistory reads the metric's file; a metric never logged is an
// empty history.
func (s *Store) GetMetricHistory(ctx context.Context, runID, key string, offset, limit int) ([]tracking.Metric, error) {
	path, ok, err := s.metricPath(runID, key)
	if err != nil {
		return nil, err
	}
	if !ok {
		// The SQL store answers an unknown run with an empty history.
		return []tracking.Metric{}, nil
	}
	points, err := readMetricFile(path, key)
	if err != nil {
		if os.IsNotExist(err) {
			return []tracking.Metric{}, nil
		}
		return nil, err
	}
	sort.SliceStable(points, func(i, j int) bool { return historyLess(points[i], points[j]) })
	for i := range points {
		points[i].RunID = runID
	}
	if offset >= len(points) {
		return []tracking.Metric{}, nil
	}
	points = points[offset:]
	if limit > 0 && limit < len(points) {
		points = points[:limit]
	}
	return points, nil
}

// historyLess is the SQL store's history order: timestamp, step, value.
func historyLess(a, b tracking.Metric) bool {
	if a.Timestamp != b.Timestamp {
		return a.Timestamp < b.Timestamp
	}
	if a.Step != b.Step {
		return a.Step < b.Step
	}
	return a.Value < b.Value || (!math.IsNaN(a.Value) && math.IsNaN(b.Value))
}
