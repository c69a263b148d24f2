package tracking

import (
	"math"
	"slices"
)

// MinDownsamplePoints is the smallest budget Downsample honours: first, last,
// and one min/max pair.
const MinDownsamplePoints = 4

// StepPoint is one stored point of a metric without its names: what chart
// reads scan and the history cache keeps.
type StepPoint struct {
	Step      int64
	Timestamp int64
	// Value is NaN for a NaN point, and whatever the store returns for ±Inf
	// (the SQL store returns ±MaxFloat64, as MLflow stores them).
	Value float64
}

// comparePoints is the plotting order: step, timestamp, value (NaN before
// every number), and -0 before +0, so it is total on what a store returns
// and two points compare equal only when they print the same.
func comparePoints(a, b StepPoint) int {
	switch {
	case a.Step != b.Step:
		return cmpInt(a.Step, b.Step)
	case a.Timestamp != b.Timestamp:
		return cmpInt(a.Timestamp, b.Timestamp)
	}
	an, bn := math.IsNaN(a.Value), math.IsNaN(b.Value)
	switch {
	case an || bn:
		return cmpBool(bn, an) // NaN first; two NaN are equal
	case a.Value < b.Value:
		return -1
	case a.Value > b.Value:
		return 1
	}
	return cmpBool(math.Signbit(b.Value), math.Signbit(a.Value))
}

func cmpInt(a, b int64) int {
	if a < b {
		return -1
	}
	return 1
}

// cmpBool orders false before true.
func cmpBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}

// extremes summarises a set of points (a chart bucket, or a block of the
// history cache): how many there are, the lowest and the highest non-NaN
// point, the earliest in plotting order winning ties, and, while the set
// holds only NaN, its first point in both min and max.
type extremes struct {
	count    int
	min, max StepPoint
	hasValue bool
}

func (e *extremes) add(p StepPoint) {
	e.count++
	if math.IsNaN(p.Value) {
		if !e.hasValue && (e.count == 1 || comparePoints(p, e.min) < 0) {
			e.min, e.max = p, p
		}
		return
	}
	if !e.hasValue {
		e.min, e.max, e.hasValue = p, p, true
		return
	}
	if lower(p, e.min) {
		e.min = p
	}
	if higher(p, e.max) {
		e.max = p
	}
}

// merge adds o's points to e; which set came first does not matter.
func (e *extremes) merge(o extremes) {
	switch {
	case o.count == 0:
		return
	case e.count == 0:
		*e = o
		return
	}
	e.count += o.count
	switch {
	case !o.hasValue:
		if !e.hasValue && comparePoints(o.min, e.min) < 0 {
			e.min, e.max = o.min, o.min
		}
	case !e.hasValue:
		e.min, e.max, e.hasValue = o.min, o.max, true
	default:
		if lower(o.min, e.min) {
			e.min = o.min
		}
		if higher(o.max, e.max) {
			e.max = o.max
		}
	}
}

// lower reports whether p beats the current minimum cur (both non-NaN).
func lower(p, cur StepPoint) bool {
	return p.Value < cur.Value || (p.Value == cur.Value && comparePoints(p, cur) < 0)
}

// higher reports whether p beats the current maximum cur (both non-NaN).
func higher(p, cur StepPoint) bool {
	return p.Value > cur.Value || (p.Value == cur.Value && comparePoints(p, cur) < 0)
}

// envelopeGrid cuts a step range into chart buckets: bucket q holds the steps
// [origin + q*width, origin + (q+1)*width - 1]. width is m<<unitShift with
// m < 16 and origin a multiple of 1<<unitShift, so every bucket is a whole
// number of history-cache blocks of any power-of-two width up to that unit.
type envelopeGrid struct {
	origin    int64
	width     uint64
	unitShift uint
	n         int // buckets from the first step to the last
}

// bucket returns the bucket of a step at or after the grid's origin. The
// clamp only matters for a range spanning nearly all of int64, where the
// widest grid still has one bucket too many.
func (g envelopeGrid) bucket(step int64) int {
	return int(min((uint64(step)-uint64(g.origin))/g.width, uint64(g.n-1)))
}

// newEnvelopeGrid picks the narrowest bucket width of the form m<<j (m < 16,
// and m >= 8 when j > 0: at most 1/8 wider than needed) whose buckets,
// aligned on multiples of 1<<j, cover [first, last] in at most buckets
// buckets. Widths of that form let the history cache answer any request
// from blocks of 1<<j steps. Arithmetic is unsigned so ranges near the ends
// of int64 cannot overflow.
func newEnvelopeGrid(first, last int64, buckets int) envelopeGrid {
	span := uint64(last) - uint64(first)
	lowest := max(1, span/uint64(buckets)) // fewer steps per bucket cannot fit
	j := uint(0)
	for lowest>>j >= 16 {
		j++
	}
	m := (lowest + (1 << j) - 1) >> j
	for j < 60 {
		if m >= 16 {
			m, j = 8, j+1
			continue
		}
		width := m << j
		origin := first &^ (1<<j - 1)
		n := (uint64(last)-uint64(origin))/width + 1
		if n <= uint64(buckets) {
			return envelopeGrid{origin: origin, width: width, unitShift: j, n: int(n)}
		}
		m++
	}
	return envelopeGrid{origin: first, width: math.MaxUint64, n: 1}
}

