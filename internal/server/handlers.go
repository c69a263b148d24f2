package server

import (
	"net/http"
	"strconv"

	"github.com/mltrack/mltrack/internal/tracking"
)

// apiFunc is an endpoint: it reads its parameters and returns the response
// body or an error; s.api writes either one.
type apiFunc func(r *http.Request, f *fields) (any, error)

func (s *Server) api(h apiFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, err := readFields(r)
		if err != nil {
			s.respondError(w, r, err)
			return
		}
		body, err := h(r, f)
		s.respond(w, r, body, err)
	})
}

// ---- experiments ----

func (s *Server) createExperiment(r *http.Request, f *fields) (any, error) {
	name, err := f.str("name", true)
	if err != nil {
		return nil, err
	}
	loc, err := f.str("artifact_location", false)
	if err != nil {
		return nil, err
	}
	tags, err := f.tags("tags", false)
	if err != nil {
		return nil, err
	}
	id, err := s.svc.CreateExperiment(r.Context(), tracking.NewExperiment{Name: name, ArtifactLocation: loc, Tags: tags})
	if err != nil {
		return nil, err
	}
	return struct {
		ExperimentID string `json:"experiment_id"`
	}{id}, nil
}

type experimentResponse struct {
	Experiment wireExperiment `json:"experiment"`
}

func (s *Server) getExperiment(r *http.Request, f *fields) (any, error) {
	id, err := f.str("experiment_id", true)
	if err != nil {
		return nil, err
	}
	e, err := s.svc.GetExperiment(r.Context(), id)
	if err != nil {
		return nil, err
	}
	return experimentResponse{toWireExperiment(e)}, nil
}

func (s *Server) getExperimentByName(r *http.Request, f *fields) (any, error) {
	name, err := f.str("experiment_name", true)
	if err != nil {
		return nil, err
	}
	e, err := s.svc.GetExperimentByName(r.Context(), name)
	if err != nil {
		return nil, err
	}
	return experimentResponse{toWireExperiment(e)}, nil
}

func (s *Server) searchExperiments(r *http.Request, f *fields) (any, error) {
	vt, err := f.viewType("view_type")
	if err != nil {
		return nil, err
	}
	// MLflow's proto gives max_results no default, and its stores refuse 0.
	maxResults, _, err := f.int64Field("max_results", false)
	if err != nil {
		return nil, err
	}
	orderBy, err := f.strList("order_by")
	if err != nil {
		return nil, err
	}
	filter, err := f.str("filter", false)
	if err != nil {
		return nil, err
	}
	token, err := f.str("page_token", false)
	if err != nil {
		return nil, err
	}
	exps, next, err := s.svc.SearchExperiments(r.Context(), tracking.ExperimentSearch{
		Filter: filter, OrderBy: orderBy, ViewType: vt, MaxResults: maxResults, PageToken: token,
	})
	if err != nil {
		return nil, err
	}
	out := struct {
		Experiments   []wireExperiment `json:"experiments,omitempty"`
		NextPageToken string           `json:"next_page_token,omitempty"`
	}{NextPageToken: next}
	for i := range exps {
		out.Experiments = append(out.Experiments, toWireExperiment(&exps[i]))
	}
	return out, nil
}

func (s *Server) updateExperiment(r *http.Request, f *fields) (any, error) {
	id, err := f.str("experiment_id", true)
	if err != nil {
		return nil, err
	}
	name, err := f.str("new_name", true)
	if err != nil {
		return nil, err
	}
	return nil, s.svc.UpdateExperiment(r.Context(), id, name)
}

func (s *Server) deleteExperiment(r *http.Request, f *fields) (any, error) {
	id, err := f.str("experiment_id", true)
	if err != nil {
		return nil, err
	}
	return nil, s.svc.DeleteExperiment(r.Context(), id)
}

func (s *Server) restoreExperiment(r *http.Request, f *fields) (any, error) {
	id, err := f.str("experiment_id", true)
	if err != nil {
		return nil, err
	}
	return nil, s.svc.RestoreExperiment(r.Context(), id)
}

