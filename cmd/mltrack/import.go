package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/mltrack/mltrack/internal/artifacts"
	"github.com/mltrack/mltrack/internal/importer"
	"github.com/mltrack/mltrack/internal/store"
	"github.com/mltrack/mltrack/internal/store/filestore"
	"github.com/mltrack/mltrack/internal/store/sqlstore"
	"github.com/mltrack/mltrack/internal/tracking"
)

const importUsage = `Usage: mltrack import --from URI --to URI [flags]

Copies experiments, runs, params, tags, every metric point, dataset inputs and
logged models (with their params, tags, metric points and links to runs) from
one store to another: an mlruns folder (a path or file:///path), a SQLite file
(sqlite:///path.db) or a PostgreSQL database (postgresql://...). Run and model
ids are kept; experiment ids too where the target can hold them. Running it
again copies only what is missing, so an interrupted import is resumed by
re-running it.

Without --artifacts, runs and models keep their artifact locations. With it,
each run's files are copied (files already there with the same size are
skipped) to <experiment location>/<run id>/artifacts in the target (a model's
to <experiment location>/models/<model id>/artifacts), where a new
experiment's location is <--default-artifact-root>/<id>; an experiment that
already exists in the target keeps its location. mlflow-artifacts:/ URIs are
files under the proxy destination of their server: --source-artifacts-destination
for the source's, --artifacts-destination for the target's (a directory,
file:///abs or s3://bucket/prefix; S3 credentials from the AWS_* variables, a
custom endpoint from MLFLOW_S3_ENDPOINT_URL).

Flags:
`

type importConfig struct {
	from, to   string
	dryRun     bool
	onError    string
	workers    int
	noProgress bool
	artifacts  bool
	// With artifacts: the target's default artifact root and the proxy
	// destinations behind mlflow-artifacts:/ URIs on each side.
	artifactRoot, destination, sourceDestination string
	s3Endpoint                                   string
	// historyCacheFile is where the target's chart cache snapshot goes
	// ('' for none).
	historyCacheFile string
}

