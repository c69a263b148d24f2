package client

import (
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestAuthHeaderFromEnv(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		opts []Option
		want string
	}{
		{"none", nil, nil, ""},
		{"basic", map[string]string{"MLFLOW_TRACKING_USERNAME": "alice", "MLFLOW_TRACKING_PASSWORD": "s3cret"}, nil, "Basic YWxpY2U6czNjcmV0"},
		{"bearer", map[string]string{"MLFLOW_TRACKING_TOKEN": "tok"}, nil, "Bearer tok"},
		{"basic wins over token", map[string]string{"MLFLOW_TRACKING_USERNAME": "alice", "MLFLOW_TRACKING_PASSWORD": "s3cret", "MLFLOW_TRACKING_TOKEN": "tok"}, nil, "Basic YWxpY2U6czNjcmV0"},
		{"user without password is ignored", map[string]string{"MLFLOW_TRACKING_USERNAME": "alice", "MLFLOW_TRACKING_TOKEN": "tok"}, nil, "Bearer tok"},
		{"option overrides env", map[string]string{"MLFLOW_TRACKING_TOKEN": "tok"}, []Option{WithToken("other")}, "Bearer other"},
		{"option clears env", map[string]string{"MLFLOW_TRACKING_TOKEN": "tok"}, []Option{WithToken("")}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got string
			var gotUA string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				got, gotUA = r.Header.Get("Authorization"), r.Header.Get("User-Agent")
				_, _ = w.Write([]byte(`{"experiment":{"experiment_id":"0","name":"Default"}}`))
			}))
			defer srv.Close()
			env := map[string]string{"MLFLOW_TRACKING_URI": srv.URL}
			for k, v := range tt.env {
				env[k] = v
			}
			c, err := New(append([]Option{WithEnv(func(k string) string { return env[k] })}, tt.opts...)...)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.GetExperiment(t.Context(), "0"); err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("Authorization = %q, want %q", got, tt.want)
			}
			if gotUA == "" {
				t.Error("no User-Agent")
			}
		})
	}
}

func TestNewRejectsBadURI(t *testing.T) {
	for _, uri := range []string{"file:///tmp/mlruns", "databricks", "localhost:5000", "http://"} {
		if _, err := New(WithTrackingURI(uri)); !errors.Is(err, ErrInvalid) {
			t.Errorf("New(%q) = %v, want ErrInvalid", uri, err)
		}
	}
	c, err := New(WithEnv(func(string) string { return "" }))
	if err != nil || c.TrackingURI() != DefaultTrackingURI {
		t.Errorf("default URI = %v, %v", c, err)
	}
}

func TestMetricJSON(t *testing.T) {
	tests := []struct {
		v    float64
		wire string
	}{
		{1.5, `1.5`},
		{0, `0`},
		{math.NaN(), `"NaN"`},
		{math.Inf(1), `"Infinity"`},
		{math.Inf(-1), `"-Infinity"`},
	}
	for _, tt := range tests {
		b, err := json.Marshal(Metric{Key: "k", Value: tt.v, Timestamp: 1700000000123, Step: 3})
		if err != nil {
			t.Fatal(err)
		}
		want := `{"key":"k","value":` + tt.wire + `,"timestamp":1700000000123,"step":3}`
		if string(b) != want {
			t.Errorf("Marshal(%v) = %s, want %s", tt.v, b, want)
		}
		var m Metric
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		if !(m.Value == tt.v || math.IsNaN(m.Value) && math.IsNaN(tt.v)) || m.Timestamp != 1700000000123 || m.Step != 3 {
			t.Errorf("round trip of %v = %+v", tt.v, m)
		}
	}
	// proto3 omits zero step/value; a quoted number is valid proto3 JSON.
	var m Metric
	if err := json.Unmarshal([]byte(`{"key":"k","value":"2.5","timestamp":1,"run_id":"r"}`), &m); err != nil || m.Value != 2.5 || m.RunID != "r" {
		t.Errorf("quoted number: %+v, %v", m, err)
	}
	if err := json.Unmarshal([]byte(`{"key":"k","value":"many"}`), &m); err == nil {
		t.Error("accepted value \"many\"")
	}
}

func TestSplitBatch(t *testing.T) {
	mk := func(nm, np, nt int) ([]Metric, []Param, []Tag) {
		return make([]Metric, nm), make([]Param, np), make([]Tag, nt)
	}
	tests := []struct {
		name       string
		nm, np, nt int
		wantCalls  int
	}{
		{"empty", 0, 0, 0, 0},
		{"one metric", 1, 0, 0, 1},
		{"exactly 1000 metrics", 1000, 0, 0, 1},
		{"1001 metrics", 1001, 0, 0, 2},
		{"10k metrics", 10000, 0, 0, 10},
		{"250 params", 0, 250, 0, 3},
		{"params and tags share calls", 0, 100, 100, 1},
		{"entities cap metrics", 1000, 100, 100, 2},
		{"mixed", 2500, 150, 30, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, p, tg := mk(tt.nm, tt.np, tt.nt)
			got := splitBatch(m, p, tg)
			if len(got) != tt.wantCalls {
				t.Errorf("%d calls, want %d", len(got), tt.wantCalls)
			}
			var sm, sp, st int
			for _, b := range got {
				if len(b.Metrics) > maxMetricsPerBatch || len(b.Params) > maxParamsPerBatch || len(b.Tags) > maxTagsPerBatch ||
					len(b.Metrics)+len(b.Params)+len(b.Tags) > maxEntitiesPerBatch {
					t.Errorf("over the limits: %d metrics, %d params, %d tags", len(b.Metrics), len(b.Params), len(b.Tags))
				}
				sm, sp, st = sm+len(b.Metrics), sp+len(b.Params), st+len(b.Tags)
			}
			if sm != tt.nm || sp != tt.np || st != tt.nt {
				t.Errorf("sent %d/%d/%d, want %d/%d/%d", sm, sp, st, tt.nm, tt.np, tt.nt)
			}
		})
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		h    string
		want time.Duration
	}{
		{"", 0},
		{"3", 3 * time.Second},
		{" 0 ", 0},
		{"-1", 0},
		{"soon", 0},
		{now.Add(7 * time.Second).Format(http.TimeFormat), 7 * time.Second},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0},
	}
	for _, tt := range tests {
		if got := retryAfter(tt.h, now); got != tt.want {
			t.Errorf("retryAfter(%q) = %v, want %v", tt.h, got, tt.want)
		}
	}
}

