package filestore

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/mltrack/mltrack/internal/tracking"
)

// Names of MLflow's mlruns layout (mlflow/store/tracking/file_store.py).
const (
	trashDir     = ".trash"
	metaFile     = "meta.yaml"
	metricsDir   = "metrics"
	paramsDir    = "params"
	tagsDir      = "tags"
	artifactsDir = "artifacts"
	inputsDir    = "inputs"
	outputsDir   = "outputs"
	datasetsDir  = "datasets"
	tmpPrefix    = ".mltrack-tmp-"
)

// reservedExperimentFolders are experiment subfolders that are not runs.
var reservedExperimentFolders = map[string]bool{
	"tags": true, "datasets": true, "traces": true, "models": true,
}

// Run status numbers as MLflow stores them in run meta.yaml.
var statusNumber = map[tracking.RunStatus]int64{
	tracking.StatusRunning: 1, tracking.StatusScheduled: 2, tracking.StatusFinished: 3,
	tracking.StatusFailed: 4, tracking.StatusKilled: 5,
}

// formatPythonFloat renders v as Python's str(float): shortest round-trip
// digits, scientific notation outside 1e-4 <= |v| < 1e16, and nan/inf names.
func formatPythonFloat(v float64) string {
	switch {
	case math.IsNaN(v):
		return "nan"
	case math.IsInf(v, 1):
		return "inf"
	case math.IsInf(v, -1):
		return "-inf"
	}
	e := strconv.FormatFloat(v, 'e', -1, 64) // like -1.2345e+17
	sign := ""
	if e[0] == '-' {
		sign, e = "-", e[1:]
	}
	mant, expStr, _ := strings.Cut(e, "e")
	exp, _ := strconv.Atoi(expStr)
	digits := strings.Replace(mant, ".", "", 1)
	if exp < -4 || exp >= 16 {
		m := digits[:1]
		if len(digits) > 1 {
			m += "." + digits[1:]
		}
		es := "+"
		if exp < 0 {
			es, exp = "-", -exp
		}
		return fmt.Sprintf("%s%se%s%02d", sign, m, es, exp)
	}
	if exp < 0 {
		return sign + "0." + strings.Repeat("0", -exp-1) + digits
	}
	if len(digits) <= exp+1 {
		return sign + digits + strings.Repeat("0", exp+1-len(digits)) + ".0"
	}
	return sign + digits[:exp+1] + "." + digits[exp+1:]
}

// metricLine is one line of a metric file: "<ts> <value> <step>", with an
// optional " <dataset_name> <dataset_digest>".
func metricLine(m tracking.Metric) string {
	if m.DatasetName != "" && m.DatasetDigest != "" {
		return fmt.Sprintf("%d %s %d %s %s\n", m.Timestamp, formatPythonFloat(m.Value), m.Step,
			m.DatasetName, m.DatasetDigest)
	}
	return fmt.Sprintf("%d %s %d\n", m.Timestamp, formatPythonFloat(m.Value), m.Step)
}

// parseMetricLine accepts the 2-, 3- and 5-field forms MLflow reads.
func parseMetricLine(key, line string) (tracking.Metric, error) {
	f := strings.Split(strings.TrimSpace(line), " ")
	if len(f) != 2 && len(f) != 3 && len(f) != 5 {
		return tracking.Metric{}, fmt.Errorf("metric %q is malformed: %d fields", key, len(f))
	}
	ts, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil {
		return tracking.Metric{}, fmt.Errorf("metric %q timestamp: %w", key, err)
	}
	v, err := strconv.ParseFloat(f[1], 64)
	if err != nil {
		return tracking.Metric{}, fmt.Errorf("metric %q value: %w", key, err)
	}
	m := tracking.Metric{Key: key, Value: v, Timestamp: ts}
	if len(f) >= 3 {
		// MLflow's reader takes the step only from the 3-field form and reads
		// a point logged against a dataset as step 0. Its writer puts the
		// step there, and the SQL store keeps it, so this store reads it:
		// the index must not change its latest values on a reload.
		if m.Step, err = strconv.ParseInt(f[2], 10, 64); err != nil {
			return tracking.Metric{}, fmt.Errorf("metric %q step: %w", key, err)
		}
	}
	if len(f) == 5 {
		m.DatasetName, m.DatasetDigest = f[3], f[4]
	}
	return m, nil
}

// readMetricFile parses every complete line of a metric file.
func readMetricFile(path, key string) ([]tracking.Metric, error) {
	points, _, err := readMetricFileFrom(path, key, 0)
	return points, err
}

