package server

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mltrack/mltrack/internal/tracking"
)

// MLflow 3.18's server truncates over-long param (6000) and run tag (8000)
// values instead of refusing them; so do we.
func TestLongValuesTruncated(t *testing.T) {
	ts := newTestServer(t, Options{})
	fx := ts.seed()
	ts.mustJSON("POST", "/api/2.0/mlflow/runs/log-parameter", `{"run_id":"`+fx.run+`","key":"long","value":"`+strings.Repeat("v", 6001)+`"}`)
	ts.mustJSON("POST", "/api/2.0/mlflow/runs/set-tag", `{"run_id":"`+fx.run+`","key":"long","value":"`+strings.Repeat("t", 8001)+`"}`)
	run := ts.mustJSON("GET", "/api/2.0/mlflow/runs/get?run_id="+fx.run, "")
	data := run["run"].(map[string]any)["data"].(map[string]any)
	lens := map[string]int{}
	for _, kind := range []string{"params", "tags"} {
		for _, e := range data[kind].([]any) {
			m := e.(map[string]any)
			if m["key"] == "long" {
				lens[kind] = len(m["value"].(string))
			}
		}
	}
	if lens["params"] != 6000 || lens["tags"] != 8000 {
		t.Errorf("lengths %v, want params 6000 and tags 8000", lens)
	}
}

func TestPreflight(t *testing.T) {
	ts := newTestServer(t, Options{})
	hdr := map[string]string{"Origin": "http://localhost:3000", "Access-Control-Request-Method": "POST"}
	st, _, h := ts.do("OPTIONS", "/api/2.0/mlflow/runs/search", "", hdr)
	if st != http.StatusNoContent || h.Get("Access-Control-Allow-Origin") != "http://localhost:3000" {
		t.Errorf("localhost preflight: %d %v", st, h)
	}
	hdr["Origin"] = "http://evil.com"
	if st, _, h := ts.do("OPTIONS", "/api/2.0/mlflow/runs/search", "", hdr); st != http.StatusBadRequest || h.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("foreign preflight: %d %v", st, h)
	}
}

// TestServeShutdown checks Serve drains: a cancelled context stops the
// listener and Serve returns nil once in-flight requests are done.
func TestServeShutdown(t *testing.T) {
	svc := tracking.NewService(openTestStore(t), tracking.ServiceOptions{})
	defer svc.Close()
	srv := New(Options{Service: svc, Version: "v"})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln, 5*time.Second) }()
	resp, err := http.Get("http://" + ln.Addr().String() + "/health")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "OK" {
		t.Errorf("health = %q", b)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after cancel")
	}
	if _, err := http.Get("http://" + ln.Addr().String() + "/health"); err == nil {
		t.Error("still accepting after shutdown")
	}
}