// Downsample reduces one run's history of one metric to at most maxPoints
// points for charting without losing spikes; points may come in any order and
// the result is in plotting order (step, timestamp, value). At most maxPoints
// points are returned as they are. Otherwise the result is the first and the
// last point, and from each bucket of consecutive steps (newEnvelopeGrid cuts
// first..last step into at most (maxPoints-2)/2 buckets) its lowest and
// highest point, or its first point when it holds only NaN; a point already
// taken is not repeated. NaN never wins a bucket, ±Inf do; ties go to the
// earlier point. So every spike survives, and the result's finite min and
// max equal the input's.
//
// This is the definition the history cache and the stores' scans reproduce
// exactly. A maxPoints below MinDownsamplePoints counts as
// MinDownsamplePoints. The input is not modified.
func Downsample(points []Metric, maxPoints int) []Metric {
	maxPoints = max(maxPoints, MinDownsamplePoints)
	if len(points) == 0 {
		return []Metric{}
	}
	key := points[0].Key
	sp := make([]StepPoint, len(points))
	for i, m := range points {
		sp[i] = StepPoint{Step: m.Step, Timestamp: m.Timestamp, Value: m.Value}
	}
	slices.SortFunc(sp, comparePoints)
	if len(sp) <= maxPoints {
		return stepMetrics(key, sp)
	}
	env := newEnvelope(sp[0].Step, sp[len(sp)-1].Step, maxPoints)
	for _, p := range sp {
		env.add(p)
	}
	return stepMetrics(key, env.points())
}

func stepMetrics(key string, ps []StepPoint) []Metric {
	out := make([]Metric, len(ps))
	for i, p := range ps {
		out[i] = Metric{Key: key, Value: p.Value, Timestamp: p.Timestamp, Step: p.Step}
	}
	return out
}

// envelope accumulates Downsample's result for one run, point by point in
// any order, or from cache blocks through addBlock.
type envelope struct {
	grid          envelopeGrid
	buckets       []extremes
	count         int
	first, last   StepPoint
	limit         int         // maxPoints
	all           []StepPoint // every point while count <= limit
	keepAll, seen bool
}

func newEnvelope(first, last int64, maxPoints int) *envelope {
	g := newEnvelopeGrid(first, last, (maxPoints-2)/2)
	return &envelope{grid: g, buckets: make([]extremes, g.n), limit: maxPoints, keepAll: true}
}

func (e *envelope) add(p StepPoint) {
	e.count++
	e.buckets[e.grid.bucket(p.Step)].add(p)
	switch {
	case !e.seen:
		e.first, e.last, e.seen = p, p, true
	case comparePoints(p, e.first) < 0:
		e.first = p
	case comparePoints(p, e.last) >= 0:
		e.last = p
	}
	if e.keepAll {
		if e.count > e.limit {
			e.keepAll, e.all = false, nil
		} else {
			e.all = append(e.all, p)
		}
	}
}

// addBlock adds a cache block whose steps all lie in [start, start+width)
// of one bucket and strictly between the envelope's first and last point.
func (e *envelope) addBlock(start int64, b extremes) {
	if b.count == 0 {
		return
	}
	e.count += b.count
	e.keepAll, e.all = false, nil
	e.buckets[e.grid.bucket(start)].merge(b)
}

// complete reports whether points can answer: false when the envelope holds
// few enough points to be returned whole but did not keep them (it was fed
// cache blocks), so the caller must read them.
func (e *envelope) complete() bool { return e.count > e.limit || e.keepAll }

func (e *envelope) points() []StepPoint {
	if e.count == 0 {
		return nil
	}
	if e.count <= e.limit {
		slices.SortFunc(e.all, comparePoints)
		return e.all
	}
	out := make([]StepPoint, 0, 2+2*len(e.buckets))
	out = append(out, e.first)
	keep := func(p StepPoint) {
		if comparePoints(p, e.first) != 0 && comparePoints(p, e.last) != 0 {
			out = append(out, p)
		}
	}
	for _, b := range e.buckets {
		switch {
		case b.count == 0:
		case comparePoints(b.min, b.max) == 0:
			keep(b.min)
		case comparePoints(b.min, b.max) < 0:
			keep(b.min)
			keep(b.max)
		default:
			keep(b.max)
			keep(b.min)
		}
	}
	return append(out, e.last)
}
