// Package client is mltrack's Go SDK for MLflow's tracking REST API. It works
// against mltrack and against a real MLflow tracking server.
//
// Two levels: Client has one typed method per tracking endpoint; Run (from
// Client.StartRun) is the convenient run-level API that batches metrics in the
// background. Configuration follows MLflow's Python client: MLFLOW_TRACKING_URI,
// MLFLOW_TRACKING_USERNAME/MLFLOW_TRACKING_PASSWORD (Basic auth),
// MLFLOW_TRACKING_TOKEN (Bearer), MLFLOW_EXPERIMENT_NAME and MLFLOW_EXPERIMENT_ID,
// each overridden by the matching Option.
package client

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// DefaultTrackingURI is used when neither WithTrackingURI nor
// MLFLOW_TRACKING_URI is set: where `mltrack server` and `mlflow server` listen
// by default.
const DefaultTrackingURI = "http://127.0.0.1:5000"

// Client talks to one tracking server. It is safe for concurrent use.
type Client struct {
	base           *url.URL
	httpc          *http.Client
	authHeader     string
	experimentName string
	experimentID   string
	log            *slog.Logger
	now            func() time.Time
	maxRetries     int
	minBackoff     time.Duration
	maxBackoff     time.Duration
	flushInterval  time.Duration
	maxBuffered    int
}

// Option configures a Client. Options override the environment.
type Option func(*config)

type config struct {
	uri, user, pass, token, experimentName *string
	httpc                                  *http.Client
	log                                    *slog.Logger
	now                                    func() time.Time
	maxRetries                             int
	minBackoff, maxBackoff                 time.Duration
	flushInterval                          time.Duration
	maxBuffered                            int
	getenv                                 func(string) string
}

// WithTrackingURI sets the server's base URL (http or https).
func WithTrackingURI(uri string) Option { return func(c *config) { c.uri = &uri } }

// WithBasicAuth sends Authorization: Basic, like MLFLOW_TRACKING_USERNAME/PASSWORD.
func WithBasicAuth(user, password string) Option {
	return func(c *config) { c.user, c.pass = &user, &password }
}

// WithToken sends Authorization: Bearer, like MLFLOW_TRACKING_TOKEN.
func WithToken(token string) Option { return func(c *config) { c.token = &token } }

// WithExperimentName sets the experiment StartRun uses when none is given,
// like MLFLOW_EXPERIMENT_NAME.
func WithExperimentName(name string) Option { return func(c *config) { c.experimentName = &name } }

// WithHTTPClient replaces the HTTP client (default: 120 s timeout per
// attempt, MLflow's MLFLOW_HTTP_REQUEST_TIMEOUT default).
func WithHTTPClient(h *http.Client) Option { return func(c *config) { c.httpc = h } }

// WithLogger sets where the SDK reports background flush failures and retries.
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.log = l } }

// WithClock sets the clock used for metric timestamps and run times.
func WithClock(now func() time.Time) Option { return func(c *config) { c.now = now } }

// WithRetry sets how many times a request is retried after a connection
// error, 429 or 5xx, and the backoff bounds (exponential with jitter).
func WithRetry(maxRetries int, minBackoff, maxBackoff time.Duration) Option {
	return func(c *config) { c.maxRetries, c.minBackoff, c.maxBackoff = maxRetries, minBackoff, maxBackoff }
}

// WithFlushInterval sets how often a Run sends buffered metrics when the
// buffer has not filled a batch (default 2 s).
func WithFlushInterval(d time.Duration) Option { return func(c *config) { c.flushInterval = d } }

// WithMaxBuffered bounds the metrics a Run holds in memory; LogMetric waits
// for a flush beyond it (default 50,000).
func WithMaxBuffered(n int) Option { return func(c *config) { c.maxBuffered = n } }

// WithEnv replaces os.Getenv as the source of MLFLOW_* settings (tests).
func WithEnv(getenv func(string) string) Option { return func(c *config) { c.getenv = getenv } }

// New builds a Client from the environment and opts.
func New(opts ...Option) (*Client, error) {
	cfg := config{
		getenv:        os.Getenv,
		maxRetries:    5,
		minBackoff:    250 * time.Millisecond,
		maxBackoff:    30 * time.Second,
		flushInterval: 2 * time.Second,
		maxBuffered:   50_000,
	}
	for _, o := range opts {
		o(&cfg)
	}
	pick := func(opt *string, env string) string {
		if opt != nil {
			return *opt
		}
		return cfg.getenv(env)
	}
	uri := pick(cfg.uri, "MLFLOW_TRACKING_URI")
	if uri == "" {
		uri = DefaultTrackingURI
	}
	base, err := url.Parse(strings.TrimRight(uri, "/"))
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, fmt.Errorf("%w: tracking URI %q: want http://host:port or https://host (file and databricks URIs are not supported)", ErrInvalid, uri)
	}
	c := &Client{
		base:           base,
		httpc:          cfg.httpc,
		experimentName: pick(cfg.experimentName, "MLFLOW_EXPERIMENT_NAME"),
		experimentID:   cfg.getenv("MLFLOW_EXPERIMENT_ID"),
		log:            cfg.log,
		now:            cfg.now,
		maxRetries:     max(cfg.maxRetries, 0),
		minBackoff:     cfg.minBackoff,
		maxBackoff:     cfg.maxBackoff,
		flushInterval:  cfg.flushInterval,
		maxBuffered:    max(cfg.maxBuffered, maxMetricsPerBatch),
	}
	if c.httpc == nil {
		c.httpc = &http.Client{Timeout: 120 * time.Second}
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.now == nil {
		c.now = time.Now
	}
	// Same precedence as MLflow's Python client: Basic when both user and
	// password are set, else Bearer.
	user, pass, token := pick(cfg.user, "MLFLOW_TRACKING_USERNAME"), pick(cfg.pass, "MLFLOW_TRACKING_PASSWORD"), pick(cfg.token, "MLFLOW_TRACKING_TOKEN")
	switch {
	case user != "" && pass != "":
		c.authHeader = "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
	case token != "":
		c.authHeader = "Bearer " + token
	}
	return c, nil
}

