package server

import (
	"encoding/json"
	"math"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/mltrack/mltrack/internal/tracking"
)

func TestJSONFloat(t *testing.T) {
	tests := []struct {
		in   float64
		want string
	}{
		{math.NaN(), `"NaN"`},
		{math.Inf(1), `"Infinity"`},
		{math.Inf(-1), `"-Infinity"`},
		{1.5, `1.5`},
		{0, `0`},
		{1e300, `1e+300`},
		{math.MaxFloat64, `1.7976931348623157e+308`},
	}
	for _, tt := range tests {
		b, err := json.Marshal(jsonFloat(tt.in))
		if err != nil || string(b) != tt.want {
			t.Errorf("marshal %v = %s, %v; want %s", tt.in, b, err, tt.want)
		}
	}
}

func TestWireRunShape(t *testing.T) {
	end := int64(9007199254740993) // beyond float64 precision: must stay exact
	run := &tracking.Run{
		Info: tracking.RunInfo{RunID: "abc", ExperimentID: "1", RunName: "r", Status: tracking.StatusFinished,
			StartTime: 0, EndTime: &end, ArtifactURI: "a", LifecycleStage: "active"},
		Data: tracking.RunData{Metrics: []tracking.Metric{{Key: "m", Value: math.NaN(), Timestamp: 1, Step: 0}}},
	}
	b, err := json.Marshal(toWireRun(run, false))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"info":{"run_uuid":"abc","experiment_id":"1","run_name":"r","user_id":"","status":"FINISHED",` +
		`"start_time":0,"end_time":9007199254740993,"artifact_uri":"a","lifecycle_stage":"active","run_id":"abc"},` +
		`"data":{"metrics":[{"key":"m","value":"NaN","timestamp":1,"step":0}]},"inputs":{}}`
	if string(b) != want {
		t.Errorf("got  %s\nwant %s", b, want)
	}
	b, _ = json.Marshal(toWireRun(&tracking.Run{}, true))
	if !strings.Contains(string(b), `"outputs":{}`) || strings.Contains(string(b), "end_time") {
		t.Errorf("empty run with outputs: %s", b)
	}
}

func TestFieldsFromJSON(t *testing.T) {
	f := &fields{obj: decodeBody([]byte(`{"s":"x","n":9007199254740993,"f":"NaN","i":"-Infinity","l":["a","b"],"null":null,"bad":1.5,"e":""}`))}
	if v, _, err := f.int64Field("n", true); err != nil || v != 9007199254740993 {
		t.Errorf("int64 = %d, %v", v, err)
	}
	if v, _, err := f.floatField("f", true); err != nil || !math.IsNaN(v) {
		t.Errorf("NaN = %v, %v", v, err)
	}
	if v, _, err := f.floatField("i", true); err != nil || !math.IsInf(v, -1) {
		t.Errorf("-Inf = %v, %v", v, err)
	}
	if l, err := f.strList("l"); err != nil || len(l) != 2 {
		t.Errorf("list = %v, %v", l, err)
	}
	if _, err := f.str("null", true); err == nil || !strings.Contains(err.Error(), "Missing value for required parameter 'null'") {
		t.Errorf("null required: %v", err)
	}
	if _, err := f.str("e", true); err == nil {
		t.Error(`"" accepted for a required field`)
	}
	if _, _, err := f.int64Field("bad", false); err == nil ||
		!strings.Contains(err.Error(), `Invalid value 1.5 for parameter 'bad' supplied:  Hint: Value was of type 'float'.`) {
		t.Errorf("non-integral: %v", err)
	}
	if _, err := f.str("n", false); err == nil || !strings.Contains(err.Error(), "type 'int'") {
		t.Errorf("number for string: %v", err)
	}
}

func TestDecodeBody(t *testing.T) {
	tests := []struct {
		body string
		want int // keys
	}{
		{``, 0},
		{`{}`, 0},
		{`{bad`, 0},
		{`"{\"name\":\"x\"}"`, 1}, // double-encoded
		{`[1,2]`, 0},
		{`{"a":1,"b":2}`, 2},
	}
	for _, tt := range tests {
		if got := decodeBody([]byte(tt.body)); len(got) != tt.want {
			t.Errorf("decodeBody(%q) = %v", tt.body, got)
		}
	}
}

func TestFieldsFromQuery(t *testing.T) {
	r := httptest.NewRequest("GET", "/x?run_ids=a&run_ids=b&max_results=5&start_step=-3&view_type=DELETED_ONLY", nil)
	f, err := readFields(r)
	if err != nil {
		t.Fatal(err)
	}
	if ids, _ := f.strList("run_ids"); len(ids) != 2 || ids[1] != "b" {
		t.Errorf("repeated keys: %v", ids)
	}
	if n, ok, err := f.int64Field("max_results", false); !ok || err != nil || n != 5 {
		t.Errorf("max_results = %d %v %v", n, ok, err)
	}
	if n, _, _ := f.int64Field("start_step", false); n != -3 {
		t.Errorf("start_step = %d", n)
	}
	if vt, err := f.viewType("view_type"); err != nil || vt != tracking.ViewDeletedOnly {
		t.Errorf("view_type = %v %v", vt, err)
	}
	if _, _, err := f.int64Field("missing", true); err == nil {
		t.Error("missing required int accepted")
	}
}

func TestHostAllowed(t *testing.T) {
	def := DefaultAllowedHosts()
	tests := []struct {
		host string
		want bool
	}{
		{"localhost", true}, {"localhost:5000", true}, {"127.0.0.1:15000", true}, {"[::1]:80", true},
		{"10.1.2.3:5000", true}, {"192.168.0.9", true}, {"172.16.0.1", true}, {"172.32.0.1", false},
		{"10.example.com", false}, {"evil.com", false}, {"", false},
	}
	for _, tt := range tests {
		if got := hostAllowed(def, tt.host); got != tt.want {
			t.Errorf("hostAllowed(%q) = %v, want %v", tt.host, got, tt.want)
		}
	}
	if !hostAllowed([]string{"mlflow.example.com"}, "mlflow.example.com") || hostAllowed([]string{"mlflow.example.com"}, "localhost") {
		t.Error("explicit allow-list")
	}
	if !hostAllowed([]string{"*.example.com"}, "a.example.com") {
		t.Error("wildcard name")
	}
}

func TestHTTPStatus(t *testing.T) {
	tests := map[tracking.ErrorCode]int{
		tracking.ErrInvalidParameterValue: 400, tracking.ErrResourceAlreadyExists: 400, tracking.ErrBadRequest: 400,
		tracking.ErrResourceDoesNotExist: 404, tracking.ErrEndpointNotFound: 404, tracking.ErrInvalidState: 500,
		tracking.ErrInternal: 500, tracking.ErrNotImplemented: 501, tracking.ErrTemporarilyUnavail: 503,
		tracking.ErrRequestLimitExceeded: 429, "FEATURE_DISABLED": 500, "PERMISSION_DENIED": 403,
	}
	for code, want := range tests {
		if got := httpStatus(code); got != want {
			t.Errorf("httpStatus(%s) = %d, want %d", code, got, want)
		}
	}
}
