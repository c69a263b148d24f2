package importer_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/mltrack/mltrack/internal/artifacts"
	"github.com/mltrack/mltrack/internal/importer"
)

// runArtifacts writes files into every run's artifact folder of an mlruns
// source (file: URIs) and returns what each run holds: path -> content.
func runArtifacts(t *testing.T, src importer.Source) map[string]map[string]string {
	t.Helper()
	ctx := context.Background()
	out := map[string]map[string]string{}
	for _, id := range allRunIDs(t, src) {
		r, err := src.ReadRun(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		dir := strings.TrimPrefix(r.Info.ArtifactURI, "file://")
		if _, err := os.Stat(dir); err != nil {
			// A deleted experiment's folder moved to .trash; its runs'
			// URIs still name the old place, which holds nothing.
			continue
		}
		files := map[string]string{
			"model/MLmodel":        "run " + id,
			"model/data/weights":   strings.Repeat("w", 100_000+len(out)),
			"plots/loss.png":       "png" + id,
			"notes.txt":            "",
			"deep/a/b/c/d/file.md": "# " + id,
		}
		for p, body := range files {
			full := filepath.Join(dir, filepath.FromSlash(p))
			if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(full, []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		out[id] = files
	}
	return out
}

func allRunIDs(t *testing.T, src importer.Source) []string {
	t.Helper()
	var ids []string
	for _, e := range experimentIDs(t, src) {
		r, err := src.RunIDs(context.Background(), e)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r...)
	}
	sort.Strings(ids)
	return ids
}

// readTree reads every file under repo/prefix: relative path -> content.
func readTree(t *testing.T, repo artifacts.Repository, prefix string) map[string]string {
	t.Helper()
	ctx := context.Background()
	out := map[string]string{}
	var walk func(p string)
	walk = func(p string) {
		infos, err := repo.List(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		for _, fi := range infos {
			if fi.IsDir {
				walk(fi.Path)
				continue
			}
			obj, _, err := repo.Open(ctx, fi.Path)
			if err != nil {
				t.Fatal(err)
			}
			b, err := io.ReadAll(obj)
			obj.Close()
			if err != nil {
				t.Fatal(err)
			}
			out[strings.TrimPrefix(fi.Path, prefix+"/")] = string(b)
		}
	}
	walk(prefix)
	return out
}

func openLocal(t *testing.T, dir string) *artifacts.Local {
	t.Helper()
	l, err := artifacts.OpenLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// checkTargetArtifacts checks that every target run's artifact URI is
// under root and holds exactly the source's files.
func checkTargetArtifacts(t *testing.T, dst importer.Source, repo artifacts.Repository, rootURI string, want map[string]map[string]string) {
	t.Helper()
	for id, files := range want {
		r, err := dst.ReadRun(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		rel, ok := strings.CutPrefix(r.Info.ArtifactURI, strings.TrimSuffix(rootURI, "/")+"/")
		if !ok || !strings.HasSuffix(rel, "/"+id+"/artifacts") {
			t.Fatalf("run %s: artifact URI %q is not <%s>/<exp>/<run>/artifacts", id, r.Info.ArtifactURI, rootURI)
		}
		if got := readTree(t, repo, rel); !reflect.DeepEqual(got, files) {
			t.Errorf("run %s: target artifacts\n got %v\nwant %v", id, keys(got), keys(files))
		}
	}
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func TestArtifactsLocal(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	writeMlruns(t, filepath.Join(dir, "mlruns"))
	src := openFile(t, filepath.Join(dir, "mlruns"))
	want := runArtifacts(t, src)
	nFiles := int64(0)
	for _, f := range want {
		nFiles += int64(len(f))
	}

	tests := []struct {
		name string
		root func(dest string) string // the target's default artifact root
	}{
		{"proxy destination", func(string) string { return "mlflow-artifacts:/" }},
		{"file URI root", func(dest string) string { return "file://" + dest }},
		{"plain path root", func(dest string) string { return dest }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dest := filepath.Join(t.TempDir(), "dest")
			repo := openLocal(t, dest)
			copier := &importer.ArtifactCopier{Root: tt.root(dest), TargetProxy: repo}
			dst := openSQL(t, "sqlite:///"+filepath.Join(t.TempDir(), "a.db"))

			dry := mustImport(t, src, dst, importer.Options{Artifacts: copier, DryRun: true})
			if dry.Written.ArtifactFiles != nFiles || dry.Target.ArtifactFiles != nFiles {
				t.Errorf("dry run: %d to copy, %d in target; want %d", dry.Written.ArtifactFiles, dry.Target.ArtifactFiles, nFiles)
			}
			if got := readTree(t, repo, ""); len(got) != 0 {
				t.Fatalf("dry run wrote %d files", len(got))
			}

			sum := mustImport(t, src, dst, importer.Options{Artifacts: copier})
			if sum.Source.ArtifactFiles != nFiles || sum.Written.ArtifactFiles != nFiles || sum.Source.ArtifactBytes == 0 {
				t.Errorf("import counts %+v / written %+v, want %d files", sum.Source, sum.Written, nFiles)
			}
			checkTargetArtifacts(t, dst, repo, copier.Root, want)
			exps, _, _ := dst.Experiments(ctx)
			for _, e := range exps {
				if e.ID == "0" {
					continue // the target's own Default keeps its location
				}
				if e.ArtifactLocation != copier.Location(e.ID) {
					t.Errorf("experiment %s location %q, want %q", e.ID, e.ArtifactLocation, copier.Location(e.ID))
				}
			}

			again := mustImport(t, src, dst, importer.Options{Artifacts: copier})
			if again.Written != (importer.Counts{}) || again.Target.ArtifactFiles != nFiles {
				t.Errorf("re-import wrote %+v (target files %d)", again.Written, again.Target.ArtifactFiles)
			}

			// A file lost from the target, and one cut short, are copied
			// again; the others are left alone.
			var id string
			for id = range want {
				break
			}
			r, _ := dst.ReadRun(ctx, id)
			rel, _ := strings.CutPrefix(r.Info.ArtifactURI, strings.TrimSuffix(copier.Root, "/")+"/")
			if err := repo.Delete(ctx, rel+"/plots/loss.png"); err != nil {
				t.Fatal(err)
			}
			if err := repo.Put(ctx, rel+"/model/data/weights", strings.NewReader("short")); err != nil {
				t.Fatal(err)
			}
			fixed := mustImport(t, src, dst, importer.Options{Artifacts: copier})
			if fixed.Written.ArtifactFiles != 2 {
				t.Errorf("repair copied %d files, want 2", fixed.Written.ArtifactFiles)
			}
			checkTargetArtifacts(t, dst, repo, copier.Root, want)
		})
	}
}

// TestArtifactsBetweenProxies: a SQL source written by a server with a proxy
// destination, imported into an mlruns folder whose server has another.
func TestArtifactsBetweenProxies(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	writeMlruns(t, filepath.Join(dir, "mlruns"))
	mlruns := openFile(t, filepath.Join(dir, "mlruns"))
	want := runArtifacts(t, mlruns)
	srcDest := openLocal(t, filepath.Join(dir, "src-dest"))
	lite := openSQL(t, "sqlite:///"+filepath.Join(dir, "a.db"))
	mustImport(t, mlruns, lite, importer.Options{Artifacts: &importer.ArtifactCopier{Root: "mlflow-artifacts:/", TargetProxy: srcDest}})

	dstDest := openLocal(t, filepath.Join(dir, "dst-dest"))
	back := openFile(t, filepath.Join(dir, "back"))
	copier := &importer.ArtifactCopier{Root: "mlflow-artifacts:/", SourceProxy: srcDest, TargetProxy: dstDest}
	mustImport(t, lite, back, importer.Options{Artifacts: copier})
	checkTargetArtifacts(t, back, dstDest, "mlflow-artifacts:/", want)

	// Without the source's destination the files cannot be found: that is
	// reported with the URI, never taken for "no artifacts".
	other := openFile(t, filepath.Join(dir, "other"))
	sum, err := importer.Import(ctx, lite, other, importer.Options{OnError: importer.Skip,
		Artifacts: &importer.ArtifactCopier{Root: "mlflow-artifacts:/", TargetProxy: dstDest}})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(allRunIDs(t, lite)); sum.Match() || len(sum.Problems) != n {
		t.Fatalf("no source destination: match=%v, %d problems, want %d", sum.Match(), len(sum.Problems), n)
	}
	var p *importer.Problem
	if !errors.As(sum.Problems[0], &p) || !strings.HasPrefix(p.Path, "mlflow-artifacts:/") {
		t.Errorf("problem %v does not name the URI", sum.Problems[0])
	}
}

// TestArtifactsBadEntries: a file name the artifact routes would refuse, and
// a symlink leading out of the artifact root, are reported with their path
// (never dropped silently, never followed); Stop stops, Skip goes on and the
// sides differ.
func TestArtifactsBadEntries(t *testing.T) {
	outside := filepath.Join(t.TempDir(), "secret.txt")
	if err := os.WriteFile(outside, []byte("outside the root"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		entry string
		make  func(path string) error
	}{
		{"unsafe name", "a#b.txt", func(p string) error { return os.WriteFile(p, []byte("x"), 0o644) }},
		{"symlink out of the root", "link.txt", func(p string) error { return os.Symlink(outside, p) }},
		{"dangling symlink", "gone.txt", func(p string) error { return os.Symlink(filepath.Join(t.TempDir(), "nothing"), p) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeMlruns(t, filepath.Join(dir, "mlruns"))
			src := openFile(t, filepath.Join(dir, "mlruns"))
			var id string
			for id = range runArtifacts(t, src) {
				break
			}
			r, _ := src.ReadRun(context.Background(), id)
			if err := tt.make(filepath.Join(strings.TrimPrefix(r.Info.ArtifactURI, "file://"), tt.entry)); err != nil {
				t.Fatal(err)
			}
			for _, onErr := range []importer.OnError{importer.Stop, importer.Skip} {
				dst := openSQL(t, "sqlite:///"+filepath.Join(t.TempDir(), "a.db"))
				arts := filepath.Join(t.TempDir(), "arts")
				copier := &importer.ArtifactCopier{Root: arts}
				sum, err := importer.Import(context.Background(), src, dst, importer.Options{Artifacts: copier, OnError: onErr})
				var p *importer.Problem
				switch {
				case onErr == importer.Stop && !errors.As(err, &p):
					t.Fatalf("stop: err = %v, want a problem", err)
				case onErr == importer.Skip && (err != nil || sum.Match() || len(sum.Problems) != 1 || !errors.As(sum.Problems[0], &p)):
					t.Fatalf("skip: err = %v, match = %v, problems = %v", err, sum.Match(), sum.Problems)
				}
				if n := int64(len(allRunIDs(t, src))); onErr == importer.Skip && sum.Written.Runs != n {
					t.Errorf("skip wrote %d runs, want all %d: an artifact problem does not drop the run's data", sum.Written.Runs, n)
				}
				if !strings.HasSuffix(p.Path, "/"+tt.entry) {
					t.Errorf("problem path %q does not name %s", p.Path, tt.entry)
				}
				// Nothing from outside the root reached the target.
				_ = filepath.WalkDir(arts, func(path string, d fs.DirEntry, err error) error {
					if err == nil && !d.IsDir() {
						if b, _ := os.ReadFile(path); string(b) == "outside the root" {
							t.Errorf("%s holds the file from outside the source root", path)
						}
					}
					return nil
				})
			}
		})
	}
}

// TestArtifactsS3 copies to and from a real S3-compatible server:
// MLTRACK_TEST_S3_ENDPOINT (e.g. versitygw on loopback, as
// scripts/start-s3.sh starts it) with AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY.
func TestArtifactsS3(t *testing.T) {
	endpoint := os.Getenv("MLTRACK_TEST_S3_ENDPOINT")
	if endpoint == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("MLTRACK_TEST_S3_ENDPOINT is not set")
		}
		t.Skip("MLTRACK_TEST_S3_ENDPOINT is not set")
	}
	ctx := context.Background()
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	bucket := "mltrack-import-" + hex.EncodeToString(rnd[:])
	opts := artifacts.S3Options{Endpoint: endpoint}
	if err := createBucket(ctx, endpoint, bucket); err != nil {
		t.Fatal(err)
	}
	whole, err := artifacts.OpenS3(ctx, "s3://"+bucket, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = whole.Delete(context.Background(), "") })

	dir := t.TempDir()
	writeMlruns(t, filepath.Join(dir, "mlruns"))
	src := openFile(t, filepath.Join(dir, "mlruns"))
	want := runArtifacts(t, src)

	// mlruns (local files) -> SQLite with an s3:// artifact root.
	root := "s3://" + bucket + "/imported"
	lite := openSQL(t, "sqlite:///"+filepath.Join(dir, "a.db"))
	up := &importer.ArtifactCopier{Root: root, S3: opts}
	first := mustImport(t, src, lite, importer.Options{Artifacts: up})
	prefixed, err := artifacts.OpenS3(ctx, root, opts)
	if err != nil {
		t.Fatal(err)
	}
	checkTargetArtifacts(t, lite, prefixed, root, want)
	again := mustImport(t, src, lite, importer.Options{Artifacts: up})
	if first.Written.ArtifactFiles == 0 || again.Written.ArtifactFiles != 0 {
		t.Errorf("copied %d then %d files; want all, then none", first.Written.ArtifactFiles, again.Written.ArtifactFiles)
	}

	// SQLite (s3:// runs) -> mlruns with a local proxy destination.
	dest := openLocal(t, filepath.Join(dir, "dest"))
	back := openFile(t, filepath.Join(dir, "back"))
	mustImport(t, lite, back, importer.Options{Artifacts: &importer.ArtifactCopier{Root: "mlflow-artifacts:/", TargetProxy: dest, S3: opts}})
	checkTargetArtifacts(t, back, dest, "mlflow-artifacts:/", want)
}

// createBucket creates a bucket through the AWS SDK (the repository API
// has no bucket calls), configured from the environment as OpenS3 is.
func createBucket(ctx context.Context, endpoint, bucket string) error {
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return err
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	client := s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.BaseEndpoint = aws.String(endpoint)
		o.UsePathStyle = true
	})
	_, err = client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)})
	return err
}
