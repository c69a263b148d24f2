package filestore

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/mltrack/mltrack/internal/importer"
	"github.com/mltrack/mltrack/internal/tracking"
)

// Importer reads and writes an mlruns folder for `mltrack import`. It works
// on the files directly, without the Store's index: an import reads each run
// once, and it must see (and report, with its path) every malformed file the
// index would skip.
type Importer struct {
	s *Store
	// runs maps run ids to their folders; built on first need.
	mu   sync.Mutex
	runs map[string]string
	// models maps logged model ids to their folders, filled by ModelIDs.
	models map[string]string
}

var _ importer.Sink = (*Importer)(nil)

// OpenImporter opens (creating when missing) the mlruns folder root.
func OpenImporter(root string, log *slog.Logger) (*Importer, error) {
	path, err := localPath(root)
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(filepath.Join(path, trashDir), 0o755); err != nil {
		return nil, fmt.Errorf("create mlruns folder: %w", err)
	}
	return &Importer{s: &Store{root: path, log: log}}, nil
}

// expDirs lists experiment folders: id -> (dir, deleted).
func (im *Importer) expDirs() (map[string]string, map[string]bool, error) {
	dirs, deleted := map[string]string{}, map[string]bool{}
	for _, del := range []bool{false, true} {
		parent := im.s.root
		if del {
			parent = filepath.Join(im.s.root, trashDir)
		}
		ents, err := os.ReadDir(parent)
		if err != nil {
			return nil, nil, importer.AsProblem(parent, err)
		}
		for _, d := range ents {
			if !d.IsDir() || strings.HasPrefix(d.Name(), ".") || d.Name() == "models" {
				continue
			}
			if _, dup := dirs[d.Name()]; dup {
				continue // active copy wins, as MLflow looks there first
			}
			dirs[d.Name()] = filepath.Join(parent, d.Name())
			deleted[d.Name()] = del
		}
	}
	return dirs, deleted, nil
}

