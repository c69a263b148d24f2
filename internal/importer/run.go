package importer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sort"
	"strings"
	"sync"

	"github.com/mltrack/mltrack/internal/tracking"
)

// OnError says what a bad source entity does to the import.
type OnError int

const (
	// Stop ends the import at the first bad entity (after committing the
	// runs already written, so a re-run continues).
	Stop OnError = iota
	// Skip reports the bad entity and goes on; the summary then says the
	// two sides do not match.
	Skip
)

// Options tune one import.
type Options struct {
	DryRun  bool
	OnError OnError
	Logger  *slog.Logger
	// Progress, when set, is told the run total once and then each run done.
	Progress Progress
	// Workers read and compare runs in parallel; writes stay sequential.
	Workers int
	// BatchPoints bounds the metric points a BatchSink gets in one batch
	// (0: DefaultBatchPoints); a batch also closes at BatchRuns runs.
	BatchPoints int
	BatchRuns   int
	// Artifacts, when set, copies each run's artifacts and points the
	// target's runs (and new experiments) at the copies.
	Artifacts Artifacts
}

// Batch bounds. Fewer, larger transactions make SQLite checkpoint its WAL
// less often: on the 10,000-run benchmark 250,000 points per batch took 38%
// less commit time than 50,000 (the ceiling benchmark's transaction size).
// 200,000 bounds what a batch holds (its runs and their SQL arguments); the
// whole 10-million-point import peaked at 273 MB resident. 500 runs bounds a
// batch of runs with few points (their params, tags and inputs still cost
// rows).
const (
	DefaultBatchPoints = 200_000
	DefaultBatchRuns   = 500
)

// Progress receives the import's advance.
type Progress interface {
	Start(totalRuns int)
	RunDone(points int)
	Finish()
}

// Counts tallies entities on one side.
type Counts struct {
	Experiments, Runs, Params, Tags, MetricPoints, DatasetInputs int64
	// Logged models and what they hold; ModelLinks are runs' model inputs
	// and outputs.
	Models, ModelParams, ModelTags, ModelMetricPoints, ModelLinks int64
	// Artifact files and bytes, counted with Options.Artifacts only.
	ArtifactFiles, ArtifactBytes int64
}

func (c *Counts) addRun(r *Run) {
	c.Runs++
	c.Params += int64(len(r.Params))
	c.Tags += int64(len(r.Tags))
	c.MetricPoints += int64(len(r.Metrics))
	c.DatasetInputs += int64(len(r.Inputs))
	c.ModelLinks += int64(len(r.ModelInputs) + len(r.ModelOutputs))
}

// Summary is the outcome of an import.
type Summary struct {
	Source, Target Counts
	// Written counts what this import added or rewrote.
	Written            Counts
	RunsUnchanged      int64
	ModelsUnchanged    int64
	ExperimentsCreated int64
	ExperimentsUpdated int64
	// ExperimentIDs maps source ids to target ids where they differ.
	ExperimentIDs map[string]string
	Problems      []error
	DryRun        bool
	// Artifacts: artifact files were counted (Options.Artifacts was set).
	Artifacts bool
}

// addArtifacts counts one artifact tree: for a dry run, the target holds
// what it would after a copy.
func (s *Summary) addArtifacts(a ArtifactStats, dryRun bool) {
	s.Source.ArtifactFiles += a.Files
	s.Source.ArtifactBytes += a.Bytes
	if dryRun {
		s.Target.ArtifactFiles += a.Files
		s.Target.ArtifactBytes += a.Bytes
		s.Written.ArtifactFiles += a.Files - a.Present
		s.Written.ArtifactBytes += a.Bytes - a.PresentBytes
		return
	}
	s.Target.ArtifactFiles += a.Present
	s.Target.ArtifactBytes += a.PresentBytes
	s.Written.ArtifactFiles += a.Copied
	s.Written.ArtifactBytes += a.CopiedBytes
}

// Match reports whether the target holds everything counted in the source.
func (s *Summary) Match() bool { return len(s.Problems) == 0 && s.Source == s.Target }

// expPlan is one source experiment and where it goes.
type expPlan struct {
	src    tracking.Experiment
	target string
	// location is the target experiment's artifact location with
	// Options.Artifacts ("" when a dry run cannot know it).
	location string
	runIDs   []string
}

