package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"log/slog"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mltrack/mltrack/internal/store"
	"github.com/mltrack/mltrack/internal/tracking"
)

func envFrom(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestServerConfig(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		check   func(t *testing.T, c Config)
		wantErr string
	}{
		{name: "defaults", check: func(t *testing.T, c Config) {
			if c.BackendStoreURI != "sqlite:///mlflow.db" || c.DefaultArtifactRoot != "mlflow-artifacts:/" ||
				c.Host != "127.0.0.1" || c.Port != 5000 || c.StaticPrefix != "" || c.AllowedHosts != nil || c.LogFormat != "text" {
				t.Errorf("%+v", c)
			}
		}},
		{name: "port env chain first wins", env: map[string]string{"CDSW_APP_PORT": "1", "CDSW_READONLY_PORT": "2", "PORT": "3", "MLFLOW_PORT": "4"},
			check: func(t *testing.T, c Config) { wantPort(t, c, 1) }},
		{name: "port env readonly", env: map[string]string{"CDSW_READONLY_PORT": "2", "PORT": "3", "MLFLOW_PORT": "4"},
			check: func(t *testing.T, c Config) { wantPort(t, c, 2) }},
		{name: "port env PORT", env: map[string]string{"PORT": "3", "MLFLOW_PORT": "4"},
			check: func(t *testing.T, c Config) { wantPort(t, c, 3) }},
		{name: "port env MLFLOW_PORT", env: map[string]string{"MLFLOW_PORT": "4"},
			check: func(t *testing.T, c Config) { wantPort(t, c, 4) }},
		{name: "port flag beats env", args: []string{"--port", "15001"}, env: map[string]string{"PORT": "3"},
			check: func(t *testing.T, c Config) { wantPort(t, c, 15001) }},
		{name: "bad port env", env: map[string]string{"PORT": "http"}, wantErr: `environment variable PORT="http" is not a port number`},
		{name: "bad port flag", args: []string{"--port=70000"}, wantErr: `--port="70000" is not a port number`},
		{name: "env fallbacks", env: map[string]string{"MLFLOW_BACKEND_STORE_URI": "postgresql://u@h/db", "MLFLOW_DEFAULT_ARTIFACT_ROOT": "/data/a",
			"MLFLOW_HOST": "0.0.0.0", "MLFLOW_STATIC_PREFIX": "/ml", "MLFLOW_SERVER_ALLOWED_HOSTS": "a.example.com, b.example.com"},
			check: func(t *testing.T, c Config) {
				if c.BackendStoreURI != "postgresql://u@h/db" || c.DefaultArtifactRoot != "/data/a" || c.Host != "0.0.0.0" ||
					c.StaticPrefix != "/ml" || len(c.AllowedHosts) != 2 || c.AllowedHosts[1] != "b.example.com" {
					t.Errorf("%+v", c)
				}
			}},
		{name: "flags beat env", args: []string{"--host", "::1", "--backend-store-uri", "sqlite:////tmp/x.db"}, env: map[string]string{"MLFLOW_HOST": "0.0.0.0"},
			check: func(t *testing.T, c Config) {
				if c.Host != "::1" || c.listenAddr() != "[::1]:5000" || c.BackendStoreURI != "sqlite:////tmp/x.db" {
					t.Errorf("%+v", c)
				}
			}},
		{name: "prefix without slash", args: []string{"--static-prefix", "ml"}, wantErr: "must begin with a '/'"},
		{name: "prefix trailing slash", args: []string{"--static-prefix", "/ml/"}, wantErr: "should not end with a '/'"},
		{name: "prefix braces", args: []string{"--static-prefix", "/{x}"}, wantErr: "must not contain"},
		{name: "mlruns", args: []string{"--backend-store-uri", "./mlruns"},
			check: func(t *testing.T, c Config) { wantBackend(t, c, "./mlruns") }},
		{name: "file uri", args: []string{"--backend-store-uri", "file:///tmp/mlruns"},
			check: func(t *testing.T, c Config) { wantBackend(t, c, "file:///tmp/mlruns") }},
		{name: "unknown scheme", args: []string{"--backend-store-uri", "mysql://h/db"}, wantErr: "unsupported scheme"},
		{name: "log format", args: []string{"--log-format", "xml"}, wantErr: "use text or json"},
		{name: "log level", args: []string{"--log-level", "loud"}, wantErr: "is not a level"},
		{name: "json debug", args: []string{"--log-format", "json", "--log-level", "debug"}, check: func(t *testing.T, c Config) {
			if c.LogFormat != "json" || c.LogLevel.String() != "DEBUG" {
				t.Errorf("%+v", c)
			}
		}},
		{name: "stray argument", args: []string{"extra"}, wantErr: "usage"},
		{name: "history cache default", check: func(t *testing.T, c Config) {
			if c.HistoryCacheMB != 64 {
				t.Errorf("history cache %d MiB, want 64", c.HistoryCacheMB)
			}
		}},
		{name: "history cache env, off", env: map[string]string{"MLTRACK_HISTORY_CACHE_MB": "0"}, check: func(t *testing.T, c Config) {
			if c.HistoryCacheMB != 0 {
				t.Errorf("history cache %d MiB, want 0", c.HistoryCacheMB)
			}
		}},
		{name: "history cache flag", args: []string{"--history-cache-mb", "512"}, check: func(t *testing.T, c Config) {
			if c.HistoryCacheMB != 512 {
				t.Errorf("history cache %d MiB, want 512", c.HistoryCacheMB)
			}
		}},
		{name: "history cache negative", args: []string{"--history-cache-mb", "-1"}, wantErr: "whole number of MiB"},
		{name: "history cache not a number", env: map[string]string{"MLTRACK_HISTORY_CACHE_MB": "lots"}, wantErr: "whole number of MiB"},
		{name: "history cache warm default on", check: func(t *testing.T, c Config) { wantWarm(t, c, true) }},
		{name: "history cache warm env off", env: map[string]string{"MLTRACK_HISTORY_CACHE_WARM": "false"},
			check: func(t *testing.T, c Config) { wantWarm(t, c, false) }},
		{name: "history cache warm flag off", args: []string{"--history-cache-warm=false"},
			check: func(t *testing.T, c Config) { wantWarm(t, c, false) }},
		{name: "history cache warm flag beats env", args: []string{"--history-cache-warm"}, env: map[string]string{"MLTRACK_HISTORY_CACHE_WARM": "0"},
			check: func(t *testing.T, c Config) { wantWarm(t, c, true) }},
		{name: "history cache file under XDG_CACHE_HOME", args: []string{"--backend-store-uri", "sqlite:////tmp/x.db"},
			env: map[string]string{"XDG_CACHE_HOME": "/xdg", "HOME": "/home/u"},
			check: func(t *testing.T, c Config) {
				wantCacheFile(t, c, "/xdg/mltrack/history-"+backendID("sqlite:////tmp/x.db")+".cache", false)
			}},
		{name: "history cache file under HOME", env: map[string]string{"HOME": "/home/u"}, check: func(t *testing.T, c Config) {
			wantCacheFile(t, c, "/home/u/.cache/mltrack/history-"+backendID("sqlite:///mlflow.db")+".cache", false)
		}},
		{name: "history cache file without a cache dir", check: func(t *testing.T, c Config) { wantCacheFile(t, c, "", true) }},
		{name: "history cache file relative XDG", env: map[string]string{"XDG_CACHE_HOME": "cache"},
			check: func(t *testing.T, c Config) { wantCacheFile(t, c, "", true) }},
		{name: "history cache file env", env: map[string]string{"MLTRACK_HISTORY_CACHE_FILE": "/s/h.cache", "HOME": "/home/u"},
			check: func(t *testing.T, c Config) { wantCacheFile(t, c, "/s/h.cache", false) }},
		{name: "history cache file flag beats env", args: []string{"--history-cache-file", "/f/h.cache"},
			env:   map[string]string{"MLTRACK_HISTORY_CACHE_FILE": "/s/h.cache"},
			check: func(t *testing.T, c Config) { wantCacheFile(t, c, "/f/h.cache", false) }},
		{name: "history cache file empty flag turns it off", args: []string{"--history-cache-file", ""},
			env:   map[string]string{"MLTRACK_HISTORY_CACHE_FILE": "/s/h.cache", "HOME": "/home/u"},
			check: func(t *testing.T, c Config) { wantCacheFile(t, c, "", false) }},
		{name: "history cache file off with the cache", args: []string{"--history-cache-mb", "0", "--history-cache-file", "/f/h.cache"},
			check: func(t *testing.T, c Config) { wantCacheFile(t, c, "", false) }},
		{name: "history cache warm env not a boolean", env: map[string]string{"MLTRACK_HISTORY_CACHE_WARM": "sometimes"},
			wantErr: `MLTRACK_HISTORY_CACHE_WARM="sometimes" is not a boolean`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stderr bytes.Buffer
			c, err := parseServerConfig("server", tt.args, envFrom(tt.env), &stderr)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, c)
		})
	}
}

