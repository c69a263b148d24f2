// Package tracking is mltrack's domain: MLflow's tracking entities, the store
// interfaces every backend implements, the validation rules MLflow applies to
// them, and the error codes clients see. It imports no HTTP or SQL package.
package tracking

// Lifecycle stages of experiments and runs.
const (
	LifecycleActive  = "active"
	LifecycleDeleted = "deleted"
)

// DefaultExperimentID is the experiment every new store starts with.
const DefaultExperimentID = "0"

// RunStatus is MLflow's RunStatus enum, kept as its name.
type RunStatus string

const (
	StatusRunning   RunStatus = "RUNNING"
	StatusScheduled RunStatus = "SCHEDULED"
	StatusFinished  RunStatus = "FINISHED"
	StatusFailed    RunStatus = "FAILED"
	StatusKilled    RunStatus = "KILLED"
)

// runStatusNumbers are the proto enum numbers, accepted on input.
var runStatusNumbers = map[int64]RunStatus{
	1: StatusRunning, 2: StatusScheduled, 3: StatusFinished, 4: StatusFailed, 5: StatusKilled,
}

// ParseRunStatus accepts a status name or its proto number.
func ParseRunStatus(name string) (RunStatus, bool) {
	switch s := RunStatus(name); s {
	case StatusRunning, StatusScheduled, StatusFinished, StatusFailed, StatusKilled:
		return s, true
	}
	return "", false
}

// RunStatusFromNumber maps a proto enum number to a status.
func RunStatusFromNumber(n int64) (RunStatus, bool) {
	s, ok := runStatusNumbers[n]
	return s, ok
}

// IsTerminal reports whether a run in this status has ended.
func (s RunStatus) IsTerminal() bool {
	return s == StatusFinished || s == StatusFailed || s == StatusKilled
}

// ViewType selects active, deleted or all entities in searches.
type ViewType int

const (
	ViewActiveOnly  ViewType = 1
	ViewDeletedOnly ViewType = 2
	ViewAll         ViewType = 3
)

// ViewTypeFromName maps ACTIVE_ONLY / DELETED_ONLY / ALL to a ViewType.
func ViewTypeFromName(name string) (ViewType, bool) {
	switch name {
	case "ACTIVE_ONLY":
		return ViewActiveOnly, true
	case "DELETED_ONLY":
		return ViewDeletedOnly, true
	case "ALL":
		return ViewAll, true
	}
	return 0, false
}

// Includes reports whether an entity in the given lifecycle stage is visible.
func (v ViewType) Includes(stage string) bool {
	switch v {
	case ViewDeletedOnly:
		return stage == LifecycleDeleted
	case ViewAll:
		return true
	default:
		return stage == LifecycleActive
	}
}

// Tag is a key/value pair on an experiment or a run.
type Tag struct {
	Key   string
	Value string
}

// Param is a run parameter; once logged, its value never changes.
type Param struct {
	Key   string
	Value string
}

// Metric is one logged point of a metric's history.
type Metric struct {
	Key       string
	Value     float64 // NaN and ±Inf are legal
	Timestamp int64   // milliseconds since the epoch
	Step      int64
	// RunID is set on results that span runs (bulk history).
	RunID string
	// Optional links (MLflow 3).
	ModelID       string
	DatasetName   string
	DatasetDigest string
}

// Experiment groups runs.
type Experiment struct {
	ID               string
	Name             string
	ArtifactLocation string
	LifecycleStage   string
	CreationTime     int64
	LastUpdateTime   int64
	Tags             []Tag
}

// RunInfo is a run's metadata.
type RunInfo struct {
	RunID          string
	RunName        string
	ExperimentID   string
	UserID         string
	Status         RunStatus
	StartTime      int64
	EndTime        *int64
	ArtifactURI    string
	LifecycleStage string
}

// RunData holds what was logged to a run: the latest value of each metric,
// every param and every tag.
type RunData struct {
	Metrics []Metric
	Params  []Param
	Tags    []Tag
}

// Dataset describes data a run used (MLflow's Dataset message).
type Dataset struct {
	Name       string
	Digest     string
	SourceType string
	Source     string
	Schema     string
	Profile    string
}

// DatasetInput is a dataset with the tags of its use by one run.
type DatasetInput struct {
	Tags    []Tag
	Dataset Dataset
}

// ModelInput and ModelOutput link runs to logged models.
type ModelInput struct{ ModelID string }
type ModelOutput struct {
	ModelID string
	Step    int64
}

// RunInputs and RunOutputs are the run's datasets and logged models.
type RunInputs struct {
	DatasetInputs []DatasetInput
	ModelInputs   []ModelInput
}
type RunOutputs struct {
	ModelOutputs []ModelOutput
}

// Run is a run with everything logged to it.
type Run struct {
	Info    RunInfo
	Data    RunData
	Inputs  RunInputs
	Outputs RunOutputs
}

// Reserved tag keys MLflow gives meaning to.
const (
	TagRunName     = "mlflow.runName"
	TagUser        = "mlflow.user"
	TagParentRunID = "mlflow.parentRunId"
	TagNote        = "mlflow.note.content"
)
