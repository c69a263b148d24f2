package server

import (
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/mltrack/mltrack/internal/artifacts"
)

// createModel makes a logged model through the API and returns its id.
func (ts *testServer) createModel(body string) string {
	ts.t.Helper()
	m := ts.mustJSON("POST", "/api/2.0/mlflow/logged-models", body)
	return m["model"].(map[string]any)["info"].(map[string]any)["model_id"].(string)
}

// TestLoggedModelWire checks the JSON of a logged model field by field:
// MLflow always sends model_type and source_run_id, never registrations,
// and the status by name.
func TestLoggedModelWire(t *testing.T) {
	ts := newTestServer(t, Options{})
	fx := ts.seed()
	st, b, _ := ts.do("POST", "/api/2.0/mlflow/logged-models", `{"experiment_id":"`+fx.exp+`","name":"m","params":[{"key":"a","value":"1"}],"tags":[{"key":"t","value":"v"}]}`, nil)
	if st != 200 {
		t.Fatalf("create = %d %s", st, b)
	}
	var got struct {
		Model struct {
			Info map[string]any `json:"info"`
			Data map[string]any `json:"data"`
		} `json:"model"`
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	info := got.Model.Info
	id, _ := info["model_id"].(string)
	if len(id) != 34 || !strings.HasPrefix(id, "m-") {
		t.Fatalf("model_id %q", id)
	}
	want := map[string]any{
		"model_id": id, "experiment_id": fx.exp, "name": "m",
		"creation_timestamp_ms": info["creation_timestamp_ms"], "last_updated_timestamp_ms": info["last_updated_timestamp_ms"],
		"artifact_uri": "mlflow-artifacts:/" + fx.exp + "/models/" + id + "/artifacts",
		"status":       "LOGGED_MODEL_PENDING", "model_type": "", "source_run_id": "",
		"tags": []any{map[string]any{"key": "t", "value": "v"}},
	}
	if _, isNum := info["creation_timestamp_ms"].(float64); !isNum {
		t.Errorf("creation_timestamp_ms is %T, want a JSON number", info["creation_timestamp_ms"])
	}
	if !reflect.DeepEqual(info, want) {
		t.Errorf("info\n got %v\nwant %v", info, want)
	}
	if wantData := map[string]any{"params": []any{map[string]any{"key": "a", "value": "1"}}}; !reflect.DeepEqual(got.Model.Data, wantData) {
		t.Errorf("data = %v", got.Model.Data)
	}

	// A metric logged against the model shows on it with run, model and dataset.
	ts.mustJSON("POST", "/api/2.0/mlflow/runs/log-metric", `{"run_id":"`+fx.run+`","key":"acc","value":0.5,"timestamp":1,"step":2,"model_id":"`+id+`","dataset_name":"d","dataset_digest":"x"}`)
	m := ts.mustJSON("GET", "/ajax-api/2.0/mlflow/logged-models/"+id, "")
	metrics := m["model"].(map[string]any)["data"].(map[string]any)["metrics"]
	wantMetrics := []any{map[string]any{"key": "acc", "value": 0.5, "timestamp": 1.0, "step": 2.0,
		"dataset_name": "d", "dataset_digest": "x", "model_id": id, "run_id": fx.run}}
	if !reflect.DeepEqual(metrics, wantMetrics) {
		t.Errorf("model metrics = %v", metrics)
	}
}

// TestLoggedModelScenarios drives every logged-model, inputs and outputs
// route: success paths and the client mistakes, each with MLflow's status,
// code and message.
func TestLoggedModelScenarios(t *testing.T) {
	ts := newTestServer(t, Options{})
	fx := ts.seed()
	model := ts.createModel(`{"experiment_id":"` + fx.exp + `","name":"base","tags":[{"key":"t","value":"v"}]}`)
	gone := ts.createModel(`{"experiment_id":"` + fx.exp + `"}`)
	ts.mustJSON("DELETE", "/api/2.0/mlflow/logged-models/"+gone, "")
	const missing = "m-00000000000000000000000000000000"
	api := "/api/2.0/mlflow"
	r := strings.NewReplacer("{exp}", fx.exp, "{run}", fx.run, "{model}", model, "{gone}", gone, "{missing}", missing)
	for _, sc := range []struct {
		name, method, path, body string
		status                   int
		// want is a substring of a success body, or the error's message.
		code, want string
	}{
		{"create", "POST", api + "/logged-models", `{"experiment_id":"{exp}","name":"c1","model_type":"agent","source_run_id":"{run}"}`, 200, "", `"status":"LOGGED_MODEL_PENDING","model_type":"agent","source_run_id":"{run}"`},
		{"create_generated_name", "POST", api + "/logged-models", `{"experiment_id":"{exp}"}`, 200, "", `"name":"`},
		{"create_ajax", "POST", "/ajax-api/2.0/mlflow/logged-models", `{"experiment_id":"{exp}","name":"c2"}`, 200, "", `"name":"c2"`},
		{"get", "GET", api + "/logged-models/{model}", "", 200, "", `"tags":[{"key":"t","value":"v"}]`},
		{"finalize", "PATCH", api + "/logged-models/{model}", `{"model_id":"{model}","status":"LOGGED_MODEL_READY"}`, 200, "", `"status":"LOGGED_MODEL_READY"`},
		{"finalize_number", "PATCH", api + "/logged-models/{model}", `{"model_id":"{model}","status":3}`, 200, "", `"status":"LOGGED_MODEL_UPLOAD_FAILED"`},
		{"set_tags", "PATCH", api + "/logged-models/{model}/tags", `{"tags":[{"key":"x","value":"1"},{"key":"x","value":"2"}]}`, 200, "", `{}`},
		{"get_tags", "GET", api + "/logged-models/{model}", "", 200, "", `{"key":"x","value":"2"}`},
		{"delete_tag", "DELETE", api + "/logged-models/{model}/tags/x", "", 200, "", `{}`},
		{"params", "POST", api + "/logged-models/{model}/params", `{"model_id":"{model}","params":[{"key":"p","value":"1"}]}`, 200, "", `{}`},
		{"get_params", "GET", api + "/logged-models/{model}", "", 200, "", `"data":{"params":[{"key":"p","value":"1"}]}`},
		{"search", "POST", api + "/logged-models/search", `{"experiment_ids":["{exp}"],"filter":"name = 'base'"}`, 200, "", `"model_id":"{model}"`},
		{"search_order_page", "POST", api + "/logged-models/search", `{"experiment_ids":["{exp}"],"max_results":1,"order_by":[{"field_name":"name","ascending":false}]}`, 200, "", `"next_page_token":"`},
		{"search_no_experiments", "POST", api + "/logged-models/search", `{"experiment_ids":[]}`, 200, "", `{}`},
		{"search_hides_deleted", "POST", api + "/logged-models/search", `{"experiment_ids":["{exp}"],"filter":"model_id = '{gone}'"}`, 200, "", `{}`},
		{"outputs", "POST", api + "/runs/outputs", `{"run_id":"{run}","models":[{"model_id":"{model}","step":4}]}`, 200, "", `{}`},
		{"inputs", "POST", api + "/runs/log-inputs", `{"run_id":"{run}","datasets":[{"tags":[{"key":"mlflow.data.context","value":"train"}],"dataset":{"name":"d","digest":"x","source_type":"local","source":"{}"}}],"models":[{"model_id":"{model}"}]}`, 200, "", `{}`},
		{"run_shows_inputs", "GET", api + "/runs/get?run_id={run}", "", 200, "", `"inputs":{"dataset_inputs":[{"tags":[{"key":"mlflow.data.context","value":"train"}],"dataset":{"name":"d","digest":"x","source_type":"local","source":"{}"}}],"model_inputs":[{"model_id":"{model}"}]},"outputs":{"model_outputs":[{"model_id":"{model}","step":4}]}`},
		{"search_datasets", "POST", "/ajax-api/2.0/mlflow/experiments/search-datasets", `{"experiment_ids":["{exp}"]}`, 200, "", `{"dataset_summaries":[{"experiment_id":"{exp}","name":"d","digest":"x","context":"train"}]}`},
		{"delete", "DELETE", api + "/logged-models/{model}", "", 200, "", `{}`},

		{"get_unknown", "GET", api + "/logged-models/{missing}", "", 404, "RESOURCE_DOES_NOT_EXIST", "Logged model with ID '{missing}' not found."},
		{"get_deleted", "GET", api + "/logged-models/{gone}", "", 404, "RESOURCE_DOES_NOT_EXIST", "Logged model with ID '{gone}' not found."},
		{"finalize_unknown", "PATCH", api + "/logged-models/{missing}", `{"model_id":"{missing}","status":"LOGGED_MODEL_READY"}`, 404, "RESOURCE_DOES_NOT_EXIST", "Logged model with ID '{missing}' not found."},
		{"finalize_bad_status", "PATCH", api + "/logged-models/{gone}", `{"model_id":"{gone}","status":"DONE"}`, 400, "INVALID_PARAMETER_VALUE", `Invalid value "DONE" for parameter 'status' supplied:  Hint: Value was of type 'str'.` + seeAPIDocs},
		{"finalize_status_range", "PATCH", api + "/logged-models/{gone}", `{"model_id":"{gone}","status":4}`, 400, "INVALID_PARAMETER_VALUE", `Invalid value 4 for parameter 'status' supplied:  Hint: Value was of type 'int'.` + seeAPIDocs},
		{"finalize_no_status", "PATCH", api + "/logged-models/{gone}", `{"model_id":"{gone}"}`, 400, "INVALID_PARAMETER_VALUE", "Missing value for required parameter 'status'." + seeAPIDocs},
		{"finalize_no_model_id", "PATCH", api + "/logged-models/{gone}", `{"status":2}`, 400, "INVALID_PARAMETER_VALUE", "Missing value for required parameter 'model_id'." + seeAPIDocs},
		{"delete_unknown", "DELETE", api + "/logged-models/{missing}", "", 404, "RESOURCE_DOES_NOT_EXIST", "Logged model with ID '{missing}' not found."},
		{"set_tags_unknown", "PATCH", api + "/logged-models/{missing}/tags", `{"tags":[{"key":"a","value":"b"}]}`, 404, "RESOURCE_DOES_NOT_EXIST", "Logged model with ID '{missing}' not found."},
		{"set_tags_not_list", "PATCH", api + "/logged-models/{missing}/tags", `{"tags":"a"}`, 400, "INVALID_PARAMETER_VALUE", `Invalid value "a" for parameter 'tags' supplied:  Hint: Value was of type 'str'.` + seeAPIDocs},
		{"delete_tag_unknown", "DELETE", api + "/logged-models/{missing}/tags/a", "", 404, "RESOURCE_DOES_NOT_EXIST", "Logged model with ID '{missing}' not found."},
		{"params_no_model_id", "POST", api + "/logged-models/{missing}/params", `{"params":[]}`, 400, "INVALID_PARAMETER_VALUE", "Missing value for required parameter 'model_id'." + seeAPIDocs},
		{"params_unknown", "POST", api + "/logged-models/{missing}/params", `{"model_id":"{missing}","params":[{"key":"a","value":"1"}]}`, 404, "RESOURCE_DOES_NOT_EXIST", "Logged model with ID '{missing}' not found."},
		{"create_no_experiment", "POST", api + "/logged-models", `{}`, 400, "INVALID_PARAMETER_VALUE", "Missing value for required parameter 'experiment_id'." + seeAPIDocs},
		{"create_unknown_experiment", "POST", api + "/logged-models", `{"experiment_id":"4242"}`, 404, "RESOURCE_DOES_NOT_EXIST", "No Experiment with id=4242 exists"},
		{"create_bad_experiment", "POST", api + "/logged-models", `{"experiment_id":"x"}`, 400, "INVALID_PARAMETER_VALUE", "Invalid experiment ID 'x'. Experiment ID must be a valid integer."},
		{"create_bad_name", "POST", api + "/logged-models", `{"experiment_id":"{exp}","name":"a.b"}`, 400, "INVALID_PARAMETER_VALUE", `Invalid model name ('a.b') provided. Model name must be a non-empty string and cannot contain the following characters: ('/', ':', '.', '%', '"', "'")`},
		{"create_params_not_list", "POST", api + "/logged-models", `{"experiment_id":"{exp}","params":{}}`, 400, "INVALID_PARAMETER_VALUE", `Invalid value {} for parameter 'params' supplied:  Hint: Value was of type 'dict'.` + seeAPIDocs},
		{"search_no_experiment_ids", "POST", api + "/logged-models/search", `{}`, 400, "INVALID_PARAMETER_VALUE", "Missing value for required parameter 'experiment_ids'." + seeAPIDocs},
		{"search_bad_filter", "POST", api + "/logged-models/search", `{"experiment_ids":["{exp}"],"filter":"metrics.x > "}`, 400, "INVALID_PARAMETER_VALUE", `Invalid filter string: 'metrics.x > '. Expected a list of comparisons separated by 'AND' (e.g. 'metrics.loss > 0.1 AND params.lr = 0.01').`},
		{"search_max_results_string", "POST", api + "/logged-models/search", `{"experiment_ids":["{exp}"],"max_results":"x"}`, 400, "INVALID_PARAMETER_VALUE", `Invalid value "x" for parameter 'max_results' supplied:  Hint: Value was of type 'str'.` + seeAPIDocs},
		{"search_max_results_negative", "POST", api + "/logged-models/search", `{"experiment_ids":["{exp}"],"max_results":-1}`, 400, "INVALID_PARAMETER_VALUE", "Invalid value -1 for parameter 'max_results' supplied. It must be a positive integer not above 2147483647."},
		{"search_ascending_string", "POST", api + "/logged-models/search", `{"experiment_ids":["{exp}"],"order_by":[{"field_name":"name","ascending":"no"}]}`, 400, "INVALID_PARAMETER_VALUE", `Invalid value "no" for parameter 'order_by[0].ascending' supplied:  Hint: Value was of type 'str'.` + seeAPIDocs},
		{"search_bad_token", "POST", api + "/logged-models/search", `{"experiment_ids":["{exp}"],"page_token":"zzz"}`, 400, "INVALID_PARAMETER_VALUE", "Invalid page token: zzz. It is not valid base64."},
		{"list_artifacts_unknown", "GET", api + "/logged-models/{missing}/artifacts/directories", "", 404, "RESOURCE_DOES_NOT_EXIST", "Logged model with ID '{missing}' not found."},
		{"file_no_path", "GET", "/ajax-api/2.0/mlflow/logged-models/{gone}/artifacts/files", "", 400, "BAD_REQUEST", `Request must include the "artifact_file_path" query parameter.`},
		{"file_not_under_api", "GET", api + "/logged-models/{gone}/artifacts/files?artifact_file_path=x", "", 404, "", ""},
		{"inputs_no_run", "POST", api + "/runs/log-inputs", `{}`, 400, "INVALID_PARAMETER_VALUE", "Missing value for required parameter 'run_id'." + seeAPIDocs},
		{"inputs_dataset_not_object", "POST", api + "/runs/log-inputs", `{"run_id":"{run}","datasets":[{"dataset":"x"}]}`, 400, "INVALID_PARAMETER_VALUE", `Invalid value "x" for parameter 'datasets[0].dataset' supplied:  Hint: Value was of type 'str'.` + seeAPIDocs},
		{"inputs_unknown_run", "POST", api + "/runs/log-inputs", `{"run_id":"ffffffffffffffffffffffffffffffff"}`, 404, "RESOURCE_DOES_NOT_EXIST", "Run with id=ffffffffffffffffffffffffffffffff not found"},
		{"outputs_no_models", "POST", api + "/runs/outputs", `{"run_id":"{run}"}`, 400, "INVALID_PARAMETER_VALUE", "Missing value for required parameter 'models'." + seeAPIDocs},
		{"outputs_step_string", "POST", api + "/runs/outputs", `{"run_id":"{run}","models":[{"model_id":"m","step":"x"}]}`, 400, "INVALID_PARAMETER_VALUE", `Invalid value "x" for parameter 'models[0].step' supplied:  Hint: Value was of type 'str'.` + seeAPIDocs},
		{"search_datasets_none", "POST", "/ajax-api/2.0/mlflow/experiments/search-datasets", `{}`, 400, "INVALID_PARAMETER_VALUE", "SearchDatasets request must specify at least one experiment_id."},
		{"search_datasets_not_under_api", "POST", api + "/experiments/search-datasets", `{"experiment_ids":["{exp}"]}`, 404, "", ""},
	} {
		t.Run(sc.name, func(t *testing.T) {
			st, b, _ := ts.do(sc.method, r.Replace(sc.path), r.Replace(sc.body), nil)
			if st != sc.status {
				t.Fatalf("status %d, want %d: %s", st, sc.status, b)
			}
			want := r.Replace(sc.want)
			if sc.code == "" {
				if !strings.Contains(string(b), want) {
					t.Fatalf("body %s lacks %s", b, want)
				}
				return
			}
			var e errorBody
			if err := json.Unmarshal(b, &e); err != nil {
				t.Fatalf("%v: %s", err, b)
			}
			if e.ErrorCode != sc.code || e.Message != want {
				t.Fatalf("got %s %q\nwant %s %q", e.ErrorCode, e.Message, sc.code, want)
			}
		})
	}
}

// TestLoggedModelArtifacts lists and downloads a model's files through the
// proxy, with the run routes' headers, and refuses every unsafe path.
func TestLoggedModelArtifacts(t *testing.T) {
	e := newArtifactEnv(t, Options{})
	ts := e.ts
	id := ts.createModel(`{"experiment_id":"0","name":"art"}`)
	dir := filepath.Join(e.root, "0", "models", id, "artifacts")
	must(t, os.MkdirAll(filepath.Join(dir, "data"), 0o755))
	must(t, os.WriteFile(filepath.Join(dir, "MLmodel"), []byte("flavors: {}\n"), 0o644))
	must(t, os.WriteFile(filepath.Join(dir, "data", "page.html"), []byte("<script>alert(1)</script>"), 0o644))
	must(t, os.Symlink(e.outside, filepath.Join(dir, "link-abs")))

	empty := ts.createModel(`{"experiment_id":"0","name":"empty"}`)
	if st, b, _ := ts.do("GET", "/api/2.0/mlflow/logged-models/"+empty+"/artifacts/directories", "", nil); st != 200 ||
		string(b) != `{"root_uri":"mlflow-artifacts:/0/models/`+empty+`/artifacts"}` {
		t.Errorf("empty listing = %d %s", st, b)
	}
	m := ts.mustJSON("GET", "/api/2.0/mlflow/logged-models/"+id+"/artifacts/directories?artifact_directory_path=data", "")
	wantList := map[string]any{"root_uri": "mlflow-artifacts:/0/models/" + id + "/artifacts",
		"files": []any{map[string]any{"path": "data/page.html", "is_dir": false, "file_size": 25.0}}}
	if !reflect.DeepEqual(m, wantList) {
		t.Errorf("listing = %v", m)
	}
	files := "/ajax-api/2.0/mlflow/logged-models/" + id + "/artifacts/files?artifact_file_path="
	for _, tt := range []struct{ file, ctype, body string }{
		{"MLmodel", "text/plain", "flavors: {}\n"},
		{"data/page.html", "application/octet-stream", "<script>alert(1)</script>"},
	} {
		st, b, h := ts.do("GET", files+url.QueryEscape(tt.file), "", nil)
		if st != 200 || string(b) != tt.body || h.Get("Content-Type") != tt.ctype ||
			!strings.HasPrefix(h.Get("Content-Disposition"), "attachment") || h.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("GET %s = %d %q type %q disposition %q", tt.file, st, b, h.Get("Content-Type"), h.Get("Content-Disposition"))
		}
	}
	if st, b, _ := ts.do("GET", files+"nope.txt", "", nil); st != http.StatusNotFound {
		t.Errorf("missing file = %d %s", st, b)
	}

	variants := artifacts.UnsafePathVariants()
	variants["symlink-abs"] = "link-abs/secret.txt"
	variants["symlink-listing"] = "link-abs"
	for name, v := range variants {
		q := url.QueryEscape(v)
		for _, target := range []string{
			"/api/2.0/mlflow/logged-models/" + id + "/artifacts/directories?artifact_directory_path=" + q,
			"/ajax-api/2.0/mlflow/logged-models/" + id + "/artifacts/directories?artifact_directory_path=" + q,
			files + q,
		} {
			if name == "symlink-listing" && strings.Contains(target, "/files") {
				continue // a directory, not a file: refused for that reason
			}
			if v == "" && strings.Contains(target, "/directories") {
				continue // the root itself
			}
			st, b := e.raw(t, "GET", target, "", "")
			var body map[string]any
			_ = json.Unmarshal(b, &body)
			wantMsg := "Invalid path"
			if v == "" {
				wantMsg = `Request must include the "artifact_file_path" query parameter.`
			}
			if st != http.StatusBadRequest || body["message"] != wantMsg {
				t.Errorf("%s: GET %s = %d %s", name, target, st, b)
			}
		}
	}
}
