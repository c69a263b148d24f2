package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/mltrack/mltrack/internal/store"
)

// Config is everything `mltrack server` needs, from flags with MLflow's
// environment variables as fallbacks.
type Config struct {
	BackendStoreURI     string
	DefaultArtifactRoot string
	Host                string
	Port                int
	StaticPrefix        string
	AllowedHosts        []string // nil: the defaults (loopback names, private IPs)
	CORSAllowedOrigins  []string
	LogFormat           string // text or json
	LogLevel            slog.Level
	ShutdownTimeout     time.Duration
}

const (
	// MLflow's server serves artifacts by default, and then resolves the
	// default artifact root to the proxy scheme (server_cli_utils).
	defaultArtifactRoot = "mlflow-artifacts:/"
	defaultHost         = "127.0.0.1"
	defaultPort         = 5000
)

// portEnvChain is where the port comes from when --port is not given, in
// order: hosting platforms first, then MLflow's own variable.
var portEnvChain = []string{"CDSW_APP_PORT", "CDSW_READONLY_PORT", "PORT", "MLFLOW_PORT"}

// errUsage marks errors after which the usage text has been printed and the
// exit code is 2.
var errUsage = errors.New("usage")

// parseServerConfig builds a Config from the server command's arguments and
// the environment, and validates it.
func parseServerConfig(name string, args []string, getenv func(string) string, stderr io.Writer) (Config, error) {
	fs := flag.NewFlagSet("mltrack "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		c            Config
		port         string
		allowedHosts string
		corsOrigins  string
		logLevel     string
	)
	env := func(key, def string) string {
		if v := getenv(key); v != "" {
			return v
		}
		return def
	}
	fs.StringVar(&c.BackendStoreURI, "backend-store-uri", env("MLFLOW_BACKEND_STORE_URI", ""),
		"where runs and experiments live: sqlite:///mlflow.db, postgresql://user:pw@host/db, or an mlruns directory "+
			"(default: ./mlruns if it holds experiments, else sqlite:///mlflow.db, as MLflow 3.7+; env MLFLOW_BACKEND_STORE_URI)")
	fs.StringVar(&c.DefaultArtifactRoot, "default-artifact-root", env("MLFLOW_DEFAULT_ARTIFACT_ROOT", defaultArtifactRoot),
		"artifact location for new experiments (env MLFLOW_DEFAULT_ARTIFACT_ROOT)")
	fs.StringVar(&c.Host, "host", env("MLFLOW_HOST", defaultHost), "address to listen on (env MLFLOW_HOST)")
	fs.StringVar(&port, "port", "", "port to listen on (default 5000; env CDSW_APP_PORT, CDSW_READONLY_PORT, PORT, MLFLOW_PORT)")
	fs.StringVar(&c.StaticPrefix, "static-prefix", env("MLFLOW_STATIC_PREFIX", ""),
		"path prefix for every route: starts with '/', no trailing '/' (env MLFLOW_STATIC_PREFIX)")
	fs.StringVar(&allowedHosts, "allowed-hosts", env("MLFLOW_SERVER_ALLOWED_HOSTS", ""),
		"comma-separated Host header patterns to accept, '*' for any (default: localhost and private IPs; env MLFLOW_SERVER_ALLOWED_HOSTS)")
	fs.StringVar(&corsOrigins, "cors-allowed-origins", env("MLFLOW_SERVER_CORS_ALLOWED_ORIGINS", ""),
		"comma-separated origins allowed besides localhost (env MLFLOW_SERVER_CORS_ALLOWED_ORIGINS)")
	fs.StringVar(&c.LogFormat, "log-format", env("MLTRACK_LOG_FORMAT", "text"), "log format: text or json (env MLTRACK_LOG_FORMAT)")
	fs.StringVar(&logLevel, "log-level", env("MLTRACK_LOG_LEVEL", "info"), "log level: debug, info, warn or error (env MLTRACK_LOG_LEVEL)")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", 30*time.Second, "how long to let in-flight requests finish on SIGINT/SIGTERM")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: mltrack %s [flags]\n\nRun the MLflow-compatible tracking server.\n\nFlags:\n", name)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return c, err
		}
		return c, errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "mltrack %s: unexpected argument %q\n", name, fs.Arg(0))
		fs.Usage()
		return c, errUsage
	}

	var portSource string
	if port == "" {
		for _, k := range portEnvChain {
			if v := getenv(k); v != "" {
				port, portSource = v, "environment variable "+k
				break
			}
		}
	} else {
		portSource = "--port"
	}
	c.Port = defaultPort
	if port != "" {
		n, err := strconv.Atoi(port)
		if err != nil || n < 0 || n > 65535 {
			return c, fmt.Errorf("%s=%q is not a port number: use an integer from 0 to 65535", portSource, port)
		}
		c.Port = n
	}
	if c.BackendStoreURI == "" {
		c.BackendStoreURI = store.DefaultURI(".")
	}
	c.AllowedHosts = splitList(allowedHosts)
	c.CORSAllowedOrigins = splitList(corsOrigins)
	lvl, err := parseLevel(logLevel)
	if err != nil {
		return c, err
	}
	c.LogLevel = lvl
	return c, c.validate()
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return l, fmt.Errorf("--log-level=%q is not a level: use debug, info, warn or error", s)
	}
	return l, nil
}

// validate reports the first setting that cannot work, saying what to change.
func (c Config) validate() error {
	if c.StaticPrefix != "" {
		switch {
		case !strings.HasPrefix(c.StaticPrefix, "/"):
			return fmt.Errorf("--static-prefix=%q must begin with a '/'", c.StaticPrefix)
		case strings.HasSuffix(c.StaticPrefix, "/"):
			return fmt.Errorf("--static-prefix=%q should not end with a '/'", c.StaticPrefix)
		case strings.ContainsAny(c.StaticPrefix, "{} \t"):
			return fmt.Errorf("--static-prefix=%q must not contain '{', '}' or spaces", c.StaticPrefix)
		}
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		return fmt.Errorf("--log-format=%q: use text or json", c.LogFormat)
	}
	if c.Host == "" {
		return errors.New("--host is empty: give an address to listen on, e.g. 127.0.0.1 or 0.0.0.0")
	}
	if c.ShutdownTimeout <= 0 {
		return fmt.Errorf("--shutdown-timeout=%s must be positive", c.ShutdownTimeout)
	}
	if c.DefaultArtifactRoot == "" {
		return errors.New("--default-artifact-root is empty: give a URI such as mlflow-artifacts:/ or a directory")
	}
	if err := store.Check(c.BackendStoreURI); err != nil {
		return fmt.Errorf("--backend-store-uri: %w", err)
	}
	return nil
}

// listenAddr is host:port, with IPv6 literals bracketed.
func (c Config) listenAddr() string { return net.JoinHostPort(c.Host, strconv.Itoa(c.Port)) }