// readMetricFileFrom parses the complete lines from byte offset from on and
// returns the offset after the last complete line, or the file size when the
// file is shorter than from. A last line without its newline is a write in
// progress by another process: it is left for the next read.
func readMetricFileFrom(path, key string, from int64) ([]tracking.Metric, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, 0, err
	}
	if fi.Size() < from {
		return nil, fi.Size(), nil
	}
	data := make([]byte, fi.Size()-from)
	n, err := f.ReadAt(data, from)
	if err != nil && err != io.EOF {
		return nil, 0, err
	}
	data = data[:n]
	var out []tracking.Metric
	off := from
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			break
		}
		line := string(data[:i])
		data = data[i+1:]
		off += int64(i + 1)
		if strings.TrimSpace(line) == "" {
			continue
		}
		m, err := parseMetricLine(key, line)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, m)
	}
	return out, off, nil
}

// metricLess orders points by (step, timestamp, value) as MLflow's max() does;
// NaN compares as neither less nor greater, which Python's tuple comparison
// also does, so the first NaN seen stays.
func metricLess(a, b tracking.Metric) bool {
	if a.Step != b.Step {
		return a.Step < b.Step
	}
	if a.Timestamp != b.Timestamp {
		return a.Timestamp < b.Timestamp
	}
	return a.Value < b.Value
}

// readYAMLMap parses a meta.yaml into a generic map with YAML 1.1 scalar
// rules, as PyYAML reads it: yaml.v3 alone would take a plain
// "00000000000000000000000000000029" or "1e3" (strings to PyYAML) for
// numbers.
func readYAMLMap(path string) (map[string]any, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s is empty or not a mapping", path)
	}
	m, _ := yamlValue(doc.Content[0]).(map[string]any)
	return m, nil
}

var (
	yaml11Int  = regexp.MustCompile(`^[-+]?(?:0|[1-9][0-9_]*)$`)
	yaml11Null = regexp.MustCompile(`^(?:~|null|Null|NULL|)$`)
)

func yamlValue(n *yaml.Node) any {
	switch n.Kind {
	case yaml.AliasNode:
		return yamlValue(n.Alias)
	case yaml.MappingNode:
		m := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			m[n.Content[i].Value] = yamlValue(n.Content[i+1])
		}
		return m
	case yaml.SequenceNode:
		out := make([]any, len(n.Content))
		for i, c := range n.Content {
			out[i] = yamlValue(c)
		}
		return out
	case yaml.ScalarNode:
		if n.Style&(yaml.SingleQuotedStyle|yaml.DoubleQuotedStyle|yaml.LiteralStyle|yaml.FoldedStyle) != 0 {
			return n.Value
		}
		switch {
		case yaml11Null.MatchString(n.Value):
			return nil
		case yaml11Int.MatchString(n.Value):
			if v, err := strconv.ParseInt(strings.ReplaceAll(n.Value, "_", ""), 10, 64); err == nil {
				return v
			}
		}
		return n.Value
	}
	return nil
}

func yamlString(m map[string]any, k string) string {
	switch v := m[k].(type) {
	case string:
		return v
	case int:
		return strconv.Itoa(v)
	case int64:
		return strconv.FormatInt(v, 10)
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(v)
	}
	return ""
}

func yamlInt(m map[string]any, k string) (int64, bool) {
	switch v := m[k].(type) {
	case int:
		return int64(v), true
	case int64:
		return v, true
	case float64:
		return int64(v), true
	case string:
		n, err := strconv.ParseInt(v, 10, 64)
		return n, err == nil
	}
	return 0, false
}

// experimentMeta is what an experiment's meta.yaml holds.
type experimentMeta struct {
	tracking.Experiment
	// extra keys MLflow 3 writes; kept when rewriting.
	traceLocation, archivalRetention, workspace any
}

func parseExperimentMeta(m map[string]any) experimentMeta {
	e := experimentMeta{Experiment: tracking.Experiment{
		ID:               yamlString(m, "experiment_id"),
		Name:             yamlString(m, "name"),
		ArtifactLocation: yamlString(m, "artifact_location"),
		LifecycleStage:   yamlString(m, "lifecycle_stage"),
	}}
	if e.LifecycleStage == "" {
		e.LifecycleStage = tracking.LifecycleActive
	}
	e.CreationTime, _ = yamlInt(m, "creation_time")
	e.LastUpdateTime, _ = yamlInt(m, "last_update_time")
	e.traceLocation = m["trace_location"]
	e.archivalRetention = m["effective_trace_archival_retention"]
	e.workspace = m["workspace"]
	return e
}

