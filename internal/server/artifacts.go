package server

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"

	"github.com/mltrack/mltrack/internal/artifacts"
	"github.com/mltrack/mltrack/internal/tracking"
)

// uploadArtifactMaxBytes is the UI upload cap MLflow enforces.
const uploadArtifactMaxBytes = 10 << 20

// artifactRoutePrefix is where the proxy's file routes live under /api and
// /ajax-api; their request paths are checked before the mux sees them.
const artifactRoutePrefix = "2.0/mlflow-artifacts/artifacts/"

func errInvalidPath() error { return tracking.InvalidParameter("Invalid path") }

// cleanPath runs the one validator and speaks MLflow's error.
func cleanPath(p string) (string, error) {
	c, err := artifacts.CleanPath(p)
	if err != nil {
		return "", errInvalidPath()
	}
	return c, nil
}

// repoErr maps repository errors to client errors; anything else stays
// internal and is logged by respondError.
func repoErr(err error, name string) error {
	switch {
	case errors.Is(err, artifacts.ErrInvalidPath):
		return errInvalidPath()
	case errors.Is(err, artifacts.ErrNotFound):
		return tracking.NotFound("No such artifact: '%s'", name)
	case errors.Is(err, artifacts.ErrIsDir):
		return tracking.InvalidParameter("Artifact path refers to a directory, not a file: '%s'", name)
	}
	return err
}

// withArtifactGuard runs before the mux. For the proxy's file routes it
// answers 400 to an unsafe path before ServeMux could clean or redirect it,
// and lifts the JSON body cap for uploads, which stream to disk.
func (s *Server) withArtifactGuard(limited, mux http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rest, ok := s.artifactFilePath(r.URL.Path)
		if !ok {
			limited.ServeHTTP(w, r)
			return
		}
		raw := rest
		if ep := r.URL.EscapedPath(); ep != r.URL.Path {
			if erest, eok := s.artifactFilePath(ep); eok {
				raw = erest
			}
		}
		if _, err := cleanPath(rest); err != nil || rest == "" {
			s.respondError(w, r, errInvalidPath())
			return
		}
		if _, err := cleanPath(raw); err != nil {
			s.respondError(w, r, errInvalidPath())
			return
		}
		if r.Method == http.MethodPut {
			mux.ServeHTTP(w, r)
			return
		}
		limited.ServeHTTP(w, r)
	})
}

// artifactFilePath is the part of p after the proxy's file-route prefix.
func (s *Server) artifactFilePath(p string) (string, bool) {
	for _, root := range []string{"/api/", "/ajax-api/"} {
		for _, kind := range []string{artifactRoutePrefix, "2.0/mlflow-artifacts/mpu/create/", "2.0/mlflow-artifacts/mpu/complete/", "2.0/mlflow-artifacts/mpu/abort/"} {
			if rest, ok := strings.CutPrefix(p, s.prefix+root+kind); ok {
				return rest, true
			}
		}
	}
	return "", false
}

// proxied wraps a proxy endpoint: with --no-serve-artifacts it answers 503
// as MLflow does, naming the route rule.
func (s *Server) proxied(rule string, h func(w http.ResponseWriter, r *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.artifacts == nil {
			disabled(w, fmt.Sprintf("Endpoint: %s disabled due to the mlflow server running with `--no-serve-artifacts`. "+
				"To enable artifacts server functionality, run `mlflow server` with `--serve-artifacts`", rule))
			return
		}
		if err := h(w, r); err != nil {
			s.respondError(w, r, err)
		}
	})
}

// trackingOnly wraps a tracking endpoint: with --artifacts-only it answers
// 503 as MLflow does.
func (s *Server) trackingOnly(rule string, h http.Handler) http.Handler {
	if !s.artifactsOnly {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		disabled(w, fmt.Sprintf("Endpoint: %s disabled due to the mlflow server running in `--artifacts-only` mode. "+
			"To enable tracking server functionality, run `mlflow server` without `--artifacts-only`", rule))
	})
}

// errHandler adapts a handler that streams its own success response.
func (s *Server) errHandler(h func(w http.ResponseWriter, r *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			s.respondError(w, r, err)
		}
	})
}

func disabled(w http.ResponseWriter, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusServiceUnavailable)
	_, _ = io.WriteString(w, msg)
}