func (s *Server) setExperimentTag(r *http.Request, f *fields) (any, error) {
	id, err := f.str("experiment_id", true)
	if err != nil {
		return nil, err
	}
	key, err := f.str("key", true)
	if err != nil {
		return nil, err
	}
	value, err := f.str("value", false)
	if err != nil {
		return nil, err
	}
	return nil, s.svc.SetExperimentTag(r.Context(), id, tracking.Tag{Key: key, Value: value})
}

func (s *Server) deleteExperimentTag(r *http.Request, f *fields) (any, error) {
	id, err := f.str("experiment_id", true)
	if err != nil {
		return nil, err
	}
	key, err := f.str("key", true)
	if err != nil {
		return nil, err
	}
	return nil, s.svc.DeleteExperimentTag(r.Context(), id, key)
}

// ---- runs ----

type runResponse struct {
	Run wireRun `json:"run"`
}

func (s *Server) createRun(r *http.Request, f *fields) (any, error) {
	expID, err := f.str("experiment_id", false)
	if err != nil {
		return nil, err
	}
	userID, err := f.str("user_id", false)
	if err != nil {
		return nil, err
	}
	name, err := f.str("run_name", false)
	if err != nil {
		return nil, err
	}
	start, _, err := f.int64Field("start_time", false)
	if err != nil {
		return nil, err
	}
	tags, err := f.tags("tags", false)
	if err != nil {
		return nil, err
	}
	run, err := s.svc.CreateRun(r.Context(), tracking.NewRun{
		ExperimentID: expID, UserID: userID, RunName: name, StartTime: start, Tags: tags,
	})
	if err != nil {
		return nil, err
	}
	return runResponse{toWireRun(run, false)}, nil
}

func (s *Server) getRun(r *http.Request, f *fields) (any, error) {
	id, err := f.runID()
	if err != nil {
		return nil, err
	}
	run, err := s.svc.GetRun(r.Context(), id)
	if err != nil {
		return nil, err
	}
	return runResponse{toWireRun(run, true)}, nil
}

func (s *Server) updateRun(r *http.Request, f *fields) (any, error) {
	id, err := f.runID()
	if err != nil {
		return nil, err
	}
	var u tracking.RunUpdate
	if end, ok, err := f.int64Field("end_time", false); err != nil {
		return nil, err
	} else if ok {
		u.EndTime = &end
	}
	if v, ok := f.raw("status"); ok {
		st, good := parseStatus(v)
		if !good {
			return nil, invalidValue("status", v)
		}
		u.Status = &st
	}
	if _, ok := f.raw("run_name"); ok {
		name, err := f.str("run_name", false)
		if err != nil {
			return nil, err
		}
		u.RunName = &name
	}
	info, err := s.svc.UpdateRun(r.Context(), id, u)
	if err != nil {
		return nil, err
	}
	return struct {
		RunInfo wireRunInfo `json:"run_info"`
	}{toWireRunInfo(info)}, nil
}

// parseStatus accepts a RunStatus name or its proto number.
func parseStatus(v any) (tracking.RunStatus, bool) {
	if s, ok := v.(string); ok {
		if st, ok := tracking.ParseRunStatus(s); ok {
			return st, true
		}
	}
	if n, ok := toInt64(v); ok {
		return tracking.RunStatusFromNumber(n)
	}
	return "", false
}

func (s *Server) deleteRun(r *http.Request, f *fields) (any, error) {
	id, err := f.runID()
	if err != nil {
		return nil, err
	}
	return nil, s.svc.DeleteRun(r.Context(), id)
}

func (s *Server) restoreRun(r *http.Request, f *fields) (any, error) {
	id, err := f.runID()
	if err != nil {
		return nil, err
	}
	return nil, s.svc.RestoreRun(r.Context(), id)
}

