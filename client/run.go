package client

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/user"
	"path/filepath"
	"sync"
	"time"
)

// RunOption configures StartRun.
type RunOption func(*runConfig)

type runConfig struct {
	experimentID, experimentName, runName string
	tags                                  map[string]string
}

// InExperimentID starts the run in the experiment with this id.
func InExperimentID(id string) RunOption { return func(r *runConfig) { r.experimentID = id } }

// InExperiment starts the run in the experiment with this name, creating it
// if missing (like mlflow.set_experiment). It overrides MLFLOW_EXPERIMENT_NAME.
func InExperiment(name string) RunOption { return func(r *runConfig) { r.experimentName = name } }

// WithRunName names the run; without it the server picks a name.
func WithRunName(name string) RunOption { return func(r *runConfig) { r.runName = name } }

// WithRunTags sets tags at creation. They override the mlflow.* source tags
// StartRun sets by default.
func WithRunTags(tags map[string]string) RunOption {
	return func(r *runConfig) {
		if r.tags == nil {
			r.tags = map[string]string{}
		}
		for k, v := range tags {
			r.tags[k] = v
		}
	}
}

// ActiveRun is a run being logged to. Metrics are buffered and sent in the
// background as log-batch calls: when a full batch (1000) is waiting, every
// flush interval, on Flush and on End. Params and tags are sent at once, so
// their errors (such as changing a param's value) surface at the call.
// Always call End. Methods are safe for concurrent use.
type ActiveRun struct {
	c           *Client
	id          string // immutable copies, readable without the lock
	artifactURI string

	mu       sync.Mutex
	buf      []Metric
	asyncErr error   // a background flush failure, reported by the next Flush or End
	info     RunInfo // refreshed by End
	ended    bool
	ending   bool

	kick     chan struct{}
	flushReq chan flushRequest
	stop     chan struct{}
	done     chan struct{}
	bgCancel context.CancelFunc
}

type flushRequest struct {
	ctx   context.Context
	reply chan error
}

// StartRun resolves the experiment (InExperimentID or InExperiment, then
// MLFLOW_EXPERIMENT_NAME, then MLFLOW_EXPERIMENT_ID, then the default
// experiment "0"), creates a RUNNING run and starts its
// background flusher.
func (c *Client) StartRun(ctx context.Context, opts ...RunOption) (*ActiveRun, error) {
	var rc runConfig
	for _, o := range opts {
		o(&rc)
	}
	expID := rc.experimentID
	if expID == "" {
		name := rc.experimentName
		if name == "" {
			name = c.experimentName
		}
		switch {
		case name == "" && c.experimentID != "":
			expID = c.experimentID
		case name == "":
			expID = "0"
		default:
			id, err := c.ensureExperiment(ctx, name)
			if err != nil {
				return nil, err
			}
			expID = id
		}
	}
	userName := "unknown"
	if u, err := user.Current(); err == nil && u.Username != "" {
		userName = u.Username
	}
	tags := map[string]string{
		"mlflow.user":        userName,
		"mlflow.source.name": filepath.Base(os.Args[0]),
		"mlflow.source.type": "LOCAL",
	}
	for k, v := range rc.tags {
		tags[k] = v
	}
	req := CreateRunRequest{ExperimentID: expID, RunName: rc.runName, UserID: tags["mlflow.user"]}
	for k, v := range tags {
		req.Tags = append(req.Tags, Tag{Key: k, Value: v})
	}
	run, err := c.CreateRun(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("start run in experiment %s: %w", expID, err)
	}
	bg, cancel := context.WithCancel(context.WithoutCancel(ctx))
	r := &ActiveRun{
		c:           c,
		id:          run.Info.RunID,
		artifactURI: run.Info.ArtifactURI,
		info:        run.Info,
		kick:        make(chan struct{}, 1),
		flushReq:    make(chan flushRequest),
		stop:        make(chan struct{}),
		done:        make(chan struct{}),
		bgCancel:    cancel,
	}
	go r.flusher(bg)
	return r, nil
}