// ---- the proxy: /api/2.0/mlflow-artifacts ----

func (s *Server) downloadArtifact(w http.ResponseWriter, r *http.Request) error {
	p, err := cleanPath(r.PathValue("path"))
	if err != nil || p == "" {
		return errInvalidPath()
	}
	return s.sendArtifact(w, r, p)
}

func (s *Server) uploadArtifact(w http.ResponseWriter, r *http.Request) error {
	p, err := cleanPath(r.PathValue("path"))
	if err != nil || p == "" {
		return errInvalidPath()
	}
	if err := s.artifacts.Put(r.Context(), p, r.Body); err != nil {
		return repoErr(err, p)
	}
	writeJSON(w, http.StatusOK, empty{})
	return nil
}

func (s *Server) deleteArtifact(w http.ResponseWriter, r *http.Request) error {
	p, err := cleanPath(r.PathValue("path"))
	if err != nil || p == "" {
		return errInvalidPath()
	}
	if err := s.artifacts.Delete(r.Context(), p); err != nil {
		return repoErr(err, p)
	}
	writeJSON(w, http.StatusOK, empty{})
	return nil
}

type wireFileInfo struct {
	Path     string `json:"path"`
	IsDir    bool   `json:"is_dir"`
	FileSize *int64 `json:"file_size,omitempty"`
}

type listArtifactsResponse struct {
	RootURI string         `json:"root_uri,omitempty"`
	Files   []wireFileInfo `json:"files,omitempty"`
}

func toWireFiles(infos []artifacts.FileInfo, rel func(string) string) []wireFileInfo {
	out := make([]wireFileInfo, 0, len(infos))
	for _, fi := range infos {
		w := wireFileInfo{Path: rel(fi.Path), IsDir: fi.IsDir}
		if !fi.IsDir {
			size := fi.Size
			w.FileSize = &size
		}
		out = append(out, w)
	}
	return out
}

// listProxyArtifacts lists one directory of the destination; entries carry
// base names, as MLflow's proxy answers.
func (s *Server) listProxyArtifacts(w http.ResponseWriter, r *http.Request) error {
	p, err := cleanPath(r.URL.Query().Get("path"))
	if err != nil {
		return err
	}
	infos, err := s.artifacts.List(r.Context(), p)
	if err != nil {
		return repoErr(err, p)
	}
	writeJSON(w, http.StatusOK, listArtifactsResponse{Files: toWireFiles(infos, path.Base)})
	return nil
}

// multipartUnsupported is MLflow's answer for a repository without
// multipart upload; the client then falls back to one streaming PUT.
func (s *Server) multipartUnsupported(w http.ResponseWriter, r *http.Request) error {
	if _, err := cleanPath(r.PathValue("path")); err != nil {
		return err
	}
	f, err := readFields(r)
	if err != nil {
		return err
	}
	if _, err := f.str("path", true); err != nil {
		return err
	}
	return &tracking.Error{Code: tracking.ErrNotImplemented, Message: "Multipart upload is not supported for the current artifact repository"}
}

// sendArtifact streams one file as a download that a browser never renders.
func (s *Server) sendArtifact(w http.ResponseWriter, r *http.Request, p string) error {
	obj, st, err := s.artifacts.Open(r.Context(), p)
	if err != nil {
		return repoErr(err, p)
	}
	defer obj.Close()
	name := path.Base(p)
	h := w.Header()
	h.Set("Content-Type", safeContentType(name))
	h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": name}))
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-cache")
	if rs, ok := obj.(io.ReadSeeker); ok {
		http.ServeContent(w, r, "", st.ModTime, rs)
		return nil
	}
	h.Set("Content-Length", strconv.FormatInt(st.Size, 10))
	if !st.ModTime.IsZero() {
		h.Set("Last-Modified", st.ModTime.UTC().Format(http.TimeFormat))
	}
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		if _, err := io.Copy(w, obj); err != nil {
			// Headers are out; all that is left is to log the broken transfer.
			s.logger.LogAttrs(r.Context(), slog.LevelWarn, "artifact download interrupted",
				slog.String("request_id", requestID(r.Context())), slog.String("path", p), slog.String("error", err.Error()))
		}
	}
	return nil
}