func runImport(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var c importConfig
	fs := flag.NewFlagSet("import", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, importUsage); fs.PrintDefaults() }
	fs.StringVar(&c.from, "from", "", "source store URI")
	fs.StringVar(&c.to, "to", "", "target store URI (created when missing)")
	fs.BoolVar(&c.dryRun, "dry-run", false, "read both sides and report what would be copied, write nothing")
	fs.StringVar(&c.onError, "on-error", "stop", "on unreadable source data: stop, or skip it and go on (it is reported either way)")
	fs.IntVar(&c.workers, "workers", 0, "runs read in parallel (0: one per CPU)")
	fs.BoolVar(&c.noProgress, "no-progress", false, "no progress bar on stderr")
	env := func(key, def string) string {
		if v := os.Getenv(key); v != "" {
			return v
		}
		return def
	}
	fs.BoolVar(&c.artifacts, "artifacts", false, "copy run and logged-model artifacts too, and point the target's runs and models at the copies")
	fs.StringVar(&c.artifactRoot, "default-artifact-root", env("MLFLOW_DEFAULT_ARTIFACT_ROOT", defaultArtifactRoot),
		"with --artifacts: artifact root of experiments the import creates, as the server's flag (env MLFLOW_DEFAULT_ARTIFACT_ROOT)")
	fs.StringVar(&c.destination, "artifacts-destination", env("MLFLOW_ARTIFACTS_DESTINATION", "./mlartifacts"),
		"with --artifacts: the target server's proxy destination, where its mlflow-artifacts:/ URIs live (env MLFLOW_ARTIFACTS_DESTINATION)")
	fs.StringVar(&c.sourceDestination, "source-artifacts-destination", "",
		"with --artifacts: the source server's proxy destination (default: --artifacts-destination)")
	fs.StringVar(&c.historyCacheFile, "history-cache-file", os.Getenv("MLTRACK_HISTORY_CACHE_FILE"),
		"after importing into a SQL store, read the charts of its most recent runs and save them where 'mltrack server --backend-store-uri <--to>' loads its "+
			"history cache at start, '' for none (default <user cache dir>/mltrack/history-<backend hash>.cache; env MLTRACK_HISTORY_CACHE_FILE)")
	for _, k := range []string{"MLFLOW_S3_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"} {
		if c.s3Endpoint = os.Getenv(k); c.s3Endpoint != "" {
			break
		}
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	var onErr importer.OnError
	switch c.onError {
	case "stop":
		onErr = importer.Stop
	case "skip":
		onErr = importer.Skip
	default:
		fmt.Fprintf(stderr, "mltrack import: --on-error must be stop or skip, not %q\n", c.onError)
		return 2
	}
	if c.from == "" || c.to == "" {
		fmt.Fprintln(stderr, "mltrack import: both --from and --to are required")
		return 2
	}
	cacheSet := os.Getenv("MLTRACK_HISTORY_CACHE_FILE") != ""
	fs.Visit(func(f *flag.Flag) { cacheSet = cacheSet || f.Name == "history-cache-file" })
	if !cacheSet {
		c.historyCacheFile, _ = defaultHistoryCacheFile(os.Getenv, c.to) // no cache directory: no snapshot
	}
	if c.sourceDestination == "" {
		c.sourceDestination = c.destination
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	src, closeSrc, err := openImportStore(ctx, c.from, true, log)
	if err != nil {
		fmt.Fprintf(stderr, "mltrack import: source: %v\n", err)
		return 1
	}
	defer closeSrc()
	dst, closeDst, err := openImportStore(ctx, c.to, false, log)
	if err != nil {
		fmt.Fprintf(stderr, "mltrack import: target: %v\n", err)
		return 1
	}
	defer closeDst()

	opts := importer.Options{DryRun: c.dryRun, OnError: onErr, Logger: log, Workers: c.workers}
	if c.artifacts {
		copier, err := c.openArtifacts(ctx)
		if err != nil {
			fmt.Fprintf(stderr, "mltrack import: %v\n", err)
			return 2
		}
		opts.Artifacts = copier
	}
	if !c.noProgress {
		opts.Progress = &progress{w: stderr}
	}
	start := time.Now()
	sum, err := importer.Import(ctx, src, dst, opts)
	printSummary(stdout, sum, time.Since(start), err != nil)
	if err != nil {
		fmt.Fprintf(stderr, "mltrack import: stopped: %v\n(runs written so far are committed; run the same command again to continue)\n", err)
		return 1
	}
	if !sum.Match() {
		return 1
	}
	if !c.dryRun {
		if ts, ok := dst.(tracking.Store); ok {
			saveImportedCharts(ctx, ts, c.to, c.historyCacheFile, stdout, stderr)
		}
	}
	return 0
}

// saveImportedCharts builds the chart history cache a server of the target
// would build at start (its warm-up: the most recent runs' charts, within
// the default budget) and saves it where that server loads it, so the first
// chart of imported data is served from memory instead of reading every
// point (docs/decisions/0007). An existing snapshot is loaded first and
// kept. Every entry is checked against the store when a server loads it, so
// a stale file costs time, never a wrong chart. Failing is not an import
// error: it only costs the first chart's speed.
func saveImportedCharts(ctx context.Context, st tracking.Store, uri, path string, stdout, stderr io.Writer) {
	if path == "" {
		return
	}
	svc := tracking.NewService(st, tracking.ServiceOptions{Logger: slog.New(slog.DiscardHandler)})
	if !svc.HasHistoryCache() {
		return // a store without latest points (mlruns) keeps no cache
	}
	backend := backendID(uri)
	_, _ = svc.LoadHistoryCache(path, backend) // missing or foreign: start empty
	warm, err := svc.WarmHistoryCache(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "mltrack import: chart cache not built: %v\n", err)
		return
	}
	if warm.Warmed == 0 && warm.Verified == 0 {
		return // nothing worth a file: no run's chart is long enough to need one
	}
	rep, err := svc.SaveHistoryCache(path, backend)
	if err != nil {
		fmt.Fprintf(stderr, "mltrack import: chart cache not saved: %v\n", err)
		return
	}
	fmt.Fprintf(stdout, "chart cache: %d series of %d runs read in %s, %d saved to %s\n",
		warm.Warmed, warm.Runs, warm.Elapsed.Round(time.Millisecond), rep.Series, path)
}

// openImportStore opens uri as an import source or sink. A source must
// exist: opening a missing one would create an empty store and report a
// successful import of nothing.
func openImportStore(ctx context.Context, uri string, source bool, log *slog.Logger) (importer.Sink, func(), error) {
	if err := store.Check(uri); err != nil {
		return nil, nil, err
	}
	if store.IsFileURI(uri) {
		if source {
			path := strings.TrimPrefix(strings.TrimPrefix(uri, "file://"), "file:")
			if fi, err := os.Stat(path); err != nil || !fi.IsDir() {
				return nil, nil, fmt.Errorf("%s is not an mlruns folder", uri)
			}
		}
		im, err := filestore.OpenImporter(uri, log)
		if err != nil {
			return nil, nil, err
		}
		return im, func() {}, nil
	}
	if source && strings.HasPrefix(uri, "sqlite:") {
		path := strings.TrimPrefix(strings.TrimPrefix(uri, "sqlite:///"), "sqlite://")
		if _, err := os.Stat(path); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", uri, err)
		}
	}
	st, err := sqlstore.Open(ctx, uri, sqlstore.Options{Logger: log})
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", redactPassword(uri), err)
	}
	return st, func() { st.Close() }, nil
}