func (s *Server) searchRuns(r *http.Request, f *fields) (any, error) {
	expIDs, err := f.strList("experiment_ids")
	if err != nil {
		return nil, err
	}
	filter, err := f.str("filter", false)
	if err != nil {
		return nil, err
	}
	vt, err := f.viewType("run_view_type")
	if err != nil {
		return nil, err
	}
	maxResults, given, err := f.int64Field("max_results", false)
	if err != nil {
		return nil, err
	}
	if !given {
		maxResults = tracking.SearchMaxResultsDefault
	}
	if maxResults > tracking.SearchMaxResultsThreshold {
		v, _ := f.raw("max_results")
		return nil, invalidValue("max_results", v)
	}
	orderBy, err := f.strList("order_by")
	if err != nil {
		return nil, err
	}
	token, err := f.str("page_token", false)
	if err != nil {
		return nil, err
	}
	runs, next, err := s.svc.SearchRuns(r.Context(), tracking.RunSearch{
		ExperimentIDs: expIDs, Filter: filter, OrderBy: orderBy, ViewType: vt,
		MaxResults: maxResults, PageToken: token,
	})
	if err != nil {
		return nil, err
	}
	out := struct {
		Runs          []wireRun `json:"runs,omitempty"`
		NextPageToken string    `json:"next_page_token,omitempty"`
	}{NextPageToken: next}
	for i := range runs {
		out.Runs = append(out.Runs, toWireRun(&runs[i], true))
	}
	return out, nil
}

// metricFields reads one metric (log-metric's body or a log-batch entry).
func metricFields(f *fields, path string) (tracking.Metric, error) {
	name := func(n string) string {
		if path == "" {
			return n
		}
		return path + "." + n
	}
	var m tracking.Metric
	var err error
	if m.Key, err = f.str("key", false); err != nil {
		return m, prefixPath(err, path)
	}
	if m.Key == "" {
		return m, missingValue(name("key"))
	}
	if _, ok := f.raw("value"); !ok {
		return m, missingValue(name("value"))
	}
	if m.Value, _, err = f.floatField("value", true); err != nil {
		return m, prefixPath(err, path)
	}
	if _, ok := f.raw("timestamp"); !ok {
		return m, missingValue(name("timestamp"))
	}
	if m.Timestamp, _, err = f.int64Field("timestamp", true); err != nil {
		return m, prefixPath(err, path)
	}
	if m.Step, _, err = f.int64Field("step", false); err != nil {
		return m, prefixPath(err, path)
	}
	for _, x := range []struct {
		name string
		dst  *string
	}{{"model_id", &m.ModelID}, {"dataset_name", &m.DatasetName}, {"dataset_digest", &m.DatasetDigest}} {
		if *x.dst, err = f.str(x.name, false); err != nil {
			return m, prefixPath(err, path)
		}
	}
	return m, nil
}

func prefixPath(err error, path string) error {
	if path == "" {
		return err
	}
	return prefixed(err, path)
}

func (s *Server) logMetric(r *http.Request, f *fields) (any, error) {
	id, err := f.runID()
	if err != nil {
		return nil, err
	}
	m, err := metricFields(f, "")
	if err != nil {
		return nil, err
	}
	return nil, s.svc.LogMetric(r.Context(), id, m)
}

func (s *Server) logParam(r *http.Request, f *fields) (any, error) {
	id, key, value, err := runKeyValue(f)
	if err != nil {
		return nil, err
	}
	return nil, s.svc.LogParam(r.Context(), id, tracking.Param{Key: key, Value: value})
}

func (s *Server) setTag(r *http.Request, f *fields) (any, error) {
	id, key, value, err := runKeyValue(f)
	if err != nil {
		return nil, err
	}
	return nil, s.svc.SetTag(r.Context(), id, tracking.Tag{Key: key, Value: value})
}

// runKeyValue reads the run id, a required key and an optional value: the
// request shape of log-parameter and set-tag.
func runKeyValue(f *fields) (id, key, value string, err error) {
	if id, err = f.runID(); err != nil {
		return
	}
	if key, err = f.str("key", true); err != nil {
		return
	}
	value, err = f.str("value", false)
	return
}