// textExtensions are served as text/plain, as MLflow's mime guess does
// (mlflow/utils/mime_type_utils.py); a bare name counts as its extension.
var textExtensions = map[string]bool{
	"txt": true, "log": true, "err": true, "cfg": true, "conf": true, "cnf": true, "cf": true, "ini": true,
	"properties": true, "prop": true, "hocon": true, "toml": true, "yaml": true, "yml": true, "xml": true,
	"json": true, "js": true, "py": true, "py3": true, "csv": true, "tsv": true, "md": true, "rst": true,
	"ipynb": true, "MLmodel": true, "MLproject": true,
}

// passiveTypes are the other content types a browser shows without running
// anything. Everything else, HTML and SVG above all, is served as
// application/octet-stream so nothing from a run executes under our origin
// (MLflow labels HTML as text/html, relying on the attachment disposition).
var passiveTypes = map[string]bool{
	"image/png": true, "image/jpeg": true, "image/gif": true, "image/webp": true, "image/bmp": true,
	"application/gzip": true, "application/zip": true, "application/x-tar": true,
}

func safeContentType(name string) string {
	ext := strings.TrimPrefix(path.Ext(name), ".")
	if ext == "" {
		ext = name
	}
	if textExtensions[ext] {
		return "text/plain"
	}
	mt, _, err := mime.ParseMediaType(mime.TypeByExtension(path.Ext(name)))
	if err != nil || !passiveTypes[mt] {
		return "application/octet-stream"
	}
	return mt
}

// ---- run-scoped routes ----

// runArtifactPath maps a run-relative path to the destination, for runs
// whose artifact root this server proxies (mlflow-artifacts:, or an http(s)
// URL of the proxy route); other roots are not served from here.
func runArtifactPath(artifactURI, rel string) (string, error) {
	u, err := url.Parse(artifactURI)
	if err != nil {
		return "", errInvalidPath()
	}
	var root string
	switch u.Scheme {
	case "mlflow-artifacts":
		root = strings.TrimLeft(u.Path, "/")
	case "http", "https":
		const anchor = "/api/2.0/mlflow-artifacts/artifacts/"
		_, after, ok := strings.Cut(u.Path, anchor)
		if !ok {
			return "", notProxied(artifactURI)
		}
		root = strings.TrimLeft(after, "/")
	default:
		return "", notProxied(artifactURI)
	}
	// A root stored in the database is an artifact location from a request:
	// it passes the same validator.
	root, err = cleanPath(root)
	if err != nil {
		return "", err
	}
	return artifacts.Join(root, rel), nil
}

func notProxied(uri string) error {
	return tracking.InvalidParameter("The artifact root '%s' is not served by this server's artifact proxy.", uri)
}

// listRunArtifacts is GET /api/2.0/mlflow/artifacts/list: run-relative paths
// and the run's root_uri.
func (s *Server) listRunArtifacts(r *http.Request, f *fields) (any, error) {
	id, err := f.runID()
	if err != nil {
		return nil, err
	}
	rawPath, hasPath := f.raw("path")
	rel := ""
	if hasPath {
		ps, ok := rawPath.(string)
		if !ok {
			return nil, invalidValue("path", rawPath)
		}
		if rel, err = cleanPath(ps); err != nil {
			return nil, err
		}
	}
	run, err := s.svc.GetRun(r.Context(), id)
	if err != nil {
		return nil, err
	}
	return s.listUnder(r, run.Info.ArtifactURI, rel)
}

// listUnder lists one directory below an artifact root this server proxies,
// with paths relative to the root, as MLflow lists run and model artifacts.
func (s *Server) listUnder(r *http.Request, rootURI, rel string) (any, error) {
	resp := listArtifactsResponse{RootURI: rootURI}
	if s.artifacts == nil {
		return nil, notProxied(rootURI)
	}
	dest, err := runArtifactPath(rootURI, rel)
	if err != nil {
		return nil, err
	}
	infos, err := s.artifacts.List(r.Context(), dest)
	if err != nil {
		return nil, repoErr(err, rel)
	}
	rootDest, err := runArtifactPath(rootURI, "")
	if err != nil {
		return nil, err
	}
	resp.Files = toWireFiles(infos, func(p string) string {
		if rootDest == "" {
			return p
		}
		return strings.TrimPrefix(p, rootDest+"/")
	})
	if len(resp.Files) == 0 {
		resp.Files = nil
	}
	return resp, nil
}

