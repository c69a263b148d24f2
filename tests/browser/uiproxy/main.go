// Command uiproxy serves the embedded web UI (internal/webui) under a prefix
// and forwards the API to another tracking server, e.g. the real `mlflow
// server`. The browser tests use it to check the UI and its Go handler (CSP,
// prefix, SPA fallback) before mltrack itself serves the API.
package main

import (
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"strings"

	"github.com/mltrack/mltrack/internal/webui"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:19003", "listen address")
	api := flag.String("api", "http://127.0.0.1:5000", "tracking server that answers ajax-api/ and api/")
	prefix := flag.String("prefix", "", "URL prefix for the UI and the API, e.g. /mlflow")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(*addr, *api, *prefix, log); err != nil {
		log.Error("uiproxy", "err", err)
		os.Exit(1)
	}
}

func run(addr, api, prefix string, log *slog.Logger) error {
	target, err := url.Parse(api)
	if err != nil {
		return fmt.Errorf("-api: %w", err)
	}
	prefix = strings.TrimRight(prefix, "/")
	proxy := httputil.NewSingleHostReverseProxy(target)
	strip := func(h http.Handler) http.Handler {
		return http.StripPrefix(prefix, h)
	}
	mux := http.NewServeMux()
	mux.Handle(prefix+"/ajax-api/", strip(proxy))
	mux.Handle(prefix+"/api/", strip(proxy))
	mux.Handle(prefix+"/get-artifact", strip(proxy)) // artifact downloads and previews
	mux.Handle(prefix+"/", webui.Handler(prefix))
	if prefix != "" {
		mux.Handle(prefix, webui.Handler(prefix))
	}
	log.Info("uiproxy listening", "addr", addr, "prefix", prefix, "api", api)
	return http.ListenAndServe(addr, mux)
}
