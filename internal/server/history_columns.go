package server

import (
	"encoding/json"
	"math"
	"strconv"

	"github.com/mltrack/mltrack/internal/tracking"
)

// historyColumns is get-history-downsampled's compact answer (format=columns):
// each run's points as three parallel arrays instead of one object a point.
// A 100-run chart is about 100,000 points, and objects with repeated names
// cost the server time to write and the browser time to parse and to take
// apart again into the arrays a chart draws from.
type historyColumns struct {
	runs []columnRun
}

type columnRun struct {
	id      string
	metrics []tracking.Metric // this run's points, in step order
}

// columnsOf groups the service's answer (each run's points together, runs in
// request order) by run, keeping a run asked for twice once.
func columnsOf(ms []tracking.Metric) historyColumns {
	var out historyColumns
	seen := map[string]bool{}
	for i := 0; i < len(ms); {
		j := i + 1
		for j < len(ms) && ms[j].RunID == ms[i].RunID {
			j++
		}
		if id := ms[i].RunID; !seen[id] {
			seen[id] = true
			out.runs = append(out.runs, columnRun{id: id, metrics: ms[i:j]})
		}
		i = j
	}
	return out
}

// MarshalJSON writes {"runs":[{"run_id","steps","timestamps","values"}]}
// directly: encoding/json would reflect over every number. Values follow
// MLflow's JSON (NaN and the infinities as strings), like jsonFloat.
func (h historyColumns) MarshalJSON() ([]byte, error) {
	n := 0
	for _, r := range h.runs {
		n += len(r.metrics)
	}
	b := make([]byte, 0, 64+n*40)
	b = append(b, `{"runs":[`...)
	for i, r := range h.runs {
		if i > 0 {
			b = append(b, ',')
		}
		id, err := json.Marshal(r.id)
		if err != nil {
			return nil, err
		}
		b = append(b, `{"run_id":`...)
		b = append(b, id...)
		b = append(b, `,"steps":[`...)
		for k, m := range r.metrics {
			if k > 0 {
				b = append(b, ',')
			}
			b = strconv.AppendInt(b, m.Step, 10)
		}
		b = append(b, `],"timestamps":[`...)
		for k, m := range r.metrics {
			if k > 0 {
				b = append(b, ',')
			}
			b = strconv.AppendInt(b, m.Timestamp, 10)
		}
		b = append(b, `],"values":[`...)
		for k, m := range r.metrics {
			if k > 0 {
				b = append(b, ',')
			}
			b = appendJSONFloat(b, m.Value)
		}
		b = append(b, "]}"...)
	}
	return append(b, "]}"...), nil
}

// appendJSONFloat is jsonFloat's encoding without an allocation a value.
func appendJSONFloat(b []byte, v float64) []byte {
	switch {
	case math.IsNaN(v):
		return append(b, `"NaN"`...)
	case math.IsInf(v, 1):
		return append(b, `"Infinity"`...)
	case math.IsInf(v, -1):
		return append(b, `"-Infinity"`...)
	}
	return strconv.AppendFloat(b, v, 'g', -1, 64)
}

var _ json.Marshaler = historyColumns{}
