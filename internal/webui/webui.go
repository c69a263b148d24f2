// Package webui serves the single-page web UI built from web/ and embedded
// into the binary. A binary built without the UI still compiles (dist/ always
// holds a committed README.txt) and serves a page explaining how to build it.
package webui

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"
)

//go:embed all:dist
var embedded embed.FS

//go:embed placeholder.html
var placeholderPage []byte

// ContentSecurityPolicy is sent with every UI response. The UI has no inline
// scripts or styles and talks only to its own origin.
const ContentSecurityPolicy = "default-src 'self'; style-src 'self'; object-src 'none'; base-uri 'self'; frame-ancestors 'none'; form-action 'self'"

const (
	cacheImmutable  = "public, max-age=31536000, immutable"
	cacheRevalidate = "no-cache"
)

// Handler serves the embedded UI. prefix is the URL path the UI lives under
// ("" or "/" for the root, or something like "/mlflow" for --static-prefix);
// the handler expects full request paths, so mount it as mux.Handle(prefix+"/", h).
func Handler(prefix string) http.Handler {
	dist, err := fs.Sub(embedded, "dist")
	if err != nil {
		// fs.Sub fails only for an invalid literal path; "dist" is valid.
		panic(fmt.Sprintf("webui: %v", err))
	}
	return newHandler(prefix, dist)
}

type file struct {
	body  []byte
	etag  string
	ctype string
	cache string
}

type handler struct {
	prefix string
	index  file
	files  map[string]file // keyed by slash path relative to dist, no leading slash
}

func newHandler(prefix string, dist fs.FS) *handler {
	prefix = "/" + strings.Trim(prefix, "/")
	if prefix == "/" {
		prefix = ""
	}
	h := &handler{prefix: prefix, files: map[string]file{}}
	// Everything is read once: the embedded tree is small and immutable, and
	// this gives every file a strong ETag for revalidation.
	_ = fs.WalkDir(dist, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || p == "index.html" {
			return nil
		}
		b, err := fs.ReadFile(dist, p)
		if err != nil {
			return nil
		}
		cache := cacheRevalidate
		if strings.HasPrefix(p, "assets/") {
			// Vite names every file under assets/ by its content hash.
			cache = cacheImmutable
		}
		h.files[p] = newFile(b, contentType(p), cache)
		return nil
	})
	page := placeholderPage
	if b, err := fs.ReadFile(dist, "index.html"); err == nil {
		page = withBase(b, prefix+"/")
	}
	h.index = newFile(page, "text/html; charset=utf-8", cacheRevalidate)
	return h
}

func newFile(b []byte, ctype, cache string) file {
	sum := sha256.Sum256(b)
	return file{body: b, etag: `"` + hex.EncodeToString(sum[:12]) + `"`, ctype: ctype, cache: cache}
}

func contentType(p string) string {
	if t := mime.TypeByExtension(path.Ext(p)); t != "" {
		return t
	}
	return "application/octet-stream"
}

// withBase makes the build's relative asset and API URLs resolve against the
// prefix whatever client-side path index.html was served for.
func withBase(page []byte, base string) []byte {
	tag := []byte(`<base href="` + html.EscapeString(base) + `">`)
	i := bytes.Index(page, []byte("<head>"))
	if i < 0 {
		return append(tag, page...)
	}
	i += len("<head>")
	out := make([]byte, 0, len(page)+len(tag))
	out = append(out, page[:i]...)
	out = append(out, tag...)
	return append(out, page[i:]...)
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	hdr.Set("Content-Security-Policy", ContentSecurityPolicy)
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Referrer-Policy", "same-origin")

	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		hdr.Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	p := r.URL.Path
	if h.prefix != "" && p == h.prefix {
		http.Redirect(w, r, h.prefix+"/", http.StatusMovedPermanently)
		return
	}
	if !strings.HasPrefix(p, h.prefix+"/") {
		http.NotFound(w, r)
		return
	}
	rel := strings.TrimPrefix(path.Clean(strings.TrimPrefix(p, h.prefix)), "/")
	switch {
	case rel == "" || rel == "." || rel == "index.html":
		h.serve(w, r, h.index)
	case isAPI(rel):
		// API routes are registered ahead of the UI; an unknown API path must
		// stay a 404, never turn into the HTML page.
		http.NotFound(w, r)
	default:
		if f, ok := h.files[rel]; ok {
			h.serve(w, r, f)
			return
		}
		if strings.Contains(path.Base(rel), ".") {
			// A missing file (old asset hash, typo) gets a 404, not HTML that a
			// browser would try to run as a script.
			http.NotFound(w, r)
			return
		}
		h.serve(w, r, h.index)
	}
}

func isAPI(rel string) bool {
	for _, p := range []string{"api/", "ajax-api/", "get-artifact", "model-versions/get-artifact"} {
		if strings.HasPrefix(rel, p) {
			return true
		}
	}
	return false
}

func (h *handler) serve(w http.ResponseWriter, r *http.Request, f file) {
	hdr := w.Header()
	hdr.Set("Content-Type", f.ctype)
	hdr.Set("Cache-Control", f.cache)
	hdr.Set("ETag", f.etag)
	// ServeContent handles If-None-Match, ranges and HEAD.
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(f.body))
}