func (s *Server) deleteTag(r *http.Request, f *fields) (any, error) {
	id, err := f.runID()
	if err != nil {
		return nil, err
	}
	key, err := f.str("key", true)
	if err != nil {
		return nil, err
	}
	return nil, s.svc.DeleteTag(r.Context(), id, key)
}

func (s *Server) logBatch(r *http.Request, f *fields) (any, error) {
	id, err := f.runID()
	if err != nil {
		return nil, err
	}
	mobjs, err := f.objList("metrics")
	if err != nil {
		return nil, err
	}
	metrics := make([]tracking.Metric, len(mobjs))
	for i, o := range mobjs {
		if metrics[i], err = metricFields(o, "metrics["+strconv.Itoa(i)+"]"); err != nil {
			return nil, err
		}
	}
	ptags, err := f.tags("params", true)
	if err != nil {
		return nil, err
	}
	params := make([]tracking.Param, len(ptags))
	for i, p := range ptags {
		params[i] = tracking.Param{Key: p.Key, Value: p.Value}
	}
	tags, err := f.tags("tags", true)
	if err != nil {
		return nil, err
	}
	return nil, s.svc.LogBatch(r.Context(), id, metrics, params, tags)
}

// ---- metric history ----

type metricsResponse struct {
	Metrics       []wireMetric `json:"metrics,omitempty"`
	NextPageToken string       `json:"next_page_token,omitempty"`
}

func (s *Server) getMetricHistory(r *http.Request, f *fields) (any, error) {
	id, err := f.runID()
	if err != nil {
		return nil, err
	}
	key, err := f.str("metric_key", true)
	if err != nil {
		return nil, err
	}
	token, err := f.str("page_token", false)
	if err != nil {
		return nil, err
	}
	var maxResults *int64
	if n, ok, err := f.int64Field("max_results", false); err != nil {
		return nil, err
	} else if ok {
		maxResults = &n
	}
	ms, next, err := s.svc.GetMetricHistory(r.Context(), id, key, maxResults, token)
	if err != nil {
		return nil, err
	}
	out := metricsResponse{NextPageToken: next}
	if len(ms) > 0 {
		out.Metrics = toWireMetrics(ms)
		// MLflow's SQL store answers get-history without run_id, its file store
		// with it; answer as the MLflow store of the same kind would.
		if s.storeType != "FileStore" {
			for i := range out.Metrics {
				out.Metrics[i].RunID = ""
			}
		}
	}
	return out, nil
}

func (s *Server) getMetricHistoryBulkInterval(r *http.Request, f *fields) (any, error) {
	if _, ok := f.raw("run_ids"); !ok {
		return nil, missingValue("run_ids")
	}
	runIDs, err := f.strList("run_ids")
	if err != nil {
		return nil, err
	}
	if err := tracking.CheckBulkIntervalRunIDs(len(runIDs)); err != nil {
		return nil, err
	}
	key, err := f.str("metric_key", true)
	if err != nil {
		return nil, err
	}
	start, end, err := stepRange(f)
	if err != nil {
		return nil, err
	}
	maxResults, given, err := f.int64Field("max_results", false)
	if err != nil {
		return nil, err
	}
	if !given {
		maxResults = tracking.MaxResultsPerRunInterval
	}
	if err := tracking.CheckBulkIntervalMaxResults(maxResults); err != nil {
		return nil, err
	}
	ms, err := s.svc.GetMetricHistoryBulkInterval(r.Context(), runIDs, key, start, end, int(maxResults))
	if err != nil {
		return nil, err
	}
	out := metricsResponse{}
	if len(ms) > 0 {
		out.Metrics = toWireMetrics(ms)
	}
	return out, nil
}