// TrackingURI is the server's base URL.
func (c *Client) TrackingURI() string { return c.base.String() }

func (c *Client) nowMillis() int64 { return c.now().UnixMilli() }

// get sends in as query parameters (MLflow's convention for GET endpoints).
func (c *Client) get(ctx context.Context, path string, q url.Values, out any) error {
	u := c.endpoint(path)
	u.RawQuery = q.Encode()
	return c.doJSON(ctx, http.MethodGet, u, nil, out)
}

func (c *Client) post(ctx context.Context, path string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return fmt.Errorf("encode %s: %w", path, err)
	}
	return c.doJSON(ctx, http.MethodPost, c.endpoint(path), body, out)
}

func (c *Client) endpoint(path string) *url.URL {
	u := *c.base
	u.Path = strings.TrimRight(u.Path, "/") + path
	u.RawPath = ""
	return &u
}

func (c *Client) doJSON(ctx context.Context, method string, u *url.URL, body []byte, out any) error {
	newReq := func() (*http.Request, error) {
		var rd io.Reader
		if body != nil {
			rd = bytes.NewReader(body)
		}
		req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
		if err != nil {
			return nil, err
		}
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		return req, nil
	}
	resp, err := c.send(ctx, newReq)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("%s %s: decode response: %w", method, u.Path, err)
	}
	return nil
}

// send runs newReq until it gets a 2xx, a non-retryable answer, or runs out
// of retries. Retried: connection errors, 429 and 5xx (MLflow's client also
// retries POSTs, and so do we: a lost answer to a write may duplicate a
// metric, which is what MLflow accepts too). Never retried: other 4xx. On
// success the caller owns resp.Body.
func (c *Client) send(ctx context.Context, newReq func() (*http.Request, error)) (*http.Response, error) {
	for attempt := 0; ; attempt++ {
		req, err := newReq()
		if err != nil {
			return nil, err
		}
		if c.authHeader != "" {
			req.Header.Set("Authorization", c.authHeader)
		}
		req.Header.Set("User-Agent", "mltrack-go-client")
		resp, err := c.httpc.Do(req)
		var wait time.Duration
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			if attempt >= c.maxRetries {
				return nil, fmt.Errorf("%s %s: %w", req.Method, req.URL.Path, err)
			}
			c.log.LogAttrs(ctx, slog.LevelWarn, "mltrack client: retrying after connection error", slog.String("path", req.URL.Path), slog.Int("attempt", attempt+1), slog.Any("err", err))
		} else {
			if resp.StatusCode >= 200 && resp.StatusCode < 300 {
				return resp, nil
			}
			apiErr := readAPIError(req, resp)
			if !retryable(resp.StatusCode) || attempt >= c.maxRetries {
				return nil, apiErr
			}
			wait = retryAfter(resp.Header.Get("Retry-After"), c.now())
			c.log.LogAttrs(ctx, slog.LevelWarn, "mltrack client: retrying", slog.String("path", req.URL.Path), slog.Int("status", resp.StatusCode), slog.Int("attempt", attempt+1))
		}
		if wait <= 0 {
			wait = c.backoff(attempt)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
	}
}

func retryable(status int) bool {
	return status == http.StatusRequestTimeout || status == http.StatusTooManyRequests || status >= 500
}

// backoff is exponential with "equal jitter": half the delay is fixed so
// retries never hammer the server, half is random so clients spread out.
func (c *Client) backoff(attempt int) time.Duration {
	d := c.minBackoff << min(attempt, 30)
	if d <= 0 || d > c.maxBackoff {
		d = c.maxBackoff
	}
	if d <= 0 {
		return 0
	}
	half := d / 2
	return half + rand.N(half+1)
}

// retryAfter parses Retry-After as seconds or an HTTP date; 0 when absent.
func retryAfter(h string, now time.Time) time.Duration {
	if h == "" {
		return 0
	}
	if s, err := strconv.Atoi(strings.TrimSpace(h)); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(h); err == nil {
		return max(t.Sub(now), 0)
	}
	return 0
}

func readAPIError(req *http.Request, resp *http.Response) error {
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	e := &APIError{StatusCode: resp.StatusCode, Method: req.Method, Path: req.URL.Path}
	var body struct {
		ErrorCode json.RawMessage `json:"error_code"`
		Message   string          `json:"message"`
	}
	if json.Unmarshal(raw, &body) == nil && len(body.ErrorCode) > 0 {
		// error_code is normally a name but MLflow allows an HTTP number.
		var s string
		if json.Unmarshal(body.ErrorCode, &s) != nil {
			s = string(body.ErrorCode)
		}
		e.ErrorCode, e.Message = s, body.Message
	} else {
		e.ErrorCode = codeForStatus(resp.StatusCode)
		e.Message = strings.TrimSpace(string(raw))
		if e.Message == "" {
			e.Message = http.StatusText(resp.StatusCode)
		}
	}
	return e
}
