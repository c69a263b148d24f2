package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"path"
	"regexp"
	"strconv"
	"strings"

	"github.com/mltrack/mltrack/internal/tracking"
)

type ctxKey int

const requestIDKey ctxKey = iota

func requestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey).(string)
	return id
}

// withRequestID takes a sane X-Request-Id from the client or makes one, and
// echoes it so a user can quote it when reporting an "internal error".
func withRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-Id")
		if id == "" || len(id) > 128 || strings.ContainsAny(id, " \t\r\n") {
			var b [8]byte
			_, _ = rand.Read(b[:])
			id = hex.EncodeToString(b[:])
		}
		w.Header().Set("X-Request-Id", id)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), requestIDKey, id)))
	})
}

type statusRecorder struct {
	http.ResponseWriter
	status int
	bytes  int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	n, err := s.ResponseWriter.Write(b)
	s.bytes += n
	return n, err
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// withAccessLog logs one line per request, and turns a panic into MLflow's
// internal-error body so one bad request never takes the server down.
func (s *Server) withAccessLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := s.now()
		rec := &statusRecorder{ResponseWriter: w}
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				s.logger.LogAttrs(r.Context(), slog.LevelError, "panic in handler",
					slog.String("request_id", requestID(r.Context())), slog.Any("panic", p))
				if rec.status == 0 {
					writeJSON(rec, http.StatusInternalServerError,
						errorBody{ErrorCode: string(tracking.ErrInternal), Message: "internal error"})
				}
			}
			s.logger.LogAttrs(r.Context(), slog.LevelInfo, "request",
				slog.String("request_id", requestID(r.Context())),
				slog.String("method", r.Method), slog.String("path", r.URL.Path),
				slog.Int("status", rec.status), slog.Int("bytes", rec.bytes),
				slog.Duration("duration", s.now().Sub(start)))
		}()
		next.ServeHTTP(rec, r)
	})
}

// withBodyLimit caps request bodies; readFields turns the overflow into a
// client error.
func withBodyLimit(limit int64, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if limit > 0 && r.Body != nil {
			r.Body = http.MaxBytesReader(w, r.Body, limit)
		}
		next.ServeHTTP(w, r)
	})
}

const invalidHostMessage = "Invalid Host header - possible DNS rebinding attack detected"

// DefaultAllowedHosts are MLflow's defaults: loopback names on any port and
// the private address ranges.
func DefaultAllowedHosts() []string {
	hosts := []string{"localhost", "127.0.0.1", "[::1]", "0.0.0.0",
		"localhost:*", "127.0.0.1:*", "[::1]:*", "0.0.0.0:*", "192.168.*", "10.*"}
	for i := 16; i < 32; i++ {
		hosts = append(hosts, "172."+strconv.Itoa(i)+".*")
	}
	return append(hosts, "fc00:*", "fd00:*")
}

var ipv4PrefixGlob = regexp.MustCompile(`^(?:[0-9]+\.)+\*(?:\.(?:[0-9]+|\*))*(?::[0-9*]+)?$`)

// hostAllowed applies MLflow's Host-header rule: exact names, or glob
// patterns; an IP-shaped glob such as "10.*" matches only IP addresses.
func hostAllowed(allowed []string, host string) bool {
	if host == "" {
		return false
	}
	for _, a := range allowed {
		if a == "*" {
			return true
		}
		if !strings.Contains(a, "*") {
			if host == a {
				return true
			}
			continue
		}
		if ok, _ := path.Match(strings.ReplaceAll(a, "[", `\[`), host); !ok {
			// path.Match treats '/' specially; hosts never contain it.
			continue
		}
		switch {
		case ipv4PrefixGlob.MatchString(a):
			h := host
			if i := strings.LastIndexByte(h, ':'); i >= 0 {
				h = h[:i]
			}
			if ip := net.ParseIP(h); ip == nil || ip.To4() == nil {
				continue
			}
		case a == "fc00:*" || a == "fd00:*":
			if ip := net.ParseIP(host); ip == nil || strings.Contains(host, "%") {
				continue
			}
		}
		return true
	}
	return false
}

// withHostCheck refuses requests whose Host header is not allowed (DNS
// rebinding protection); /health and /version are exempt as in MLflow.
func (s *Server) withHostCheck(next http.Handler) http.Handler {
	if len(s.allowedHosts) == 0 || containsStr(s.allowedHosts, "*") {
		return next
	}
	health, version := s.prefix+"/health", s.prefix+"/version"
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != health && r.URL.Path != version && !hostAllowed(s.allowedHosts, r.Host) {
			s.logger.LogAttrs(r.Context(), slog.LevelWarn, "rejected request with invalid Host header",
				slog.String("host", r.Host), slog.String("request_id", requestID(r.Context())))
			w.Header().Set("Content-Type", "text/plain")
			w.WriteHeader(http.StatusForbidden)
			_, _ = w.Write([]byte(invalidHostMessage))
			return
		}
		next.ServeHTTP(w, r)
	})
}

func containsStr(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

var localhostOriginRE = regexp.MustCompile(`^http://(localhost|127\.0\.0\.1|\[::1\])(:[0-9]+)?$`)

func isLocalhostOrigin(origin string) bool {
	u, err := url.Parse(origin)
	if err != nil {
		return false
	}
	switch u.Hostname() {
	case "localhost", "127.0.0.1", "::1":
		return true
	}
	return false
}

func (s *Server) originAllowed(origin string) bool {
	if isLocalhostOrigin(origin) || localhostOriginRE.MatchString(origin) {
		return true
	}
	for _, a := range s.corsOrigins {
		if a == "*" || a == origin {
			return true
		}
		if strings.Contains(a, "*") {
			if ok, _ := path.Match(a, origin); ok {
				return true
			}
		}
	}
	return false
}

// withCORS blocks state-changing cross-origin requests from origins that are
// not allowed (localhost origins by default), answers preflights for API
// paths, and adds MLflow's security headers.
func (s *Server) withCORS(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "SAMEORIGIN")
		origin := r.Header.Get("Origin")
		if origin == "" {
			next.ServeHTTP(w, r)
			return
		}
		h.Add("Vary", "Origin")
		allowed := s.originAllowed(origin)
		switch r.Method {
		case http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch:
			if !allowed {
				s.logger.LogAttrs(r.Context(), slog.LevelWarn, "blocked cross-origin request",
					slog.String("origin", origin), slog.String("request_id", requestID(r.Context())))
				h.Set("Content-Type", "text/plain")
				w.WriteHeader(http.StatusForbidden)
				_, _ = w.Write([]byte("Cross-origin request blocked"))
				return
			}
		}
		if allowed {
			h.Set("Access-Control-Allow-Origin", origin)
			h.Set("Access-Control-Allow-Credentials", "true")
			h.Set("Access-Control-Expose-Headers", "*")
		}
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			if !allowed {
				w.WriteHeader(http.StatusBadRequest)
				return
			}
			h.Set("Access-Control-Allow-Methods", "GET, POST, PUT, DELETE, OPTIONS, PATCH")
			if rh := r.Header.Get("Access-Control-Request-Headers"); rh != "" {
				h.Set("Access-Control-Allow-Headers", rh)
			}
			h.Set("Access-Control-Max-Age", "600")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		next.ServeHTTP(w, r)
	})
}
