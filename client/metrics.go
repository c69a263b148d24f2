package client

import (
	"context"
	"fmt"
	"net/url"
)

// GetMetricHistoryRequest is the input of GetMetricHistory. MaxResults 0
// asks for the whole history in one answer.
type GetMetricHistoryRequest struct {
	RunID      string
	MetricKey  string
	MaxResults int32
	PageToken  string
}

// MetricHistoryPage is one page of a metric's history.
type MetricHistoryPage struct {
	Metrics       []Metric `json:"metrics"`
	NextPageToken string   `json:"next_page_token,omitempty"`
}

// GetMetricHistory returns one page of every value logged for a metric.
func (c *Client) GetMetricHistory(ctx context.Context, req GetMetricHistoryRequest) (*MetricHistoryPage, error) {
	q := url.Values{"run_id": {req.RunID}, "metric_key": {req.MetricKey}}
	if req.MaxResults > 0 {
		q.Set("max_results", itoa(int64(req.MaxResults)))
	}
	if req.PageToken != "" {
		q.Set("page_token", req.PageToken)
	}
	var out MetricHistoryPage
	if err := c.get(ctx, "/api/2.0/mlflow/metrics/get-history", q, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// GetMetricHistoryAll follows the pages of GetMetricHistory, pageSize values
// at a time (0: one unpaged request).
func (c *Client) GetMetricHistoryAll(ctx context.Context, runID, key string, pageSize int32) ([]Metric, error) {
	var all []Metric
	req := GetMetricHistoryRequest{RunID: runID, MetricKey: key, MaxResults: pageSize}
	for {
		page, err := c.GetMetricHistory(ctx, req)
		if err != nil {
			return nil, err
		}
		all = append(all, page.Metrics...)
		if page.NextPageToken == "" || pageSize == 0 {
			return all, nil
		}
		if page.NextPageToken == req.PageToken {
			return nil, fmt.Errorf("get-history: server returned the same page token %q twice", req.PageToken)
		}
		req.PageToken = page.NextPageToken
	}
}

// BulkIntervalRequest is the input of GetMetricHistoryBulkInterval. StartStep
// and EndStep are used only together (both nil or both set).
type BulkIntervalRequest struct {
	RunIDs     []string
	MetricKey  string
	StartStep  *int64
	EndStep    *int64
	MaxResults int32 // 0: the server's default (2500)
}

// GetMetricHistoryBulkInterval returns a sample of a metric's history across
// runs, evenly spread over steps; each Metric carries its RunID.
func (c *Client) GetMetricHistoryBulkInterval(ctx context.Context, req BulkIntervalRequest) ([]Metric, error) {
	if (req.StartStep == nil) != (req.EndStep == nil) {
		return nil, fmt.Errorf("%w: StartStep and EndStep must be set together", ErrInvalid)
	}
	q := url.Values{"run_ids": req.RunIDs, "metric_key": {req.MetricKey}}
	if req.StartStep != nil {
		q.Set("start_step", itoa(*req.StartStep))
		q.Set("end_step", itoa(*req.EndStep))
	}
	if req.MaxResults > 0 {
		q.Set("max_results", itoa(int64(req.MaxResults)))
	}
	var out struct {
		Metrics []Metric `json:"metrics"`
	}
	if err := c.get(ctx, "/api/2.0/mlflow/metrics/get-history-bulk-interval", q, &out); err != nil {
		return nil, err
	}
	return out.Metrics, nil
}
