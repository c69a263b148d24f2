package importer

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/mltrack/mltrack/internal/artifacts"
)

// ArtifactStats counts the files of one artifact tree.
type ArtifactStats struct {
	Files, Bytes int64 // in the source
	// Present are the source's files found in the target with the same size
	// (after the copy; for a dry run, before it).
	Present, PresentBytes int64
	Copied, CopiedBytes   int64
}

func (a *ArtifactStats) add(b ArtifactStats) {
	a.Files += b.Files
	a.Bytes += b.Bytes
	a.Present += b.Present
	a.PresentBytes += b.PresentBytes
	a.Copied += b.Copied
	a.CopiedBytes += b.CopiedBytes
}

// Artifacts copies artifact trees from the source's locations to the
// target's. The importer asks it where a new target experiment keeps its
// artifacts; runs and logged models then live under that location, by
// MLflow's rules (<location>/<run id>/artifacts,
// <location>/models/<model id>/artifacts).
type Artifacts interface {
	// Location is the artifact location of a target experiment the import
	// creates.
	Location(targetExperimentID string) string
	// Copy makes every file under the from URI present under the to URI,
	// skipping files already there with the same size. With dryRun it only
	// counts. An empty to (a target experiment a dry run has no id for yet)
	// counts every file as to be copied.
	Copy(ctx context.Context, from, to string, dryRun bool) (ArtifactStats, error)
}

// ArtifactCopier resolves artifact URIs to repositories of
// internal/artifacts: a local path or file: URI, s3://bucket/prefix, or
// mlflow-artifacts:/path, which is relative to the proxy destination of the
// side it belongs to (what `--artifacts-destination` was for the server that
// wrote it). Every path read from a listing or a URI passes
// artifacts.CleanPath, and every repository confines itself to its root.
type ArtifactCopier struct {
	// Root is the target's default artifact root: a new target experiment
	// gets <Root>/<id>, as a server started with --default-artifact-root
	// would give it.
	Root string
	// SourceProxy and TargetProxy hold the mlflow-artifacts:/ trees of each
	// side; nil when that side has none.
	SourceProxy, TargetProxy artifacts.Repository
	S3                       artifacts.S3Options

	mu sync.Mutex
	s3 map[string]*artifacts.S3 // by bucket
}

var _ Artifacts = (*ArtifactCopier)(nil)

// Location implements Artifacts.
func (c *ArtifactCopier) Location(id string) string {
	return strings.TrimSuffix(c.Root, "/") + "/" + id
}

// errNoProxy: an mlflow-artifacts: URI on a side without a destination.
var errNoProxy = errors.New("an mlflow-artifacts: URI needs the proxy destination of its server (--source-artifacts-destination, --artifacts-destination)")

