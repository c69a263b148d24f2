package artifacts

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"
	"time"
)

// FileInfo is one listing entry; Path is relative to the listed directory's
// repository root, Size is meaningless for directories.
type FileInfo struct {
	Path  string
	IsDir bool
	Size  int64
}

// Object is an open artifact file. Local files also implement io.Seeker,
// which lets the server answer range requests.
type Object interface {
	io.ReadCloser
}

// Stat describes an opened artifact.
type Stat struct {
	Size    int64
	ModTime time.Time
}

var (
	// ErrNotFound: nothing at the path.
	ErrNotFound = errors.New("artifact not found")
	// ErrIsDir: a file was asked for and the path is a directory.
	ErrIsDir = errors.New("artifact path is a directory")
)

// Repository is where proxied artifacts live. Every path is a CleanPath
// result; implementations must still confine themselves to their root.
type Repository interface {
	// Put streams r into path, replacing what is there; readers never see a
	// partial file.
	Put(ctx context.Context, path string, r io.Reader) error
	// Open opens the file at path for reading.
	Open(ctx context.Context, path string) (Object, Stat, error)
	// List lists the directory at path ("" is the root), sorted by path; a
	// file or a missing path lists as empty, as MLflow's repositories do.
	List(ctx context.Context, path string) ([]FileInfo, error)
	// Delete removes a file or a directory tree; a missing path is no error.
	Delete(ctx context.Context, path string) error
}

// tempPrefix marks in-flight uploads; listings hide them.
const tempPrefix = ".mltrack-upload-"

// Local is a Repository on local disk. All access goes through an os.Root,
// so nothing outside the directory is read, written, listed or deleted, even
// through a symlink planted inside it.
type Local struct {
	root *os.Root
}

// OpenLocal creates dir if needed and opens it as a repository root.
func OpenLocal(dir string) (*Local, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create artifact directory: %w", err)
	}
	r, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("open artifact directory: %w", err)
	}
	return &Local{root: r}, nil
}

// Close releases the root directory handle.
func (l *Local) Close() error { return l.root.Close() }

func name(p string) string {
	if p == "" {
		return "."
	}
	return p
}

// Put writes to a temporary file next to the target and renames it in place.
func (l *Local) Put(ctx context.Context, p string, r io.Reader) error {
	if p == "" {
		return ErrInvalidPath
	}
	dir := path.Dir(p)
	if err := l.root.MkdirAll(dir, 0o755); err != nil {
		return mapErr(err)
	}
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	tmp := path.Join(dir, tempPrefix+hex.EncodeToString(rnd[:]))
	f, err := l.root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return mapErr(err)
	}
	_, err = io.Copy(f, ctxReader{ctx, r})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = l.root.Rename(tmp, p)
	}
	if err != nil {
		_ = l.root.Remove(tmp)
		return fmt.Errorf("store artifact: %w", mapErr(err))
	}
	return nil
}

// Open opens a regular file.
func (l *Local) Open(_ context.Context, p string) (Object, Stat, error) {
	f, err := l.root.Open(name(p))
	if err != nil {
		return nil, Stat{}, mapErr(err)
	}
	st, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return nil, Stat{}, mapErr(err)
	}
	if st.IsDir() {
		_ = f.Close()
		return nil, Stat{}, ErrIsDir
	}
	if !st.Mode().IsRegular() {
		_ = f.Close()
		return nil, Stat{}, ErrNotFound
	}
	return f, Stat{Size: st.Size(), ModTime: st.ModTime()}, nil
}

// List lists one directory level.
func (l *Local) List(_ context.Context, p string) ([]FileInfo, error) {
	out, _, err := l.list(p)
	return out, err
}

// Unlisted names the entries of directory p that List leaves out: symlinks
// leading outside the root (or nowhere) and files that are not regular. The
// server never shows them; a copy (mltrack import) reports them instead of
// dropping them silently.
func (l *Local) Unlisted(_ context.Context, p string) ([]string, error) {
	_, skipped, err := l.list(p)
	return skipped, err
}

func (l *Local) list(p string) ([]FileInfo, []string, error) {
	st, err := l.root.Stat(name(p))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil, nil
		}
		return nil, nil, mapErr(err)
	}
	if !st.IsDir() {
		return nil, nil, nil
	}
	d, err := l.root.Open(name(p))
	if err != nil {
		return nil, nil, mapErr(err)
	}
	defer d.Close()
	entries, err := d.ReadDir(-1)
	if err != nil {
		return nil, nil, fmt.Errorf("list artifacts: %w", err)
	}
	out := make([]FileInfo, 0, len(entries))
	var skipped []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), tempPrefix) {
			continue
		}
		rel := Join(p, e.Name())
		// Stat through the root: a symlink leaving it fails here and is left
		// out, so a listing never reveals anything about the outside.
		info, err := l.root.Stat(rel)
		if err != nil {
			skipped = append(skipped, rel)
			continue
		}
		fi := FileInfo{Path: rel, IsDir: info.IsDir()}
		if !fi.IsDir {
			if !info.Mode().IsRegular() {
				skipped = append(skipped, rel)
				continue
			}
			fi.Size = info.Size()
		}
		out = append(out, fi)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, skipped, nil
}

// Delete removes a file or tree. A symlink is removed itself, never followed.
func (l *Local) Delete(_ context.Context, p string) error {
	if err := l.root.RemoveAll(name(p)); err != nil {
		return fmt.Errorf("delete artifact: %w", mapErr(err))
	}
	return nil
}

// mapErr turns "outside the root" into ErrInvalidPath and missing files into
// ErrNotFound, keeping the cause for logs.
func mapErr(err error) error {
	var pe *fs.PathError
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	case errors.As(err, &pe) && strings.Contains(pe.Err.Error(), "escapes from parent"):
		return fmt.Errorf("%w: %w", ErrInvalidPath, err)
	}
	return err
}

// ctxReader stops a long copy when the request is gone.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
