package tracking

import (
	"math"
	"math/rand/v2"
	"testing"
)

func series(values ...float64) []Metric {
	out := make([]Metric, len(values))
	for i, v := range values {
		out[i] = Metric{Key: "loss", Value: v, Step: int64(i), Timestamp: int64(1000 + i)}
	}
	return out
}

func steps(ms []Metric) []int64 {
	out := make([]int64, len(ms))
	for i, m := range ms {
		out[i] = m.Step
	}
	return out
}

func TestDownsample(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	tests := []struct {
		name      string
		in        []Metric
		max       int
		wantSteps []int64
	}{
		{"empty", nil, 10, []int64{}},
		{"under budget is a copy", series(1, 2, 3), 10, []int64{0, 1, 2}},
		{"exactly budget", series(1, 2, 3, 4), 4, []int64{0, 1, 2, 3}},
		// 10 points, budget 4: first, last, one bucket over steps 1..8 keeping min (step 1) and max (step 5).
		{"spike survives", series(5, 1, 2, 3, 2, 99, 2, 3, 2, 4), 4, []int64{0, 1, 5, 9}},
		{"min after max keeps order", series(0, 5, 9, 3, -7, 2, 0), 4, []int64{0, 2, 4, 6}},
		{"flat bucket keeps one point", series(1, 1, 1, 1, 1, 1), 4, []int64{0, 1, 5}},
		{"budget below minimum is raised", series(0, 1, 2, 3, 4, 5), 1, []int64{0, 1, 4, 5}},
		{"NaN never wins", series(0, nan, 3, nan, 1, 0), 4, []int64{0, 2, 4, 5}},
		{"all-NaN bucket keeps its first point", series(0, nan, nan, nan, 1), 4, []int64{0, 1, 4}},
		{"infinity is an extreme", series(0, 1, inf, 2, 3, 0), 4, []int64{0, 1, 2, 5}},
		// 22 points, budget 6: two buckets of ten interior points each.
		{"two buckets", series(0, 1, 2, 3, 4, 50, 6, 7, 8, 9, 10, 11, 12, 13, -40, 15, 16, 17, 18, 19, 20, 21), 6,
			[]int64{0, 1, 5, 14, 20, 21}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := append([]Metric(nil), tt.in...)
			got := Downsample(tt.in, tt.max)
			gs := steps(got)
			if len(gs) != len(tt.wantSteps) {
				t.Fatalf("steps = %v, want %v", gs, tt.wantSteps)
			}
			for i := range gs {
				if gs[i] != tt.wantSteps[i] {
					t.Fatalf("steps = %v, want %v", gs, tt.wantSteps)
				}
			}
			for i := range in {
				if in[i].Step != tt.in[i].Step || !(in[i].Value == tt.in[i].Value || math.IsNaN(in[i].Value)) {
					t.Fatal("input was modified")
				}
			}
		})
	}
}

// Properties on random walks with spikes: budget respected, output is an
// ordered subsequence, endpoints kept, and the global extremes survive.
func TestDownsampleProperties(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := 0; trial < 200; trial++ {
		n := 1 + rng.IntN(5000)
		budget := 1 + rng.IntN(600)
		vals := make([]float64, n)
		v := 0.0
		for i := range vals {
			v += rng.NormFloat64()
			if rng.IntN(500) == 0 {
				vals[i] = v + 1000*rng.NormFloat64()
				continue
			}
			vals[i] = v
		}
		in := series(vals...)
		got := Downsample(in, budget)
		limit := max(budget, MinDownsamplePoints)
		if len(got) > limit {
			t.Fatalf("n=%d budget=%d: %d points", n, budget, len(got))
		}
		if got[0].Step != 0 || got[len(got)-1].Step != int64(n-1) {
			t.Fatalf("endpoints lost: first %d last %d n %d", got[0].Step, got[len(got)-1].Step, n)
		}
		for i := 1; i < len(got); i++ {
			if got[i].Step <= got[i-1].Step {
				t.Fatalf("not an ordered subsequence at %d", i)
			}
		}
		inMin, inMax := valueRange(in)
		outMin, outMax := valueRange(got)
		if inMin != outMin || inMax != outMax {
			t.Fatalf("extremes changed: in [%v,%v] out [%v,%v]", inMin, inMax, outMin, outMax)
		}
	}
}

func valueRange(ms []Metric) (lo, hi float64) {
	lo, hi = math.Inf(1), math.Inf(-1)
	for _, p := range ms {
		lo, hi = math.Min(lo, p.Value), math.Max(hi, p.Value)
	}
	return lo, hi
}

func BenchmarkDownsample(b *testing.B) {
	in := make([]Metric, 1_000_000)
	for i := range in {
		in[i] = Metric{Value: math.Sin(float64(i) / 100), Step: int64(i)}
	}
	b.ReportAllocs()
	for b.Loop() {
		Downsample(in, 2000)
	}
}
