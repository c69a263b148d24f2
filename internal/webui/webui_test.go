package webui

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"
)

var builtUI = fstest.MapFS{
	"index.html":           {Data: []byte(`<!doctype html><html><head><script type="module" src="./assets/index-abc.js"></script></head><body></body></html>`)},
	"assets/index-abc.js":  {Data: []byte(`console.log(1)`)},
	"assets/index-abc.css": {Data: []byte(`body{}`)},
	"favicon.svg":          {Data: []byte(`<svg/>`)},
	"README.txt":           {Data: []byte(`readme`)},
}

var unbuiltUI = fstest.MapFS{"README.txt": {Data: []byte(`readme`)}}

func TestHandler(t *testing.T) {
	type want struct {
		status   int
		ctype    string
		cache    string
		contains string
	}
	tests := []struct {
		name   string
		fs     fstest.MapFS
		prefix string
		method string
		path   string
		want   want
	}{
		{"index at root", builtUI, "", "GET", "/", want{200, "text/html; charset=utf-8", "no-cache", `<base href="/">`}},
		{"index.html explicitly", builtUI, "", "GET", "/index.html", want{200, "text/html; charset=utf-8", "no-cache", `./assets/index-abc.js`}},
		{"hashed asset cached forever", builtUI, "", "GET", "/assets/index-abc.js", want{200, "text/javascript; charset=utf-8", "public, max-age=31536000, immutable", "console.log"}},
		{"css asset", builtUI, "", "GET", "/assets/index-abc.css", want{200, "text/css; charset=utf-8", "public, max-age=31536000, immutable", "body{}"}},
		{"unhashed file revalidates", builtUI, "", "GET", "/favicon.svg", want{200, "image/svg+xml", "no-cache", "<svg/>"}},
		{"spa fallback", builtUI, "", "GET", "/experiments/3/runs", want{200, "text/html; charset=utf-8", "no-cache", `<base href="/">`}},
		{"missing asset is 404", builtUI, "", "GET", "/assets/index-old.js", want{404, "", "", ""}},
		{"api path never falls back", builtUI, "", "GET", "/ajax-api/2.0/mlflow/nope", want{404, "", "", ""}},
		{"api path never falls back 2", builtUI, "", "GET", "/api/2.0/mlflow/nope", want{404, "", "", ""}},
		{"post refused", builtUI, "", "POST", "/", want{405, "", "", ""}},
		{"head works", builtUI, "", "HEAD", "/", want{200, "text/html; charset=utf-8", "no-cache", ""}},
		{"prefix index", builtUI, "/mlflow", "GET", "/mlflow/", want{200, "text/html; charset=utf-8", "no-cache", `<base href="/mlflow/">`}},
		{"prefix with slashes normalised", builtUI, "mlflow/", "GET", "/mlflow/", want{200, "text/html; charset=utf-8", "no-cache", `<base href="/mlflow/">`}},
		{"prefix asset", builtUI, "/mlflow", "GET", "/mlflow/assets/index-abc.js", want{200, "text/javascript; charset=utf-8", "public, max-age=31536000, immutable", "console.log"}},
		{"prefix spa fallback", builtUI, "/mlflow", "GET", "/mlflow/runs/x", want{200, "text/html; charset=utf-8", "no-cache", `<base href="/mlflow/">`}},
		{"outside prefix", builtUI, "/mlflow", "GET", "/other/", want{404, "", "", ""}},
		{"prefix without slash redirects", builtUI, "/mlflow", "GET", "/mlflow", want{301, "", "", ""}},
		{"dot-dot cannot escape the tree", builtUI, "", "GET", "/assets/../../etc/passwd", want{200, "text/html; charset=utf-8", "no-cache", `<base href="/">`}},
		{"dot-dot to a missing file is 404", builtUI, "", "GET", "/assets/../../etc/hosts.txt", want{404, "", "", ""}},
		{"unbuilt serves placeholder", unbuiltUI, "", "GET", "/", want{200, "text/html; charset=utf-8", "no-cache", "npm run build"}},
		{"unbuilt spa path serves placeholder", unbuiltUI, "", "GET", "/experiments/1", want{200, "text/html; charset=utf-8", "no-cache", "npm run build"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHandler(tt.prefix, tt.fs)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(tt.method, tt.path, nil))
			res := rec.Result()
			if res.StatusCode != tt.want.status {
				t.Fatalf("status = %d, want %d", res.StatusCode, tt.want.status)
			}
			if got := res.Header.Get("Content-Security-Policy"); got != ContentSecurityPolicy {
				t.Errorf("CSP = %q", got)
			}
			if got := res.Header.Get("X-Content-Type-Options"); got != "nosniff" {
				t.Errorf("X-Content-Type-Options = %q", got)
			}
			if tt.want.ctype != "" && res.Header.Get("Content-Type") != tt.want.ctype {
				t.Errorf("Content-Type = %q, want %q", res.Header.Get("Content-Type"), tt.want.ctype)
			}
			if tt.want.cache != "" && res.Header.Get("Cache-Control") != tt.want.cache {
				t.Errorf("Cache-Control = %q, want %q", res.Header.Get("Cache-Control"), tt.want.cache)
			}
			if !strings.Contains(rec.Body.String(), tt.want.contains) {
				t.Errorf("body %q does not contain %q", rec.Body.String(), tt.want.contains)
			}
		})
	}
}

func TestHandlerRevalidation(t *testing.T) {
	h := newHandler("", builtUI)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	etag := rec.Header().Get("ETag")
	if etag == "" {
		t.Fatal("no ETag on index.html")
	}
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set("If-None-Match", etag)
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusNotModified {
		t.Fatalf("conditional GET status = %d, want 304", rec.Code)
	}
}

// The embedded tree always compiles and serves a page, built or not.
func TestEmbeddedHandlerServesAPage(t *testing.T) {
	rec := httptest.NewRecorder()
	Handler("").ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "<html") {
		t.Fatalf("status %d body %.200q", rec.Code, rec.Body.String())
	}
}