func wantCacheFile(t *testing.T, c Config, path string, off bool) {
	t.Helper()
	if c.HistoryCacheFile != path || (c.HistoryCacheFileOff != "") != off {
		t.Errorf("history cache file %q (off: %q), want %q (off: %v)", c.HistoryCacheFile, c.HistoryCacheFileOff, path, off)
	}
}

// A snapshot's backend name hides the password, ignores it, and tells
// stores apart.
func TestBackendID(t *testing.T) {
	tests := []struct {
		a, b string
		same bool
	}{
		{"postgresql://u:secret@h/db", "postgresql://u:other@h/db", true},
		{"postgresql://u@h/db?password=secret&sslmode=disable", "postgresql://u@h/db?sslmode=disable", true},
		{"postgresql://u:secret@h/db", "postgresql://u:secret@h/db2", false},
		{"sqlite:////tmp/a.db", "sqlite:////tmp/b.db", false},
		{"./mlruns", "./mlruns", true},
	}
	for _, tt := range tests {
		a, b := backendID(tt.a), backendID(tt.b)
		if (a == b) != tt.same || len(a) != 16 || strings.Contains(a, "secret") {
			t.Errorf("backendID(%q) = %s, backendID(%q) = %s, want same: %v", tt.a, a, tt.b, b, tt.same)
		}
	}
}

