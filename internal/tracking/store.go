package tracking

import (
	"context"

	"github.com/mltrack/mltrack/internal/search"
)

// Store is everything a tracking backend provides. Each backend (SQL, mlruns
// directory) implements it and passes internal/store/storetest.
//
// Contract shared by every method:
//   - a missing entity is an *Error with ErrResourceDoesNotExist, never (nil, nil);
//   - a client mistake the store detects (duplicate name, changed param,
//     write to a deleted run) is an *Error with the code MLflow uses;
//   - any other error is an internal fault.
//
// Input validation of shapes and limits (key names, lengths, batch sizes) is
// done by Service before a store is called; stores may assume it.
type Store interface {
	ExperimentStore
	RunStore
	LoggedModelStore
	InputStore
	// Close releases the store's resources. In-flight calls finish first.
	Close() error
}

// NewExperiment is a validated request to create an experiment.
type NewExperiment struct {
	Name string
	// ArtifactLocation may be empty: the store then uses <default root>/<id>.
	ArtifactLocation string
	Tags             []Tag
}

// ExperimentQuery is a parsed SearchExperiments request.
type ExperimentQuery struct {
	Filter   search.Filter
	OrderBy  []search.OrderBy // empty: MLflow's default order
	ViewType ViewType
	Offset   int
	Limit    int // rows to return; Service asks for one more than a page to detect a next page
}

// ExperimentStore manages experiments and their tags.
type ExperimentStore interface {
	// CreateExperiment returns the new experiment's id. A name in use, even by a
	// deleted experiment, is ErrResourceAlreadyExists.
	CreateExperiment(ctx context.Context, e NewExperiment) (string, error)
	GetExperiment(ctx context.Context, id string) (*Experiment, error)
	GetExperimentByName(ctx context.Context, name string) (*Experiment, error)
	SearchExperiments(ctx context.Context, q ExperimentQuery) ([]Experiment, error)
	RenameExperiment(ctx context.Context, id, newName string) error
	// DeleteExperiment soft-deletes the experiment and its runs.
	DeleteExperiment(ctx context.Context, id string) error
	RestoreExperiment(ctx context.Context, id string) error
	SetExperimentTag(ctx context.Context, id string, tag Tag) error
	DeleteExperimentTag(ctx context.Context, id, key string) error
}

// NewRun is a validated request to create a run. Service has already resolved
// the run name and added the mlflow.runName tag.
type NewRun struct {
	ExperimentID string
	UserID       string
	RunName      string
	StartTime    int64
	Tags         []Tag
}

// RunUpdate changes a run's status, end time or name; nil fields are kept.
type RunUpdate struct {
	Status  *RunStatus
	EndTime *int64
	RunName *string
}

// RunQuery is a parsed SearchRuns request.
type RunQuery struct {
	ExperimentIDs []string
	Filter        search.Filter
	OrderBy       []search.OrderBy // empty: start_time DESC, run_id ASC
	ViewType      ViewType
	Offset        int
	Limit         int
}

// RunStore manages runs and what is logged to them.
type RunStore interface {
	// CreateRun creates a RUNNING run in an active experiment and returns it
	// whole (with its tags). The store chooses the id and artifact URI.
	CreateRun(ctx context.Context, r NewRun) (*Run, error)
	// GetRun returns a run, deleted or not, with the latest value of each metric.
	GetRun(ctx context.Context, id string) (*Run, error)
	// UpdateRun applies u to an active run; a new name also updates the
	// mlflow.runName tag.
	UpdateRun(ctx context.Context, id string, u RunUpdate) (*RunInfo, error)
	DeleteRun(ctx context.Context, id string) error
	RestoreRun(ctx context.Context, id string) error
	SearchRuns(ctx context.Context, q RunQuery) ([]Run, error)
	// LogBatch writes metrics, params and tags to an active run atomically:
	// on any error nothing is written. Re-logging a param with the same value
	// is a no-op; with another value it is ErrInvalidParameterValue. Tags are
	// overwritten; metrics are appended and latest_metrics kept current.
	LogBatch(ctx context.Context, runID string, metrics []Metric, params []Param, tags []Tag) error
	// DeleteTag removes a run tag; a missing tag is ErrResourceDoesNotExist.
	DeleteTag(ctx context.Context, runID, key string) error
	// GetMetricHistory returns the points of one metric of a run ordered as
	// MLflow orders them (timestamp, step, value), starting at offset; limit <= 0
	// means all. An unknown run or key gives an empty history, as in MLflow.
	GetMetricHistory(ctx context.Context, runID, key string, offset, limit int) ([]Metric, error)
}
