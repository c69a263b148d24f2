package sqlstore

import (
	"context"
	"math"
	"math/rand/v2"
	"sync/atomic"
	"testing"

	"github.com/mltrack/mltrack/internal/tracking"
)

// scanCounter counts the points chart reads take from the store.
type scanCounter struct {
	*Store
	scanned atomic.Int64
}

func (c *scanCounter) ScanMetricSteps(ctx context.Context, runID, key string, lo, hi int64, fn func(tracking.StepPoint) error) error {
	return c.Store.ScanMetricSteps(ctx, runID, key, lo, hi, func(p tracking.StepPoint) error {
		c.scanned.Add(1)
		return fn(p)
	})
}

// Histories of runs created through the service are cached from its writes:
// the first chart read needs only the edge blocks, so the stamps the cache
// computes must be the latest points the database keeps. Random appends,
// writes into the past and another process's appends must leave every
// answer equal to a whole read.
func TestHistoryCacheFromOwnWrites(t *testing.T) {
	for name, pair := range openHistoryPairs(t) {
		t.Run(name, func(t *testing.T) {
			s, other := pair(t)
			ctx := context.Background()
			exp, err := s.CreateExperiment(ctx, tracking.NewExperiment{Name: "own"})
			if err != nil {
				t.Fatal(err)
			}
			cs := &scanCounter{Store: s}
			svc := tracking.NewService(cs, tracking.ServiceOptions{})
			newRun := func() string {
				r, err := svc.CreateRun(ctx, tracking.NewRun{ExperimentID: exp, StartTime: 1})
				if err != nil {
					t.Fatal(err)
				}
				return r.Info.RunID
			}
			id := newRun()
			ms := make([]tracking.Metric, 20_000)
			for i := range ms {
				ms[i] = tracking.Metric{Key: "loss", Value: math.Cos(float64(i) / 70), Timestamp: 5000 + int64(i), Step: int64(i)}
			}
			ms[77].Value = math.NaN()
			logAll(t, func(b []tracking.Metric) error { return svc.LogBatch(ctx, id, b, nil, nil) }, ms)
			cs.scanned.Store(0)
			checkHistory(t, svc, s, []string{id}, "loss", nil, nil, 500)
			if n := cs.scanned.Load(); n > 64 {
				t.Fatalf("first read of a history written here scanned %d points, want edge blocks only", n)
			}

			rng := rand.New(rand.NewPCG(21, 22))
			runs := []string{id, newRun(), newRun()}
			maxStep := map[string]int64{id: 19_999}
			for op := 0; op < 100; op++ {
				id := runs[rng.IntN(len(runs))]
				switch r := rng.IntN(10); {
				case r < 5:
					checkHistory(t, svc, s, []string{runs[rng.IntN(3)], runs[rng.IntN(3)]}, "loss", nil, nil, 4+rng.IntN(300))
				case r < 9: // this server appends, or writes into the past
					from := maxStep[id]
					if rng.IntN(5) == 0 {
						from = rng.Int64N(from + 1)
					}
					ms := randomPoints(rng, "loss", from, 1+rng.IntN(300))
					logAll(t, func(b []tracking.Metric) error { return svc.LogBatch(ctx, id, b, nil, nil) }, ms)
					maxStep[id] = max(maxStep[id], ms[len(ms)-1].Step)
				default: // another process appends
					ms := randomPoints(rng, "loss", maxStep[id], 1+rng.IntN(50))
					logAll(t, func(b []tracking.Metric) error { return other.LogBatch(ctx, id, b, nil, nil) }, ms)
					maxStep[id] = max(maxStep[id], ms[len(ms)-1].Step)
				}
			}
		})
	}
}