func TestBackoffGrowsAndIsCapped(t *testing.T) {
	c := &Client{minBackoff: 100 * time.Millisecond, maxBackoff: time.Second}
	for attempt, lo := range []time.Duration{50, 100, 200, 400, 500, 500, 500} {
		lo *= time.Millisecond
		for range 20 {
			d := c.backoff(attempt)
			if d < lo || d > 2*lo {
				t.Fatalf("backoff(%d) = %v, want in [%v, %v]", attempt, d, lo, 2*lo)
			}
		}
	}
	if d := c.backoff(200); d > time.Second {
		t.Errorf("backoff(200) = %v overflowed the cap", d)
	}
}

func TestArtifactURL(t *testing.T) {
	c, err := New(WithTrackingURI("http://127.0.0.1:5000/prefix/"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		uri, rel, want string
		err            error
	}{
		{"mlflow-artifacts:/1/abc/artifacts", "plot.png", "http://127.0.0.1:5000/prefix/api/2.0/mlflow-artifacts/artifacts/1/abc/artifacts/plot.png", nil},
		{"mlflow-artifacts:/1/abc/artifacts", "dir/a b#c.png", "http://127.0.0.1:5000/prefix/api/2.0/mlflow-artifacts/artifacts/1/abc/artifacts/dir/a%20b%23c.png", nil},
		{"mlflow-artifacts://other:9000/1/abc/artifacts", "w.bin", "http://other:9000/prefix/api/2.0/mlflow-artifacts/artifacts/1/abc/artifacts/w.bin", nil},
		{"https://host/api/2.0/mlflow-artifacts/artifacts/2/x/artifacts", "w.bin", "https://host/api/2.0/mlflow-artifacts/artifacts/2/x/artifacts/w.bin", nil},
		{"file:///tmp/mlruns/1/abc/artifacts", "w.bin", "", ErrUnsupportedArtifactURI},
		{"s3://bucket/1/abc", "w.bin", "", ErrUnsupportedArtifactURI},
		{"mlflow-artifacts:/1/abc/artifacts", "../escape", "", ErrInvalid},
	}
	for _, tt := range tests {
		u, err := c.artifactURL(tt.uri, tt.rel)
		if tt.err != nil {
			if !errors.Is(err, tt.err) {
				t.Errorf("artifactURL(%q, %q) err = %v, want %v", tt.uri, tt.rel, err, tt.err)
			}
			continue
		}
		if err != nil || u.String() != tt.want {
			t.Errorf("artifactURL(%q, %q) = %v, %v; want %s", tt.uri, tt.rel, u, err, tt.want)
		}
	}
}

func TestAPIErrorSentinels(t *testing.T) {
	tests := []struct {
		code                      string
		notFound, exists, invalid bool
	}{
		{"RESOURCE_DOES_NOT_EXIST", true, false, false},
		{"RESOURCE_ALREADY_EXISTS", false, true, false},
		{"INVALID_PARAMETER_VALUE", false, false, true},
		{"BAD_REQUEST", false, false, true},
		{"ENDPOINT_NOT_FOUND", false, false, false},
		{"INTERNAL_ERROR", false, false, false},
	}
	for _, tt := range tests {
		e := error(&APIError{ErrorCode: tt.code})
		if errors.Is(e, ErrNotFound) != tt.notFound || errors.Is(e, ErrAlreadyExists) != tt.exists || errors.Is(e, ErrInvalid) != tt.invalid {
			t.Errorf("%s: Is(NotFound, AlreadyExists, Invalid) = %v %v %v", tt.code, errors.Is(e, ErrNotFound), errors.Is(e, ErrAlreadyExists), errors.Is(e, ErrInvalid))
		}
	}
	// A non-JSON error body still yields a code and the body as message.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no such route", http.StatusNotFound)
	}))
	defer srv.Close()
	c, _ := New(WithTrackingURI(srv.URL))
	_, err := c.GetRun(t.Context(), "x")
	var ae *APIError
	if !errors.As(err, &ae) || ae.ErrorCode != "ENDPOINT_NOT_FOUND" || !strings.Contains(ae.Message, "no such route") || ae.StatusCode != 404 {
		t.Errorf("err = %#v", err)
	}
}
