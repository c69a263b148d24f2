package filestore

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/mltrack/mltrack/internal/tracking"
)

// Logged models live in <experiment>/models/<model id>/ as MLflow 3.18's
// FileStore writes them: a meta.yaml with the model's fields, params/ and
// tags/ with one file per key, and metrics/ with one file per key whose lines
// carry the run that logged each point.

const modelsDir = "models"

// modelMeta is a logged model's meta.yaml.
type modelMeta struct {
	tracking.LoggedModel
	// hasLifecycle: MLflow writes lifecycle_stage on create and delete only;
	// finalizing rewrites the file without it (a reader takes that as active).
	hasLifecycle bool
	// A Python client writing the folder itself stores absent optional fields
	// as null, MLflow's server as ''; a rewrite keeps whichever was there.
	modelTypeNull, sourceRunNull, statusMessageNull bool
}

func parseModelMeta(m map[string]any) modelMeta {
	mm := modelMeta{LoggedModel: tracking.LoggedModel{
		ID:             yamlString(m, "model_id"),
		ExperimentID:   yamlString(m, "experiment_id"),
		Name:           yamlString(m, "name"),
		ArtifactURI:    yamlString(m, "artifact_location"),
		ModelType:      yamlString(m, "model_type"),
		SourceRunID:    yamlString(m, "source_run_id"),
		StatusMessage:  yamlString(m, "status_message"),
		LifecycleStage: yamlString(m, "lifecycle_stage"),
	}}
	_, mm.hasLifecycle = m["lifecycle_stage"]
	if mm.LifecycleStage == "" {
		mm.LifecycleStage = tracking.LifecycleActive
	}
	mm.modelTypeNull = m["model_type"] == nil
	mm.sourceRunNull = m["source_run_id"] == nil
	mm.statusMessageNull = m["status_message"] == nil
	mm.CreationTime, _ = yamlInt(m, "creation_timestamp")
	mm.LastUpdatedTime, _ = yamlInt(m, "last_updated_timestamp")
	if n, ok := yamlInt(m, "status"); ok {
		mm.Status = tracking.LoggedModelStatus(n)
	} else if st, ok := tracking.ParseLoggedModelStatus(yamlString(m, "status")); ok {
		mm.Status = st
	}
	return mm
}

func optionalString(v string, null bool) any {
	if null && v == "" {
		return yamlNull{}
	}
	return v
}

// modelYAML renders a logged model's meta.yaml: the LoggedModel dictionary
// without tags, params and metrics, status as its number.
func modelYAML(mm modelMeta) []byte {
	f := []yamlField{
		{"artifact_location", mm.ArtifactURI},
		{"creation_timestamp", mm.CreationTime},
		{"experiment_id", mm.ExperimentID},
		{"last_updated_timestamp", mm.LastUpdatedTime},
		{"model_id", mm.ID},
		{"model_type", optionalString(mm.ModelType, mm.modelTypeNull)},
		{"name", mm.Name},
		{"source_run_id", optionalString(mm.SourceRunID, mm.sourceRunNull)},
		{"status", int64(mm.Status)},
		{"status_message", optionalString(mm.StatusMessage, mm.statusMessageNull)},
	}
	if mm.hasLifecycle {
		f = append(f, yamlField{"lifecycle_stage", mm.LifecycleStage})
	}
	return emitYAML(f)
}

// modelMetricLine is one line of a model's metric file:
// "<ts> <value> <step> <run id>" with an optional " <dataset name> <digest>".
func modelMetricLine(m tracking.Metric) string {
	if m.DatasetName != "" && m.DatasetDigest != "" {
		return fmt.Sprintf("%d %s %d %s %s %s\n", m.Timestamp, formatPythonFloat(m.Value), m.Step,
			m.RunID, m.DatasetName, m.DatasetDigest)
	}
	return fmt.Sprintf("%d %s %d %s\n", m.Timestamp, formatPythonFloat(m.Value), m.Step, m.RunID)
}

// parseModelMetricLine accepts the 4- and 6-field forms MLflow reads.
func parseModelMetricLine(modelID, key, line string) (tracking.Metric, error) {
	f := strings.Split(strings.TrimSpace(line), " ")
	if len(f) != 4 && len(f) != 6 {
		return tracking.Metric{}, fmt.Errorf("model metric %q is malformed: %d fields, want 4 or 6", key, len(f))
	}
	ts, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil {
		return tracking.Metric{}, fmt.Errorf("model metric %q timestamp: %w", key, err)
	}
	v, err := strconv.ParseFloat(f[1], 64)
	if err != nil {
		return tracking.Metric{}, fmt.Errorf("model metric %q value: %w", key, err)
	}
	step, err := strconv.ParseInt(f[2], 10, 64)
	if err != nil {
		return tracking.Metric{}, fmt.Errorf("model metric %q step: %w", key, err)
	}
	m := tracking.Metric{Key: key, Value: v, Timestamp: ts, Step: step, RunID: f[3], ModelID: modelID}
	if len(f) == 6 {
		m.DatasetName, m.DatasetDigest = f[4], f[5]
	}
	return m, nil
}

