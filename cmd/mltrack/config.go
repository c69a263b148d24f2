package main

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/mltrack/mltrack/internal/artifacts"
	"github.com/mltrack/mltrack/internal/store"
	"github.com/mltrack/mltrack/internal/tracking"
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
	// ArtifactsDestination is the proxy's storage: a directory or file: URI.
	ArtifactsDestination string
	ServeArtifacts       bool
	ArtifactsOnly        bool
	// S3EndpointURL is a custom endpoint for an s3:// destination (MinIO,
	// Ceph, versitygw), from MLflow's MLFLOW_S3_ENDPOINT_URL.
	S3EndpointURL string
	// HistoryCacheMB bounds the chart history cache (decision 0007); 0 turns
	// it off.
	HistoryCacheMB int
	// HistoryCacheWarm fills the history cache with recent runs' charts in
	// the background after start-up (decision 0007).
	HistoryCacheWarm bool
	// HistoryCacheFile is where the history cache is saved at a graceful
	// shutdown and loaded from at start (decision 0007); empty: nowhere.
	HistoryCacheFile string
	// HistoryCacheSaveEvery is how often a changed history cache is also
	// saved while serving, so a crash or a kill loses little; 0: only at
	// a graceful shutdown.
	HistoryCacheSaveEvery time.Duration
	// HistoryCacheFileOff says why there is no snapshot file when the
	// default could not be resolved; serve logs it.
	HistoryCacheFileOff string
}

const (
	// MLflow's server serves artifacts by default, and then resolves the
	// default artifact root to the proxy scheme (server_cli_utils).
	defaultArtifactRoot   = "mlflow-artifacts:/"
	defaultHost           = "127.0.0.1"
	defaultPort           = 5000
	defaultHistoryCacheMB = tracking.DefaultHistoryCacheBytes >> 20
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
	fs.StringVar(&c.ArtifactsDestination, "artifacts-destination", env("MLFLOW_ARTIFACTS_DESTINATION", "./mlartifacts"),
		"where the artifact proxy stores files: a directory, file:///abs, or s3://bucket/prefix "+
			"(AWS_* credentials, MLFLOW_S3_ENDPOINT_URL for MinIO, Ceph...; env MLFLOW_ARTIFACTS_DESTINATION)")
	// MLflow's variable first, then the AWS SDK's own.
	for _, k := range []string{"MLFLOW_S3_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"} {
		if c.S3EndpointURL = getenv(k); c.S3EndpointURL != "" {
			break
		}
	}
	serve, serveErr := envBool("MLFLOW_SERVE_ARTIFACTS", env("MLFLOW_SERVE_ARTIFACTS", "true"))
	noServe := false
	fs.BoolVar(&c.ServeArtifacts, "serve-artifacts", serve,
		"serve the artifact proxy (/api/2.0/mlflow-artifacts) from --artifacts-destination (env MLFLOW_SERVE_ARTIFACTS)")
	fs.BoolVar(&noServe, "no-serve-artifacts", false, "disable the artifact proxy: its routes answer 503")
	artifactsOnly, onlyErr := envBool("MLFLOW_ARTIFACTS_ONLY", env("MLFLOW_ARTIFACTS_ONLY", "false"))
	fs.BoolVar(&c.ArtifactsOnly, "artifacts-only", artifactsOnly,
		"serve only the artifact proxy: tracking routes answer 503 (env MLFLOW_ARTIFACTS_ONLY)")
	var historyCache string
	fs.StringVar(&historyCache, "history-cache-mb", env("MLTRACK_HISTORY_CACHE_MB", strconv.Itoa(defaultHistoryCacheMB)),
		"memory for the chart history cache in MiB, 0 to turn it off (env MLTRACK_HISTORY_CACHE_MB)")
	warm, warmErr := envBool("MLTRACK_HISTORY_CACHE_WARM", env("MLTRACK_HISTORY_CACHE_WARM", "true"))
	fs.BoolVar(&c.HistoryCacheWarm, "history-cache-warm", warm,
		"after start-up, read the charts of the most recent runs into the history cache in the background (env MLTRACK_HISTORY_CACHE_WARM)")
	fs.StringVar(&c.HistoryCacheFile, "history-cache-file", getenv("MLTRACK_HISTORY_CACHE_FILE"),
		"where the history cache is saved at shutdown and loaded from at start, '' to turn that off "+
			"(default <user cache dir>/mltrack/history-<backend hash>.cache; env MLTRACK_HISTORY_CACHE_FILE)")
	fs.DurationVar(&c.HistoryCacheSaveEvery, "history-cache-save-every", 5*time.Minute,
		"also save the history cache to --history-cache-file this often while serving, when it changed; 0: only at shutdown")
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
	if err := errors.Join(serveErr, onlyErr, warmErr); err != nil {
		return c, err
	}
	if noServe {
		c.ServeArtifacts = false
	}
	c.AllowedHosts = splitList(allowedHosts)
	c.CORSAllowedOrigins = splitList(corsOrigins)
	lvl, err := parseLevel(logLevel)
	if err != nil {
		return c, err
	}
	c.LogLevel = lvl
	if c.HistoryCacheMB, err = strconv.Atoi(historyCache); err != nil || c.HistoryCacheMB < 0 {
		return c, fmt.Errorf("--history-cache-mb=%q: use a whole number of MiB, 0 to turn the cache off", historyCache)
	}
	fileSet := getenv("MLTRACK_HISTORY_CACHE_FILE") != ""
	fs.Visit(func(f *flag.Flag) { fileSet = fileSet || f.Name == "history-cache-file" })
	switch {
	case c.HistoryCacheMB == 0:
		c.HistoryCacheFile = ""
	case !fileSet:
		path, err := defaultHistoryCacheFile(getenv, c.BackendStoreURI)
		if err != nil {
			c.HistoryCacheFileOff = err.Error()
			break
		}
		c.HistoryCacheFile = path
	}
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
	if c.HistoryCacheSaveEvery < 0 {
		return fmt.Errorf("--history-cache-save-every=%s must not be negative", c.HistoryCacheSaveEvery)
	}
	if c.ShutdownTimeout <= 0 {
		return fmt.Errorf("--shutdown-timeout=%s must be positive", c.ShutdownTimeout)
	}
	if c.DefaultArtifactRoot == "" {
		return errors.New("--default-artifact-root is empty: give a URI such as mlflow-artifacts:/ or a directory")
	}
	if c.ArtifactsOnly && !c.ServeArtifacts {
		return errors.New("--artifacts-only needs the artifact proxy: drop --no-serve-artifacts")
	}
	if c.ServeArtifacts {
		if strings.HasPrefix(c.ArtifactsDestination, "s3://") {
			if _, _, err := artifacts.ParseS3URI(c.ArtifactsDestination); err != nil {
				return fmt.Errorf("--artifacts-destination: %w", err)
			}
		} else if _, err := c.artifactsDir(); err != nil {
			return err
		}
	}
	if err := store.Check(c.BackendStoreURI); err != nil {
		return fmt.Errorf("--backend-store-uri: %w", err)
	}
	return nil
}