// Experiments implements importer.Source.
func (im *Importer) Experiments(ctx context.Context) ([]tracking.Experiment, []error, error) {
	dirs, deleted, err := im.expDirs()
	if err != nil {
		return nil, nil, err
	}
	var out []tracking.Experiment
	var bad []error
	for id, dir := range dirs {
		e, err := im.s.loadExperiment(dir, id, deleted[id])
		if err != nil {
			bad = append(bad, importer.AsProblem(filepath.Join(dir, metaFile), err))
			continue
		}
		out = append(out, e.experiment())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, bad, nil
}

// RunIDs implements importer.Source.
func (im *Importer) RunIDs(ctx context.Context, experimentID string) ([]string, error) {
	dirs, _, err := im.expDirs()
	if err != nil {
		return nil, err
	}
	dir, ok := dirs[experimentID]
	if !ok {
		return nil, errExperimentNotFound(experimentID)
	}
	runDirs, err := listRunDirs(dir)
	if err != nil {
		return nil, importer.AsProblem(dir, err)
	}
	ids := make([]string, 0, len(runDirs))
	im.mu.Lock()
	defer im.mu.Unlock()
	if im.runs == nil {
		im.runs = map[string]string{}
	}
	for _, d := range runDirs {
		if strings.HasPrefix(filepath.Base(d), ".") {
			continue
		}
		id := filepath.Base(d)
		ids = append(ids, id)
		im.runs[id] = d
	}
	sort.Strings(ids)
	return ids, nil
}

func (im *Importer) runDir(id string) (string, error) {
	im.mu.Lock()
	defer im.mu.Unlock()
	if im.runs == nil {
		im.runs = map[string]string{}
		dirs, _, err := im.expDirs()
		if err != nil {
			return "", err
		}
		for _, dir := range dirs {
			runDirs, err := listRunDirs(dir)
			if err != nil {
				return "", importer.AsProblem(dir, err)
			}
			for _, d := range runDirs {
				im.runs[filepath.Base(d)] = d
			}
		}
	}
	d, ok := im.runs[id]
	if !ok {
		return "", errRunNotFound(id)
	}
	return d, nil
}

// ReadRun implements importer.Source. Unlike the index, it refuses a metric
// file whose last line is cut short: that is a half-written point.
func (im *Importer) ReadRun(ctx context.Context, runID string) (*importer.Run, error) {
	dir, err := im.runDir(runID)
	if err != nil {
		return nil, err
	}
	metaPath := filepath.Join(dir, metaFile)
	m, err := readYAMLMap(metaPath)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, errRunNotFound(runID)
		}
		return nil, importer.AsProblem(metaPath, err)
	}
	meta := parseRunMeta(m)
	if meta.RunID != runID {
		return nil, importer.AsProblem(metaPath, fmt.Errorf("records run id %q", meta.RunID))
	}
	r := &importer.Run{Info: meta.RunInfo, DeletedTime: meta.deletedTime}
	params, err := readKeyFiles(filepath.Join(dir, paramsDir))
	if err != nil {
		return nil, importer.AsProblem(filepath.Join(dir, paramsDir), err)
	}
	tags, err := readKeyFiles(filepath.Join(dir, tagsDir))
	if err != nil {
		return nil, importer.AsProblem(filepath.Join(dir, tagsDir), err)
	}
	if r.Info.RunName == "" {
		r.Info.RunName = tags[tracking.TagRunName]
	}
	for _, k := range sortedKeys(params) {
		r.Params = append(r.Params, tracking.Param{Key: k, Value: params[k]})
	}
	r.Tags = sortedTags(tags)
	err = walkKeys(filepath.Join(dir, metricsDir), func(key, path string) error {
		points, off, err := readMetricFileFrom(path, key, 0)
		if err != nil {
			return importer.AsProblem(path, err)
		}
		if fi, err := os.Stat(path); err == nil && fi.Size() > off {
			rest, _ := os.ReadFile(path)
			if len(bytes.TrimSpace(rest[off:])) > 0 {
				return importer.AsProblem(path, fmt.Errorf("last line is incomplete (a half-written metric point at byte %d)", off))
			}
		}
		r.Metrics = append(r.Metrics, points...)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if hasDir(filepath.Join(dir, inputsDir)) || hasDir(filepath.Join(dir, outputsDir)) {
		e := &expEntry{meta: experimentMeta{Experiment: tracking.Experiment{ID: meta.ExperimentID}},
			deleted: strings.HasPrefix(dir, filepath.Join(im.s.root, trashDir)+string(filepath.Separator))}
		re := &runEntry{exp: e, meta: meta}
		if err := im.s.loadInputs(re, dir); err != nil {
			return nil, importer.AsProblem(filepath.Join(dir, inputsDir), err)
		}
		r.Inputs = re.inputs.DatasetInputs
		r.ModelInputs, r.ModelOutputs = re.inputs.ModelInputs, re.outputs.ModelOutputs
	}
	return r, nil
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// KeepsExperimentID: an mlruns folder takes any decimal id.
func (im *Importer) KeepsExperimentID(id string) bool {
	return id != "" && strings.Trim(id, "0123456789") == ""
}

func (im *Importer) expPath(id string, deleted bool) string {
	if deleted {
		return filepath.Join(im.s.root, trashDir, id)
	}
	return filepath.Join(im.s.root, id)
}

// InsertExperiment implements importer.Sink.
func (im *Importer) InsertExperiment(ctx context.Context, e tracking.Experiment, keepID bool) (string, error) {
	if !keepID {
		id, err := newExperimentID()
		if err != nil {
			return "", err
		}
		e.ID = id
	}
	dir := im.expPath(e.ID, e.LifecycleStage == tracking.LifecycleDeleted)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	if err := im.writeExperiment(dir, experimentMeta{Experiment: e}, e.Tags); err != nil {
		return "", err
	}
	return e.ID, nil
}

func (im *Importer) writeExperiment(dir string, meta experimentMeta, tags []tracking.Tag) error {
	for _, t := range tags {
		if err := writeFileAtomic(dir, filepath.Join(dir, tagsDir, filepath.FromSlash(t.Key)), []byte(t.Value)); err != nil {
			return err
		}
	}
	return writeFileAtomic(dir, filepath.Join(dir, metaFile), experimentYAML(meta, nil, false))
}

// OverwriteExperiment implements importer.Sink; a change of lifecycle moves
// the folder in or out of .trash.
func (im *Importer) OverwriteExperiment(ctx context.Context, id string, e tracking.Experiment) error {
	dirs, deleted, err := im.expDirs()
	if err != nil {
		return err
	}
	dir, ok := dirs[id]
	if !ok {
		return errExperimentNotFound(id)
	}
	meta := experimentMeta{}
	if m, err := readYAMLMap(filepath.Join(dir, metaFile)); err == nil {
		meta = parseExperimentMeta(m)
	}
	meta.Experiment = e
	meta.Experiment.ID = id
	wantDeleted := e.LifecycleStage == tracking.LifecycleDeleted
	if wantDeleted != deleted[id] {
		to := im.expPath(id, wantDeleted)
		if err := os.Rename(dir, to); err != nil {
			return err
		}
		dir = to
		im.mu.Lock()
		im.runs = nil // folders moved
		im.mu.Unlock()
	}
	return im.writeExperiment(dir, meta, e.Tags)
}

// WriteRun implements importer.Sink. A new run is built in a hidden folder
// and renamed into place, so an interrupted import never leaves half a run
// that readers would take for a whole one.
func (im *Importer) WriteRun(ctx context.Context, w importer.RunWrite) error {
	dirs, _, err := im.expDirs()
	if err != nil {
		return err
	}
	expDir, ok := dirs[w.Info.ExperimentID]
	if !ok {
		return errExperimentNotFound(w.Info.ExperimentID)
	}
	meta := runMeta{RunInfo: w.Info, deletedTime: w.DeletedTime, hasDeletedTime: true}
	final := filepath.Join(expDir, w.Info.RunID)
	dir := final
	if w.Create {
		dir = filepath.Join(expDir, tmpPrefix+w.Info.RunID)
		_ = os.RemoveAll(dir) // left by an interrupted import
		for _, sub := range []string{metricsDir, paramsDir, tagsDir, artifactsDir} {
			if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
				return err
			}
		}
	} else if d, err := im.runDir(w.Info.RunID); err == nil {
		dir = d
	}
	for _, p := range w.Params {
		if err := writeFileAtomic(dir, filepath.Join(dir, paramsDir, filepath.FromSlash(p.Key)), []byte(p.Value)); err != nil {
			return err
		}
	}
	for _, t := range w.Tags {
		if err := writeFileAtomic(dir, filepath.Join(dir, tagsDir, filepath.FromSlash(t.Key)), []byte(t.Value)); err != nil {
			return err
		}
	}
	// One append per metric file: lines of one file stay in source order.
	byKey := map[string]*bytes.Buffer{}
	var keys []string
	for _, m := range w.Metrics {
		b, ok := byKey[m.Key]
		if !ok {
			b = &bytes.Buffer{}
			byKey[m.Key] = b
			keys = append(keys, m.Key)
		}
		b.WriteString(metricLine(m))
	}
	for _, k := range keys {
		if err := appendFile(filepath.Join(dir, metricsDir, filepath.FromSlash(k)), byKey[k].Bytes()); err != nil {
			return err
		}
	}
	for _, in := range w.Inputs {
		if err := im.writeDatasetInput(expDir, dir, w.Info.RunID, in); err != nil {
			return err
		}
	}
	for _, m := range w.ModelInputs {
		if err := writeOnce(filepath.Join(dir, inputsDir, md5Hex(m.ModelID, w.Info.RunID)), inputYAML("MODEL", m.ModelID, nil)); err != nil {
			return err
		}
	}
	for _, m := range w.ModelOutputs {
		if !isPathComponent(m.ModelID) {
			return fmt.Errorf("logged model id %q cannot name a folder", m.ModelID)
		}
		if err := writeOnce(filepath.Join(dir, outputsDir, m.ModelID), outputYAML(m.ModelID, m.Step)); err != nil {
			return err
		}
	}
	if w.SetInfo || w.Create {
		if err := writeFileAtomic(dir, filepath.Join(dir, metaFile), runYAML(meta)); err != nil {
			return err
		}
	}
	if w.Create {
		if err := os.Rename(dir, final); err != nil {
			return err
		}
		if err := syncDir(expDir); err != nil {
			return err
		}
		im.mu.Lock()
		if im.runs != nil {
			im.runs[w.Info.RunID] = final
		}
		im.mu.Unlock()
	}
	return nil
}

func md5Hex(parts ...string) string {
	h := md5.New()
	for _, p := range parts {
		h.Write([]byte(p))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// writeDatasetInput writes the dataset (once per experiment) and the run's
// input record under MLflow's md5-derived folder names.
func (im *Importer) writeDatasetInput(expDir, runDir, runID string, in tracking.DatasetInput) error {
	d := in.Dataset
	dsID := md5Hex(d.Name, d.Digest)
	dsDir := filepath.Join(expDir, datasetsDir, dsID)
	if !hasDir(dsDir) {
		if err := os.MkdirAll(dsDir, 0o755); err != nil {
			return err
		}
		f := []yamlField{{"digest", d.Digest}, {"name", d.Name}, {"profile", nullable(d.Profile)},
			{"schema", nullable(d.Schema)}, {"source", d.Source}, {"source_type", d.SourceType}}
		if err := writeFileAtomic(dsDir, filepath.Join(dsDir, metaFile), emitYAML(f)); err != nil {
			return err
		}
	}
	inDir := filepath.Join(runDir, inputsDir, md5Hex(dsID, runID))
	if hasDir(inDir) {
		return nil
	}
	if err := os.MkdirAll(inDir, 0o755); err != nil {
		return err
	}
	tags := map[string]string{}
	for _, t := range in.Tags {
		tags[t.Key] = t.Value
	}
	// destination_id repeats the dataset id: MLflow 3.18 writes it so.
	f := []yamlField{{"destination_id", dsID}, {"destination_type", "RUN"}, {"source_id", dsID},
		{"source_type", "DATASET"}, {"tags", tags}}
	return writeFileAtomic(inDir, filepath.Join(inDir, metaFile), emitYAML(f))
}

func nullable(s string) any {
	if s == "" {
		return yamlNull{}
	}
	return s
}

var _ importer.ModelSink = (*Importer)(nil)

// ModelIDs implements importer.ModelSource: the folders under
// <experiment>/models that hold a meta.yaml. MLflow leaves folders without
// one when a run logs a metric for a model of another experiment, and never
// reads them as models either.
func (im *Importer) ModelIDs(ctx context.Context, experimentID string) ([]string, error) {
	dirs, _, err := im.expDirs()
	if err != nil {
		return nil, err
	}
	dir, ok := dirs[experimentID]
	if !ok {
		return nil, errExperimentNotFound(experimentID)
	}
	parent := filepath.Join(dir, modelsDir)
	ents, err := os.ReadDir(parent)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, importer.AsProblem(parent, err)
	}
	var ids []string
	im.mu.Lock()
	defer im.mu.Unlock()
	if im.models == nil {
		im.models = map[string]string{}
	}
	for _, d := range ents {
		if !d.IsDir() || strings.HasPrefix(d.Name(), ".") || !isPathComponent(d.Name()) {
			continue
		}
		if _, err := os.Stat(filepath.Join(parent, d.Name(), metaFile)); err != nil {
			continue
		}
		ids = append(ids, d.Name())
		im.models[d.Name()] = filepath.Join(parent, d.Name())
	}
	sort.Strings(ids)
	return ids, nil
}

// modelDir finds a model's folder: active experiments first, then deleted
// ones, as MLflow looks.
func (im *Importer) modelDir(id string) (string, error) {
	im.mu.Lock()
	d, ok := im.models[id]
	im.mu.Unlock()
	if ok {
		return d, nil
	}
	if !isPathComponent(id) {
		return "", errModelNotFound(id)
	}
	dirs, deleted, err := im.expDirs()
	if err != nil {
		return "", err
	}
	for _, del := range []bool{false, true} {
		for exp, dir := range dirs {
			if deleted[exp] != del {
				continue
			}
			d := filepath.Join(dir, modelsDir, id)
			if _, err := os.Stat(filepath.Join(d, metaFile)); err == nil {
				return d, nil
			}
		}
	}
	return "", errModelNotFound(id)
}

// ReadModel implements importer.ModelSource with every metric point (the
// store reports only the latest); a half-written last line is refused, as
// for runs.
func (im *Importer) ReadModel(ctx context.Context, id string) (*tracking.LoggedModel, error) {
	dir, err := im.modelDir(id)
	if err != nil {
		return nil, err
	}
	mm, err := readLoggedModel(dir)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, errModelNotFound(id)
		}
		return nil, importer.AsProblem(dir, err)
	}
	if mm.ID != id {
		return nil, importer.AsProblem(filepath.Join(dir, metaFile), fmt.Errorf("records model id %q", mm.ID))
	}
	m := mm.LoggedModel
	m.Metrics = nil
	err = walkKeys(filepath.Join(dir, metricsDir), func(key, path string) error {
		data, err := os.ReadFile(path)
		if err != nil {
			return importer.AsProblem(path, err)
		}
		lines := strings.Split(string(data), "\n")
		if last := lines[len(lines)-1]; strings.TrimSpace(last) != "" {
			return importer.AsProblem(path, fmt.Errorf("last line is incomplete (a half-written metric point at byte %d)", len(data)-len(last)))
		}
		for _, line := range lines {
			if strings.TrimSpace(line) == "" {
				continue
			}
			p, err := parseModelMetricLine(id, key, line)
			if err != nil {
				return importer.AsProblem(path, err)
			}
			m.Metrics = append(m.Metrics, p)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &m, nil
}

// WriteModel implements importer.ModelSink. A new model is written into a
// hidden folder and renamed into place, so an interrupted import leaves no
// half model; an existing one gets the new params, tags and points and a
// rewritten meta.yaml.
func (im *Importer) WriteModel(ctx context.Context, w importer.ModelWrite) error {
	dirs, _, err := im.expDirs()
	if err != nil {
		return err
	}
	expDir, ok := dirs[w.Model.ExperimentID]
	if !ok {
		return errExperimentNotFound(w.Model.ExperimentID)
	}
	if !isPathComponent(w.Model.ID) {
		return fmt.Errorf("logged model id %q cannot name a folder", w.Model.ID)
	}
	if !w.Create {
		dir, err := im.modelDir(w.Model.ID)
		if err != nil {
			return err
		}
		return writeLoggedModel(dir, w.Model)
	}
	final := filepath.Join(expDir, modelsDir, w.Model.ID)
	tmp := filepath.Join(expDir, modelsDir, tmpPrefix+w.Model.ID)
	_ = os.RemoveAll(tmp) // left by an interrupted import
	if err := writeLoggedModel(tmp, w.Model); err != nil {
		return err
	}
	if err := os.Rename(tmp, final); err != nil {
		return err
	}
	if err := syncDir(filepath.Dir(final)); err != nil {
		return err
	}
	im.mu.Lock()
	if im.models == nil {
		im.models = map[string]string{}
	}
	im.models[w.Model.ID] = final
	im.mu.Unlock()
	return nil
}