func wantPort(t *testing.T, c Config, p int) {
	t.Helper()
	if c.Port != p {
		t.Errorf("port %d, want %d", c.Port, p)
	}
}

func TestRunExitCodes(t *testing.T) {
	tests := []struct {
		args     []string
		code     int
		inStdout string
		inStderr string
	}{
		{args: []string{"--version"}, code: 0, inStdout: "mltrack "},
		{args: []string{"--help"}, code: 0, inStdout: "Commands:"},
		{args: nil, code: 2, inStderr: "Usage:"},
		{args: []string{"bogus"}, code: 2, inStderr: "unknown command"},
		{args: []string{"server", "--bogus"}, code: 2, inStderr: "flag provided but not defined"},
		{args: []string{"server", "--help"}, code: 0, inStderr: "-backend-store-uri"},
		{args: []string{"ui", "--help"}, code: 0, inStderr: "mltrack ui"},
		{args: []string{"server", "--backend-store-uri", "mysql://h/db"}, code: 2, inStderr: "unsupported scheme"},
	}
	for _, tt := range tests {
		var out, errb bytes.Buffer
		code := run(context.Background(), tt.args, envFrom(nil), &out, &errb)
		if code != tt.code || !strings.Contains(out.String(), tt.inStdout) || !strings.Contains(errb.String(), tt.inStderr) {
			t.Errorf("run(%q) = %d\nstdout: %s\nstderr: %s", tt.args, code, out.String(), errb.String())
		}
	}
}