// scalarOrNull keeps a string value and turns anything else into null.
func scalarOrNull(v any, def any) any {
	switch x := v.(type) {
	case string:
		return x
	case int:
		return int64(x)
	case nil:
		return def
	}
	return def
}

// experimentYAML renders an experiment meta.yaml. MLflow writes no tags key
// on create and a snapshot of the tags on every later rewrite.
func experimentYAML(e experimentMeta, tags map[string]string, withTags bool) []byte {
	f := []yamlField{
		{"artifact_location", e.ArtifactLocation},
		{"creation_time", e.CreationTime},
		{"effective_trace_archival_retention", scalarOrNull(e.archivalRetention, yamlNull{})},
		{"experiment_id", e.ID},
		{"last_update_time", e.LastUpdateTime},
		{"lifecycle_stage", e.LifecycleStage},
		{"name", e.Name},
		{"trace_location", scalarOrNull(e.traceLocation, yamlNull{})},
		{"workspace", scalarOrNull(e.workspace, "default")},
	}
	if withTags {
		if tags == nil {
			tags = map[string]string{}
		}
		f = append(f, yamlField{"tags", tags})
	}
	return emitYAML(f)
}

// runMeta is a run's meta.yaml.
type runMeta struct {
	tracking.RunInfo
	deletedTime    *int64
	hasDeletedTime bool
}

func parseRunMeta(m map[string]any) runMeta {
	r := runMeta{RunInfo: tracking.RunInfo{
		RunID:          yamlString(m, "run_id"),
		RunName:        yamlString(m, "run_name"),
		ExperimentID:   yamlString(m, "experiment_id"),
		UserID:         yamlString(m, "user_id"),
		ArtifactURI:    yamlString(m, "artifact_uri"),
		LifecycleStage: yamlString(m, "lifecycle_stage"),
		Status:         tracking.StatusRunning,
	}}
	if r.RunID == "" {
		r.RunID = yamlString(m, "run_uuid")
	}
	if r.LifecycleStage == "" {
		r.LifecycleStage = tracking.LifecycleActive
	}
	if n, ok := yamlInt(m, "status"); ok {
		if s, ok := tracking.RunStatusFromNumber(n); ok {
			r.Status = s
		}
	} else if s, ok := tracking.ParseRunStatus(yamlString(m, "status")); ok {
		r.Status = s
	}
	r.StartTime, _ = yamlInt(m, "start_time")
	if n, ok := yamlInt(m, "end_time"); ok {
		r.EndTime = &n
	}
	if _, ok := m["deleted_time"]; ok {
		r.hasDeletedTime = true
		if n, ok := yamlInt(m, "deleted_time"); ok {
			r.deletedTime = &n
		}
	}
	return r
}

// runYAML renders a run meta.yaml as MLflow 3.18 does: status as its number,
// the legacy source_* keys and an empty tags list; deleted_time only when set
// (or null on create).
func runYAML(r runMeta) []byte {
	f := []yamlField{
		{"artifact_uri", r.ArtifactURI},
		{"entry_point_name", ""},
		{"experiment_id", r.ExperimentID},
		{"lifecycle_stage", r.LifecycleStage},
		{"run_id", r.RunID},
		{"run_name", r.RunName},
		{"source_name", ""},
		{"source_type", int64(4)},
		{"source_version", ""},
		{"start_time", r.StartTime},
		{"status", statusNumber[r.Status]},
		{"tags", yamlEmptyList{}},
		{"user_id", r.UserID},
	}
	if r.EndTime != nil {
		f = append(f, yamlField{"end_time", *r.EndTime})
	} else {
		f = append(f, yamlField{"end_time", yamlNull{}})
	}
	if r.hasDeletedTime {
		if r.deletedTime != nil {
			f = append(f, yamlField{"deleted_time", *r.deletedTime})
		} else {
			f = append(f, yamlField{"deleted_time", yamlNull{}})
		}
	}
	return emitYAML(f)
}

// readKeyFiles reads a params/ or tags/ folder: one file per key, nested
// folders for keys with "/".
func readKeyFiles(dir string) (map[string]string, error) {
	out := map[string]string{}
	err := walkKeys(dir, func(key, path string) error {
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		out[key] = string(b)
		return nil
	})
	return out, err
}

// walkKeys calls fn for every regular file under dir with its key (the
// slash-separated relative path). A missing dir has no keys.
func walkKeys(dir string, fn func(key, path string) error) error {
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) {
				return nil
			}
			return err
		}
		if d.IsDir() || strings.HasPrefix(d.Name(), tmpPrefix) {
			return nil
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		return fn(filepath.ToSlash(rel), path)
	})
	if os.IsNotExist(err) {
		return nil
	}
	return err
}
