// Package artifacts stores run artifacts and owns the one check every path
// from a request passes before it reaches a repository.
package artifacts

import (
	"errors"
	"net/url"
	"strings"
	"unicode/utf8"
)

// ErrInvalidPath is what every unsafe path is rejected with; the server shows
// it to clients as MLflow's 400 INVALID_PARAMETER_VALUE "Invalid path".
var ErrInvalidPath = errors.New("invalid path")

const (
	// MaxPathBytes bounds a whole artifact path: PATH_MAX on Linux.
	MaxPathBytes = 4096
	// MaxSegmentBytes bounds one path element: NAME_MAX on common filesystems.
	MaxSegmentBytes = 255
	// maxDecodeRounds is how many layers of percent-encoding are unwrapped and
	// checked; every layer must be safe on its own.
	maxDecodeRounds = 4
)

// CleanPath checks a path taken from a request (URL path, query, JSON or a
// stored artifact URI) and returns it relative to a repository root, without
// a trailing slash. "" and "/"-free inputs are fine; "" means the root.
//
// The check is strict on purpose: a path is refused when it, or any
// percent-decoding of it, holds a ".." or "." element, an empty element, a
// leading "/", a backslash, a control character or NUL, '#', '?' or ';', a
// URI scheme or drive letter in its first element, invalid UTF-8, or is
// overlong. Symlinks are not this function's business: repositories confine
// every open to their root (os.Root), which refuses links that leave it.
func CleanPath(p string) (string, error) {
	p = strings.TrimSuffix(p, "/")
	if p == "" {
		return "", nil
	}
	layer := p
	for range maxDecodeRounds {
		if err := checkLayer(layer); err != nil {
			return "", err
		}
		if !strings.Contains(layer, "%") {
			return p, nil
		}
		next, err := url.PathUnescape(layer)
		if err != nil {
			// A lone '%' is an ordinary character once no layer decodes.
			return p, nil
		}
		if next == layer {
			return p, nil
		}
		layer = next
	}
	// Still encoded after every round: nobody names files like that on purpose.
	return "", ErrInvalidPath
}

func checkLayer(s string) error {
	if len(s) > MaxPathBytes || !utf8.ValidString(s) {
		return ErrInvalidPath
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f || r == '\\' || r == '#' || r == '?' || r == ';' {
			return ErrInvalidPath
		}
	}
	s = strings.TrimSuffix(s, "/")
	if s == "" || strings.HasPrefix(s, "/") {
		return ErrInvalidPath
	}
	for i, seg := range strings.Split(s, "/") {
		switch {
		case seg == "", seg == ".", seg == "..", len(seg) > MaxSegmentBytes:
			return ErrInvalidPath
		case i == 0 && strings.Contains(seg, ":"):
			// "file:", "s3:", "C:", ":": a scheme or drive read as a local name.
			return ErrInvalidPath
		}
	}
	return nil
}

// Join joins a cleaned root-relative prefix and a cleaned relative path.
func Join(prefix, rel string) string {
	switch {
	case prefix == "":
		return rel
	case rel == "":
		return prefix
	}
	return prefix + "/" + rel
}
