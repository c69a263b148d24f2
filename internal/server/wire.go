package server

import (
	"encoding/json"
	"math"
	"strconv"

	"github.com/mltrack/mltrack/internal/tracking"
)

// MLflow's JSON is proto JSON with preserved field names: snake_case, int64
// as numbers, NaN and the infinities as strings, unset fields omitted. The
// types below are that shape; fields MLflow always sets carry no omitempty.

// jsonFloat writes NaN and ±Inf the way protobuf's JSON printer does.
type jsonFloat float64

func (f jsonFloat) MarshalJSON() ([]byte, error) {
	v := float64(f)
	switch {
	case math.IsNaN(v):
		return []byte(`"NaN"`), nil
	case math.IsInf(v, 1):
		return []byte(`"Infinity"`), nil
	case math.IsInf(v, -1):
		return []byte(`"-Infinity"`), nil
	}
	return strconv.AppendFloat(nil, v, 'g', -1, 64), nil
}

type wireTag struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

type wireExperiment struct {
	ExperimentID     string    `json:"experiment_id"`
	Name             string    `json:"name"`
	ArtifactLocation string    `json:"artifact_location"`
	LifecycleStage   string    `json:"lifecycle_stage"`
	LastUpdateTime   int64     `json:"last_update_time"`
	CreationTime     int64     `json:"creation_time"`
	Tags             []wireTag `json:"tags,omitempty"`
}

type wireRunInfo struct {
	RunUUID        string `json:"run_uuid"`
	ExperimentID   string `json:"experiment_id"`
	RunName        string `json:"run_name"`
	UserID         string `json:"user_id"`
	Status         string `json:"status"`
	StartTime      int64  `json:"start_time"`
	EndTime        *int64 `json:"end_time,omitempty"`
	ArtifactURI    string `json:"artifact_uri"`
	LifecycleStage string `json:"lifecycle_stage"`
	RunID          string `json:"run_id"`
}

type wireMetric struct {
	Key           string    `json:"key"`
	Value         jsonFloat `json:"value"`
	Timestamp     int64     `json:"timestamp"`
	Step          int64     `json:"step"`
	DatasetName   string    `json:"dataset_name,omitempty"`
	DatasetDigest string    `json:"dataset_digest,omitempty"`
	ModelID       string    `json:"model_id,omitempty"`
	RunID         string    `json:"run_id,omitempty"`
}

type wireRunData struct {
	Metrics []wireMetric `json:"metrics,omitempty"`
	Params  []wireTag    `json:"params,omitempty"`
	Tags    []wireTag    `json:"tags,omitempty"`
}

type wireDataset struct {
	Name       string `json:"name"`
	Digest     string `json:"digest"`
	SourceType string `json:"source_type"`
	Source     string `json:"source"`
	Schema     string `json:"schema,omitempty"`
	Profile    string `json:"profile,omitempty"`
}

type wireDatasetInput struct {
	Tags    []wireTag   `json:"tags,omitempty"`
	Dataset wireDataset `json:"dataset"`
}

type wireModelInput struct {
	ModelID string `json:"model_id"`
}

type wireModelOutput struct {
	ModelID string `json:"model_id"`
	Step    int64  `json:"step"`
}

type wireRunInputs struct {
	DatasetInputs []wireDatasetInput `json:"dataset_inputs,omitempty"`
	ModelInputs   []wireModelInput   `json:"model_inputs,omitempty"`
}

type wireRunOutputs struct {
	ModelOutputs []wireModelOutput `json:"model_outputs,omitempty"`
}

type wireRun struct {
	Info    wireRunInfo     `json:"info"`
	Data    wireRunData     `json:"data"`
	Inputs  wireRunInputs   `json:"inputs"`
	Outputs *wireRunOutputs `json:"outputs,omitempty"`
}

func toWireTags(tags []tracking.Tag) []wireTag {
	if len(tags) == 0 {
		return nil
	}
	out := make([]wireTag, len(tags))
	for i, t := range tags {
		out[i] = wireTag{Key: t.Key, Value: t.Value}
	}
	return out
}

func toWireParams(ps []tracking.Param) []wireTag {
	if len(ps) == 0 {
		return nil
	}
	out := make([]wireTag, len(ps))
	for i, p := range ps {
		out[i] = wireTag{Key: p.Key, Value: p.Value}
	}
	return out
}

func toWireExperiment(e *tracking.Experiment) wireExperiment {
	return wireExperiment{
		ExperimentID: e.ID, Name: e.Name, ArtifactLocation: e.ArtifactLocation,
		LifecycleStage: e.LifecycleStage, LastUpdateTime: e.LastUpdateTime,
		CreationTime: e.CreationTime, Tags: toWireTags(e.Tags),
	}
}

