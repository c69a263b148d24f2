package artifacts

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// sandbox is a root with symlinks that lead out of it, next to an outside
// directory holding a secret; snapshot() records everything outside the root.
type sandbox struct {
	base, root, outside string
}

func newSandbox(t *testing.T) sandbox {
	t.Helper()
	base := t.TempDir()
	s := sandbox{base: base, root: filepath.Join(base, "root"), outside: filepath.Join(base, "outside")}
	for _, d := range []string{s.root, s.outside, filepath.Join(s.root, "in")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write(t, filepath.Join(s.outside, "secret.txt"), "secret")
	write(t, filepath.Join(base, "secret.txt"), "secret")
	write(t, filepath.Join(s.root, "in", "ok.txt"), "fine")
	links := map[string]string{
		"link-dir-rel":  "../outside",
		"link-file-rel": "../outside/secret.txt",
		"link-dir-abs":  s.outside,
		"link-file-abs": filepath.Join(s.outside, "secret.txt"),
		"in/link-up":    "../../secret.txt",
		"in/link-ok":    "ok.txt",
	}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(s.root, name)); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

func write(t *testing.T, p, s string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

// snapshot maps every path outside the root to its content.
func (s sandbox) snapshot(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(s.base, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == s.root {
			return filepath.SkipDir
		}
		if !d.IsDir() {
			b, _ := os.ReadFile(p)
			out[p] = string(b)
		} else {
			out[p] = "<dir>"
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestLocalRoundTrip(t *testing.T) {
	l, err := OpenLocal(filepath.Join(t.TempDir(), "art"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	testRepository(t, l)
}

// testRepository is the behaviour every Repository shares: the server's
// handlers rely on exactly this.
func testRepository(t *testing.T, l Repository) {
	t.Helper()
	ctx := context.Background()
	if err := l.Put(ctx, "1/r/artifacts/dir/a.txt", strings.NewReader("hello")); err != nil {
		t.Fatal(err)
	}
	if err := l.Put(ctx, "1/r/artifacts/b.bin", bytes.NewReader(make([]byte, 3<<20))); err != nil {
		t.Fatal(err)
	}
	// Replacing keeps one file with the new content.
	if err := l.Put(ctx, "1/r/artifacts/dir/a.txt", strings.NewReader("hello again")); err != nil {
		t.Fatal(err)
	}
	got, err := l.List(ctx, "1/r/artifacts")
	if err != nil {
		t.Fatal(err)
	}
	want := []FileInfo{{Path: "1/r/artifacts/b.bin", Size: 3 << 20}, {Path: "1/r/artifacts/dir", IsDir: true}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("List = %+v, want %+v", got, want)
	}
	f, st, err := l.Open(ctx, "1/r/artifacts/dir/a.txt")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(f)
	f.Close()
	if string(b) != "hello again" || st.Size != 11 {
		t.Fatalf("Open = %q size %d", b, st.Size)
	}
	if _, _, err := l.Open(ctx, "1/r/artifacts/dir"); !errors.Is(err, ErrIsDir) {
		t.Fatalf("Open(dir) err = %v, want ErrIsDir", err)
	}
	if _, _, err := l.Open(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Open(missing) err = %v, want ErrNotFound", err)
	}
	for _, p := range []string{"nope", "1/r/artifacts/b.bin"} {
		if got, err := l.List(ctx, p); err != nil || len(got) != 0 {
			t.Fatalf("List(%q) = %v, %v; want empty", p, got, err)
		}
	}
	if err := l.Delete(ctx, "1/r/artifacts/dir"); err != nil {
		t.Fatal(err)
	}
	if err := l.Delete(ctx, "1/r/artifacts/dir"); err != nil {
		t.Fatalf("deleting a missing path: %v", err)
	}
	got, _ = l.List(ctx, "1/r/artifacts")
	if len(got) != 1 {
		t.Fatalf("after delete List = %+v", got)
	}
}

// TestLocalSymlinksStayInside drives every operation at links leading out of
// the root and checks the disk outside it is untouched.
func TestLocalSymlinksStayInside(t *testing.T) {
	ctx := context.Background()
	s := newSandbox(t)
	l, err := OpenLocal(s.root)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	before := s.snapshot(t)

	for _, p := range []string{"link-file-rel", "link-file-abs", "link-dir-rel/secret.txt", "link-dir-abs/secret.txt", "in/link-up"} {
		if f, _, err := l.Open(ctx, p); err == nil {
			b, _ := io.ReadAll(f)
			f.Close()
			t.Errorf("Open(%q) read %q through a link out of the root", p, b)
		}
	}
	for _, p := range []string{"link-dir-rel", "link-dir-abs"} {
		if got, err := l.List(ctx, p); err == nil && len(got) > 0 {
			t.Errorf("List(%q) = %+v: listed outside the root", p, got)
		}
	}
	root, err := l.List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if want := []FileInfo{{Path: "in", IsDir: true}}; !reflect.DeepEqual(root, want) {
		t.Errorf("List(root) = %+v, want only %+v (links out are hidden)", root, want)
	}
	in, _ := l.List(ctx, "in")
	if want := []FileInfo{{Path: "in/link-ok", Size: 4}, {Path: "in/ok.txt", Size: 4}}; !reflect.DeepEqual(in, want) {
		t.Errorf("List(in) = %+v, want %+v", in, want)
	}
	for _, p := range []string{"link-dir-rel/new.txt", "link-dir-abs/new.txt", "link-dir-rel/secret.txt", "link-dir-rel/sub/new.txt"} {
		if err := l.Put(ctx, p, strings.NewReader("pwned")); err == nil {
			t.Errorf("Put(%q) succeeded through a link out of the root", p)
		}
	}
	for _, p := range []string{"link-dir-rel/secret.txt", "link-dir-abs/secret.txt"} {
		_ = l.Delete(ctx, p)
	}
	if after := s.snapshot(t); !reflect.DeepEqual(before, after) {
		t.Fatalf("disk outside the root changed:\nbefore %v\nafter  %v", before, after)
	}
	// Deleting the links themselves is allowed and leaves their targets alone.
	for _, p := range []string{"link-dir-rel", "link-file-abs", "in"} {
		if err := l.Delete(ctx, p); err != nil {
			t.Errorf("Delete(%q): %v", p, err)
		}
	}
	if after := s.snapshot(t); !reflect.DeepEqual(before, after) {
		t.Fatalf("deleting links changed the disk outside the root:\nbefore %v\nafter  %v", before, after)
	}
}
