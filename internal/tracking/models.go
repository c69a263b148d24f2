package tracking

import (
	"context"

	"github.com/mltrack/mltrack/internal/search"
)

// LoggedModelStatus is MLflow's LoggedModelStatus enum, kept as its proto number.
type LoggedModelStatus int

const (
	ModelStatusUnspecified  LoggedModelStatus = 0
	ModelStatusPending      LoggedModelStatus = 1
	ModelStatusReady        LoggedModelStatus = 2
	ModelStatusUploadFailed LoggedModelStatus = 3
)

var modelStatusNames = [...]string{
	"LOGGED_MODEL_STATUS_UNSPECIFIED", "LOGGED_MODEL_PENDING", "LOGGED_MODEL_READY", "LOGGED_MODEL_UPLOAD_FAILED",
}

// String is the proto enum name.
func (s LoggedModelStatus) String() string {
	if s >= 0 && int(s) < len(modelStatusNames) {
		return modelStatusNames[s]
	}
	return modelStatusNames[0]
}

// ParseLoggedModelStatus accepts a proto enum name.
func ParseLoggedModelStatus(name string) (LoggedModelStatus, bool) {
	for i, n := range modelStatusNames {
		if n == name {
			return LoggedModelStatus(i), true
		}
	}
	return 0, false
}

// LoggedModel is an MLflow 3 logged model with its tags, params and metrics.
type LoggedModel struct {
	ID              string // m-<32 hex>
	ExperimentID    string
	Name            string
	CreationTime    int64 // ms
	LastUpdatedTime int64 // ms
	ArtifactURI     string
	Status          LoggedModelStatus
	StatusMessage   string
	ModelType       string
	SourceRunID     string
	LifecycleStage  string // not on the wire; deleted models are hidden from get and search
	Tags            []Tag
	Params          []Param
	// Metrics are the metric points linked to the model, each with RunID,
	// ModelID and, when logged against a dataset, DatasetName/DatasetDigest.
	Metrics []Metric
}

// NewLoggedModel is a validated CreateLoggedModel request. An empty Name makes
// the store generate one, as MLflow does.
type NewLoggedModel struct {
	ExperimentID string
	Name         string
	ModelType    string
	SourceRunID  string
	Params       []Param
	Tags         []Tag
}

// DatasetRef names a dataset in logged-model searches; an empty Digest matches
// any digest.
type DatasetRef struct {
	Name   string
	Digest string
}

// LoggedModelOrder is one order_by entry of SearchLoggedModels. Field is an
// attribute (name, creation_timestamp, ...) or "metrics.<key>"; the dataset
// fields narrow a metric ordering to values logged against that dataset.
type LoggedModelOrder struct {
	Field         string
	Ascending     bool
	DatasetName   string
	DatasetDigest string
}

// LoggedModelQuery is a parsed SearchLoggedModels request.
type LoggedModelQuery struct {
	ExperimentIDs []string
	Filter        search.Filter
	Datasets      []DatasetRef
	OrderBy       []LoggedModelOrder // empty: creation_timestamp DESC, model_id ASC
	Offset        int
	Limit         int // Service asks for one more than a page to detect a next page
}

// LoggedModelStore manages logged models. Deleted models are
// ErrResourceDoesNotExist to Get (unless it allows them) and invisible to
// Search, as in MLflow.
type LoggedModelStore interface {
	// CreateLoggedModel creates a PENDING model in an active experiment. The
	// store chooses the id and the artifact URI
	// (<experiment artifact location>/models/<id>/artifacts).
	CreateLoggedModel(ctx context.Context, m NewLoggedModel) (*LoggedModel, error)
	// GetLoggedModel with allowDeleted also returns a deleted model (with
	// LifecycleStage "deleted"), as MLflow's ?allow_deleted=true does.
	GetLoggedModel(ctx context.Context, id string, allowDeleted bool) (*LoggedModel, error)
	FinalizeLoggedModel(ctx context.Context, id string, status LoggedModelStatus) (*LoggedModel, error)
	DeleteLoggedModel(ctx context.Context, id string) error
	SearchLoggedModels(ctx context.Context, q LoggedModelQuery) ([]LoggedModel, error)
	SetLoggedModelTags(ctx context.Context, id string, tags []Tag) error
	DeleteLoggedModelTag(ctx context.Context, id, key string) error
	LogLoggedModelParams(ctx context.Context, id string, params []Param) error
}

// DatasetSummary is one row of SearchDatasets: a dataset used in an
// experiment, with the mlflow.data.context tag of an input that used it.
type DatasetSummary struct {
	ExperimentID string
	Name         string
	Digest       string
	Context      string
}

// InputStore records what runs consumed and produced.
type InputStore interface {
	// LogInputs links datasets (created once per experiment, keyed by name and
	// digest) and logged models to an active run. Logging the same dataset
	// input twice is a no-op.
	LogInputs(ctx context.Context, runID string, datasets []DatasetInput, models []ModelInput) error
	// LogOutputs links logged models to a run as its outputs.
	LogOutputs(ctx context.Context, runID string, models []ModelOutput) error
	// SearchDatasets lists the distinct datasets used by runs of the given
	// experiments, at most 1000, as MLflow does.
	SearchDatasets(ctx context.Context, experimentIDs []string) ([]DatasetSummary, error)
}
