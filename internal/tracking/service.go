package tracking

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"time"
)

// Service is the one way into a Store for every API operation. It applies
// MLflow's validation, resolves run names, turns page tokens into offsets and
// parses search filters, so every store sees only well-formed requests.
type Service struct {
	store  Store
	now    func() time.Time
	rand   *rand.Rand
	logger *slog.Logger
	parser QueryParser
	// histCache serves GetMetricHistoryDownsampled; nil when disabled.
	histCache *historyCache
	// logs is the store as a MetricLogReader when its cache entries follow
	// logs rather than latest points.
	logs MetricLogReader
}

// ServiceOptions configures a Service; zero values pick sane defaults.
type ServiceOptions struct {
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Rand drives generated run names (default: the global source).
	Rand   *rand.Rand
	Logger *slog.Logger
	// Parser parses filter and order_by text (default: package search).
	Parser QueryParser
	// HistoryCacheBytes bounds the memory of the chart history cache
	// (GetMetricHistoryDownsampled): 0 means DefaultHistoryCacheBytes,
	// negative turns the cache off.
	HistoryCacheBytes int64
}

// NewService wraps store.
func NewService(store Store, opts ServiceOptions) *Service {
	s := &Service{store: store, now: opts.Now, rand: opts.Rand, logger: opts.Logger, parser: opts.Parser}
	_, latest := store.(LatestMetricReader)
	logs, isLog := store.(MetricLogReader)
	if latest || isLog {
		// Only a store that reports latest points, or keeps histories as
		// append-only logs, can have its cache checked against other
		// writers (see GetMetricHistoryDownsampled).
		s.histCache = newHistoryCache(opts.HistoryCacheBytes)
	}
	if isLog && !latest && s.histCache != nil {
		s.logs = logs
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	if s.parser == nil {
		s.parser = searchParser{}
	}
	return s
}

// Close closes the underlying store.
func (s *Service) Close() error { return s.store.Close() }

func (s *Service) nowMillis() int64 { return s.now().UnixMilli() }

// parseExperimentID applies the SQL store's rule that experiment ids are
// integers, so a bad id is a client error in every backend.
func parseExperimentID(id string) error {
	if _, err := strconv.ParseInt(id, 10, 64); err != nil {
		return InvalidParameter("Invalid experiment ID '%s'. Experiment ID must be a valid integer.", id)
	}
	return nil
}

// ---- experiments ----

// CreateExperiment validates and creates an experiment, returning its id.
func (s *Service) CreateExperiment(ctx context.Context, e NewExperiment) (string, error) {
	if err := ValidateExperimentName(e.Name); err != nil {
		return "", err
	}
	if e.ArtifactLocation != "" {
		if err := ValidateArtifactLocation(e.ArtifactLocation); err != nil {
			return "", err
		}
	}
	for _, t := range e.Tags {
		if err := ValidateExperimentTag(t); err != nil {
			return "", err
		}
	}
	return s.store.CreateExperiment(ctx, e)
}

func (s *Service) GetExperiment(ctx context.Context, id string) (*Experiment, error) {
	if err := parseExperimentID(id); err != nil {
		return nil, err
	}
	return s.store.GetExperiment(ctx, id)
}

func (s *Service) GetExperimentByName(ctx context.Context, name string) (*Experiment, error) {
	return s.store.GetExperimentByName(ctx, name)
}

// ExperimentSearch is a SearchExperiments request as the client sent it.
type ExperimentSearch struct {
	Filter     string
	OrderBy    []string
	ViewType   ViewType // 0 means ACTIVE_ONLY
	MaxResults int64    // MLflow rejects 0 here: its proto has no default
	PageToken  string
}

// SearchExperiments returns one page and the token of the next, if any.
func (s *Service) SearchExperiments(ctx context.Context, req ExperimentSearch) ([]Experiment, string, error) {
	if err := ValidateSearchMaxResults(req.MaxResults); err != nil {
		return nil, "", err
	}
	offset, err := DecodePageToken(req.PageToken)
	if err != nil {
		return nil, "", err
	}
	filter, err := s.parser.ExperimentFilter(req.Filter)
	if err != nil {
		return nil, "", asInvalidParameter(err)
	}
	order, err := parseOrderBy(req.OrderBy, s.parser.ExperimentOrderBy)
	if err != nil {
		return nil, "", err
	}
	vt := req.ViewType
	if vt == 0 {
		vt = ViewActiveOnly
	}
	limit := int(req.MaxResults)
	rows, err := s.store.SearchExperiments(ctx, ExperimentQuery{
		Filter: filter, OrderBy: order, ViewType: vt, Offset: offset, Limit: limit + 1,
	})
	if err != nil {
		return nil, "", err
	}
	rows, next := page(rows, offset, limit)
	return rows, next, nil
}

// page trims the extra row a store was asked for and makes the next token.
func page[T any](rows []T, offset, limit int) ([]T, string) {
	if len(rows) > limit {
		return rows[:limit], EncodePageToken(offset + limit)
	}
	return rows, ""
}

func (s *Service) UpdateExperiment(ctx context.Context, id, newName string) error {
	if err := parseExperimentID(id); err != nil {
		return err
	}
	if err := ValidateExperimentName(newName); err != nil {
		return err
	}
	// MLflow answers this with INVALID_STATE, which is a 500 its own client
	// retries for minutes; it is a client mistake, so it is a 400 here.
	e, err := s.store.GetExperiment(ctx, id)
	if err != nil {
		return err
	}
	if e.LifecycleStage != LifecycleActive {
		return InvalidParameter("Cannot rename a non-active experiment.")
	}
	return s.store.RenameExperiment(ctx, id, newName)
}

func (s *Service) DeleteExperiment(ctx context.Context, id string) error {
	if err := parseExperimentID(id); err != nil {
		return err
	}
	return s.store.DeleteExperiment(ctx, id)
}

func (s *Service) RestoreExperiment(ctx context.Context, id string) error {
	if err := parseExperimentID(id); err != nil {
		return err
	}
	return s.store.RestoreExperiment(ctx, id)
}

func (s *Service) SetExperimentTag(ctx context.Context, id string, t Tag) error {
	if err := parseExperimentID(id); err != nil {
		return err
	}
	if err := ValidateExperimentTag(t); err != nil {
		return err
	}
	return s.store.SetExperimentTag(ctx, id, t)
}

func (s *Service) DeleteExperimentTag(ctx context.Context, id, key string) error {
	if err := parseExperimentID(id); err != nil {
		return err
	}
	return s.store.DeleteExperimentTag(ctx, id, key)
}

// ---- runs ----

// CreateRun resolves the run name the way MLflow does (run_name and the
// mlflow.runName tag must agree; neither means a generated name, recorded as
// the tag) and creates the run. StartTime 0 means now.
func (s *Service) CreateRun(ctx context.Context, r NewRun) (*Run, error) {
	if r.ExperimentID == "" {
		r.ExperimentID = DefaultExperimentID
	}
	if err := parseExperimentID(r.ExperimentID); err != nil {
		return nil, err
	}
	tags := make([]Tag, 0, len(r.Tags)+1)
	tagName := ""
	for i, t := range r.Tags {
		vt, err := ValidateRunTag(t, "tags["+strconv.Itoa(i)+"]")
		if err != nil {
			return nil, err
		}
		if vt.Key == TagRunName {
			tagName = vt.Value
		}
		tags = append(tags, vt)
	}
	if r.RunName != "" && tagName != "" && r.RunName != tagName {
		return nil, InvalidParameter("Both 'run_name' argument and 'mlflow.runName' tag are specified, but with "+
			"different values (run_name='%s', mlflow.runName='%s').", r.RunName, tagName)
	}
	name := r.RunName
	if name == "" {
		name = tagName
	}
	if name == "" {
		name = GenerateRunName(s.rand)
	}
	if tagName == "" {
		tags = append(tags, Tag{Key: TagRunName, Value: name})
	}
	r.RunName = name
	r.Tags = tags
	// A missing start_time stays 0, as MLflow 3.18's server keeps it (its
	// clients always send one).
	run, err := s.store.CreateRun(ctx, r)
	if err == nil && s.histCache != nil && s.logs == nil {
		// Its histories start with this server's writes: chart them from
		// the cache from the first point.
		s.histCache.created(run.Info.RunID)
	}
	return run, err
}

func (s *Service) GetRun(ctx context.Context, id string) (*Run, error) {
	return s.store.GetRun(ctx, id)
}

func (s *Service) UpdateRun(ctx context.Context, id string, u RunUpdate) (*RunInfo, error) {
	return s.store.UpdateRun(ctx, id, u)
}

func (s *Service) DeleteRun(ctx context.Context, id string) error {
	return s.store.DeleteRun(ctx, id)
}

func (s *Service) RestoreRun(ctx context.Context, id string) error {
	return s.store.RestoreRun(ctx, id)
}

// RunSearch is a SearchRuns request as the client sent it.
type RunSearch struct {
	ExperimentIDs []string
	Filter        string
	OrderBy       []string
	ViewType      ViewType // 0 means ACTIVE_ONLY
	MaxResults    int64    // 0 is refused, as MLflow's store does
	PageToken     string
}

// SearchRuns returns one page of runs and the next page's token, if any.
func (s *Service) SearchRuns(ctx context.Context, req RunSearch) ([]Run, string, error) {
	if err := ValidateSearchMaxResults(req.MaxResults); err != nil {
		return nil, "", err
	}
	for _, id := range req.ExperimentIDs {
		if err := parseExperimentID(id); err != nil {
			return nil, "", err
		}
	}
	offset, err := DecodePageToken(req.PageToken)
	if err != nil {
		return nil, "", err
	}
	filter, err := s.parser.RunFilter(req.Filter)
	if err != nil {
		return nil, "", asInvalidParameter(err)
	}
	order, err := parseOrderBy(req.OrderBy, s.parser.RunOrderBy)
	if err != nil {
		return nil, "", err
	}
	vt := req.ViewType
	if vt == 0 {
		vt = ViewActiveOnly
	}
	limit := int(req.MaxResults)
	if len(req.ExperimentIDs) == 0 {
		return []Run{}, "", nil
	}
	rows, err := s.store.SearchRuns(ctx, RunQuery{
		ExperimentIDs: req.ExperimentIDs, Filter: filter, OrderBy: order, ViewType: vt,
		Offset: offset, Limit: limit + 1,
	})
	if err != nil {
		return nil, "", err
	}
	rows, next := page(rows, offset, limit)
	return rows, next, nil
}

// LogMetric logs one metric point.
func (s *Service) LogMetric(ctx context.Context, runID string, m Metric) error {
	if err := ValidateMetric(m, ""); err != nil {
		return err
	}
	ms := []Metric{m}
	return s.writeMetrics(ctx, runID, ms, func() error { return s.store.LogBatch(ctx, runID, ms, nil, nil) })
}

// LogParam logs one param; an over-long value is truncated as MLflow does.
func (s *Service) LogParam(ctx context.Context, runID string, p Param) error {
	p, err := ValidateParam(p, "")
	if err != nil {
		return err
	}
	// MLflow words a changed single param differently from a changed param
	// in a batch; look first so log-parameter gets its own message. The
	// store still refuses the change if a writer races us.
	if run, err := s.store.GetRun(ctx, runID); err == nil && run.Info.LifecycleStage == LifecycleActive {
		for _, old := range run.Data.Params {
			if old.Key == p.Key && old.Value != p.Value {
				return InvalidParameter("Changing param values is not allowed. Param with key='%s' was already logged "+
					"with value='%s' for run ID='%s'. Attempted logging new value '%s'.", p.Key, old.Value, runID, p.Value)
			}
		}
	}
	return s.store.LogBatch(ctx, runID, nil, []Param{p}, nil)
}

// SetTag sets one run tag.
func (s *Service) SetTag(ctx context.Context, runID string, t Tag) error {
	t, err := ValidateRunTag(t, "")
	if err != nil {
		return err
	}
	if t.Key == TagRunName {
		// The store keeps the run's name column and the tag in step.
		name := t.Value
		if _, err := s.store.UpdateRun(ctx, runID, RunUpdate{RunName: &name}); err != nil {
			return err
		}
		return nil
	}
	return s.store.LogBatch(ctx, runID, nil, nil, []Tag{t})
}

func (s *Service) DeleteTag(ctx context.Context, runID, key string) error {
	return s.store.DeleteTag(ctx, runID, key)
}

// LogBatch validates a whole batch before the store sees any of it, so a
// rejected batch writes nothing.
func (s *Service) LogBatch(ctx context.Context, runID string, metrics []Metric, params []Param, tags []Tag) error {
	if err := ValidateRunID(runID, "run_id"); err != nil {
		return err
	}
	for i, m := range metrics {
		if err := ValidateMetric(m, "metrics["+strconv.Itoa(i)+"]"); err != nil {
			return err
		}
	}
	vp := make([]Param, len(params))
	for i, p := range params {
		v, err := ValidateParam(p, "params["+strconv.Itoa(i)+"]")
		if err != nil {
			return err
		}
		vp[i] = v
	}
	vt := make([]Tag, len(tags))
	for i, t := range tags {
		v, err := ValidateRunTag(t, "tags["+strconv.Itoa(i)+"]")
		if err != nil {
			return err
		}
		vt[i] = v
	}
	if err := ValidateBatchLimits(len(metrics), len(params), len(tags)); err != nil {
		return err
	}
	if err := ValidateParamKeysUnique(vp); err != nil {
		return err
	}
	return s.writeMetrics(ctx, runID, metrics, func() error { return s.store.LogBatch(ctx, runID, metrics, vp, vt) })
}

// writeMetrics runs write, the store's write of metrics to runID, and tells
// the chart history cache about it afterwards (err included: a failed write
// may have committed). Series that start with this write are found first,
// for runs this server did not create by asking the store's latest points
// (once a series: the cache remembers the answer).
func (s *Service) writeMetrics(ctx context.Context, runID string, metrics []Metric, write func() error) error {
	if s.histCache == nil || s.logs != nil || len(metrics) == 0 {
		return write() // a log store's entries read what was appended
	}
	var newKeys map[string]bool
	if lr, ok := s.store.(LatestMetricReader); ok {
		for _, k := range s.histCache.unknownKeys(runID, metrics) {
			latest, err := lr.LatestMetrics(ctx, []string{runID}, k)
			if err != nil {
				break // unknown stays uncached; the write decides the answer
			}
			if _, had := latest[runID]; had {
				s.histCache.hadPoints(runID, k)
				continue
			}
			if newKeys == nil {
				newKeys = map[string]bool{}
			}
			newKeys[k] = true
		}
	}
	err := write()
	s.histCache.logged(runID, metrics, newKeys, err)
	return err
}

// GetMetricHistory returns a metric's history. maxResults nil means the whole
// history in one response, as MLflow does.
func (s *Service) GetMetricHistory(ctx context.Context, runID, key string, maxResults *int64, pageToken string) ([]Metric, string, error) {
	if maxResults != nil && *maxResults <= 0 {
		return nil, "", InvalidParameter("Invalid value %d for parameter 'max_results' supplied. It must be a positive integer.", *maxResults)
	}
	offset, err := DecodePageToken(pageToken)
	if err != nil {
		return nil, "", err
	}
	limit, fetch := 0, 0 // fetch 0: the whole history
	if maxResults != nil {
		limit = int(*maxResults)
		fetch = limit + 1
	}
	rows, err := s.store.GetMetricHistory(ctx, runID, key, offset, fetch)
	if IsNotFound(err) {
		// MLflow's SQL store answers an unknown run with an empty history.
		return nil, "", nil
	}
	if err != nil || maxResults == nil {
		return rows, "", err
	}
	rows, next := page(rows, offset, limit)
	return rows, next, nil
}

// GetMetricHistoryBulk serves the UI's ajax get-history-bulk: each run's
// history ordered by timestamp, step and value, runs in id order, at most
// maxResults points in all.
func (s *Service) GetMetricHistoryBulk(ctx context.Context, runIDs []string, key string, maxResults int) ([]Metric, error) {
	if len(runIDs) == 0 {
		return nil, InvalidParameter("GetMetricHistoryBulk request must specify at least one run_id.")
	}
	if len(runIDs) > MaxRunsPerBulkRequest {
		return nil, InvalidParameter("GetMetricHistoryBulk request cannot specify more than %d run_ids. Received %d run_ids.",
			MaxRunsPerBulkRequest, len(runIDs))
	}
	if maxResults > MaxHistoryBulkResults {
		maxResults = MaxHistoryBulkResults
	}
	ids := append([]string(nil), runIDs...)
	sortStrings(ids)
	var out []Metric
	for _, id := range ids {
		hist, err := s.store.GetMetricHistory(ctx, id, key, 0, maxPositive(maxResults))
		if err != nil {
			return nil, err
		}
		sortMetrics(hist, byTimestampStepValue)
		for _, m := range hist {
			m.RunID = id
			out = append(out, m)
		}
	}
	if maxResults >= 0 && len(out) > maxResults {
		out = out[:maxResults]
	}
	return out, nil
}

func maxPositive(n int) int {
	if n < 0 {
		return 0
	}
	return n
}

// GetMetricHistoryBulkInterval samples each run's history of one metric to at
// most maxResults points, keeping the first and the last point of the range
// (MLflow's SQL store semantics: rows in (step, timestamp, value) order are
// cut into maxResults near-equal buckets and each bucket's first row kept).
// start and end are both set or both nil.
func (s *Service) GetMetricHistoryBulkInterval(ctx context.Context, runIDs []string, key string, start, end *int64, maxResults int) ([]Metric, error) {
	if err := CheckBulkIntervalRunIDs(len(runIDs)); err != nil {
		return nil, err
	}
	if err := CheckBulkIntervalMaxResults(int64(maxResults)); err != nil {
		return nil, err
	}
	if (start == nil) != (end == nil) {
		return nil, InvalidParameter("If either start step or end step are specified, both must be specified.")
	}
	if start != nil && *start > *end {
		return nil, InvalidParameter("end_step must be greater than start_step. Found start_step=%d and end_step=%d.", *start, *end)
	}
	return s.eachRunHistory(ctx, runIDs, key, start, end, func(hist []Metric) []Metric {
		return SampleEvenly(hist, maxResults)
	})
}

// MaxDownsampledPoints bounds the per-run budget of GetMetricHistoryDownsampled.
const MaxDownsampledPoints = 10000

// GetMetricHistoryDownsampled is mltrack's chart endpoint: each run's history
// of one metric in step order, reduced to at most maxPoints points by
// Downsample, which keeps every bucket's min and max so no spike is lost
// (MLflow's interval sampling picks evenly spaced steps and can drop them).
// A store that scans step ranges (MetricStepScanner) is read only within the
// range, runs concurrently, and through the history cache when it also
// reports latest points (LatestMetricReader); any other store is read whole.
// Both give the same result (docs/decisions/0007-chart-history-cache.md).
func (s *Service) GetMetricHistoryDownsampled(ctx context.Context, runIDs []string, key string, start, end *int64, maxPoints int) ([]Metric, error) {
	if len(runIDs) == 0 {
		return nil, InvalidParameter("Missing value for required parameter 'run_ids'.")
	}
	if len(runIDs) > MaxRunsPerBulkRequest {
		return nil, InvalidParameter("At most %d run_ids may be given. Received %d run_ids.", MaxRunsPerBulkRequest, len(runIDs))
	}
	if maxPoints < MinDownsamplePoints || maxPoints > MaxDownsampledPoints {
		return nil, InvalidParameter("max_points must be between %d and %d.", MinDownsamplePoints, MaxDownsampledPoints)
	}
	if (start == nil) != (end == nil) {
		return nil, InvalidParameter("If either start step or end step are specified, both must be specified.")
	}
	if start != nil && *start > *end {
		return nil, InvalidParameter("end_step must be greater than start_step. Found start_step=%d and end_step=%d.", *start, *end)
	}
	if sc, ok := s.store.(MetricStepScanner); ok {
		return s.downsampleRuns(ctx, sc, runIDs, key, start, end, maxPoints)
	}
	return s.eachRunHistory(ctx, runIDs, key, start, end, func(hist []Metric) []Metric {
		return Downsample(hist, maxPoints)
	})
}

// eachRunHistory reads each run's history of key, keeps the points whose step
// lies in [start, end] (all when start is nil), orders them by step, and
// collects what reduce returns, labelled with the run id. An unknown run
// contributes nothing, as in MLflow's SQL store.
func (s *Service) eachRunHistory(ctx context.Context, runIDs []string, key string, start, end *int64, reduce func([]Metric) []Metric) ([]Metric, error) {
	var out []Metric
	for _, id := range runIDs {
		hist, err := s.store.GetMetricHistory(ctx, id, key, 0, 0)
		if err != nil {
			if IsNotFound(err) {
				continue
			}
			return nil, err
		}
		inRange := hist[:0]
		for _, m := range hist {
			if start == nil || (m.Step >= *start && m.Step <= *end) {
				inRange = append(inRange, m)
			}
		}
		sortMetrics(inRange, byStepTimestampValue)
		for _, m := range reduce(inRange) {
			m.RunID = id
			out = append(out, m)
		}
	}
	return out, nil
}

// SampleEvenly keeps at most k of rows (already ordered): the first row of
// each of k near-equal consecutive buckets, as SQL NTILE(k) makes them, then
// makes sure the last row is present, replacing the final sample if needed.
func SampleEvenly[T any](rows []T, k int) []T {
	n := len(rows)
	if n == 0 || k < 1 {
		return nil
	}
	if n <= k {
		return append([]T(nil), rows...)
	}
	// NTILE: the first n%k buckets hold n/k+1 rows, the rest n/k.
	big, size := n%k, n/k
	out := make([]T, 0, k)
	idx := 0
	for b := 0; b < k; b++ {
		out = append(out, rows[idx])
		if b < big {
			idx += size + 1
		} else {
			idx += size
		}
	}
	// idx of the last sample is never n-1 here since each bucket has ≥1 row
	// and n > k means some bucket has ≥2; replace it with the true last row.
	out[len(out)-1] = rows[n-1]
	return out
}

// asInvalidParameter keeps a parser's *Error as is and turns any other parse
// failure into INVALID_PARAMETER_VALUE with the parser's text.
func asInvalidParameter(err error) error {
	var e *Error
	if errors.As(err, &e) {
		return err
	}
	return InvalidParameter("%s", err.Error())
}

// parseOrderBy parses each order_by clause with parse; a clause MLflow would
// reject is INVALID_PARAMETER_VALUE.
func parseOrderBy(clauses []string, parse func(string) (OrderByClause, error)) ([]OrderByClause, error) {
	var order []OrderByClause
	for _, c := range clauses {
		ob, err := parse(c)
		if err != nil {
			return nil, asInvalidParameter(err)
		}
		order = append(order, ob)
	}
	return order, nil
}
