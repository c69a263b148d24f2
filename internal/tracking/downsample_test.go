package tracking

import (
	"math"
	"math/big"
	"math/rand/v2"
	"slices"
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
		// 10 steps, budget 4: one bucket over all steps; first and last are
		// kept, and the bucket's min (step 1) and max (step 5).
		{"spike survives", series(5, 1, 2, 3, 2, 99, 2, 3, 2, 4), 4, []int64{0, 1, 5, 9}},
		{"min after max keeps order", series(0, 5, 9, 3, -7, 2, 0), 4, []int64{0, 2, 4, 6}},
		// The bucket's min and max are the first point (ties go to the
		// earliest), which is not repeated.
		{"flat bucket adds nothing", series(1, 1, 1, 1, 1, 1), 4, []int64{0, 5}},
		{"budget below minimum is raised", series(0, 1, 2, 3, 4, 5), 1, []int64{0, 5}},
		{"NaN never wins", series(1, nan, 3, nan, 0, 2), 4, []int64{0, 2, 4, 5}},
		{"infinity is an extreme", series(0, 1, inf, 2, 3, 0), 4, []int64{0, 2, 5}},
		// 22 steps, budget 6: two buckets of 11 steps (width 11, origin 0);
		// the first's min is the first point, the second's max the last.
		{"two buckets", series(0, 1, 2, 3, 4, 50, 6, 7, 8, 9, 10, 11, 12, 13, -40, 15, 16, 17, 18, 19, 20, 21), 6,
			[]int64{0, 5, 14, 21}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := append([]Metric(nil), tt.in...)
			got := Downsample(tt.in, tt.max)
			if gs := steps(got); !slices.Equal(gs, tt.wantSteps) {
				t.Fatalf("steps = %v, want %v", gs, tt.wantSteps)
			}
			for i := range in {
				if in[i].Step != tt.in[i].Step || !(in[i].Value == tt.in[i].Value || math.IsNaN(in[i].Value)) {
					t.Fatal("input was modified")
				}
			}
		})
	}
}

func TestDownsampleAllNaNBucket(t *testing.T) {
	nan := math.NaN()
	// 60 steps, budget 8 (three buckets of 20): the second holds only NaN
	// and keeps its first point, step 20; the third's max (6) is at step 41
	// and its min (0) at 42.
	vals := make([]float64, 60)
	for i := range vals {
		vals[i] = float64(i % 7)
		if i >= 20 && i < 40 {
			vals[i] = nan
		}
	}
	got := steps(Downsample(series(vals...), 8))
	if want := []int64{0, 6, 20, 41, 42, 59}; !slices.Equal(got, want) {
		t.Fatalf("steps = %v, want %v", got, want)
	}
}

func TestComparePoints(t *testing.T) {
	nan := math.NaN()
	ordered := []StepPoint{
		{Step: -5, Timestamp: 9, Value: 1},
		{Step: 0, Timestamp: 1, Value: nan},
		{Step: 0, Timestamp: 1, Value: math.Inf(-1)},
		{Step: 0, Timestamp: 1, Value: math.Copysign(0, -1)},
		{Step: 0, Timestamp: 1, Value: 0},
		{Step: 0, Timestamp: 1, Value: math.Inf(1)},
		{Step: 0, Timestamp: 2, Value: -1},
		{Step: 1, Timestamp: 0, Value: -1},
	}
	for i := range ordered {
		for j := range ordered {
			want := 0
			if i < j {
				want = -1
			} else if i > j {
				want = 1
			}
			if got := comparePoints(ordered[i], ordered[j]); got != want {
				t.Errorf("compare(%v, %v) = %d, want %d", ordered[i], ordered[j], got, want)
			}
		}
	}
}

// niceWidths lists, in increasing order, the widths newEnvelopeGrid may pick:
// m<<j with m < 16 and m >= 8 when j > 0.
func niceWidths() []*big.Int {
	var out []*big.Int
	for j := uint(0); j < 60; j++ { // 15<<59 is the widest that fits uint64 with room
		for m := int64(1); m < 16; m++ {
			if j > 0 && m < 8 {
				continue
			}
			out = append(out, new(big.Int).Lsh(big.NewInt(m), j))
		}
	}
	return out
}

