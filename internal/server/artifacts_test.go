package server

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/mltrack/mltrack/internal/artifacts"
)

// artifactEnv is a server whose proxy stores under root, next to a directory
// outside it holding secrets, with symlinks in the root leading out.
type artifactEnv struct {
	ts                  *testServer
	base, root, outside string
	run, runDir         string // run id and its artifact directory on disk
}

func newArtifactEnv(t *testing.T, opts Options) *artifactEnv {
	t.Helper()
	base := t.TempDir()
	e := &artifactEnv{base: base, root: filepath.Join(base, "root"), outside: filepath.Join(base, "outside")}
	must(t, os.MkdirAll(e.outside, 0o755))
	must(t, os.WriteFile(filepath.Join(e.outside, "secret.txt"), []byte("secret"), 0o644))
	must(t, os.WriteFile(filepath.Join(base, "secret.txt"), []byte("secret"), 0o644))
	repo, err := artifacts.OpenLocal(e.root)
	must(t, err)
	t.Cleanup(func() { _ = repo.Close() })
	opts.Artifacts = repo
	e.ts = newTestServer(t, opts)
	run := e.ts.mustJSON("POST", "/api/2.0/mlflow/runs/create", `{"experiment_id":"0"}`)
	info := run["run"].(map[string]any)["info"].(map[string]any)
	e.run = info["run_id"].(string)
	if got, want := info["artifact_uri"], "mlflow-artifacts:/0/"+e.run+"/artifacts"; got != want {
		t.Fatalf("artifact_uri = %v, want %v", got, want)
	}
	e.runDir = filepath.Join(e.root, "0", e.run, "artifacts")
	must(t, os.MkdirAll(e.runDir, 0o755))
	must(t, os.Symlink("../outside", filepath.Join(e.root, "link-out")))
	must(t, os.Symlink(e.outside, filepath.Join(e.runDir, "link-abs")))
	must(t, os.Symlink("../../../../secret.txt", filepath.Join(e.runDir, "link-file")))
	return e
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// outsideSnapshot is every path and content outside the artifact root.
func (e *artifactEnv) outsideSnapshot(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	must(t, filepath.WalkDir(e.base, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == e.root {
			return filepath.SkipDir
		}
		if d.IsDir() {
			out[p] = "<dir>"
		} else {
			b, _ := os.ReadFile(p)
			out[p] = string(b)
		}
		return nil
	}))
	return out
}

