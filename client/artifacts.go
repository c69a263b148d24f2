package client

import (
	"context"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
)

const artifactProxyPath = "/api/2.0/mlflow-artifacts/artifacts"

// LogArtifact uploads a local file into the run's artifacts, under
// artifactPath (a directory, "" for the root), keeping its base name.
func (r *ActiveRun) LogArtifact(ctx context.Context, localPath, artifactPath string) error {
	if err := r.checkOpen(); err != nil {
		return err
	}
	return r.c.LogArtifact(ctx, r.artifactURI, localPath, artifactPath)
}

// LogArtifact uploads a local file through MLflow's artifact proxy
// (PUT /api/2.0/mlflow-artifacts/artifacts/<path>), streaming it from disk.
// artifactURI is a run's artifact_uri: mlflow-artifacts:/<path> (served by
// this client's server), mlflow-artifacts://host:port/<path>, or an http(s)
// URL of the proxy route itself. Other schemes (file:, s3:, ...) mean the
// server does not proxy artifacts: ErrUnsupportedArtifactURI.
func (c *Client) LogArtifact(ctx context.Context, artifactURI, localPath, artifactPath string) error {
	dest, err := c.artifactURL(artifactURI, path.Join(filepath.ToSlash(artifactPath), filepath.Base(localPath)))
	if err != nil {
		return err
	}
	st, err := os.Stat(localPath)
	if err != nil {
		return fmt.Errorf("log artifact: %w", err)
	}
	if st.IsDir() {
		return fmt.Errorf("%w: log artifact: %s is a directory", ErrInvalid, localPath)
	}
	ctype := mime.TypeByExtension(filepath.Ext(localPath))
	if ctype == "" {
		ctype = "application/octet-stream"
	}
	newReq := func() (*http.Request, error) {
		// A fresh file handle per attempt, so a retry re-sends from the start.
		f, err := os.Open(localPath)
		if err != nil {
			return nil, fmt.Errorf("log artifact: %w", err)
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPut, dest.String(), f)
		if err != nil {
			f.Close()
			return nil, err
		}
		req.ContentLength = st.Size()
		req.Header.Set("Content-Type", ctype)
		return req, nil
	}
	resp, err := c.send(ctx, newReq)
	if err != nil {
		return fmt.Errorf("log artifact %s: %w", localPath, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.Body.Close()
}

// artifactURL maps a run artifact URI plus a relative path to the proxy URL.
func (c *Client) artifactURL(artifactURI, rel string) (*url.URL, error) {
	if rel == "" || strings.HasPrefix(rel, "/") || rel == ".." || strings.HasPrefix(rel, "../") {
		return nil, fmt.Errorf("%w: artifact path %q", ErrInvalid, rel)
	}
	u, err := url.Parse(artifactURI)
	if err != nil {
		return nil, fmt.Errorf("%w: %q: %v", ErrUnsupportedArtifactURI, artifactURI, err)
	}
	var out *url.URL
	var base string
	switch u.Scheme {
	case "mlflow-artifacts":
		out = c.endpoint("")
		if u.Host != "" {
			out.Host = u.Host
		}
		base = strings.TrimRight(out.Path, "/") + artifactProxyPath + "/" + strings.Trim(u.Path, "/")
	case "http", "https":
		out = u
		base = strings.TrimRight(u.Path, "/")
	default:
		return nil, fmt.Errorf("%w: %q (the server stores artifacts at a location this client cannot reach; start it with artifact serving)", ErrUnsupportedArtifactURI, artifactURI)
	}
	full := base + "/" + rel
	out.Path = full
	out.RawPath = ""
	out.RawQuery, out.Fragment = "", ""
	return out, nil
}