// backendID names a backend store in history cache snapshots and their
// default file name without revealing its URI: a hash of it, password
// removed (so rotating one keeps the snapshot). Two spellings of one store
// get two names: a snapshot is then only not found, never misapplied.
func backendID(uri string) string {
	if u, err := url.Parse(uri); err == nil && u.Scheme != "" {
		if _, ok := u.User.Password(); ok {
			u.User = url.User(u.User.Username())
		}
		if q := u.Query(); q.Has("password") {
			q.Del("password")
			u.RawQuery = q.Encode()
		}
		uri = u.String()
	}
	sum := sha256.Sum256([]byte(uri))
	return hex.EncodeToString(sum[:8])
}

// defaultHistoryCacheFile is where a server of the backend store uri keeps
// its history cache snapshot unless --history-cache-file says otherwise;
// `mltrack import` writes one there for its target.
func defaultHistoryCacheFile(getenv func(string) string, uri string) (string, error) {
	dir, err := userCacheDir(getenv)
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "mltrack", "history-"+backendID(uri)+".cache"), nil
}

// userCacheDir is os.UserCacheDir reading the environment through getenv,
// so tests never resolve the real user's directory.
func userCacheDir(getenv func(string) string) (string, error) {
	var dir string
	switch runtime.GOOS {
	case "windows":
		dir = getenv("LocalAppData")
	case "darwin", "ios":
		if h := getenv("HOME"); h != "" {
			dir = filepath.Join(h, "Library", "Caches")
		}
	case "plan9":
		if h := getenv("home"); h != "" {
			dir = filepath.Join(h, "lib", "cache")
		}
	default:
		dir = getenv("XDG_CACHE_HOME")
		if dir != "" && !filepath.IsAbs(dir) {
			return "", fmt.Errorf("XDG_CACHE_HOME=%q is not an absolute path", dir)
		}
		if h := getenv("HOME"); dir == "" && h != "" {
			dir = filepath.Join(h, ".cache")
		}
	}
	if dir == "" {
		return "", errors.New("no user cache directory: neither XDG_CACHE_HOME nor HOME is set")
	}
	return dir, nil
}

// listenAddr is host:port, with IPv6 literals bracketed.
func (c Config) listenAddr() string { return net.JoinHostPort(c.Host, strconv.Itoa(c.Port)) }

// envBool reads a boolean environment variable the way MLflow's CLI (click)
// does.
func envBool(name, v string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "1", "true", "t", "yes", "y", "on":
		return true, nil
	case "0", "false", "f", "no", "n", "off", "":
		return false, nil
	}
	return false, fmt.Errorf("%s=%q is not a boolean: use true or false", name, v)
}

// artifactsDir is the local directory behind --artifacts-destination.
func (c Config) artifactsDir() (string, error) {
	d := c.ArtifactsDestination
	if d == "" {
		return "", errors.New("--artifacts-destination is empty: give a directory such as ./mlartifacts")
	}
	if rest, ok := strings.CutPrefix(d, "file://"); ok {
		if !strings.HasPrefix(rest, "/") {
			return "", fmt.Errorf("--artifacts-destination=%q: a file URI needs an absolute path and no host, e.g. file:///srv/mlartifacts", d)
		}
		return rest, nil
	}
	if i := strings.Index(d, "://"); i > 0 {
		return "", fmt.Errorf("--artifacts-destination=%q: use a directory, file:///abs or s3://bucket/prefix (%s:// is not supported)", d, d[:i])
	}
	return d, nil
}
