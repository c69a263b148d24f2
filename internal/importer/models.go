package importer

import (
	"context"
	"fmt"
	"strings"

	"github.com/mltrack/mltrack/internal/tracking"
)

func (c *Counts) addModel(m *tracking.LoggedModel) {
	c.Models++
	c.ModelParams += int64(len(m.Params))
	c.ModelTags += int64(len(m.Tags))
	c.ModelMetricPoints += int64(len(m.Metrics))
}

// importModels copies the logged models of every planned experiment, one
// model at a time: models are few next to runs.
func importModels(ctx context.Context, src Source, dst Sink, plans []expPlan, opts Options, sum *Summary, problem func(error) error) error {
	ms, ok := src.(ModelSource)
	if !ok {
		return nil
	}
	md, canWrite := dst.(ModelSink)
	for _, p := range plans {
		ids, err := ms.ModelIDs(ctx, p.src.ID)
		if err != nil {
			if err := problem(AsProblem("logged models of experiment "+p.src.ID, err)); err != nil {
				return err
			}
			continue
		}
		for _, id := range ids {
			if err := ctx.Err(); err != nil {
				return err
			}
			if !canWrite {
				if err := problem(fmt.Errorf("logged model %s: the target cannot hold logged models", id)); err != nil {
					return err
				}
				continue
			}
			if err := importModel(ctx, ms, md, p, id, opts, sum); err != nil {
				if err := problem(err); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func importModel(ctx context.Context, src ModelSource, dst ModelSink, p expPlan, id string, opts Options, sum *Summary) error {
	m, err := src.ReadModel(ctx, id)
	if err != nil {
		return AsProblem("logged model "+id, err)
	}
	if m.ExperimentID != p.src.ID {
		return fmt.Errorf("logged model %s is listed under experiment %s but records experiment %s", id, p.src.ID, m.ExperimentID)
	}
	have, err := dst.ReadModel(ctx, id)
	if err != nil {
		if !tracking.IsNotFound(err) {
			return fmt.Errorf("read logged model %s from the target: %w", id, err)
		}
		have = nil
	}
	artifactURI := ""
	if opts.Artifacts != nil && p.location != "" {
		artifactURI = strings.TrimSuffix(p.location, "/") + "/models/" + id + "/artifacts"
	}
	w, changed, err := diffModel(m, have, p.target, artifactURI)
	if err != nil {
		return err
	}
	var art ArtifactStats
	var artErr error
	if opts.Artifacts != nil && m.ArtifactURI != "" {
		if art, artErr = opts.Artifacts.Copy(ctx, m.ArtifactURI, artifactURI, opts.DryRun); artErr != nil {
			artErr = fmt.Errorf("logged model %s: artifacts: %w", id, artErr)
			if opts.OnError == Stop {
				return artErr
			}
			// With Skip the model's own data still goes in; the problem
			// is reported below.
		}
	}
	after := mergedModel(have, w)
	if changed && !opts.DryRun {
		if err := dst.WriteModel(ctx, w); err != nil {
			return fmt.Errorf("write logged model %s: %w", id, err)
		}
		// Counted from the target itself: a point the target's schema
		// cannot keep apart from another shows as a difference.
		if after, err = dst.ReadModel(ctx, id); err != nil {
			return fmt.Errorf("read back logged model %s: %w", id, err)
		}
	}
	sum.Source.addModel(m)
	sum.Target.addModel(presentOf(m, after))
	if changed {
		sum.Written.Models++
		sum.Written.ModelParams += int64(len(w.Model.Params))
		sum.Written.ModelTags += int64(len(w.Model.Tags))
		sum.Written.ModelMetricPoints += int64(len(w.Model.Metrics))
	} else {
		sum.ModelsUnchanged++
	}
	sum.addArtifacts(art, opts.DryRun)
	return artErr
}

// mergedModel is the target's model after w, counting only what the source
// has (as merged does for runs).
func mergedModel(have *tracking.LoggedModel, w ModelWrite) *tracking.LoggedModel {
	if have == nil {
		m := w.Model
		return &m
	}
	out := *have
	out.Params = append(append([]tracking.Param(nil), have.Params...), w.Model.Params...)
	tags := map[string]bool{}
	for _, t := range have.Tags {
		tags[t.Key] = true
	}
	out.Tags = append([]tracking.Tag(nil), have.Tags...)
	for _, t := range w.Model.Tags {
		if !tags[t.Key] {
			out.Tags = append(out.Tags, t)
		}
	}
	out.Metrics = append(append([]tracking.Metric(nil), have.Metrics...), w.Model.Metrics...)
	return &out
}

// presentOf is what of src the target model holds, so that entities only
// the target has do not hide missing ones.
func presentOf(src, dst *tracking.LoggedModel) *tracking.LoggedModel {
	out := &tracking.LoggedModel{}
	params := map[string]string{}
	for _, p := range dst.Params {
		params[p.Key] = p.Value
	}
	for _, p := range src.Params {
		if v, ok := params[p.Key]; ok && v == p.Value {
			out.Params = append(out.Params, p)
		}
	}
	tags := map[string]string{}
	for _, t := range dst.Tags {
		tags[t.Key] = t.Value
	}
	for _, t := range src.Tags {
		if v, ok := tags[t.Key]; ok && v == t.Value {
			out.Tags = append(out.Tags, t)
		}
	}
	have := map[modelPointKey]int{}
	for _, m := range dst.Metrics {
		have[keyOfModelPoint(m)]++
	}
	for _, m := range src.Metrics {
		if k := keyOfModelPoint(m); have[k] > 0 {
			have[k]--
			out.Metrics = append(out.Metrics, m)
		}
	}
	return out
}
