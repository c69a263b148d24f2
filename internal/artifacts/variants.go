package artifacts

import "strings"

// UnsafePathVariants is the catalogue of hostile paths from security.md §1,
// by name. Tests of every layer that takes a path iterate over it, so a new
// variant added here is tried everywhere.
func UnsafePathVariants() map[string]string {
	return map[string]string{
		"dotdot":                "../secret.txt",
		"dotdot-deep":           "a/../../secret.txt",
		"dotdot-only":           "..",
		"dotdot-trailing":       "a/..",
		"dot-segment":           "a/./b",
		"empty-segment":         "a//b",
		"absolute":              "/etc/passwd",
		"file-uri":              "file:///etc/passwd",
		"file-scheme-relative":  "file:secret.txt",
		"s3-scheme":             "s3://bucket/key",
		"http-scheme":           "http://127.0.0.1/x",
		"bare-colon":            ":",
		"drive-letter":          "C:/Windows/win.ini",
		"drive-letter-relative": "C:secret.txt",
		"backslash-dotdot":      `..\secret.txt`,
		"backslash-mixed":       `a/..\..\secret.txt`,
		"backslash-absolute":    `\etc\passwd`,
		"unc":                   `\\host\share`,
		"encoded-dotdot":        "%2e%2e%2fsecret.txt",
		"encoded-dotdot-upper":  "%2E%2E%2Fsecret.txt",
		"encoded-slash-only":    "..%2fsecret.txt",
		"encoded-absolute":      "%2fetc%2fpasswd",
		"encoded-backslash":     "..%5csecret.txt",
		"double-encoded":        "%252e%252e%252fsecret.txt",
		"triple-encoded":        "%25252e%25252e%25252fsecret.txt",
		"encoded-nul":           "a.txt%00.png",
		"semicolon":             "a.txt;/../../secret.txt",
		"semicolon-param":       "..;/secret.txt",
		"fragment":              "a.txt#/../../secret.txt",
		"encoded-fragment":      "a%23b",
		"query":                 "a.txt?x=../../secret.txt",
		"nul":                   "a.txt\x00.png",
		"newline":               "a\nb.txt",
		"del":                   "a\x7fb",
		"overlong-path":         strings.Repeat("a/", MaxPathBytes/2+1) + "x",
		"overlong-segment":      strings.Repeat("a", MaxSegmentBytes+1),
		"invalid-utf8":          "a\xff.txt",
		"dotdot-after-root":     "1/run/artifacts/../../../../secret.txt",
	}
}
