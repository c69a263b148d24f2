package client

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
)

// Wire types: MLflow's proto3 JSON (snake_case names, int64 as JSON numbers,
// non-finite doubles as the strings "NaN", "Infinity", "-Infinity"). They are
// the SDK's own, independent of the server's internal packages, so the SDK can
// talk to any MLflow-compatible server.

// RunStatus is MLflow's run status name.
type RunStatus string

const (
	StatusRunning   RunStatus = "RUNNING"
	StatusScheduled RunStatus = "SCHEDULED"
	StatusFinished  RunStatus = "FINISHED"
	StatusFailed    RunStatus = "FAILED"
	StatusKilled    RunStatus = "KILLED"
)

// ViewType selects active, deleted or all entities in searches.
type ViewType string

const (
	ViewActiveOnly  ViewType = "ACTIVE_ONLY"
	ViewDeletedOnly ViewType = "DELETED_ONLY"
	ViewAll         ViewType = "ALL"
)

// Tag is a key/value tag of an experiment or run.
type Tag struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// Param is a run parameter.
type Param struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// Metric is one logged metric value. Timestamp is in milliseconds since the
// Unix epoch. RunID is set only by the bulk-interval history call.
type Metric struct {
	Key       string
	Value     float64
	Timestamp int64
	Step      int64
	RunID     string
}

type metricWire struct {
	Key       string `json:"key"`
	ValueRaw  any    `json:"value"`
	Timestamp int64  `json:"timestamp"`
	Step      int64  `json:"step"`
	RunID     string `json:"run_id,omitempty"`
}

// MarshalJSON writes non-finite values as MLflow's strings.
func (m Metric) MarshalJSON() ([]byte, error) {
	return json.Marshal(metricWire{Key: m.Key, ValueRaw: wireDouble(m.Value), Timestamp: m.Timestamp, Step: m.Step, RunID: m.RunID})
}

// UnmarshalJSON accepts a double as a number or as "NaN"/"Infinity"/"-Infinity".
func (m *Metric) UnmarshalJSON(b []byte) error {
	var w struct {
		Key       string          `json:"key"`
		Value     json.RawMessage `json:"value"`
		Timestamp int64           `json:"timestamp"`
		Step      int64           `json:"step"`
		RunID     string          `json:"run_id"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	v, err := parseDouble(w.Value)
	if err != nil {
		return fmt.Errorf("metric %q: %w", w.Key, err)
	}
	*m = Metric{Key: w.Key, Value: v, Timestamp: w.Timestamp, Step: w.Step, RunID: w.RunID}
	return nil
}

// wireDouble returns a value that encoding/json writes the way MLflow expects.
func wireDouble(v float64) any {
	switch {
	case math.IsNaN(v):
		return "NaN"
	case math.IsInf(v, 1):
		return "Infinity"
	case math.IsInf(v, -1):
		return "-Infinity"
	}
	return v
}

func parseDouble(raw json.RawMessage) (float64, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return 0, nil // proto3 omits zero values
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return 0, err
		}
		switch s {
		case "NaN":
			return math.NaN(), nil
		case "Infinity":
			return math.Inf(1), nil
		case "-Infinity":
			return math.Inf(-1), nil
		}
		// proto3 JSON also allows a quoted number.
		return strconv.ParseFloat(s, 64)
	}
	var f float64
	err := json.Unmarshal(raw, &f)
	return f, err
}

// Experiment is an MLflow experiment.
type Experiment struct {
	ExperimentID     string `json:"experiment_id"`
	Name             string `json:"name"`
	ArtifactLocation string `json:"artifact_location,omitempty"`
	LifecycleStage   string `json:"lifecycle_stage,omitempty"`
	LastUpdateTime   int64  `json:"last_update_time,omitempty"`
	CreationTime     int64  `json:"creation_time,omitempty"`
	Tags             []Tag  `json:"tags,omitempty"`
}

// Tag returns the value of the experiment tag key and whether it is set.
func (e *Experiment) Tag(key string) (string, bool) { return findTag(e.Tags, key) }

// RunInfo is a run's metadata.
type RunInfo struct {
	RunID          string    `json:"run_id"`
	RunUUID        string    `json:"run_uuid,omitempty"`
	RunName        string    `json:"run_name,omitempty"`
	ExperimentID   string    `json:"experiment_id"`
	UserID         string    `json:"user_id,omitempty"`
	Status         RunStatus `json:"status,omitempty"`
	StartTime      int64     `json:"start_time,omitempty"`
	EndTime        int64     `json:"end_time,omitempty"`
	ArtifactURI    string    `json:"artifact_uri,omitempty"`
	LifecycleStage string    `json:"lifecycle_stage,omitempty"`
}

// RunData holds a run's latest metrics, params and tags.
type RunData struct {
	Metrics []Metric `json:"metrics,omitempty"`
	Params  []Param  `json:"params,omitempty"`
	Tags    []Tag    `json:"tags,omitempty"`
}

// Run is an MLflow run. Inputs and outputs (datasets, logged models) are kept
// raw: the SDK does not model them.
type Run struct {
	Info    RunInfo         `json:"info"`
	Data    RunData         `json:"data"`
	Inputs  json.RawMessage `json:"inputs,omitempty"`
	Outputs json.RawMessage `json:"outputs,omitempty"`
}

// Param returns the value of param key and whether it was logged.
func (r *Run) Param(key string) (string, bool) {
	for _, p := range r.Data.Params {
		if p.Key == key {
			return p.Value, true
		}
	}
	return "", false
}

// Tag returns the value of run tag key and whether it is set.
func (r *Run) Tag(key string) (string, bool) { return findTag(r.Data.Tags, key) }

// Metric returns the latest value of metric key and whether it was logged.
func (r *Run) Metric(key string) (Metric, bool) {
	for _, m := range r.Data.Metrics {
		if m.Key == key {
			return m, true
		}
	}
	return Metric{}, false
}

func findTag(tags []Tag, key string) (string, bool) {
	for _, t := range tags {
		if t.Key == key {
			return t.Value, true
		}
	}
	return "", false
}