// open resolves uri to a repository and a root-relative prefix. A local
// source location that does not exist holds no artifacts (as MLflow lists
// it): repo is then nil.
func (c *ArtifactCopier) open(ctx context.Context, uri string, target bool) (artifacts.Repository, string, func(), error) {
	noop := func() {}
	scheme := ""
	if i := strings.IndexByte(uri, ':'); i > 1 { // a one-letter "scheme" is a drive
		scheme = strings.ToLower(uri[:i])
	}
	switch scheme {
	case "mlflow-artifacts":
		u, err := url.Parse(uri)
		if err != nil {
			return nil, "", nil, fmt.Errorf("%q is not a URI: %w", uri, err)
		}
		p, err := artifacts.CleanPath(strings.TrimLeft(u.Path, "/"))
		if err != nil {
			return nil, "", nil, fmt.Errorf("%q: %w", uri, err)
		}
		repo := c.SourceProxy
		if target {
			repo = c.TargetProxy
		}
		if repo == nil {
			return nil, "", nil, errNoProxy
		}
		return repo, p, noop, nil
	case "s3":
		bucket, prefix, err := artifacts.ParseS3URI(uri)
		if err != nil {
			return nil, "", nil, err
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		repo, ok := c.s3[bucket]
		if !ok {
			if repo, err = artifacts.OpenS3(ctx, "s3://"+bucket, c.S3); err != nil {
				return nil, "", nil, err
			}
			if c.s3 == nil {
				c.s3 = map[string]*artifacts.S3{}
			}
			c.s3[bucket] = repo
		}
		return repo, strings.TrimSuffix(prefix, "/"), noop, nil
	case "", "file":
		dir, err := localDir(uri)
		if err != nil {
			return nil, "", nil, err
		}
		if !target {
			fi, err := os.Stat(dir)
			if errors.Is(err, fs.ErrNotExist) {
				return nil, "", noop, nil
			}
			if err != nil {
				return nil, "", nil, err
			}
			if !fi.IsDir() {
				return nil, "", nil, fmt.Errorf("%s is not a directory", dir)
			}
		}
		repo, err := artifacts.OpenLocal(dir)
		if err != nil {
			return nil, "", nil, err
		}
		return repo, "", func() { repo.Close() }, nil
	}
	return nil, "", nil, fmt.Errorf("%q: artifacts at %s: URIs cannot be copied (local paths, file:, s3: and mlflow-artifacts: can)", uri, scheme)
}

// localDir turns a path or file: URI into an absolute directory, relative
// paths against the working directory, as MLflow resolves them.
func localDir(uri string) (string, error) {
	p := uri
	if rest, ok := strings.CutPrefix(uri, "file:"); ok {
		u, err := url.Parse(uri)
		if err != nil {
			return "", fmt.Errorf("%q is not a URI: %w", uri, err)
		}
		if u.Host != "" && u.Host != "localhost" {
			return "", fmt.Errorf("%q names another host", uri)
		}
		p = u.Path
		if p == "" {
			p = rest
		}
	}
	if p == "" {
		return "", fmt.Errorf("empty artifact location")
	}
	return filepath.Abs(filepath.FromSlash(p))
}

// Copy implements Artifacts; files stream from one repository to the other.
func (c *ArtifactCopier) Copy(ctx context.Context, from, to string, dryRun bool) (ArtifactStats, error) {
	var st ArtifactStats
	src, srcPrefix, closeSrc, err := c.open(ctx, from, false)
	if err != nil {
		return st, AsProblem(from, err)
	}
	defer closeSrc()
	if src == nil {
		return st, nil
	}
	var dst artifacts.Repository
	dstPrefix := ""
	if to != "" {
		if dryRun && isLocal(to) {
			// A dry run creates nothing: a missing target folder has no files.
			if d, err := localDir(to); err == nil {
				if _, err := os.Stat(d); err != nil {
					to = ""
				}
			}
		}
	}
	if to != "" {
		var closeDst func()
		dst, dstPrefix, closeDst, err = c.open(ctx, to, true)
		switch {
		case dryRun && errors.Is(err, errNoProxy):
			// A dry run does not create the target's destination either.
			dst = nil
		case err != nil:
			return st, fmt.Errorf("target artifact location %s: %w", to, err)
		default:
			defer closeDst()
		}
	}
	err = c.copyDir(ctx, src, srcPrefix, dst, dstPrefix, "", dryRun, from, &st)
	return st, err
}

func isLocal(uri string) bool {
	i := strings.IndexByte(uri, ':')
	return i <= 1 || strings.HasPrefix(uri, "file:")
}

// copyDir copies the directory rel (relative to both prefixes).
func (c *ArtifactCopier) copyDir(ctx context.Context, src artifacts.Repository, srcPrefix string, dst artifacts.Repository, dstPrefix, rel string, dryRun bool, from string, st *ArtifactStats) error {
	srcDir := artifacts.Join(srcPrefix, rel)
	infos, err := src.List(ctx, srcDir)
	if err != nil {
		return AsProblem(joinURI(from, rel), err)
	}
	if u, ok := src.(interface {
		Unlisted(context.Context, string) ([]string, error)
	}); ok {
		skipped, err := u.Unlisted(ctx, srcDir)
		if err != nil {
			return AsProblem(joinURI(from, rel), err)
		}
		if len(skipped) > 0 {
			return AsProblem(joinURI(from, artifacts.Join(rel, childName(srcDir, skipped[0]))),
				errors.New("not a regular file inside the artifact root (a symlink out of it, or a device, socket or pipe): not copied"))
		}
	}
	have := map[string]int64{}
	if dst != nil {
		dstInfos, err := dst.List(ctx, artifacts.Join(dstPrefix, rel))
		if err != nil {
			return fmt.Errorf("list target artifacts: %w", err)
		}
		for _, fi := range dstInfos {
			if !fi.IsDir {
				have[childName(artifacts.Join(dstPrefix, rel), fi.Path)] = fi.Size
			}
		}
	}
	for _, fi := range infos {
		name := childName(srcDir, fi.Path)
		childRel := artifacts.Join(rel, name)
		if clean, err := artifacts.CleanPath(name); err != nil || clean != name || strings.Contains(name, "/") {
			return AsProblem(joinURI(from, childRel), fmt.Errorf("unsafe artifact name %q", name))
		}
		if fi.IsDir {
			if err := c.copyDir(ctx, src, srcPrefix, dst, dstPrefix, childRel, dryRun, from, st); err != nil {
				return err
			}
			continue
		}
		st.Files++
		st.Bytes += fi.Size
		if size, ok := have[name]; ok && size == fi.Size {
			st.Present++
			st.PresentBytes += fi.Size
			continue
		}
		if dryRun {
			continue
		}
		if err := c.copyFile(ctx, src, artifacts.Join(srcPrefix, childRel), dst, artifacts.Join(dstPrefix, childRel), from, childRel); err != nil {
			return err
		}
		st.Copied++
		st.CopiedBytes += fi.Size
		st.Present++
		st.PresentBytes += fi.Size
	}
	return nil
}

func (c *ArtifactCopier) copyFile(ctx context.Context, src artifacts.Repository, srcPath string, dst artifacts.Repository, dstPath, from, rel string) error {
	obj, _, err := src.Open(ctx, srcPath)
	if err != nil {
		return AsProblem(joinURI(from, rel), err)
	}
	defer obj.Close()
	if err := dst.Put(ctx, dstPath, obj); err != nil {
		return fmt.Errorf("copy artifact %s: %w", joinURI(from, rel), err)
	}
	return nil
}

// childName is the last element of a listed path under dir.
func childName(dir, p string) string {
	if dir == "" {
		return p
	}
	return strings.TrimPrefix(p, dir+"/")
}

func joinURI(base, rel string) string {
	if rel == "" {
		return base
	}
	return strings.TrimSuffix(base, "/") + "/" + rel
}