// bruteGrid is the definition of newEnvelopeGrid in exact arithmetic: the
// narrowest nice width whose aligned buckets from first to last number at
// most buckets; origin rounds first down to the width's power-of-two unit.
func bruteGrid(first, last int64, buckets int) (origin, width *big.Int, n int64) {
	f, l := big.NewInt(first), big.NewInt(last)
	for _, w := range niceWidths() {
		unit := new(big.Int).Lsh(big.NewInt(1), uint(max(0, w.BitLen()-4))) // m has 4 bits
		o := new(big.Int).Mul(new(big.Int).Div(f, unit), unit)              // Div floors for a positive divisor
		cnt := new(big.Int).Div(new(big.Int).Sub(l, o), w)
		cnt.Add(cnt, big.NewInt(1))
		if cnt.Cmp(big.NewInt(int64(buckets))) <= 0 {
			return o, w, cnt.Int64()
		}
	}
	return f, nil, 1 // no nice width fits: one bucket
}

func TestEnvelopeGrid(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	type tc struct {
		first, last int64
		buckets     int
	}
	cases := []tc{
		{0, 99999, 499}, {0, 99999, 1249}, {-1, 0, 1}, {0, 0, 1}, {5, 5, 3}, {-7, 12, 2},
		{math.MinInt64, math.MaxInt64, 1}, {math.MinInt64, math.MaxInt64, 2}, {math.MinInt64, math.MaxInt64, 4999},
		{math.MaxInt64 - 3, math.MaxInt64, 1}, {math.MinInt64, math.MinInt64 + 100, 7}, {-1 << 40, 1 << 40, 499},
	}
	for i := 0; i < 3000; i++ {
		a, b := randStep(rng), randStep(rng)
		cases = append(cases, tc{min(a, b), max(a, b), 1 + rng.IntN(600)})
	}
	for _, c := range cases {
		g := newEnvelopeGrid(c.first, c.last, c.buckets)
		o, w, n := bruteGrid(c.first, c.last, c.buckets)
		if w == nil {
			if g.width != math.MaxUint64 || g.n != 1 {
				t.Fatalf("%+v: got %+v, want the one-bucket fallback", c, g)
			}
			continue
		}
		if !w.IsUint64() || g.width != w.Uint64() || g.origin != o.Int64() || int64(g.n) != n {
			t.Fatalf("%+v: got %+v, want origin %v width %v n %d", c, g, o, w, n)
		}
		if g.n > c.buckets || g.bucket(c.first) != 0 || g.bucket(c.last) != g.n-1 {
			t.Fatalf("%+v: grid %+v does not cover the range in %d buckets", c, g, c.buckets)
		}
		if g.origin&(1<<g.unitShift-1) != 0 || g.width%(1<<g.unitShift) != 0 || g.width>>g.unitShift >= 16 {
			t.Fatalf("%+v: grid %+v is not aligned on its unit", c, g)
		}
	}
}

func randStep(rng *rand.Rand) int64 {
	switch rng.IntN(4) {
	case 0:
		return rng.Int64N(200) - 50
	case 1:
		return rng.Int64N(1 << 20)
	case 2:
		return int64(rng.Uint64())
	}
	if rng.IntN(2) == 0 {
		return math.MinInt64 + rng.Int64N(1000)
	}
	return math.MaxInt64 - rng.Int64N(1000)
}

