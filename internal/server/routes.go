package server

import (
	"net/http"
	"strings"

	"github.com/mltrack/mltrack/internal/webui"
)

// routes is the whole route table. Every MLflow RPC is served under both
// /api and /ajax-api (MLflow registers both), behind the static prefix.
func (s *Server) routes(mux *http.ServeMux) {
	p := s.prefix
	both := func(method, version, path string, h apiFunc) {
		for _, root := range []string{"/api/", "/ajax-api/"} {
			rule := p + root + version + "/mlflow" + path
			mux.Handle(method+" "+rule, s.trackingOnly(rule, s.api(h)))
		}
	}
	ajax := func(method, version, path string, h apiFunc) {
		rule := p + "/ajax-api/" + version + "/mlflow" + path
		mux.Handle(method+" "+rule, s.trackingOnly(rule, s.api(h)))
	}
	// proxy registers an artifact-proxy route (503 with --no-serve-artifacts).
	proxy := func(method, path string, h func(http.ResponseWriter, *http.Request) error) {
		for _, root := range []string{"/api/", "/ajax-api/"} {
			route := p + root + "2.0/mlflow-artifacts" + path
			rule := strings.Replace(route, "{path...}", "<path:artifact_path>", 1)
			mux.Handle(method+" "+route, s.proxied(rule, h))
		}
	}

	// Experiments.
	both("POST", "2.0", "/experiments/create", s.createExperiment)
	both("GET", "2.0", "/experiments/get", s.getExperiment)
	both("GET", "2.0", "/experiments/get-by-name", s.getExperimentByName)
	both("POST", "2.0", "/experiments/search", s.searchExperiments)
	both("GET", "2.0", "/experiments/search", s.searchExperiments)
	both("POST", "2.0", "/experiments/update", s.updateExperiment)
	both("POST", "2.0", "/experiments/delete", s.deleteExperiment)
	both("POST", "2.0", "/experiments/restore", s.restoreExperiment)
	both("POST", "2.0", "/experiments/set-experiment-tag", s.setExperimentTag)
	both("POST", "2.0", "/experiments/delete-experiment-tag", s.deleteExperimentTag)

	// Runs.
	both("POST", "2.0", "/runs/create", s.createRun)
	both("GET", "2.0", "/runs/get", s.getRun)
	both("POST", "2.0", "/runs/update", s.updateRun)
	both("POST", "2.0", "/runs/delete", s.deleteRun)
	both("POST", "2.0", "/runs/restore", s.restoreRun)
	both("POST", "2.0", "/runs/search", s.searchRuns)
	both("POST", "2.0", "/runs/log-metric", s.logMetric)
	both("POST", "2.0", "/runs/log-parameter", s.logParam)
	both("POST", "2.0", "/runs/set-tag", s.setTag)
	both("POST", "2.0", "/runs/delete-tag", s.deleteTag)
	both("POST", "2.0", "/runs/log-batch", s.logBatch)

	// Run inputs and outputs (MLflow 3), and the UI's dataset list, which
	// MLflow serves under /ajax-api only.
	both("POST", "2.0", "/runs/log-inputs", s.logInputs)
	both("POST", "2.0", "/runs/outputs", s.logOutputs)
	ajax("POST", "2.0", "/experiments/search-datasets", s.searchDatasets)

	// Logged models (MLflow 3).
	both("POST", "2.0", "/logged-models", s.createLoggedModel)
	both("POST", "2.0", "/logged-models/search", s.searchLoggedModels)
	both("GET", "2.0", "/logged-models/{model_id}", s.getLoggedModel)
	both("PATCH", "2.0", "/logged-models/{model_id}", s.finalizeLoggedModel)
	both("DELETE", "2.0", "/logged-models/{model_id}", s.deleteLoggedModel)
	both("PATCH", "2.0", "/logged-models/{model_id}/tags", s.setLoggedModelTags)
	both("DELETE", "2.0", "/logged-models/{model_id}/tags/{tag_key}", s.deleteLoggedModelTag)
	both("POST", "2.0", "/logged-models/{model_id}/params", s.logLoggedModelParams)
	both("GET", "2.0", "/logged-models/{model_id}/artifacts/directories", s.listLoggedModelArtifacts)

	// Metric history.
	both("GET", "2.0", "/metrics/get-history", s.getMetricHistory)
	both("GET", "2.0", "/metrics/get-history-bulk-interval", s.getMetricHistoryBulkInterval)
	ajax("GET", "2.0", "/metrics/get-history-bulk", s.getMetricHistoryBulk)
	// mltrack's own read endpoint for charts (docs/api.md).
	for _, root := range []string{"/api/", "/ajax-api/"} {
		mux.Handle("GET "+p+root+"2.0/mltrack/metrics/get-history-downsampled", s.api(s.getMetricHistoryDownsampled))
	}

	// Artifacts: the proxy over --artifacts-destination, then the run-scoped
	// routes. Every path they take passes artifacts.CleanPath.
	proxy("GET", "/artifacts/{path...}", s.downloadArtifact)
	proxy("PUT", "/artifacts/{path...}", s.uploadArtifact)
	proxy("DELETE", "/artifacts/{path...}", s.deleteArtifact)
	proxy("GET", "/artifacts", s.listProxyArtifacts)
	proxy("POST", "/mpu/create/{path...}", s.multipartUnsupported)
	proxy("POST", "/mpu/complete/{path...}", s.multipartUnsupported)
	proxy("POST", "/mpu/abort/{path...}", s.multipartUnsupported)
	both("GET", "2.0", "/artifacts/list", s.listRunArtifacts)
	mux.Handle("GET "+p+"/get-artifact", s.trackingOnly(p+"/get-artifact", s.errHandler(s.getArtifact)))
	modelFiles := p + "/ajax-api/2.0/mlflow/logged-models/{model_id}/artifacts/files"
	mux.Handle("GET "+modelFiles, s.trackingOnly(strings.Replace(modelFiles, "{model_id}", "<model_id>", 1),
		s.errHandler(s.getLoggedModelArtifact)))
	mux.Handle("POST "+p+"/ajax-api/2.0/mlflow/upload-artifact",
		s.trackingOnly(p+"/ajax-api/2.0/mlflow/upload-artifact", s.errHandler(s.uploadRunArtifact)))

	// Server facts.
	both("GET", "3.0", "/server-info", s.serverInfo)
	mux.HandleFunc("GET "+p+"/health", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("OK"))
	})
	mux.HandleFunc("GET "+p+"/version", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte(s.version))
	})

	// The web UI. It routes by the URL's hash, so the server only serves the
	// page and its files; every other path keeps the mux's 404 and 405 answers.
	ui := webui.Handler(p)
	for _, path := range []string{"/{$}", "/index.html", "/favicon.svg", "/assets/"} {
		mux.Handle("GET "+p+path, ui)
	}
}
