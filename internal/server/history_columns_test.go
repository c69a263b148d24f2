package server

import (
	"encoding/json"
	"math"
	"testing"

	"github.com/mltrack/mltrack/internal/tracking"
)

func TestHistoryColumnsJSON(t *testing.T) {
	m := func(run string, step int64, v float64) tracking.Metric {
		return tracking.Metric{Key: "loss", RunID: run, Step: step, Timestamp: 1000 + step, Value: v}
	}
	tests := []struct {
		name string
		in   []tracking.Metric
		want string
	}{
		{"empty", nil, `{"runs":[]}`},
		{"one run", []tracking.Metric{m("a", 0, 1.5), m("a", 7, -2)},
			`{"runs":[{"run_id":"a","steps":[0,7],"timestamps":[1000,1007],"values":[1.5,-2]}]}`},
		{"special values as MLflow writes them", []tracking.Metric{m("a", 1, math.NaN()), m("a", 2, math.Inf(1)), m("a", 3, math.Inf(-1)), m("a", 4, 1e300), m("a", 5, 1e-7)},
			`{"runs":[{"run_id":"a","steps":[1,2,3,4,5],"timestamps":[1001,1002,1003,1004,1005],"values":["NaN","Infinity","-Infinity",1e+300,1e-07]}]}`},
		{"runs in order, a repeated run once", []tracking.Metric{m("b", 1, 1), m("a", 2, 2), m("b", 1, 1)},
			`{"runs":[{"run_id":"b","steps":[1],"timestamps":[1001],"values":[1]},{"run_id":"a","steps":[2],"timestamps":[1002],"values":[2]}]}`},
		{"run id escaped", []tracking.Metric{m(`q"<`, 1, 0)},
			`{"runs":[{"run_id":"q\"\u003c","steps":[1],"timestamps":[1001],"values":[0]}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := json.Marshal(columnsOf(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != tt.want {
				t.Errorf("got  %s\nwant %s", b, tt.want)
			}
		})
	}
}

// The compact answer holds the same points as the default one.
func TestHistoryColumnsMatchObjects(t *testing.T) {
	var ms []tracking.Metric
	for i := range 50 {
		ms = append(ms, tracking.Metric{Key: "loss", RunID: []string{"r1", "r2"}[i/25], Step: int64(i * 3), Timestamp: int64(i), Value: math.Sin(float64(i))})
	}
	b, err := json.Marshal(columnsOf(ms))
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Runs []struct {
			RunID      string    `json:"run_id"`
			Steps      []int64   `json:"steps"`
			Timestamps []int64   `json:"timestamps"`
			Values     []float64 `json:"values"`
		} `json:"runs"`
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	var back []tracking.Metric
	for _, r := range got.Runs {
		for i := range r.Steps {
			back = append(back, tracking.Metric{Key: "loss", RunID: r.RunID, Step: r.Steps[i], Timestamp: r.Timestamps[i], Value: r.Values[i]})
		}
	}
	if len(back) != len(ms) {
		t.Fatalf("%d points back, want %d", len(back), len(ms))
	}
	for i := range ms {
		if back[i] != ms[i] {
			t.Errorf("point %d: %+v, want %+v", i, back[i], ms[i])
		}
	}
}
