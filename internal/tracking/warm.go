package tracking

import (
	"context"
	"fmt"
	"math"
	"time"
)

// RecentSeriesLister is an optional Store capability that lets Service warm
// the chart history cache after a restart (WarmHistoryCache).
type RecentSeriesLister interface {
	// RecentMetricSeries returns up to limit metric series of active runs in
	// active experiments, runs by start time, newest first (a run without
	// one last), a run's keys in key order. A series whose latest point
	// (latest_metrics) lies at a step below minLatestStep is left out.
	RecentMetricSeries(ctx context.Context, minLatestStep int64, limit int) ([]SeriesRef, error)
}

// SeriesRef names one run's history of one metric.
type SeriesRef struct {
	RunID string
	Key   string
}

// WarmReport says what WarmHistoryCache did.
type WarmReport struct {
	Candidates int   // series the store listed
	Warmed     int   // series read into the cache
	Runs       int   // distinct runs among them
	Present    int   // series already cached (by a request or this server's writes)
	Verified   int   // series loaded from a snapshot and checked against the store
	Skipped    int   // series too large for one entry, or gone meanwhile
	Bytes      int64 // what the warmed entries cost
	Elapsed    time.Duration
	// Stopped says why it ended: "done" (no series left), "full" (the next
	// series would pass the fill line), "cancelled" or "error".
	Stopped string
}

const (
	// WarmMaxPoints is the chart budget warm-up entries are built for: the
	// UI's points per run in a chart of 40 runs or more. An entry serves any
	// chart whose grid unit is at least its block width, so it also serves
	// coarser requests; the UI's 2,500 points for fewer runs read the store
	// once and cache at their own width.
	WarmMaxPoints = 1000
	// warmFillNum/warmFillDen is the share of the cache budget warm-up may
	// fill, leaving the rest for what requests read.
	warmFillNum, warmFillDen = 3, 4
	// warmMaxSeries bounds the list asked of the store. Entries of a
	// 1,000-point grid cost at least 320 bytes, most far more.
	warmMaxSeries = 20_000
	// warmIdlePoll is how often a waiting warm-up looks again for chart
	// reads in progress.
	warmIdlePoll = 20 * time.Millisecond
)

// WarmHistoryCache fills the chart history cache with the histories of the
// most recently started active runs, newest first, so their charts are
// served from memory soon after a restart instead of reading every point on
// the first view. Each series is read exactly as a cold whole-history chart
// read of WarmMaxPoints reads it (downsampleRun), one at a time, and only
// while no chart read is in progress; it stops when the next entry would
// take the cache past 3/4 of its budget, and never evicts or replaces an
// entry. Series whose latest step is below WarmMaxPoints are skipped: a
// cold read of them is cheap. It logs one line when it ends and returns
// ctx's error when cancelled. Without a cache, or a store that scans step
// ranges, reports latest points (or keeps append-only logs, whose entries
// are sized by reading them) and lists recent series, it does nothing.
func (s *Service) WarmHistoryCache(ctx context.Context) (WarmReport, error) {
	start := time.Now()
	rep := WarmReport{Stopped: "done"}
	c := s.histCache
	sc, okScan := s.store.(MetricStepScanner)
	lr, okLatest := s.store.(LatestMetricReader)
	rl, okList := s.store.(RecentSeriesLister)
	if c == nil || !okScan || (!okLatest && s.logs == nil) || !okList {
		return rep, nil
	}
	err := s.warm(ctx, c, sc, lr, rl, &rep)
	rep.Elapsed = time.Since(start)
	switch {
	case err != nil && ctx.Err() != nil:
		rep.Stopped, err = "cancelled", ctx.Err()
	case err != nil:
		rep.Stopped = "error"
	}
	attrs := []any{"series", rep.Warmed, "runs", rep.Runs, "mib", fmt.Sprintf("%.1f", float64(rep.Bytes)/(1<<20)),
		"verified", rep.Verified, "already_cached", rep.Present, "skipped", rep.Skipped, "candidates", rep.Candidates,
		"elapsed", rep.Elapsed.Round(time.Millisecond), "stopped", rep.Stopped}
	if rep.Stopped == "error" {
		s.logger.Warn("history cache warm-up failed", append(attrs, "error", err)...)
	} else {
		s.logger.Info("history cache warmed", attrs...)
	}
	return rep, err
}