// getArtifact is GET /get-artifact?run_id=&path=.
func (s *Server) getArtifact(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	id := q.Get("run_id")
	if id == "" {
		id = q.Get("run_uuid")
	}
	if !q.Has("path") {
		return missingValue("path")
	}
	rel, err := cleanPath(q.Get("path"))
	if err != nil {
		return err
	}
	run, err := s.svc.GetRun(r.Context(), id)
	if err != nil {
		return err
	}
	if s.artifacts == nil {
		return notProxied(run.Info.ArtifactURI)
	}
	dest, err := runArtifactPath(run.Info.ArtifactURI, rel)
	if err != nil {
		return err
	}
	return s.sendArtifact(w, r, dest)
}

// uploadRunArtifact is the UI's POST /ajax-api/2.0/mlflow/upload-artifact:
// a raw body of at most 10 MB stored at the run-relative path.
func (s *Server) uploadRunArtifact(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	id := q.Get("run_id")
	if id == "" {
		id = q.Get("run_uuid")
	}
	if id == "" {
		return tracking.InvalidParameter("Request must specify run_id or run_uuid.")
	}
	if q.Get("path") == "" {
		return tracking.InvalidParameter("Request must specify path.")
	}
	rel, err := cleanPath(q.Get("path"))
	if err != nil {
		return err
	}
	tooLarge := tracking.InvalidParameter("Artifact size is too large. Max size is 10MB.")
	if r.ContentLength > uploadArtifactMaxBytes {
		return tooLarge
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, uploadArtifactMaxBytes+1))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return tooLarge
		}
		return fmt.Errorf("read upload: %w", err)
	}
	if len(data) == 0 {
		return tracking.InvalidParameter("Request must specify data.")
	}
	if len(data) > uploadArtifactMaxBytes {
		return tooLarge
	}
	run, err := s.svc.GetRun(r.Context(), id)
	if err != nil {
		return err
	}
	if s.artifacts == nil {
		return notProxied(run.Info.ArtifactURI)
	}
	dest, err := runArtifactPath(run.Info.ArtifactURI, rel)
	if err != nil {
		return err
	}
	if err := s.artifacts.Put(r.Context(), dest, bytes.NewReader(data)); err != nil {
		return repoErr(err, rel)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	return nil
}

// ---- logged-model routes ----

// listLoggedModelArtifacts is GET .../logged-models/{model_id}/artifacts/directories
// ?artifact_directory_path=: the model's artifacts, relative to its root.
func (s *Server) listLoggedModelArtifacts(r *http.Request, f *fields) (any, error) {
	rel := ""
	if v, ok := f.raw("artifact_directory_path"); ok {
		ps, isStr := v.(string)
		if !isStr {
			return nil, invalidValue("artifact_directory_path", v)
		}
		var err error
		if rel, err = cleanPath(ps); err != nil {
			return nil, err
		}
	}
	model, err := s.svc.GetLoggedModel(r.Context(), r.PathValue("model_id"), false)
	if err != nil {
		return nil, err
	}
	return s.listUnder(r, model.ArtifactURI, rel)
}

// getLoggedModelArtifact is the UI's GET
// /ajax-api/2.0/mlflow/logged-models/{model_id}/artifacts/files?artifact_file_path=.
func (s *Server) getLoggedModelArtifact(w http.ResponseWriter, r *http.Request) error {
	rel := r.URL.Query().Get("artifact_file_path")
	if rel == "" {
		return &tracking.Error{Code: tracking.ErrBadRequest, Message: `Request must include the "artifact_file_path" query parameter.`}
	}
	rel, err := cleanPath(rel)
	if err != nil {
		return err
	}
	model, err := s.svc.GetLoggedModel(r.Context(), r.PathValue("model_id"), false)
	if err != nil {
		return err
	}
	if s.artifacts == nil {
		return notProxied(model.ArtifactURI)
	}
	dest, err := runArtifactPath(model.ArtifactURI, rel)
	if err != nil {
		return err
	}
	return s.sendArtifact(w, r, dest)
}
