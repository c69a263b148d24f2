package sqlstore

// TEMPORARY placeholders so the tree compiles while logged models and inputs
// are written; the helper owning this file replaces all of it.

import (
	"context"
	"errors"

	"github.com/mltrack/mltrack/internal/tracking"
)

var errTodo = errors.New("not implemented yet")

func (s *Store) CreateLoggedModel(ctx context.Context, m tracking.NewLoggedModel) (*tracking.LoggedModel, error) {
	return nil, errTodo
}
func (s *Store) GetLoggedModel(ctx context.Context, id string) (*tracking.LoggedModel, error) {
	return nil, errTodo
}
func (s *Store) FinalizeLoggedModel(ctx context.Context, id string, st tracking.LoggedModelStatus) (*tracking.LoggedModel, error) {
	return nil, errTodo
}
func (s *Store) DeleteLoggedModel(ctx context.Context, id string) error { return errTodo }
func (s *Store) SearchLoggedModels(ctx context.Context, q tracking.LoggedModelQuery) ([]tracking.LoggedModel, error) {
	return nil, errTodo
}
func (s *Store) SetLoggedModelTags(ctx context.Context, id string, tags []tracking.Tag) error {
	return errTodo
}
func (s *Store) DeleteLoggedModelTag(ctx context.Context, id, key string) error { return errTodo }
func (s *Store) LogLoggedModelParams(ctx context.Context, id string, params []tracking.Param) error {
	return errTodo
}
func (s *Store) LogInputs(ctx context.Context, runID string, d []tracking.DatasetInput, m []tracking.ModelInput) error {
	return errTodo
}
func (s *Store) LogOutputs(ctx context.Context, runID string, m []tracking.ModelOutput) error {
	return errTodo
}
func (s *Store) SearchDatasets(ctx context.Context, ids []string) ([]tracking.DatasetSummary, error) {
	return nil, errTodo
}
