package artifacts

import (
	"errors"
	"strings"
	"testing"
)

// unsafePaths is every variant of security.md §1 that a path from a request
// can take; each must be refused. Shared with the server's route tests.
func unsafePaths() map[string]string {
	return UnsafePathVariants()
}

func TestCleanPathRejects(t *testing.T) {
	for name, p := range unsafePaths() {
		t.Run(name, func(t *testing.T) {
			got, err := CleanPath(p)
			if !errors.Is(err, ErrInvalidPath) {
				t.Fatalf("CleanPath(%q) = %q, %v; want ErrInvalidPath", p, got, err)
			}
		})
	}
}

func TestCleanPathAccepts(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"a.txt", "a.txt"},
		{"1/abc/artifacts/model/MLmodel", "1/abc/artifacts/model/MLmodel"},
		{"dir/", "dir"},
		{"name with spaces.txt", "name with spaces.txt"},
		{"ünïcode/ファイル.txt", "ünïcode/ファイル.txt"},
		{"a/b:c", "a/b:c"},
		{"..hidden/x..y", "..hidden/x..y"},
		{"100%", "100%"},
		{"50%off/x", "50%off/x"},
		{strings.Repeat("a", MaxSegmentBytes), strings.Repeat("a", MaxSegmentBytes)},
	}
	for _, tt := range tests {
		got, err := CleanPath(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("CleanPath(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func FuzzCleanPath(f *testing.F) {
	for _, p := range unsafePaths() {
		f.Add(p)
	}
	f.Add("a/b/c.txt")
	f.Fuzz(func(t *testing.T, p string) {
		got, err := CleanPath(p)
		if err != nil {
			return
		}
		for _, seg := range strings.Split(got, "/") {
			if seg == ".." || strings.ContainsAny(seg, "\\\x00") {
				t.Fatalf("CleanPath(%q) accepted %q", p, got)
			}
		}
		if strings.HasPrefix(got, "/") {
			t.Fatalf("CleanPath(%q) accepted absolute %q", p, got)
		}
	})
}