// raw sends target exactly as given in the request line, so neither the
// client nor a proxy cleans a hostile path before the server sees it.
func (e *artifactEnv) raw(t *testing.T, method, target, contentType, body string) (int, []byte) {
	t.Helper()
	u, _ := url.Parse(e.ts.url)
	c, err := net.Dial("tcp", u.Host)
	must(t, err)
	defer c.Close()
	var req bytes.Buffer
	fmt.Fprintf(&req, "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\nContent-Length: %d\r\n", method, target, u.Host, len(body))
	if contentType != "" {
		fmt.Fprintf(&req, "Content-Type: %s\r\n", contentType)
	}
	req.WriteString("\r\n" + body)
	_, err = c.Write(req.Bytes())
	must(t, err)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	must(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// pathEscape escapes only what cannot stand in a request line, leaving
// dots, slashes, backslashes and existing %-sequences as an attacker sends them.
func pathEscape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= 0x20 || c >= 0x7f || c == '#' || c == '?' {
			fmt.Fprintf(&b, "%%%02X", c)
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// TestArtifactRoutesRejectUnsafePaths sends every variant of security.md §1,
// plus symlinks out of the root, to every route that takes a path, and checks
// each answers 400 "Invalid path" and the disk outside the root is untouched.
func TestArtifactRoutesRejectUnsafePaths(t *testing.T) {
	e := newArtifactEnv(t, Options{})
	before := e.outsideSnapshot(t)
	variants := artifacts.UnsafePathVariants()
	// Links out of the root: valid names, refused when opened.
	for name, p := range map[string]string{
		"symlink-dir-rel": "link-out/secret.txt", "symlink-dir-rel-new": "link-out/new.txt",
		"symlink-dir-listing": "link-out",
		"symlink-run-abs":     "0/" + e.run + "/artifacts/link-abs/secret.txt",
		"symlink-run-file":    "0/" + e.run + "/artifacts/link-file",
	} {
		variants[name] = p
	}
	runRel := map[string]bool{"symlink-run-abs": true, "symlink-run-file": true}
	// Which routes a symlink variant is tried on: reads everywhere; writes
	// only through a linked directory (replacing or deleting a link itself is
	// legitimate and stays inside the root); multipart never touches disk.
	skip := func(name string, c string) bool {
		if !strings.HasPrefix(name, "symlink-") {
			return false
		}
		if strings.Contains(c, "/mpu/") {
			return true
		}
		isRunRoute := strings.Contains(c, "/mlflow/") || strings.Contains(c, " /get-artifact")
		if strings.HasPrefix(name, "symlink-dir-") && isRunRoute {
			return true // root-level links are not under the run
		}
		write := strings.HasPrefix(c, "PUT") || strings.HasPrefix(c, "DELETE") || strings.Contains(c, "upload-artifact")
		return write && (name == "symlink-run-file" || name == "symlink-dir-listing")
	}
	for name, v := range variants {
		rel := v
		if runRel[name] {
			rel = strings.TrimPrefix(v, "0/"+e.run+"/artifacts/")
		}
		q := url.QueryEscape(v)
		rq := url.QueryEscape(rel)
		type call struct{ method, target, ct, body string }
		calls := []call{
			{"GET", "/api/2.0/mlflow-artifacts/artifacts/" + pathEscape(v), "", ""},
			{"GET", "/ajax-api/2.0/mlflow-artifacts/artifacts/" + pathEscape(v), "", ""},
			{"PUT", "/api/2.0/mlflow-artifacts/artifacts/" + pathEscape(v), "application/octet-stream", "pwned"},
			{"PUT", "/ajax-api/2.0/mlflow-artifacts/artifacts/" + pathEscape(v), "application/octet-stream", "pwned"},
			{"DELETE", "/api/2.0/mlflow-artifacts/artifacts/" + pathEscape(v), "", ""},
			{"DELETE", "/ajax-api/2.0/mlflow-artifacts/artifacts/" + pathEscape(v), "", ""},
			{"GET", "/api/2.0/mlflow-artifacts/artifacts?path=" + q, "", ""},
			{"POST", "/api/2.0/mlflow-artifacts/mpu/create/" + pathEscape(v), "application/json", `{"path":"f.bin","num_parts":1}`},
			{"POST", "/api/2.0/mlflow-artifacts/mpu/complete/" + pathEscape(v), "application/json", `{"path":"f.bin","upload_id":"u","parts":[]}`},
			{"POST", "/api/2.0/mlflow-artifacts/mpu/abort/" + pathEscape(v), "application/json", `{"path":"f.bin","upload_id":"u"}`},
			{"GET", "/api/2.0/mlflow/artifacts/list?run_id=" + e.run + "&path=" + rq, "", ""},
			{"GET", "/ajax-api/2.0/mlflow/artifacts/list?run_id=" + e.run + "&path=" + rq, "", ""},
			{"GET", "/get-artifact?run_id=" + e.run + "&path=" + rq, "", ""},
			{"POST", "/ajax-api/2.0/mlflow/upload-artifact?run_id=" + e.run + "&path=" + rq, "application/octet-stream", "pwned"},
		}
		for _, c := range calls {
			if skip(name, c.method+" "+c.target) {
				continue
			}
			t.Run(name+"/"+c.method+" "+strings.SplitN(c.target, "?", 2)[0][:min(40, len(strings.SplitN(c.target, "?", 2)[0]))], func(t *testing.T) {
				st, b := e.raw(t, c.method, c.target, c.ct, c.body)
				if st != http.StatusBadRequest {
					t.Fatalf("%s %s = %d %s; want 400", c.method, c.target, st, b)
				}
				var body map[string]any
				if json.Unmarshal(b, &body) == nil {
					if body["error_code"] != "INVALID_PARAMETER_VALUE" || body["message"] != "Invalid path" {
						t.Fatalf("%s %s body = %s", c.method, c.target, b)
					}
				} else if !strings.HasPrefix(string(b), "400 Bad Request") {
					// Only net/http itself may answer in plain text (e.g. a
					// request line it cannot parse).
					t.Fatalf("%s %s body = %q", c.method, c.target, b)
				}
			})
		}
	}
	if after := e.outsideSnapshot(t); !reflect.DeepEqual(before, after) {
		t.Fatalf("disk outside the artifact root changed:\nbefore %v\nafter  %v", before, after)
	}
	// Nothing was written inside the root either: only the fixture's tree.
	var inside []string
	must(t, filepath.WalkDir(e.root, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() || d != nil && d.Type()&os.ModeSymlink != 0 {
			inside = append(inside, strings.TrimPrefix(p, e.root))
		}
		return nil
	}))
	want := []string{"/0/" + e.run + "/artifacts/link-abs", "/0/" + e.run + "/artifacts/link-file", "/link-out"}
	if !reflect.DeepEqual(inside, want) {
		t.Fatalf("files under the root = %v, want %v", inside, want)
	}
}

func TestArtifactProxyRoundTrip(t *testing.T) {
	e := newArtifactEnv(t, Options{})
	ts := e.ts
	base := "/api/2.0/mlflow-artifacts/artifacts/0/" + e.run + "/artifacts"

	// Bigger than the JSON body cap: uploads stream past it.
	big := bytes.Repeat([]byte("0123456789abcdef"), (DefaultMaxBodyBytes+1<<20)/16)
	st, b, _ := ts.do("PUT", base+"/model/weights.bin", string(big), map[string]string{"Content-Type": "application/octet-stream"})
	if st != 200 || string(b) != "{}" {
		t.Fatalf("PUT big = %d %s", st, b)
	}
	for name, content := range map[string]string{"dir/a.txt": "hello", "page.html": "<script>alert(1)</script>", "pic.svg": "<svg onload=alert(1)/>", "MLmodel": "flavors: {}\n"} {
		if st, b, _ := ts.do("PUT", base+"/"+name, content, nil); st != 200 {
			t.Fatalf("PUT %s = %d %s", name, st, b)
		}
	}

	st, b, h := ts.do("GET", base+"/model/weights.bin", "", nil)
	if st != 200 || sha256.Sum256(b) != sha256.Sum256(big) {
		t.Fatalf("GET big = %d, %d bytes", st, len(b))
	}
	if h.Get("Content-Length") != fmt.Sprint(len(big)) {
		t.Errorf("Content-Length = %q", h.Get("Content-Length"))
	}
	headers := []struct{ file, ctype, disp string }{
		{"dir/a.txt", "text/plain", "attachment; filename=a.txt"},
		{"page.html", "application/octet-stream", "attachment; filename=page.html"},
		{"pic.svg", "application/octet-stream", "attachment; filename=pic.svg"},
		{"MLmodel", "text/plain", "attachment; filename=MLmodel"},
		{"model/weights.bin", "application/octet-stream", "attachment; filename=weights.bin"},
	}
	for _, tt := range headers {
		for _, target := range []string{base + "/" + tt.file, "/get-artifact?run_id=" + e.run + "&path=" + url.QueryEscape(tt.file)} {
			st, _, h := ts.do("GET", target, "", nil)
			if st != 200 || h.Get("Content-Type") != tt.ctype || h.Get("Content-Disposition") != tt.disp || h.Get("X-Content-Type-Options") != "nosniff" {
				t.Errorf("GET %s = %d type %q disposition %q nosniff %q", target, st, h.Get("Content-Type"), h.Get("Content-Disposition"), h.Get("X-Content-Type-Options"))
			}
		}
	}
	// Ranges work (resumable downloads).
	st, b, _ = ts.do("GET", base+"/dir/a.txt", "", map[string]string{"Range": "bytes=1-3"})
	if st != http.StatusPartialContent || string(b) != "ell" {
		t.Errorf("range GET = %d %q", st, b)
	}

	list := func(target string) string {
		st, b, _ := ts.do("GET", target, "", nil)
		if st != 200 {
			t.Fatalf("GET %s = %d %s", target, st, b)
		}
		return string(b)
	}
	size := len(big)
	if got, want := list("/api/2.0/mlflow-artifacts/artifacts?path=0/"+e.run+"/artifacts"),
		`{"files":[{"path":"MLmodel","is_dir":false,"file_size":12},{"path":"dir","is_dir":true},{"path":"model","is_dir":true},{"path":"page.html","is_dir":false,"file_size":25},{"path":"pic.svg","is_dir":false,"file_size":22}]}`; got != want {
		t.Errorf("proxy list = %s\nwant %s", got, want)
	}
	if got, want := list("/api/2.0/mlflow-artifacts/artifacts?path=0/"+e.run+"/artifacts/model"),
		fmt.Sprintf(`{"files":[{"path":"weights.bin","is_dir":false,"file_size":%d}]}`, size); got != want {
		t.Errorf("proxy list model = %s\nwant %s", got, want)
	}
	if got := list("/api/2.0/mlflow-artifacts/artifacts?path=nope"); got != "{}" {
		t.Errorf("list of a missing dir = %s", got)
	}
	root := "mlflow-artifacts:/0/" + e.run + "/artifacts"
	if got, want := list("/api/2.0/mlflow/artifacts/list?run_id="+e.run+"&path=model"),
		fmt.Sprintf(`{"root_uri":"%s","files":[{"path":"model/weights.bin","is_dir":false,"file_size":%d}]}`, root, size); got != want {
		t.Errorf("run list = %s\nwant %s", got, want)
	}
	if got, want := list("/api/2.0/mlflow/artifacts/list?run_id="+e.run+"&path=dir/a.txt"), `{"root_uri":"`+root+`"}`; got != want {
		t.Errorf("run list of a file = %s, want %s", got, want)
	}

	// The UI upload: run-relative, capped at 10 MB.
	st, b, _ = ts.do("POST", "/ajax-api/2.0/mlflow/upload-artifact?run_id="+e.run+"&path=ui/note.txt", "from the UI", map[string]string{"Content-Type": "text/plain"})
	if st != 200 {
		t.Fatalf("upload-artifact = %d %s", st, b)
	}
	if got, _ := os.ReadFile(filepath.Join(e.runDir, "ui", "note.txt")); string(got) != "from the UI" {
		t.Errorf("upload-artifact wrote %q", got)
	}
	st, b, _ = ts.do("POST", "/ajax-api/2.0/mlflow/upload-artifact?run_id="+e.run+"&path=x.bin", string(make([]byte, 10<<20+1)), map[string]string{"Content-Type": "application/octet-stream"})
	if st != 400 || !strings.Contains(string(b), "Artifact size is too large. Max size is 10MB.") {
		t.Errorf("oversized upload-artifact = %d %s", st, b)
	}

	// Delete a tree; deleting again is fine.
	for range 2 {
		if st, b, _ := ts.do("DELETE", base+"/model", "", nil); st != 200 || string(b) != "{}" {
			t.Fatalf("DELETE = %d %s", st, b)
		}
	}
	if _, err := os.Stat(filepath.Join(e.runDir, "model")); !os.IsNotExist(err) {
		t.Errorf("model/ still there: %v", err)
	}

	errs := []struct {
		method, target, body string
		status               int
		code, msg            string
	}{
		{"GET", base + "/nope.txt", "", 404, "RESOURCE_DOES_NOT_EXIST", ""},
		{"GET", base + "/dir", "", 400, "INVALID_PARAMETER_VALUE", "Artifact path refers to a directory, not a file: '0/" + e.run + "/artifacts/dir'"},
		{"POST", "/api/2.0/mlflow-artifacts/mpu/create/0/" + e.run + "/artifacts", `{"path":"f.bin","num_parts":2}`, 501, "NOT_IMPLEMENTED", "Multipart upload is not supported for the current artifact repository"},
		{"POST", "/api/2.0/mlflow-artifacts/mpu/abort/0/" + e.run + "/artifacts", `{"path":"f.bin","upload_id":"x"}`, 501, "NOT_IMPLEMENTED", "Multipart upload is not supported for the current artifact repository"},
		{"GET", "/api/2.0/mlflow/artifacts/list?run_id=0123456789abcdef0123456789abcdef", "", 404, "RESOURCE_DOES_NOT_EXIST", ""},
		{"GET", "/api/2.0/mlflow/artifacts/list", "", 400, "INVALID_PARAMETER_VALUE", ""},
		{"POST", "/ajax-api/2.0/mlflow/upload-artifact?path=a.txt", "x", 400, "INVALID_PARAMETER_VALUE", "Request must specify run_id or run_uuid."},
		{"POST", "/ajax-api/2.0/mlflow/upload-artifact?run_id=" + e.run, "x", 400, "INVALID_PARAMETER_VALUE", "Request must specify path."},
		{"POST", "/ajax-api/2.0/mlflow/upload-artifact?run_id=" + e.run + "&path=a.txt", "", 400, "INVALID_PARAMETER_VALUE", "Request must specify data."},
	}
	for _, tt := range errs {
		st, b, _ := ts.do(tt.method, tt.target, tt.body, map[string]string{"Content-Type": "application/json"})
		var body map[string]any
		_ = json.Unmarshal(b, &body)
		if st != tt.status || body["error_code"] != tt.code || (tt.msg != "" && body["message"] != tt.msg) {
			t.Errorf("%s %s = %d %s; want %d %s %q", tt.method, tt.target, st, b, tt.status, tt.code, tt.msg)
		}
	}
}

func TestArtifactModes(t *testing.T) {
	noServe := newTestServer(t, Options{})
	st, b, _ := noServe.do("GET", "/api/2.0/mlflow-artifacts/artifacts/a.txt", "", nil)
	if want := "Endpoint: /api/2.0/mlflow-artifacts/artifacts/<path:artifact_path> disabled due to the mlflow server running with `--no-serve-artifacts`. To enable artifacts server functionality, run `mlflow server` with `--serve-artifacts`"; st != 503 || string(b) != want {
		t.Errorf("no-serve GET = %d %q", st, b)
	}
	if st, _, _ := noServe.do("GET", "/api/2.0/mlflow-artifacts/artifacts?path=", "", nil); st != 503 {
		t.Errorf("no-serve list = %d", st)
	}
	if st, b, _ := noServe.do("POST", "/api/2.0/mlflow/experiments/search", `{"max_results":10}`, nil); st != 200 {
		t.Errorf("no-serve tracking = %d %s", st, b)
	}

	repo, err := artifacts.OpenLocal(t.TempDir())
	must(t, err)
	only := newTestServer(t, Options{Artifacts: repo, ArtifactsOnly: true})
	st, b, _ = only.do("POST", "/api/2.0/mlflow/experiments/search", `{}`, nil)
	if want := "Endpoint: /api/2.0/mlflow/experiments/search disabled due to the mlflow server running in `--artifacts-only` mode. To enable tracking server functionality, run `mlflow server` without `--artifacts-only`"; st != 503 || string(b) != want {
		t.Errorf("artifacts-only tracking = %d %q", st, b)
	}
	if st, _, _ := only.do("GET", "/get-artifact?run_id=x&path=a", "", nil); st != 503 {
		t.Errorf("artifacts-only get-artifact = %d", st)
	}
	if st, b, _ := only.do("PUT", "/api/2.0/mlflow-artifacts/artifacts/a.txt", "x", nil); st != 200 {
		t.Errorf("artifacts-only PUT = %d %s", st, b)
	}
}

// streamOnly hides io.Seeker from a repository's objects, as S3's are.
type streamOnly struct{ artifacts.Repository }

func (s streamOnly) Open(ctx context.Context, p string) (artifacts.Object, artifacts.Stat, error) {
	obj, st, err := s.Repository.Open(ctx, p)
	if err != nil {
		return nil, st, err
	}
	return struct{ io.ReadCloser }{obj}, st, nil
}

func TestArtifactDownloadWithoutSeek(t *testing.T) {
	repo, err := artifacts.OpenLocal(t.TempDir())
	must(t, err)
	ts := newTestServer(t, Options{Artifacts: streamOnly{repo}})
	if st, b, _ := ts.do("PUT", "/api/2.0/mlflow-artifacts/artifacts/a/b.txt", "streamed", nil); st != 200 {
		t.Fatalf("PUT = %d %s", st, b)
	}
	st, b, h := ts.do("GET", "/api/2.0/mlflow-artifacts/artifacts/a/b.txt", "", nil)
	if st != 200 || string(b) != "streamed" || h.Get("Content-Length") != "8" ||
		h.Get("Content-Disposition") != "attachment; filename=b.txt" || h.Get("X-Content-Type-Options") != "nosniff" {
		t.Fatalf("GET = %d %q %v", st, b, h)
	}
}