// openArtifacts builds the artifact copier. The source's destination is
// opened only when it exists, so a missing one is reported on the first
// mlflow-artifacts:/ URI that needs it instead of reading as "no files"; a
// dry run does not create the target's either.
func (c importConfig) openArtifacts(ctx context.Context) (*importer.ArtifactCopier, error) {
	if c.artifactRoot == "" {
		return nil, errors.New("--default-artifact-root is empty: give a URI such as mlflow-artifacts:/ or a directory")
	}
	copier := &importer.ArtifactCopier{Root: c.artifactRoot, S3: artifacts.S3Options{Endpoint: c.s3Endpoint}}
	open := func(flagName, dest string, create bool) (artifacts.Repository, error) {
		cfg := Config{ArtifactsDestination: dest, S3EndpointURL: c.s3Endpoint}
		if !strings.HasPrefix(dest, "s3://") {
			dir, err := cfg.artifactsDir()
			if err != nil {
				return nil, fmt.Errorf("--%s: %w", flagName, err)
			}
			if _, err := os.Stat(dir); err != nil && !create {
				return nil, nil
			}
		}
		repo, err := openArtifacts(ctx, cfg)
		if err != nil {
			return nil, fmt.Errorf("--%s: %w", flagName, err)
		}
		return repo, nil
	}
	var err error
	if copier.SourceProxy, err = open("source-artifacts-destination", c.sourceDestination, false); err != nil {
		return nil, err
	}
	if copier.TargetProxy, err = open("artifacts-destination", c.destination, !c.dryRun); err != nil {
		return nil, err
	}
	return copier, nil
}

// redactPassword hides a URI's password before it is printed.
func redactPassword(uri string) string {
	u, err := url.Parse(uri)
	if err != nil || u.User == nil {
		return uri
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}

// progress draws runs done with rate and ETA, and metric points per second.
type progress struct {
	w      io.Writer
	bar    *progressbar.ProgressBar
	start  time.Time
	points int64
}

func (p *progress) Start(total int) {
	p.start = time.Now()
	p.bar = progressbar.NewOptions(total,
		progressbar.OptionSetWriter(p.w),
		progressbar.OptionSetDescription("importing runs"),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionSetItsString("runs"),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionThrottle(200*time.Millisecond),
		progressbar.OptionSetWidth(30),
		progressbar.OptionOnCompletion(func() { fmt.Fprintln(p.w) }),
	)
}

func (p *progress) RunDone(points int) {
	p.points += int64(points)
	if el := time.Since(p.start).Seconds(); el > 0 {
		p.bar.Describe(fmt.Sprintf("importing runs (%.0f metric points/s)", float64(p.points)/el))
	}
	_ = p.bar.Add(1)
}

func (p *progress) Finish() {
	if p.bar != nil {
		_ = p.bar.Finish()
	}
}

func printSummary(w io.Writer, s *importer.Summary, took time.Duration, stopped bool) {
	if s == nil {
		return
	}
	verb := "written"
	if s.DryRun {
		verb = "to write"
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "entity\tsource\ttarget\t%s\t\n", verb)
	row := func(name string, a, b, c int64) { fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t\n", name, a, b, c) }
	row("experiments", s.Source.Experiments, s.Target.Experiments, s.ExperimentsCreated+s.ExperimentsUpdated)
	row("runs", s.Source.Runs, s.Target.Runs, s.Written.Runs)
	row("params", s.Source.Params, s.Target.Params, s.Written.Params)
	row("tags", s.Source.Tags, s.Target.Tags, s.Written.Tags)
	row("metric points", s.Source.MetricPoints, s.Target.MetricPoints, s.Written.MetricPoints)
	row("dataset inputs", s.Source.DatasetInputs, s.Target.DatasetInputs, s.Written.DatasetInputs)
	if s.Source.ModelLinks+s.Target.ModelLinks > 0 {
		row("run model links", s.Source.ModelLinks, s.Target.ModelLinks, s.Written.ModelLinks)
	}
	if s.Source.Models+s.Target.Models > 0 {
		row("logged models", s.Source.Models, s.Target.Models, s.Written.Models)
		row("model params", s.Source.ModelParams, s.Target.ModelParams, s.Written.ModelParams)
		row("model tags", s.Source.ModelTags, s.Target.ModelTags, s.Written.ModelTags)
		row("model metric points", s.Source.ModelMetricPoints, s.Target.ModelMetricPoints, s.Written.ModelMetricPoints)
	}
	if s.Artifacts {
		row("artifact files", s.Source.ArtifactFiles, s.Target.ArtifactFiles, s.Written.ArtifactFiles)
		row("artifact bytes", s.Source.ArtifactBytes, s.Target.ArtifactBytes, s.Written.ArtifactBytes)
	}
	tw.Flush()
	for src, dst := range s.ExperimentIDs {
		fmt.Fprintf(w, "experiment %s is %s in the target\n", src, dst)
	}
	for _, p := range s.Problems {
		fmt.Fprintf(w, "problem: %v\n", p)
	}
	rate := float64(s.Written.MetricPoints) / took.Seconds()
	fmt.Fprintf(w, "took %s (%.0f metric points/s written); %d runs and %d logged models already up to date\n",
		took.Round(time.Millisecond), rate, s.RunsUnchanged, s.ModelsUnchanged)
	switch {
	case stopped:
		fmt.Fprintln(w, "stopped before the end: the counts cover the runs read so far")
	case s.Match() && s.DryRun:
		fmt.Fprintln(w, "dry run: after an import both sides would match")
	case s.Match():
		fmt.Fprintln(w, "source and target match")
	default:
		fmt.Fprintln(w, "source and target DO NOT match: see the problems above")
	}
}