func TestHelpIsNotAnError(t *testing.T) {
	_, err := parseServerConfig("server", []string{"-h"}, envFrom(nil), &bytes.Buffer{})
	if !errors.Is(err, flag.ErrHelp) {
		t.Errorf("err = %v", err)
	}
}

func wantBackend(t *testing.T, c Config, uri string) {
	t.Helper()
	if c.BackendStoreURI != uri {
		t.Errorf("backend = %q, want %q", c.BackendStoreURI, uri)
	}
}

func wantWarm(t *testing.T, c Config, want bool) {
	t.Helper()
	if c.HistoryCacheWarm != want {
		t.Errorf("history cache warm-up %v, want %v", c.HistoryCacheWarm, want)
	}
}

// lockedBuffer is a bytes.Buffer the server's goroutines may log to.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// The warm-up flag reaches the server: on, a restarted server reads an
// existing long history into its cache in the background and logs it; off,
// it does not. Either way shutdown returns promptly.
func TestHistoryCacheWarmFlag(t *testing.T) {
	ctx := context.Background()
	uri := "sqlite:///" + filepath.Join(t.TempDir(), "mlflow.db")
	st, _, err := store.Open(ctx, uri, store.Options{DefaultArtifactRoot: t.TempDir(), Logger: slog.New(slog.DiscardHandler), Now: time.Now})
	if err != nil {
		t.Fatal(err)
	}
	exp, err := st.CreateExperiment(ctx, tracking.NewExperiment{Name: "warm"})
	if err != nil {
		t.Fatal(err)
	}
	r, err := st.CreateRun(ctx, tracking.NewRun{ExperimentID: exp, StartTime: 1})
	if err != nil {
		t.Fatal(err)
	}
	ms := make([]tracking.Metric, tracking.MaxMetricsPerBatch)
	for from := 0; from < 3000; from += len(ms) {
		for i := range ms {
			ms[i] = tracking.Metric{Key: "loss", Value: float64(i % 7), Timestamp: 1, Step: int64(from + i)}
		}
		if err := st.LogBatch(ctx, r.Info.RunID, ms, nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		port     int
		flag     string
		wantLine string
	}{
		{"on by default", 19810, "", `msg="history cache warmed" series=1 runs=1`},
		{"off", 19811, "--history-cache-warm=false", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := []string{"server", "--backend-store-uri", uri, "--port", strconv.Itoa(tt.port), "--no-serve-artifacts"}
			if tt.flag != "" {
				args = append(args, tt.flag)
			}
			sctx, stop := context.WithCancel(ctx)
			var logs lockedBuffer
			done := make(chan int)
			go func() { done <- run(sctx, args, envFrom(nil), &bytes.Buffer{}, &logs) }()
			defer func() {
				stop()
				select {
				case code := <-done:
					if code != 0 {
						t.Errorf("exit code %d\n%s", code, logs.String())
					}
				case <-time.After(10 * time.Second):
					t.Fatalf("server did not stop within 10 s of shutdown\n%s", logs.String())
				}
			}()
			deadline := time.Now().Add(20 * time.Second)
			for {
				resp, err := http.Get("http://127.0.0.1:" + strconv.Itoa(tt.port) + "/health")
				if err == nil {
					resp.Body.Close()
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("server did not answer: %v\n%s", err, logs.String())
				}
				time.Sleep(20 * time.Millisecond)
			}
			if tt.wantLine == "" {
				time.Sleep(300 * time.Millisecond)
				if strings.Contains(logs.String(), "history cache warm") {
					t.Fatalf("warm-up ran with %s:\n%s", tt.flag, logs.String())
				}
				return
			}
			for !strings.Contains(logs.String(), tt.wantLine) {
				if time.Now().After(deadline) {
					t.Fatalf("no %q in the log:\n%s", tt.wantLine, logs.String())
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
}