// ensureExperiment returns the id of the named experiment, creating it if
// needed; a concurrent creator winning the race is fine.
func (c *Client) ensureExperiment(ctx context.Context, name string) (string, error) {
	exp, err := c.GetExperimentByName(ctx, name)
	if err == nil {
		if exp.LifecycleStage == "deleted" {
			return "", fmt.Errorf("%w: experiment %q is deleted; restore it or use another name", ErrInvalid, name)
		}
		return exp.ExperimentID, nil
	}
	if !errors.Is(err, ErrNotFound) {
		return "", fmt.Errorf("experiment %q: %w", name, err)
	}
	id, err := c.CreateExperiment(ctx, CreateExperimentRequest{Name: name})
	if errors.Is(err, ErrAlreadyExists) {
		if exp, err2 := c.GetExperimentByName(ctx, name); err2 == nil {
			return exp.ExperimentID, nil
		}
	}
	if err != nil {
		return "", fmt.Errorf("create experiment %q: %w", name, err)
	}
	return id, nil
}

// ID is the run id.
func (r *ActiveRun) ID() string { return r.id }

// Info is the run's metadata as returned when it was created (or ended).
func (r *ActiveRun) Info() RunInfo {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.info
}

// LogParam logs one parameter now.
func (r *ActiveRun) LogParam(ctx context.Context, key, value string) error {
	if err := r.checkOpen(); err != nil {
		return err
	}
	return r.c.LogParam(ctx, r.id, key, value)
}

// LogParams logs parameters now, in log-batch calls of at most 100.
func (r *ActiveRun) LogParams(ctx context.Context, params map[string]string) error {
	if err := r.checkOpen(); err != nil {
		return err
	}
	ps := make([]Param, 0, len(params))
	for k, v := range params {
		ps = append(ps, Param{Key: k, Value: v})
	}
	return r.c.LogBatch(ctx, r.id, nil, ps, nil)
}

// SetTag sets a run tag now.
func (r *ActiveRun) SetTag(ctx context.Context, key, value string) error {
	if err := r.checkOpen(); err != nil {
		return err
	}
	return r.c.SetTag(ctx, r.id, key, value)
}

// LogMetric buffers one metric value at step, timestamped now. It returns
// an earlier background flush failure, if any, and waits for a flush only
// when the buffer is full (WithMaxBuffered).
func (r *ActiveRun) LogMetric(ctx context.Context, key string, value float64, step int64) error {
	return r.buffer(ctx, []Metric{{Key: key, Value: value, Step: step, Timestamp: r.c.nowMillis()}})
}

// LogMetrics buffers several metrics at the same step and timestamp.
func (r *ActiveRun) LogMetrics(ctx context.Context, metrics map[string]float64, step int64) error {
	ts := r.c.nowMillis()
	ms := make([]Metric, 0, len(metrics))
	for k, v := range metrics {
		ms = append(ms, Metric{Key: k, Value: v, Step: step, Timestamp: ts})
	}
	return r.buffer(ctx, ms)
}

func (r *ActiveRun) buffer(ctx context.Context, ms []Metric) error {
	r.mu.Lock()
	if r.ended {
		r.mu.Unlock()
		return ErrRunEnded
	}
	r.buf = append(r.buf, ms...)
	n := len(r.buf)
	err := r.asyncErr
	r.asyncErr = nil
	r.mu.Unlock()
	if err != nil {
		return err
	}
	if n >= r.c.maxBuffered {
		return r.Flush(ctx)
	}
	if n >= maxMetricsPerBatch {
		select {
		case r.kick <- struct{}{}:
		default: // a kick is already pending
		}
	}
	return nil
}

func (r *ActiveRun) checkOpen() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ended {
		return ErrRunEnded
	}
	return nil
}