func toWireRunInfo(ri *tracking.RunInfo) wireRunInfo {
	return wireRunInfo{
		RunUUID: ri.RunID, RunID: ri.RunID, ExperimentID: ri.ExperimentID, RunName: ri.RunName,
		UserID: ri.UserID, Status: string(ri.Status), StartTime: ri.StartTime, EndTime: ri.EndTime,
		ArtifactURI: ri.ArtifactURI, LifecycleStage: ri.LifecycleStage,
	}
}

func toWireMetric(m tracking.Metric) wireMetric {
	return wireMetric{
		Key: m.Key, Value: jsonFloat(m.Value), Timestamp: m.Timestamp, Step: m.Step,
		DatasetName: m.DatasetName, DatasetDigest: m.DatasetDigest, ModelID: m.ModelID, RunID: m.RunID,
	}
}

func toWireMetrics(ms []tracking.Metric) []wireMetric {
	out := make([]wireMetric, len(ms))
	for i, m := range ms {
		out[i] = toWireMetric(m)
	}
	return out
}

// toWireRun renders a run. MLflow's GetRun and SearchRuns include an empty
// "outputs" object while CreateRun does not; withOutputs picks which.
func toWireRun(r *tracking.Run, withOutputs bool) wireRun {
	w := wireRun{Info: toWireRunInfo(&r.Info)}
	if len(r.Data.Metrics) > 0 {
		w.Data.Metrics = toWireMetrics(r.Data.Metrics)
	}
	w.Data.Params = toWireParams(r.Data.Params)
	w.Data.Tags = toWireTags(r.Data.Tags)
	for _, di := range r.Inputs.DatasetInputs {
		d := di.Dataset
		w.Inputs.DatasetInputs = append(w.Inputs.DatasetInputs, wireDatasetInput{
			Tags: toWireTags(di.Tags),
			Dataset: wireDataset{Name: d.Name, Digest: d.Digest, SourceType: d.SourceType,
				Source: d.Source, Schema: d.Schema, Profile: d.Profile},
		})
	}
	for _, mi := range r.Inputs.ModelInputs {
		w.Inputs.ModelInputs = append(w.Inputs.ModelInputs, wireModelInput{ModelID: mi.ModelID})
	}
	if withOutputs || len(r.Outputs.ModelOutputs) > 0 {
		w.Outputs = &wireRunOutputs{}
		for _, mo := range r.Outputs.ModelOutputs {
			w.Outputs.ModelOutputs = append(w.Outputs.ModelOutputs, wireModelOutput{ModelID: mo.ModelID, Step: mo.Step})
		}
	}
	return w
}

// empty is MLflow's "{}" success body.
type empty struct{}

var _ json.Marshaler = jsonFloat(0)

// wireLoggedModel is MLflow's LoggedModel {info, data}. MLflow always sets
// model_type and source_run_id (empty when unknown); registrations are the
// model registry's, which mltrack does not serve, so they are never set.
type wireLoggedModel struct {
	Info wireLoggedModelInfo `json:"info"`
	Data wireLoggedModelData `json:"data"`
}

type wireLoggedModelInfo struct {
	ModelID                string    `json:"model_id"`
	ExperimentID           string    `json:"experiment_id"`
	Name                   string    `json:"name"`
	CreationTimestampMs    int64     `json:"creation_timestamp_ms"`
	LastUpdatedTimestampMs int64     `json:"last_updated_timestamp_ms"`
	ArtifactURI            string    `json:"artifact_uri"`
	Status                 string    `json:"status"`
	ModelType              string    `json:"model_type"`
	SourceRunID            string    `json:"source_run_id"`
	StatusMessage          string    `json:"status_message,omitempty"`
	Tags                   []wireTag `json:"tags,omitempty"`
}

type wireLoggedModelData struct {
	Params  []wireTag    `json:"params,omitempty"`
	Metrics []wireMetric `json:"metrics,omitempty"`
}

func toWireLoggedModel(m *tracking.LoggedModel) wireLoggedModel {
	w := wireLoggedModel{Info: wireLoggedModelInfo{
		ModelID: m.ID, ExperimentID: m.ExperimentID, Name: m.Name,
		CreationTimestampMs: m.CreationTime, LastUpdatedTimestampMs: m.LastUpdatedTime,
		ArtifactURI: m.ArtifactURI, Status: m.Status.String(), ModelType: m.ModelType,
		SourceRunID: m.SourceRunID, StatusMessage: m.StatusMessage, Tags: toWireTags(m.Tags),
	}}
	w.Data.Params = toWireParams(m.Params)
	if len(m.Metrics) > 0 {
		w.Data.Metrics = toWireMetrics(m.Metrics)
	}
	return w
}

type wireDatasetSummary struct {
	ExperimentID string `json:"experiment_id"`
	Name         string `json:"name"`
	Digest       string `json:"digest"`
	Context      string `json:"context,omitempty"`
}
