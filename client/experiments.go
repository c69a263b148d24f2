package client

import (
	"context"
	"net/url"
	"strconv"
)

// CreateExperimentRequest is the input of CreateExperiment.
type CreateExperimentRequest struct {
	Name             string `json:"name"`
	ArtifactLocation string `json:"artifact_location,omitempty"`
	Tags             []Tag  `json:"tags,omitempty"`
}

// CreateExperiment creates an experiment and returns its id. A taken name
// gives an error matching ErrAlreadyExists.
func (c *Client) CreateExperiment(ctx context.Context, req CreateExperimentRequest) (string, error) {
	var out struct {
		ExperimentID string `json:"experiment_id"`
	}
	if err := c.post(ctx, "/api/2.0/mlflow/experiments/create", req, &out); err != nil {
		return "", err
	}
	return out.ExperimentID, nil
}

// GetExperiment returns an experiment by id, deleted or not.
func (c *Client) GetExperiment(ctx context.Context, experimentID string) (*Experiment, error) {
	var out struct {
		Experiment Experiment `json:"experiment"`
	}
	if err := c.get(ctx, "/api/2.0/mlflow/experiments/get", url.Values{"experiment_id": {experimentID}}, &out); err != nil {
		return nil, err
	}
	return &out.Experiment, nil
}

// GetExperimentByName returns an experiment by name; ErrNotFound if none.
func (c *Client) GetExperimentByName(ctx context.Context, name string) (*Experiment, error) {
	var out struct {
		Experiment Experiment `json:"experiment"`
	}
	if err := c.get(ctx, "/api/2.0/mlflow/experiments/get-by-name", url.Values{"experiment_name": {name}}, &out); err != nil {
		return nil, err
	}
	return &out.Experiment, nil
}

// SearchExperimentsRequest is the input of SearchExperiments. Zero values
// take the server's defaults.
type SearchExperimentsRequest struct {
	MaxResults int64    `json:"max_results,omitempty"`
	PageToken  string   `json:"page_token,omitempty"`
	Filter     string   `json:"filter,omitempty"`
	OrderBy    []string `json:"order_by,omitempty"`
	ViewType   ViewType `json:"view_type,omitempty"`
}

// SearchExperimentsResponse is one page of experiments.
type SearchExperimentsResponse struct {
	Experiments   []Experiment `json:"experiments"`
	NextPageToken string       `json:"next_page_token,omitempty"`
}

// SearchExperiments returns one page; pass NextPageToken back for the next.
func (c *Client) SearchExperiments(ctx context.Context, req SearchExperimentsRequest) (*SearchExperimentsResponse, error) {
	var out SearchExperimentsResponse
	if err := c.post(ctx, "/api/2.0/mlflow/experiments/search", req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// UpdateExperiment renames an experiment.
func (c *Client) UpdateExperiment(ctx context.Context, experimentID, newName string) error {
	return c.post(ctx, "/api/2.0/mlflow/experiments/update", map[string]string{"experiment_id": experimentID, "new_name": newName}, nil)
}

// DeleteExperiment soft-deletes an experiment.
func (c *Client) DeleteExperiment(ctx context.Context, experimentID string) error {
	return c.post(ctx, "/api/2.0/mlflow/experiments/delete", map[string]string{"experiment_id": experimentID}, nil)
}

// RestoreExperiment undoes DeleteExperiment.
func (c *Client) RestoreExperiment(ctx context.Context, experimentID string) error {
	return c.post(ctx, "/api/2.0/mlflow/experiments/restore", map[string]string{"experiment_id": experimentID}, nil)
}

// SetExperimentTag sets (or overwrites) an experiment tag.
func (c *Client) SetExperimentTag(ctx context.Context, experimentID, key, value string) error {
	return c.post(ctx, "/api/2.0/mlflow/experiments/set-experiment-tag", map[string]string{"experiment_id": experimentID, "key": key, "value": value}, nil)
}

// DeleteExperimentTag removes an experiment tag.
func (c *Client) DeleteExperimentTag(ctx context.Context, experimentID, key string) error {
	return c.post(ctx, "/api/2.0/mlflow/experiments/delete-experiment-tag", map[string]string{"experiment_id": experimentID, "key": key}, nil)
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