func (s *Service) warm(ctx context.Context, c *historyCache, sc MetricStepScanner, lr LatestMetricReader, rl RecentSeriesLister, rep *WarmReport) error {
	fill := c.budget / warmFillDen * warmFillNum
	// Entries loaded from a snapshot first: each is counted against the
	// store (and extended, or read again) before a chart needs it. (A log
	// store's entries are never saved: none to verify.)
	for _, k := range c.unverified() {
		if err := c.waitIdle(ctx); err != nil {
			return err
		}
		if err := s.warmSeries(ctx, sc, lr, k, fill); err != nil {
			return err
		}
		rep.Verified++
	}
	series, err := rl.RecentMetricSeries(ctx, WarmMaxPoints, warmMaxSeries)
	if err != nil {
		return fmt.Errorf("list recent series: %w", err)
	}
	rep.Candidates = len(series)
	runs := map[string]bool{}
	for _, sr := range series {
		if err := c.waitIdle(ctx); err != nil {
			return err
		}
		k := cacheKey{sr.RunID, sr.Key}
		if c.has(k) {
			rep.Present++
			continue
		}
		if s.logs != nil {
			// A log's entry is sized by reading it: stop once less than the
			// largest entry from writes would still fit.
			if c.usedBytes()+ownCacheBlocks*blockBytes > fill {
				rep.Stopped = "full"
				return nil
			}
		} else {
			first, last, ok, err := sc.MetricStepBounds(ctx, sr.RunID, sr.Key, math.MinInt64, math.MaxInt64)
			if err != nil {
				return err
			}
			if !ok {
				rep.Skipped++
				continue
			}
			// The entry downsampleRun would build, sized before reading it.
			shift := newEnvelopeGrid(first, last, (WarmMaxPoints-2)/2).unitShift
			blocks := uint64(last>>shift) - uint64(first>>shift) + 1
			bytes := entryOverhead + int64(blocks)*blockBytes
			if blocks > maxCacheBlocks || bytes > c.budget/4 {
				rep.Skipped++
				continue
			}
			if c.usedBytes()+bytes > fill {
				rep.Stopped = "full"
				return nil
			}
		}
		if err := s.warmSeries(ctx, sc, lr, k, fill); err != nil {
			return err
		}
		if b, ok := c.entryBytes(k); ok {
			rep.Warmed++
			rep.Bytes += b
			runs[sr.RunID] = true
			rep.Runs = len(runs)
		} else if s.logs != nil {
			rep.Skipped++ // too small to need an entry, or too wide for one
		}
	}
	return nil
}

// warmSeries reads one series exactly as a cold whole-history chart of
// WarmMaxPoints does, the latest point first (as downsampleRuns) when the
// store has them; what it builds is kept within fill (finishBuild).
func (s *Service) warmSeries(ctx context.Context, sc MetricStepScanner, lr LatestMetricReader, k cacheKey, fill int64) error {
	q := runQuery{key: k.key, lo: math.MinInt64, hi: math.MaxInt64, whole: true, maxPoints: WarmMaxPoints, fill: fill}
	if lr != nil {
		latest, err := lr.LatestMetrics(ctx, []string{k.run}, k.key)
		if err != nil {
			return err
		}
		q.latest, q.stamped = latest, true
	}
	_, err := s.downsampleRun(ctx, sc, k.run, q)
	return err
}

// waitIdle returns once no chart read is in progress: warm-up is worth less
// than the request it would slow down.
func (c *historyCache) waitIdle(ctx context.Context) error {
	for c.reading.Load() > 0 {
		t := time.NewTimer(warmIdlePoll)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
	return ctx.Err()
}

func (c *historyCache) usedBytes() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.used
}

func (c *historyCache) entryBytes(k cacheKey) (int64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.entries[k]
	if !ok {
		return 0, false
	}
	return el.Value.(*cacheEntry).bytes, true
}

// unverified lists the entries loaded from a snapshot not yet checked
// against the store, most recently used first.
func (c *historyCache) unverified() []cacheKey {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []cacheKey
	for el := c.lru.Front(); el != nil; el = el.Next() {
		if e := el.Value.(*cacheEntry); !e.verified {
			out = append(out, e.k)
		}
	}
	return out
}
