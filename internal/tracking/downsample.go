package tracking

import "math"

// MinDownsamplePoints is the smallest budget Downsample honours: first, last,
// and one min/max pair.
const MinDownsamplePoints = 4

// Downsample reduces one metric series to at most maxPoints points for
// charting without losing spikes. It keeps the first and the last point and
// splits the rest into equal index buckets; each bucket contributes its
// lowest and highest value (one point when they coincide), in their original
// order. So every local extreme that matters at chart resolution survives,
// and the result's finite min and max equal the input's.
//
// points must already be in plotting order (by step, or by timestamp for a
// time axis) and belong to one run and key. NaN values cannot be drawn and
// never win a bucket; a bucket of only NaN keeps its first point so gaps stay
// visible. ±Inf compare as extremes and are kept. A maxPoints below
// MinDownsamplePoints counts as MinDownsamplePoints. The result is a new
// slice; the input is not modified.
func Downsample(points []Metric, maxPoints int) []Metric {
	if maxPoints < MinDownsamplePoints {
		maxPoints = MinDownsamplePoints
	}
	n := len(points)
	if n <= maxPoints {
		return append([]Metric(nil), points...)
	}
	interior := points[1 : n-1]
	buckets := (maxPoints - 2) / 2
	out := make([]Metric, 0, 2+2*buckets)
	out = append(out, points[0])
	for b := 0; b < buckets; b++ {
		// Integer bounds spread the remainder over the buckets, so bucket
		// sizes differ by at most one.
		lo := b * len(interior) / buckets
		hi := (b + 1) * len(interior) / buckets
		if lo == hi {
			continue
		}
		out = appendExtremes(out, interior[lo:hi])
	}
	return append(out, points[n-1])
}

// appendExtremes appends the bucket's min and max points in input order.
func appendExtremes(out []Metric, bucket []Metric) []Metric {
	minI, maxI := -1, -1
	for i, p := range bucket {
		if math.IsNaN(p.Value) {
			continue
		}
		if minI < 0 || p.Value < bucket[minI].Value {
			minI = i
		}
		if maxI < 0 || p.Value > bucket[maxI].Value {
			maxI = i
		}
	}
	switch {
	case minI < 0:
		return append(out, bucket[0])
	case minI == maxI:
		return append(out, bucket[minI])
	case minI < maxI:
		return append(out, bucket[minI], bucket[maxI])
	default:
		return append(out, bucket[maxI], bucket[minI])
	}
}
