package sqlstore

import (
	"path/filepath"
	"strings"
)

// uriScheme returns the scheme of uri as Python's urlparse finds it, or "".
func uriScheme(uri string) string {
	i := strings.IndexByte(uri, ':')
	if i <= 0 {
		return ""
	}
	for j, c := range uri[:i] {
		isAlpha := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
		if !isAlpha && (j == 0 || !(c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.')) {
			return ""
		}
	}
	return strings.ToLower(uri[:i])
}

// resolveURIIfLocal makes a relative local path (or file: URI) absolute
// against the working directory, as MLflow does for artifact locations.
func resolveURIIfLocal(uri string) (string, error) {
	switch uriScheme(uri) {
	case "":
		if filepath.IsAbs(uri) {
			return uri, nil
		}
		abs, err := filepath.Abs(uri)
		if err != nil {
			return "", err
		}
		return filepath.ToSlash(abs), nil
	case "file":
		rest := uri[len("file:"):]
		if strings.HasPrefix(rest, "//") {
			host, path, _ := strings.Cut(rest[2:], "/")
			if host != "" && host != "localhost" {
				return uri, nil
			}
			rest = "/" + path
		}
		path, suffix := rest, ""
		if i := strings.IndexAny(rest, "?#"); i >= 0 {
			path, suffix = rest[:i], rest[i:]
		}
		if strings.HasPrefix(path, "/") {
			return uri, nil
		}
		abs, err := filepath.Abs(path)
		if err != nil {
			return "", err
		}
		return "file://" + filepath.ToSlash(abs) + suffix, nil
	}
	return uri, nil
}

// joinPosix joins like MLflow's _join_posixpaths_and_append_absolute_suffixes:
// an absolute suffix is still appended under prefix.
func joinPosix(prefix, suffix string) string {
	if prefix == "" {
		return suffix
	}
	suffix = strings.TrimLeft(suffix, "/")
	if strings.HasSuffix(prefix, "/") {
		return prefix + suffix
	}
	return prefix + "/" + suffix
}

// netlocSchemes are the schemes Python's urlunparse writes with "//".
var netlocSchemes = map[string]bool{
	"file": true, "http": true, "https": true, "ftp": true, "sftp": true, "nfs": true,
}

// appendToURIPath appends POSIX path segments to the path of uri, keeping its
// scheme, authority and query, with the results MLflow's append_to_uri_path
// gives ("mlflow-artifacts:/1" + "x" = "mlflow-artifacts:/1/x").
func appendToURIPath(uri string, parts ...string) string {
	suffix := ""
	for _, p := range parts {
		suffix = joinPosix(suffix, p)
	}
	scheme := uriScheme(uri)
	if scheme == "" {
		return joinPosix(uri, suffix)
	}
	rest := uri[len(scheme)+1:]
	authority, hasAuthority := "", false
	if strings.HasPrefix(rest, "//") {
		hasAuthority = true
		rest = rest[2:]
		end := strings.IndexAny(rest, "/?#")
		if end < 0 {
			end = len(rest)
		}
		authority, rest = rest[:end], rest[end:]
	}
	path, tail := rest, ""
	if i := strings.IndexAny(rest, "?#"); i >= 0 {
		path, tail = rest[:i], rest[i:]
	}
	newPath := joinPosix(path, suffix)
	head := uri[:len(scheme)] + ":"
	if authority != "" || (hasAuthority || netlocSchemes[scheme]) && strings.HasPrefix(newPath, "/") {
		if newPath != "" && !strings.HasPrefix(newPath, "/") {
			newPath = "/" + newPath
		}
		head += "//" + authority
	}
	return head + newPath + tail
}