// bruteEnvelope is Downsample's definition written plainly: filter to the
// range, sort, group the points by bucket, and pick each group's extremes by
// sorting it.
func bruteEnvelope(pts []StepPoint, lo, hi int64, maxPoints int) []StepPoint {
	maxPoints = max(maxPoints, MinDownsamplePoints)
	var in []StepPoint
	for _, p := range pts {
		if p.Step >= lo && p.Step <= hi {
			in = append(in, p)
		}
	}
	slices.SortFunc(in, comparePoints)
	if len(in) <= maxPoints {
		return in
	}
	first, last := in[0], in[len(in)-1]
	o, w, _ := bruteGrid(first.Step, last.Step, (maxPoints-2)/2)
	groups := map[string][]StepPoint{}
	var order []string
	for _, p := range in {
		q := "0"
		if w != nil {
			q = new(big.Int).Div(new(big.Int).Sub(big.NewInt(p.Step), o), w).String()
		}
		if _, ok := groups[q]; !ok {
			order = append(order, q)
		}
		groups[q] = append(groups[q], p)
	}
	out := []StepPoint{first}
	for _, q := range order { // points were sorted, so buckets come in order
		g := groups[q]
		var vals []StepPoint
		for _, p := range g {
			if !math.IsNaN(p.Value) {
				vals = append(vals, p)
			}
		}
		var pick []StepPoint
		if len(vals) == 0 {
			pick = []StepPoint{g[0]}
		} else {
			byValue := func(a, b StepPoint) int {
				if a.Value != b.Value {
					if a.Value < b.Value {
						return -1
					}
					return 1
				}
				return comparePoints(a, b)
			}
			lowest := slices.MinFunc(vals, byValue)
			// The highest value, earliest point among equals.
			highest := vals[0]
			for _, p := range vals[1:] {
				if p.Value > highest.Value {
					highest = p
				}
			}
			pick = []StepPoint{lowest, highest}
			slices.SortFunc(pick, comparePoints)
			pick = slices.CompactFunc(pick, func(a, b StepPoint) bool { return comparePoints(a, b) == 0 })
		}
		for _, p := range pick {
			if comparePoints(p, first) != 0 && comparePoints(p, last) != 0 {
				out = append(out, p)
			}
		}
	}
	return append(out, last)
}

// randomHistory makes n points with the shapes that break reductions:
// duplicate steps, sparse and negative steps, ties, NaN, ±Inf and -0.
func randomHistory(rng *rand.Rand, n int) []StepPoint {
	out := make([]StepPoint, 0, n)
	base := rng.Int64N(1000) - 500
	stride := []int64{1, 1, 3, 1000}[rng.IntN(4)]
	values := []float64{0, 1, -1, 2.5, math.NaN(), math.Inf(1), math.Inf(-1), math.Copysign(0, -1)}
	ties := rng.IntN(2) == 0
	step := base
	seen := map[StepPoint]bool{}
	for len(out) < n {
		if rng.IntN(4) != 0 {
			step += stride * (1 + rng.Int64N(3))
		}
		var v float64
		switch {
		case ties:
			v = values[rng.IntN(len(values))]
		case rng.IntN(50) == 0:
			v = values[4+rng.IntN(4)]
		default:
			v = rng.NormFloat64()
		}
		p := StepPoint{Step: step, Timestamp: 1000 + rng.Int64N(5), Value: v}
		k := pointID(p)
		if seen[k] { // stores keep one copy of a repeated point
			continue
		}
		seen[k] = true
		out = append(out, p)
	}
	rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

func samePoints(a, b []StepPoint) bool {
	return slices.EqualFunc(a, b, func(x, y StepPoint) bool { return comparePoints(x, y) == 0 })
}

func TestDownsampleMatchesBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for trial := 0; trial < 400; trial++ {
		pts := randomHistory(rng, 1+rng.IntN(3000))
		budget := 1 + rng.IntN(300)
		ms := make([]Metric, len(pts))
		for i, p := range pts {
			ms[i] = Metric{Key: "k", Step: p.Step, Timestamp: p.Timestamp, Value: p.Value}
		}
		got := Downsample(ms, budget)
		gp := make([]StepPoint, len(got))
		for i, m := range got {
			gp[i] = StepPoint{Step: m.Step, Timestamp: m.Timestamp, Value: m.Value}
		}
		want := bruteEnvelope(pts, math.MinInt64, math.MaxInt64, budget)
		if !samePoints(gp, want) {
			t.Fatalf("trial %d (n=%d budget=%d):\n got %v\nwant %v", trial, len(pts), budget, gp, want)
		}
	}
}

// Properties on random walks with spikes: budget respected, output in
// plotting order, endpoints kept, and the global extremes survive.
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
		// Buckets are never much wider than the budget needs: at least 7/8
		// of the (budget-2)/2 buckets hold points here (dense steps).
		if n > limit && len(got) < (limit-2)/2*7/8 {
			t.Fatalf("n=%d budget=%d: only %d points", n, budget, len(got))
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
