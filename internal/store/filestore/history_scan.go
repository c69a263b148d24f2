package filestore

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"unsafe"

	"github.com/mltrack/mltrack/internal/tracking"
)

// The chart reads. A metric file is an append-only log with no index:
//   - tracking.MetricLogReader lets the history cache read a file once and
//     then only what was appended to it (whole-history charts);
//   - tracking.MetricStepScanner serves step ranges (zoom), reading the
//     whole file each call; what that saves over GetMetricHistory is its
//     sort and the per-point names.
//
// There is no tracking.LatestMetricReader: the cache follows a file by its
// size, time and last bytes instead.
var (
	_ tracking.MetricStepScanner = (*Store)(nil)
	_ tracking.MetricLogReader   = (*Store)(nil)
)

// metricPath is where runID's file of key lives; false for an unknown run.
// A key is a path below the run's metrics folder, so one that is not a
// valid metric name (it would resolve elsewhere: "../meta.yaml", "/etc/x",
// "a/..", or holds a character MLflow refuses) is refused as MLflow's file
// store refuses it on reads, before any file is opened.
func (s *Store) metricPath(runID, key string) (string, bool, error) {
	if err := tracking.ValidateKeyName(key, "name"); err != nil {
		return "", false, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	r, ok := s.runs[runID]
	if !ok {
		return "", false, nil
	}
	return filepath.Join(s.runDir(r), metricsDir, filepath.FromSlash(key)), true, nil
}

// metricPoints reads one run's metric file; an unknown run or metric has no
// points, as in GetMetricHistory.
func (s *Store) metricPoints(runID, key string) ([]tracking.Metric, error) {
	path, ok, err := s.metricPath(runID, key)
	if err != nil || !ok {
		return nil, err
	}
	points, err := readMetricFile(path, key)
	if os.IsNotExist(err) {
		return nil, nil
	}
	return points, err
}

// MetricLogStat implements tracking.MetricLogReader.
func (s *Store) MetricLogStat(ctx context.Context, runID, key string, at int64) (tracking.MetricLogState, bool, error) {
	path, ok, err := s.metricPath(runID, key)
	if err != nil || !ok {
		return tracking.MetricLogState{}, false, err
	}
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return tracking.MetricLogState{}, false, nil
	}
	if err != nil {
		return tracking.MetricLogState{}, false, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return tracking.MetricLogState{}, false, err
	}
	if !fi.Mode().IsRegular() {
		return tracking.MetricLogState{}, false, nil // a folder of nested keys ("a" of "a/b"), not a metric
	}
	st := tracking.MetricLogState{Size: fi.Size(), ModTime: fi.ModTime().UnixNano()}
	if at > 0 && at <= st.Size {
		if st.Tail, err = readTail(f, at); err != nil {
			return tracking.MetricLogState{}, false, err
		}
	}
	return st, true, nil
}

// readTail returns the up to MetricLogTailBytes bytes of f that end at end.
func readTail(f *os.File, end int64) ([]byte, error) {
	n := min(end, tracking.MetricLogTailBytes)
	b := make([]byte, n)
	if _, err := f.ReadAt(b, end-n); err != nil {
		return nil, err
	}
	return b, nil
}

