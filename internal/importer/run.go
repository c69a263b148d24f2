package importer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sort"
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
}

// Progress receives the import's advance.
type Progress interface {
	Start(totalRuns int)
	RunDone(points int)
	Finish()
}

// Counts tallies entities on one side.
type Counts struct {
	Experiments, Runs, Params, Tags, MetricPoints, DatasetInputs int64
}

func (c *Counts) addRun(r *Run) {
	c.Runs++
	c.Params += int64(len(r.Params))
	c.Tags += int64(len(r.Tags))
	c.MetricPoints += int64(len(r.Metrics))
	c.DatasetInputs += int64(len(r.Inputs))
}

// Summary is the outcome of an import.
type Summary struct {
	Source, Target Counts
	// Written counts what this import added or rewrote.
	Written            Counts
	RunsUnchanged      int64
	ExperimentsCreated int64
	ExperimentsUpdated int64
	// ExperimentIDs maps source ids to target ids where they differ.
	ExperimentIDs map[string]string
	Problems      []error
	DryRun        bool
}

// Match reports whether the target holds everything counted in the source.
func (s *Summary) Match() bool { return len(s.Problems) == 0 && s.Source == s.Target }

// Import copies everything src holds into dst.
func Import(ctx context.Context, src Source, dst Sink, opts Options) (*Summary, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	sum := &Summary{ExperimentIDs: map[string]string{}, DryRun: opts.DryRun}
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

	type expPlan struct {
		src    tracking.Experiment
		target string
		runIDs []string
	}
	var plans []expPlan
	total := 0
	for _, e := range srcExps {
		sum.Source.Experiments++
		target := ""
		if have, ok := byName[e.Name]; ok {
			target = have.ID
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
		plans = append(plans, expPlan{e, target, ids})
		total += len(ids)
	}

	if opts.Progress != nil {
		opts.Progress.Start(total)
		defer opts.Progress.Finish()
	}

	type job struct{ runID, srcExp, target string }
	type result struct {
		job
		src, dst *Run
		w        RunWrite
		changed  bool
		err      error
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
				if res.err == nil {
					res.w, res.changed, res.err = diffRun(res.src, res.dst, j.target)
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
				case jobs <- job{id, p.src.ID, p.target}:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	go func() { wg.Wait(); close(results) }()

	var stopErr error
	for res := range results {
		if stopErr != nil {
			continue // drain
		}
		if res.err != nil {
			if err := problem(res.err); err != nil {
				stopErr = err
				cancel()
			}
			continue
		}
		sum.Source.addRun(res.src)
		if res.changed && !opts.DryRun {
			if err := dst.WriteRun(ctx, res.w); err != nil {
				stopErr = fmt.Errorf("write run %s: %w", res.runID, err)
				cancel()
				continue
			}
		}
		if res.changed {
			sum.Written.Runs++
			sum.Written.Params += int64(len(res.w.Params))
			sum.Written.Tags += int64(len(res.w.Tags))
			sum.Written.MetricPoints += int64(len(res.w.Metrics))
			sum.Written.DatasetInputs += int64(len(res.w.Inputs))
		} else {
			sum.RunsUnchanged++
		}
		// The target now holds what it held plus what was written; for a
		// dry run, what it would hold.
		sum.Target.addRun(merged(res.dst, res.w))
		if opts.Progress != nil {
			opts.Progress.RunDone(len(res.src.Metrics))
		}
	}
	if stopErr != nil {
		return sum, stopErr
	}
	return sum, ctx.Err()
}

// merged is the target's run after w: only the source's entities are
// counted, so extra target entities do not hide missing ones.
func merged(dst *Run, w RunWrite) *Run {
	if dst == nil {
		return &Run{Params: w.Params, Tags: w.Tags, Metrics: w.Metrics, Inputs: w.Inputs}
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
	return out
}

func idLess(a, b string) bool {
	if len(a) != len(b) {
		return len(a) < len(b)
	}
	return a < b
}
