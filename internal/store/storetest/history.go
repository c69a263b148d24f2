package storetest

import (
	"context"
	"math"
	"testing"

	"github.com/mltrack/mltrack/internal/tracking"
)

// CheckDownsampled compares svc's chart answer (GetMetricHistoryDownsampled)
// for runIDs with the reference: each run's whole history read through
// st.GetMetricHistory, filtered to [start, end] (all when nil) and reduced
// by tracking.Downsample. Stores test their chart reads (step scans, the
// history cache) against it.
func CheckDownsampled(t *testing.T, svc *tracking.Service, st tracking.Store, runIDs []string, key string, start, end *int64, maxPoints int) {
	t.Helper()
	ctx := context.Background()
	got, err := svc.GetMetricHistoryDownsampled(ctx, runIDs, key, start, end, maxPoints)
	if err != nil {
		t.Fatal(err)
	}
	lo, hi := int64(math.MinInt64), int64(math.MaxInt64)
	if start != nil {
		lo, hi = *start, *end
	}
	var want []tracking.Metric
	for _, id := range runIDs {
		hist, err := st.GetMetricHistory(ctx, id, key, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		var in []tracking.Metric
		for _, m := range hist {
			if m.Step >= lo && m.Step <= hi {
				in = append(in, m)
			}
		}
		for _, m := range tracking.Downsample(in, maxPoints) {
			m.RunID = id
			want = append(want, m)
		}
	}
	if len(got) != len(want) {
		t.Fatalf("range %d..%d max %d: %d points, want %d", lo, hi, maxPoints, len(got), len(want))
	}
	for i := range got {
		g, w := got[i], want[i]
		same := g.Value == w.Value || (math.IsNaN(g.Value) && math.IsNaN(w.Value))
		if !same || math.Signbit(g.Value) != math.Signbit(w.Value) || g.Step != w.Step || g.Timestamp != w.Timestamp || g.RunID != w.RunID || g.Key != w.Key {
			t.Fatalf("range %d..%d max %d: point %d = %+v, want %+v", lo, hi, maxPoints, i, g, w)
		}
	}
}
