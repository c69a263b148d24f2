package filestore

import (
	"context"
	"os"
	"path/filepath"

	"github.com/mltrack/mltrack/internal/tracking"
)

// The chart reads (tracking.MetricStepScanner). A metric file has no index,
// so each call reads the whole file; what this saves over GetMetricHistory is
// its sort and the per-point names, and Service reads runs concurrently.
// There is no tracking.LatestMetricReader: another process appending to a
// file is not something a latest point could reveal cheaply here, so chart
// reads of this store are never cached.
var _ tracking.MetricStepScanner = (*Store)(nil)

// metricPoints reads one run's metric file; an unknown run or metric has no
// points, as in GetMetricHistory.
func (s *Store) metricPoints(runID, key string) ([]tracking.Metric, error) {
	s.mu.RLock()
	r, ok := s.runs[runID]
	var dir string
	if ok {
		dir = s.runDir(r)
	}
	s.mu.RUnlock()
	if !ok {
		return nil, nil
	}
	points, err := readMetricFile(filepath.Join(dir, metricsDir, filepath.FromSlash(key)), key)
	if os.IsNotExist(err) {
		return nil, nil
	}
	return points, err
}

// MetricStepBounds implements tracking.MetricStepScanner.
func (s *Store) MetricStepBounds(ctx context.Context, runID, key string, lo, hi int64) (first, last int64, ok bool, err error) {
	points, err := s.metricPoints(runID, key)
	if err != nil {
		return 0, 0, false, err
	}
	for _, m := range points {
		if m.Step < lo || m.Step > hi {
			continue
		}
		if !ok {
			first, last, ok = m.Step, m.Step, true
		}
		first, last = min(first, m.Step), max(last, m.Step)
	}
	return first, last, ok, nil
}

// ScanMetricSteps implements tracking.MetricStepScanner.
func (s *Store) ScanMetricSteps(ctx context.Context, runID, key string, lo, hi int64, fn func(tracking.StepPoint) error) error {
	points, err := s.metricPoints(runID, key)
	if err != nil {
		return err
	}
	for _, m := range points {
		if m.Step < lo || m.Step > hi {
			continue
		}
		if err := fn(tracking.StepPoint{Step: m.Step, Timestamp: m.Timestamp, Value: m.Value}); err != nil {
			return err
		}
	}
	return nil
}
