package client

import (
	"context"
	"fmt"
	"net/url"
)

// MLflow's per-request limits for log-batch (mlflow/utils/validation.py).
const (
	maxMetricsPerBatch  = 1000
	maxParamsPerBatch   = 100
	maxTagsPerBatch     = 100
	maxEntitiesPerBatch = 1000
)

// CreateRunRequest is the input of CreateRun. StartTime 0 means now.
type CreateRunRequest struct {
	ExperimentID string `json:"experiment_id"`
	RunName      string `json:"run_name,omitempty"`
	StartTime    int64  `json:"start_time,omitempty"`
	UserID       string `json:"user_id,omitempty"`
	Tags         []Tag  `json:"tags,omitempty"`
}

// CreateRun creates a run in RUNNING state.
func (c *Client) CreateRun(ctx context.Context, req CreateRunRequest) (*Run, error) {
	if req.StartTime == 0 {
		req.StartTime = c.nowMillis()
	}
	var out struct {
		Run Run `json:"run"`
	}
	if err := c.post(ctx, "/api/2.0/mlflow/runs/create", req, &out); err != nil {
		return nil, err
	}
	return &out.Run, nil
}

// GetRun returns a run with the latest value of each metric.
func (c *Client) GetRun(ctx context.Context, runID string) (*Run, error) {
	var out struct {
		Run Run `json:"run"`
	}
	if err := c.get(ctx, "/api/2.0/mlflow/runs/get", url.Values{"run_id": {runID}}, &out); err != nil {
		return nil, err
	}
	return &out.Run, nil
}

// UpdateRunRequest is the input of UpdateRun; empty fields are left alone.
type UpdateRunRequest struct {
	RunID   string    `json:"run_id"`
	Status  RunStatus `json:"status,omitempty"`
	EndTime int64     `json:"end_time,omitempty"`
	RunName string    `json:"run_name,omitempty"`
}

// UpdateRun changes a run's status, end time or name.
func (c *Client) UpdateRun(ctx context.Context, req UpdateRunRequest) (*RunInfo, error) {
	var out struct {
		RunInfo RunInfo `json:"run_info"`
	}
	if err := c.post(ctx, "/api/2.0/mlflow/runs/update", req, &out); err != nil {
		return nil, err
	}
	return &out.RunInfo, nil
}

// DeleteRun soft-deletes a run.
func (c *Client) DeleteRun(ctx context.Context, runID string) error {
	return c.post(ctx, "/api/2.0/mlflow/runs/delete", map[string]string{"run_id": runID}, nil)
}

// RestoreRun undoes DeleteRun.
func (c *Client) RestoreRun(ctx context.Context, runID string) error {
	return c.post(ctx, "/api/2.0/mlflow/runs/restore", map[string]string{"run_id": runID}, nil)
}

// SearchRunsRequest is the input of SearchRuns. Zero values take the
// server's defaults (active runs, 1000 per page).
type SearchRunsRequest struct {
	ExperimentIDs []string `json:"experiment_ids"`
	Filter        string   `json:"filter,omitempty"`
	RunViewType   ViewType `json:"run_view_type,omitempty"`
	MaxResults    int32    `json:"max_results,omitempty"`
	OrderBy       []string `json:"order_by,omitempty"`
	PageToken     string   `json:"page_token,omitempty"`
}

// SearchRunsResponse is one page of runs.
type SearchRunsResponse struct {
	Runs          []Run  `json:"runs"`
	NextPageToken string `json:"next_page_token,omitempty"`
}

// SearchRuns returns one page; pass NextPageToken back for the next.
func (c *Client) SearchRuns(ctx context.Context, req SearchRunsRequest) (*SearchRunsResponse, error) {
	var out SearchRunsResponse
	if err := c.post(ctx, "/api/2.0/mlflow/runs/search", req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// LogMetric sends one metric value now (no batching). Timestamp 0 means now.
func (c *Client) LogMetric(ctx context.Context, runID string, m Metric) error {
	if m.Timestamp == 0 {
		m.Timestamp = c.nowMillis()
	}
	body := map[string]any{"run_id": runID, "key": m.Key, "value": wireDouble(m.Value), "timestamp": m.Timestamp, "step": m.Step}
	return c.post(ctx, "/api/2.0/mlflow/runs/log-metric", body, nil)
}

// LogParam logs a run parameter. Re-logging a different value is rejected by
// the server (ErrInvalid).
func (c *Client) LogParam(ctx context.Context, runID, key, value string) error {
	return c.post(ctx, "/api/2.0/mlflow/runs/log-parameter", map[string]string{"run_id": runID, "key": key, "value": value}, nil)
}

// SetTag sets (or overwrites) a run tag.
func (c *Client) SetTag(ctx context.Context, runID, key, value string) error {
	return c.post(ctx, "/api/2.0/mlflow/runs/set-tag", map[string]string{"run_id": runID, "key": key, "value": value}, nil)
}

// DeleteTag removes a run tag; ErrNotFound if it is not set.
func (c *Client) DeleteTag(ctx context.Context, runID, key string) error {
	return c.post(ctx, "/api/2.0/mlflow/runs/delete-tag", map[string]string{"run_id": runID, "key": key}, nil)
}

// LogBatch logs metrics, params and tags, split into as many log-batch
// requests as MLflow's limits need (≤1000 metrics, ≤100 params, ≤100 tags,
// ≤1000 entities each), sent in order. Metrics with Timestamp 0 get now.
// The split is not atomic: on error, earlier chunks have been stored.
func (c *Client) LogBatch(ctx context.Context, runID string, metrics []Metric, params []Param, tags []Tag) error {
	now := c.nowMillis()
	for _, b := range splitBatch(metrics, params, tags) {
		for i := range b.Metrics {
			if b.Metrics[i].Timestamp == 0 {
				b.Metrics[i].Timestamp = now
			}
		}
		b.RunID = runID
		if err := c.post(ctx, "/api/2.0/mlflow/runs/log-batch", b, nil); err != nil {
			return fmt.Errorf("log-batch (%d metrics, %d params, %d tags): %w", len(b.Metrics), len(b.Params), len(b.Tags), err)
		}
	}
	return nil
}

type logBatchRequest struct {
	RunID   string   `json:"run_id"`
	Metrics []Metric `json:"metrics,omitempty"`
	Params  []Param  `json:"params,omitempty"`
	Tags    []Tag    `json:"tags,omitempty"`
}

// splitBatch cuts the input into requests within MLflow's limits. Params and
// tags go first, so a run's configuration lands before its metrics. The
// metrics slices it returns are copies the caller may modify.
func splitBatch(metrics []Metric, params []Param, tags []Tag) []logBatchRequest {
	var out []logBatchRequest
	for len(metrics)+len(params)+len(tags) > 0 {
		var b logBatchRequest
		np := min(len(params), maxParamsPerBatch)
		b.Params, params = params[:np], params[np:]
		nt := min(len(tags), maxTagsPerBatch)
		b.Tags, tags = tags[:nt], tags[nt:]
		nm := min(len(metrics), maxMetricsPerBatch, maxEntitiesPerBatch-np-nt)
		b.Metrics, metrics = append([]Metric(nil), metrics[:nm]...), metrics[nm:]
		out = append(out, b)
	}
	return out
}