// ScanMetricLog implements tracking.MetricLogReader. Lines are parsed in
// place, without a string or a tracking.Metric each (parseMetricBytes); a
// line it cannot read is reported as GetMetricHistory reports it.
func (s *Store) ScanMetricLog(ctx context.Context, runID, key string, from int64, fn func(tracking.StepPoint) error) (int64, []byte, error) {
	path, ok, err := s.metricPath(runID, key)
	if err != nil {
		return 0, nil, err
	}
	if !ok {
		return from, nil, nil
	}
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return from, nil, nil
	}
	if err != nil {
		return 0, nil, err
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return from, nil, err // a folder of nested keys: no points
	}
	if _, err := f.Seek(from, io.SeekStart); err != nil {
		return 0, nil, err
	}
	br := bufio.NewReaderSize(f, 1<<18)
	end := from
	for lines := 1; ; lines++ {
		if lines&0xffff == 0 && ctx.Err() != nil {
			return 0, nil, ctx.Err()
		}
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			// A line longer than the buffer: no metric line is; read it whole.
			rest, err2 := br.ReadBytes('\n')
			line, err = append(append([]byte(nil), line...), rest...), err2
		}
		if err != nil {
			if err == io.EOF {
				break // a last line without its newline is still being written
			}
			return 0, nil, err
		}
		end += int64(len(line))
		body := bytes.TrimSpace(line)
		if len(body) == 0 {
			continue
		}
		p, ok := parseMetricBytes(body)
		if !ok {
			m, err := parseMetricLine(key, string(body))
			if err != nil {
				return 0, nil, err
			}
			p = tracking.StepPoint{Step: m.Step, Timestamp: m.Timestamp, Value: m.Value}
		}
		if err := fn(p); err != nil {
			return 0, nil, err
		}
	}
	var tail []byte
	if end > 0 {
		if tail, err = readTail(f, end); err != nil {
			return 0, nil, err
		}
	}
	return end, tail, nil
}

// parseMetricBytes reads the common metric line, "timestamp value step"
// (or without the step, or with a dataset name and digest after it), as
// parseMetricLine does, without allocating. false means "not this simple
// shape": parseMetricLine then decides.
func parseMetricBytes(b []byte) (tracking.StepPoint, bool) {
	var f [5][]byte
	n := 0
	for len(b) > 0 {
		i := bytes.IndexByte(b, ' ')
		if i < 0 {
			i = len(b)
		}
		if n == len(f) || i == 0 {
			return tracking.StepPoint{}, false
		}
		f[n] = b[:i]
		n++
		b = b[min(i+1, len(b)):]
	}
	if n != 2 && n != 3 && n != 5 {
		return tracking.StepPoint{}, false
	}
	ts, err := strconv.ParseInt(unsafe.String(&f[0][0], len(f[0])), 10, 64)
	if err != nil {
		return tracking.StepPoint{}, false
	}
	v, err := strconv.ParseFloat(unsafe.String(&f[1][0], len(f[1])), 64)
	if err != nil {
		return tracking.StepPoint{}, false
	}
	p := tracking.StepPoint{Timestamp: ts, Value: v}
	if n >= 3 {
		if p.Step, err = strconv.ParseInt(unsafe.String(&f[2][0], len(f[2])), 10, 64); err != nil {
			return tracking.StepPoint{}, false
		}
	}
	return p, true
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

var _ tracking.RecentSeriesLister = (*Store)(nil)

// RecentMetricSeries implements tracking.RecentSeriesLister from the index:
// the latest point of each metric is kept there (runEntry.metrics).
func (s *Store) RecentMetricSeries(ctx context.Context, minLatestStep int64, limit int) ([]tracking.SeriesRef, error) {
	if limit <= 0 {
		return nil, nil
	}
	s.mu.RLock()
	runs := make([]*runEntry, 0, len(s.runs))
	for _, r := range s.runs {
		if r.meta.LifecycleStage == tracking.LifecycleActive && !r.exp.deleted && r.exp.meta.LifecycleStage == tracking.LifecycleActive {
			runs = append(runs, r)
		}
	}
	// Newest first; MLflow keeps no start time as 0 here.
	slices.SortFunc(runs, func(a, b *runEntry) int {
		if c := cmp.Compare(b.meta.StartTime, a.meta.StartTime); c != 0 {
			return c
		}
		return strings.Compare(a.meta.RunID, b.meta.RunID)
	})
	var out []tracking.SeriesRef
	for _, r := range runs {
		keys := make([]string, 0, len(r.metrics))
		for k, m := range r.metrics {
			if m.Step >= minLatestStep {
				keys = append(keys, k)
			}
		}
		slices.Sort(keys)
		for _, k := range keys {
			out = append(out, tracking.SeriesRef{RunID: r.meta.RunID, Key: k})
			if len(out) == limit {
				s.mu.RUnlock()
				return out, nil
			}
		}
	}
	s.mu.RUnlock()
	return out, nil
}
