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

	"github.com/mltrack/mltrack/internal/importer"
	"github.com/mltrack/mltrack/internal/store"
	"github.com/mltrack/mltrack/internal/store/filestore"
	"github.com/mltrack/mltrack/internal/store/sqlstore"
)

const importUsage = `Usage: mltrack import --from URI --to URI [flags]

Copies experiments, runs, params, tags, every metric point and dataset inputs
from one store to another: an mlruns folder (a path or file:///path), a SQLite
file (sqlite:///path.db) or a PostgreSQL database (postgresql://...). Run ids
are kept; experiment ids too where the target can hold them. Running it again
copies only what is missing, so an interrupted import is resumed by re-running
it. Artifacts are not copied: runs keep pointing at their artifact location.

Flags:
`

type importConfig struct {
	from, to   string
	dryRun     bool
	onError    string
	workers    int
	noProgress bool
	artifacts  bool
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
	fs.BoolVar(&c.artifacts, "artifacts", false, "copy artifacts too (not supported yet)")
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
	if c.artifacts {
		fmt.Fprintln(stderr, "mltrack import: --artifacts is not supported yet; import without it (runs keep their artifact URIs)")
		return 2
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
	return 0
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
	tw.Flush()
	for src, dst := range s.ExperimentIDs {
		fmt.Fprintf(w, "experiment %s is %s in the target\n", src, dst)
	}
	for _, p := range s.Problems {
		fmt.Fprintf(w, "problem: %v\n", p)
	}
	rate := float64(s.Written.MetricPoints) / took.Seconds()
	fmt.Fprintf(w, "took %s (%.0f metric points/s written); %d runs already up to date\n", took.Round(time.Millisecond), rate, s.RunsUnchanged)
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