// stepRange reads the optional start_step and end_step of the history
// endpoints; the service checks that both or neither are given.
func stepRange(f *fields) (start, end *int64, err error) {
	for _, p := range []struct {
		name string
		dst  **int64
	}{{"start_step", &start}, {"end_step", &end}} {
		n, ok, err := f.int64Field(p.name, false)
		if err != nil {
			return nil, nil, err
		}
		if ok {
			*p.dst = &n
		}
	}
	return start, end, nil
}

// getMetricHistoryDownsampled serves mltrack's chart endpoint (not part of
// MLflow's API; documented in docs/api.md): run_ids (repeated), metric_key,
// max_points (default 1000), optional start_step and end_step, and format:
// "columns" answers with per-run arrays (historyColumns), anything else or
// nothing with MLflow-style metric objects.
func (s *Server) getMetricHistoryDownsampled(r *http.Request, f *fields) (any, error) {
	runIDs, err := f.strList("run_ids")
	if err != nil {
		return nil, err
	}
	key, err := f.str("metric_key", true)
	if err != nil {
		return nil, err
	}
	start, end, err := stepRange(f)
	if err != nil {
		return nil, err
	}
	maxPoints, given, err := f.int64Field("max_points", false)
	if err != nil {
		return nil, err
	}
	if !given {
		maxPoints = 1000
	}
	if maxPoints > tracking.MaxDownsampledPoints {
		maxPoints = tracking.MaxDownsampledPoints + 1 // rejected by the service with its message
	}
	format, err := f.str("format", false)
	if err != nil {
		return nil, err
	}
	if format != "" && format != "columns" && format != "objects" {
		return nil, tracking.InvalidParameter("format must be 'objects' or 'columns'. Found format='%s'.", format)
	}
	ms, err := s.svc.GetMetricHistoryDownsampled(r.Context(), runIDs, key, start, end, int(maxPoints))
	if err != nil {
		return nil, err
	}
	if format == "columns" {
		return columnsOf(ms), nil
	}
	out := metricsResponse{}
	if len(ms) > 0 {
		out.Metrics = toWireMetrics(ms)
	}
	return out, nil
}

// getMetricHistoryBulk is the UI's ajax-only endpoint; it reads repeated
// run_id query keys and always answers {"metrics": [...]}.
func (s *Server) getMetricHistoryBulk(r *http.Request, _ *fields) (any, error) {
	q := r.URL.Query()
	runIDs := q["run_id"]
	if len(runIDs) == 0 {
		return nil, tracking.InvalidParameter("GetMetricHistoryBulk request must specify at least one run_id.")
	}
	if len(runIDs) > tracking.MaxRunsPerBulkRequest {
		return nil, tracking.InvalidParameter("GetMetricHistoryBulk request cannot specify more than %d run_ids. Received %d run_ids.",
			tracking.MaxRunsPerBulkRequest, len(runIDs))
	}
	if _, ok := q["metric_key"]; !ok {
		return nil, tracking.InvalidParameter("GetMetricHistoryBulk request must specify a metric_key.")
	}
	key := q.Get("metric_key")
	maxResults := int64(tracking.MaxHistoryBulkResults)
	if v, ok := q["max_results"]; ok {
		n, good := toInt64(v[0])
		if !good {
			return nil, invalidValue("max_results", v[0])
		}
		maxResults = n
	}
	ms, err := s.svc.GetMetricHistoryBulk(r.Context(), runIDs, key, int(min(maxResults, tracking.MaxHistoryBulkResults)))
	if err != nil {
		return nil, err
	}
	return struct {
		Metrics []wireMetric `json:"metrics"`
	}{toWireMetrics(ms)}, nil
}

// ---- server facts ----

func (s *Server) serverInfo(*http.Request, *fields) (any, error) {
	return struct {
		StoreType                 string `json:"store_type"`
		WorkspacesEnabled         bool   `json:"workspaces_enabled"`
		TraceArchivalEnabled      bool   `json:"trace_archival_enabled"`
		MultipartUploadsEnabled   bool   `json:"multipart_uploads_enabled"`
		MultipartDownloadsEnabled bool   `json:"multipart_downloads_enabled"`
	}{StoreType: s.storeType}, nil
}