// Flush sends every buffered metric and returns the first error, including
// one from an earlier background flush.
func (r *ActiveRun) Flush(ctx context.Context) error {
	req := flushRequest{ctx: ctx, reply: make(chan error, 1)}
	select {
	case r.flushReq <- req:
	case <-r.done:
		return ErrRunEnded
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-req.reply:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// End flushes, marks the run with status (FINISHED, FAILED or KILLED) and
// stops the background flusher. The run is ended locally even when End
// returns an error; a second End returns ErrRunEnded.
func (r *ActiveRun) End(ctx context.Context, status RunStatus) error {
	r.mu.Lock()
	if r.ended || r.ending {
		r.mu.Unlock()
		return ErrRunEnded
	}
	r.ending = true // a concurrent End must not close r.stop twice
	r.mu.Unlock()
	flushErr := r.Flush(ctx)
	r.mu.Lock()
	r.ended = true
	r.mu.Unlock()
	close(r.stop)
	r.bgCancel()
	<-r.done
	info, err := r.c.UpdateRun(ctx, UpdateRunRequest{RunID: r.id, Status: status, EndTime: r.c.nowMillis()})
	if err == nil {
		r.mu.Lock()
		r.info = *info
		r.mu.Unlock()
	}
	r.mu.Lock()
	lost := len(r.buf)
	r.mu.Unlock()
	if lost > 0 {
		flushErr = errors.Join(flushErr, fmt.Errorf("run %s ended with %d metrics not sent", r.id, lost))
	}
	return errors.Join(flushErr, err)
}

// flusher is the only goroutine that sends metrics, so they reach the server
// in the order they were logged.
func (r *ActiveRun) flusher(bg context.Context) {
	defer close(r.done)
	t := time.NewTicker(r.c.flushInterval)
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return
		case req := <-r.flushReq:
			err := r.send(req.ctx, false)
			r.mu.Lock()
			err = errors.Join(r.asyncErr, err)
			r.asyncErr = nil
			r.mu.Unlock()
			req.reply <- err
		case <-r.kick:
			r.background(bg, true)
		case <-t.C:
			r.background(bg, false)
		}
	}
}

func (r *ActiveRun) background(ctx context.Context, fullOnly bool) {
	if err := r.send(ctx, fullOnly); err != nil {
		r.c.log.LogAttrs(ctx, slog.LevelWarn, "mltrack client: background metric flush failed", slog.String("run_id", r.id), slog.Any("err", err))
		r.mu.Lock()
		r.asyncErr = errors.Join(r.asyncErr, err)
		r.mu.Unlock()
	}
}

// send posts buffered metrics in chunks of the batch limit; with fullOnly it
// leaves a partial last chunk for later. A chunk the server rejects (4xx) is
// dropped, since resending cannot help; one that failed otherwise goes back
// to the front of the buffer for the next flush.
func (r *ActiveRun) send(ctx context.Context, fullOnly bool) error {
	for {
		r.mu.Lock()
		n := min(len(r.buf), maxMetricsPerBatch)
		if n == 0 || (fullOnly && n < maxMetricsPerBatch) {
			r.mu.Unlock()
			return nil
		}
		chunk := r.buf[:n:n]
		r.buf = r.buf[n:]
		r.mu.Unlock()
		err := r.c.post(ctx, "/api/2.0/mlflow/runs/log-batch", logBatchRequest{RunID: r.id, Metrics: chunk}, nil)
		if err == nil {
			continue
		}
		var ae *APIError
		if errors.As(err, &ae) && ae.StatusCode >= 400 && ae.StatusCode < 500 && ae.StatusCode != 408 && ae.StatusCode != 429 {
			return fmt.Errorf("log-batch of %d metrics rejected (dropped): %w", n, err)
		}
		r.mu.Lock()
		r.buf = append(chunk, r.buf...)
		r.mu.Unlock()
		return fmt.Errorf("log-batch of %d metrics: %w", n, err)
	}
}