// readModelMetricPoints returns every point of a model's metric files, each
// file's in logged order, keys sorted. A last line without its newline is a
// write in progress by another process and is left out.
func readModelMetricPoints(dir, modelID string) ([]tracking.Metric, error) {
	out := []tracking.Metric{}
	err := walkKeys(filepath.Join(dir, metricsDir), func(key, path string) error {
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if i := bytes.LastIndexByte(data, '\n'); i >= 0 {
			data = data[:i+1]
		} else {
			data = nil
		}
		for _, line := range strings.Split(string(data), "\n") {
			if strings.TrimSpace(line) == "" {
				continue
			}
			p, err := parseModelMetricLine(modelID, key, line)
			if err != nil {
				return err
			}
			out = append(out, p)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

// readModelMetrics returns, per metric key and dataset, the latest point by
// (step, timestamp, value): what MLflow's FileStore reports as a model's
// metrics. Keys come sorted; within a key, groups keep the order in which
// their first point was logged.
func readModelMetrics(dir, modelID string) ([]tracking.Metric, error) {
	points, err := readModelMetricPoints(dir, modelID)
	if err != nil {
		return nil, err
	}
	type group struct{ key, name, digest string }
	var order []group
	latest := map[group]tracking.Metric{}
	for _, p := range points {
		g := group{p.Key, p.DatasetName, p.DatasetDigest}
		cur, ok := latest[g]
		if !ok {
			order = append(order, g)
		}
		if !ok || metricLess(cur, p) {
			latest[g] = p
		}
	}
	out := make([]tracking.Metric, len(order))
	for i, g := range order {
		out[i] = latest[g]
	}
	return out, nil
}

// readLoggedModel reads a model folder whole.
func readLoggedModel(dir string) (modelMeta, error) {
	m, err := readYAMLMap(filepath.Join(dir, metaFile))
	if err != nil {
		return modelMeta{}, err
	}
	mm := parseModelMeta(m)
	if mm.ID == "" {
		return modelMeta{}, fmt.Errorf("%s: no model_id", dir)
	}
	tags, err := readKeyFiles(filepath.Join(dir, tagsDir))
	if err != nil {
		return modelMeta{}, err
	}
	params, err := readKeyFiles(filepath.Join(dir, paramsDir))
	if err != nil {
		return modelMeta{}, err
	}
	mm.Tags = sortedTags(tags)
	mm.Params = make([]tracking.Param, 0, len(params))
	for _, p := range sortedTags(params) {
		mm.Params = append(mm.Params, tracking.Param(p))
	}
	if mm.Metrics, err = readModelMetrics(dir, mm.ID); err != nil {
		return modelMeta{}, err
	}
	return mm, nil
}

// keyPath is the file of a param, tag or metric key under dir/sub. Service
// validates keys; this refuses anything that would leave the folder anyway,
// since the key comes from a client.
func keyPath(dir, sub, key string) (string, error) {
	if err := tracking.ValidateKeyName(key, "key"); err != nil {
		return "", err // MLflow's file store's answer (_validate_tag_name)
	}
	rel := filepath.FromSlash(key)
	if key == "" || !filepath.IsLocal(rel) {
		return "", tracking.InvalidParameter("Invalid key %q: it must be a relative path without '..'", key)
	}
	return filepath.Join(dir, sub, rel), nil
}

// writeLoggedModel writes a whole model folder (meta.yaml, tags, params and
// metric files) into dir, which need not exist. It is what CreateLoggedModel
// does and what an import needs; metric points must carry their RunID.
// meta.yaml is written last, so a reader never takes a half-written folder
// for a model.
func writeLoggedModel(dir string, m tracking.LoggedModel) error {
	for _, sub := range []string{metricsDir, paramsDir} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return err
		}
	}
	for _, p := range m.Params {
		path, err := keyPath(dir, paramsDir, p.Key)
		if err != nil {
			return err
		}
		if err := writeFileAtomic(dir, path, []byte(p.Value)); err != nil {
			return err
		}
	}
	for _, t := range m.Tags {
		path, err := keyPath(dir, tagsDir, t.Key)
		if err != nil {
			return err
		}
		if err := writeFileAtomic(dir, path, []byte(t.Value)); err != nil {
			return err
		}
	}
	byKey := map[string]*strings.Builder{}
	var keys []string
	for _, p := range m.Metrics {
		b, ok := byKey[p.Key]
		if !ok {
			b = &strings.Builder{}
			byKey[p.Key] = b
			keys = append(keys, p.Key)
		}
		b.WriteString(modelMetricLine(p))
	}
	for _, k := range keys {
		path, err := keyPath(dir, metricsDir, k)
		if err != nil {
			return err
		}
		if err := appendFile(path, []byte(byKey[k].String())); err != nil {
			return err
		}
	}
	lc := m.LifecycleStage
	if lc == "" {
		lc = tracking.LifecycleActive
	}
	mm := modelMeta{LoggedModel: m, hasLifecycle: true, statusMessageNull: m.StatusMessage == ""}
	mm.LifecycleStage = lc
	return writeFileAtomic(dir, filepath.Join(dir, metaFile), modelYAML(mm))
}