// Import copies everything src holds into dst: experiments, then runs,
// then logged models (whose metric points name runs, which must be there
// first).
func Import(ctx context.Context, src Source, dst Sink, opts Options) (*Summary, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	sum := &Summary{ExperimentIDs: map[string]string{}, DryRun: opts.DryRun, Artifacts: opts.Artifacts != nil}
	problem := func(err error) error {
		sum.Problems = append(sum.Problems, err)
		log.Warn("import problem", "err", err)
		if opts.OnError == Stop {
			return err
		}
		return nil
	}

	srcExps, bad, err := src.Experiments(ctx)
	if err != nil {
		return sum, fmt.Errorf("read source experiments: %w", err)
	}
	for _, b := range bad {
		if err := problem(b); err != nil {
			return sum, err
		}
	}
	dstExps, bad, err := dst.Experiments(ctx)
	if err != nil {
		return sum, fmt.Errorf("read target experiments: %w", err)
	}
	if len(bad) > 0 {
		return sum, fmt.Errorf("the target holds unreadable experiments (fix them first): %w", errors.Join(bad...))
	}
	byName := map[string]tracking.Experiment{}
	taken := map[string]bool{}
	for _, e := range dstExps {
		byName[e.Name] = e
		taken[e.ID] = true
	}
	// Default (id 0) first, then by id: a fresh SQL sequence then hands out
	// ids in the source's order.
	sort.SliceStable(srcExps, func(i, j int) bool { return idLess(srcExps[i].ID, srcExps[j].ID) })

	var plans []expPlan
	total := 0
	for _, e := range srcExps {
		sum.Source.Experiments++
		target := ""
		if have, ok := byName[e.Name]; ok {
			target = have.ID
			if opts.Artifacts != nil {
				// Runs go under the location the target already uses.
				e.ArtifactLocation = have.ArtifactLocation
			}
			if !sameExperiment(e, have) {
				sum.ExperimentsUpdated++
				if !opts.DryRun {
					if err := dst.OverwriteExperiment(ctx, have.ID, e); err != nil {
						return sum, fmt.Errorf("update experiment %s (%q): %w", have.ID, e.Name, err)
					}
				}
			}
		} else {
			keep := !taken[e.ID] && dst.KeepsExperimentID(e.ID)
			sum.ExperimentsCreated++
			if opts.Artifacts != nil {
				e.ArtifactLocation = ""
				if keep {
					e.ArtifactLocation = opts.Artifacts.Location(e.ID)
				}
			}
			if opts.DryRun {
				target = e.ID
				if !keep {
					target = "(new id)"
				}
			} else {
				target, err = dst.InsertExperiment(ctx, e, keep)
				if err != nil {
					return sum, fmt.Errorf("create experiment %s (%q): %w", e.ID, e.Name, err)
				}
				if opts.Artifacts != nil && !keep {
					// The location names the id the target just chose.
					e.ArtifactLocation = opts.Artifacts.Location(target)
					if err := dst.OverwriteExperiment(ctx, target, e); err != nil {
						return sum, fmt.Errorf("set the artifact location of experiment %s (%q): %w", target, e.Name, err)
					}
				}
			}
			taken[target] = true
		}
		sum.Target.Experiments++
		if target != e.ID {
			sum.ExperimentIDs[e.ID] = target
		}
		ids, err := src.RunIDs(ctx, e.ID)
		if err != nil {
			if err := problem(AsProblem("experiment "+e.ID, err)); err != nil {
				return sum, err
			}
			continue
		}
		plans = append(plans, expPlan{e, target, e.ArtifactLocation, ids})
		total += len(ids)
	}

	if opts.Progress != nil {
		opts.Progress.Start(total)
		defer opts.Progress.Finish()
	}

	type job struct{ runID, srcExp, target, location string }
	type result struct {
		job
		src, dst *Run
		w        RunWrite
		changed  bool
		art      ArtifactStats
		// artErr is an artifact problem: with Skip the run's tracking
		// data is still written.
		artErr error
		err    error
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	jobs := make(chan job)
	results := make(chan result, 64)
	workers := opts.Workers
	if workers <= 0 {
		workers = max(2, runtime.GOMAXPROCS(0))
	}
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				res := result{job: j}
				res.src, res.err = src.ReadRun(ctx, j.runID)
				if res.err == nil && res.src.Info.ExperimentID != j.srcExp {
					res.err = fmt.Errorf("run %s is listed under experiment %s but records experiment %s", j.runID, j.srcExp, res.src.Info.ExperimentID)
				}
				if res.err == nil {
					var err error
					res.dst, err = dst.ReadRun(ctx, j.runID)
					if err != nil {
						res.dst = nil
						if !tracking.IsNotFound(err) {
							res.err = fmt.Errorf("read run %s from the target: %w", j.runID, err)
						}
					}
				}
				artifactURI := ""
				if opts.Artifacts != nil && j.location != "" {
					artifactURI = strings.TrimSuffix(j.location, "/") + "/" + j.runID + "/artifacts"
				}
				if res.err == nil {
					res.w, res.changed, res.err = diffRun(res.src, res.dst, j.target, artifactURI)
				}
				if res.err == nil && opts.Artifacts != nil && res.src.Info.ArtifactURI != "" {
					res.art, res.artErr = opts.Artifacts.Copy(ctx, res.src.Info.ArtifactURI, artifactURI, opts.DryRun)
					if res.artErr != nil {
						res.artErr = fmt.Errorf("run %s: artifacts: %w", j.runID, res.artErr)
					}
				}
				select {
				case results <- res:
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	go func() {
		defer close(jobs)
		for _, p := range plans {
			for _, id := range p.runIDs {
				select {
				case jobs <- job{id, p.src.ID, p.target, p.location}:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	go func() { wg.Wait(); close(results) }()

	batchPoints, batchRuns := opts.BatchPoints, opts.BatchRuns
	if batchPoints <= 0 {
		batchPoints = DefaultBatchPoints
	}
	if batchRuns <= 0 {
		batchRuns = DefaultBatchRuns
	}
	bs, batching := dst.(BatchSink)
	var pending []result
	pendingPoints := 0
	// account counts a run once its write is committed, so a stopped
	// import's summary covers exactly what the target holds.
	account := func(res result) {
		if res.changed {
			sum.Written.Runs++
			sum.Written.Params += int64(len(res.w.Params))
			sum.Written.Tags += int64(len(res.w.Tags))
			sum.Written.MetricPoints += int64(len(res.w.Metrics))
			sum.Written.DatasetInputs += int64(len(res.w.Inputs))
			sum.Written.ModelLinks += int64(len(res.w.ModelInputs) + len(res.w.ModelOutputs))
		} else {
			sum.RunsUnchanged++
		}
		// The target now holds what it held plus what was written; for a
		// dry run, what it would hold.
		sum.Source.addRun(res.src)
		sum.Target.addRun(merged(res.dst, res.w))
		sum.addArtifacts(res.art, opts.DryRun)
		if opts.Progress != nil {
			opts.Progress.RunDone(len(res.src.Metrics))
		}
	}
	flush := func() error {
		if len(pending) == 0 {
			return nil
		}
		ws := make([]RunWrite, 0, len(pending))
		for _, r := range pending {
			if r.changed {
				ws = append(ws, r.w)
			}
		}
		if len(ws) > 0 {
			if err := bs.WriteRuns(ctx, ws); err != nil {
				return fmt.Errorf("write runs %s to %s (none of them was written): %w", ws[0].Info.RunID, ws[len(ws)-1].Info.RunID, err)
			}
		}
		for _, r := range pending {
			account(r)
		}
		pending, pendingPoints = pending[:0], 0
		return nil
	}

	var stopErr error
	for res := range results {
		if stopErr != nil {
			continue // drain
		}
		if res.err == nil && res.artErr != nil {
			res.err, res.artErr = res.artErr, nil
			if opts.OnError == Skip {
				// Reported; the run's tracking data still goes in.
				_ = problem(res.err)
				res.err = nil
			}
		}
		if res.err != nil {
			if err := problem(res.err); err != nil {
				stopErr = err
				if ferr := flush(); ferr != nil {
					stopErr = errors.Join(err, ferr)
				}
				cancel()
			}
			continue
		}
		switch {
		case opts.DryRun || !res.changed:
			account(res)
		case batching:
			pending = append(pending, res)
			pendingPoints += len(res.w.Metrics)
			if pendingPoints >= batchPoints || len(pending) >= batchRuns {
				if err := flush(); err != nil {
					stopErr = err
					cancel()
				}
			}
		default:
			if err := dst.WriteRun(ctx, res.w); err != nil {
				stopErr = fmt.Errorf("write run %s: %w", res.runID, err)
				cancel()
				continue
			}
			account(res)
		}
	}
	if stopErr == nil {
		stopErr = flush()
	}
	if stopErr != nil {
		return sum, stopErr
	}
	if err := ctx.Err(); err != nil {
		return sum, err
	}
	return sum, importModels(ctx, src, dst, plans, opts, sum, problem)
}

// merged is the target's run after w: only the source's entities are
// counted, so extra target entities do not hide missing ones.
func merged(dst *Run, w RunWrite) *Run {
	if dst == nil {
		return &Run{Params: w.Params, Tags: w.Tags, Metrics: w.Metrics, Inputs: w.Inputs,
			ModelInputs: w.ModelInputs, ModelOutputs: w.ModelOutputs}
	}
	out := &Run{}
	out.Params = append(append(out.Params, dst.Params...), w.Params...)
	tags := map[string]bool{}
	for _, t := range dst.Tags {
		tags[t.Key] = true
	}
	out.Tags = append(out.Tags, dst.Tags...)
	for _, t := range w.Tags {
		if !tags[t.Key] {
			out.Tags = append(out.Tags, t)
		}
	}
	out.Metrics = append(append(out.Metrics, dst.Metrics...), w.Metrics...)
	out.Inputs = append(append(out.Inputs, dst.Inputs...), w.Inputs...)
	out.ModelInputs = append(append(out.ModelInputs, dst.ModelInputs...), w.ModelInputs...)
	out.ModelOutputs = append(append(out.ModelOutputs, dst.ModelOutputs...), w.ModelOutputs...)
	return out
}

func idLess(a, b string) bool {
	if len(a) != len(b) {
		return len(a) < len(b)
	}
	return a < b
}
