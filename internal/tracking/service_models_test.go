package tracking

import (
	"context"
	"reflect"
	"strings"
	"testing"

	"github.com/mltrack/mltrack/internal/search"
)

// modelStore is a fake holding numbered models; it records what the
// service passes down. Methods the tests do not reach panic through the nil
// embedded Store.
type modelStore struct {
	Store
	n        int
	query    LoggedModelQuery
	created  NewLoggedModel
	tags     []Tag
	datasets []DatasetInput
}

func (m *modelStore) SearchLoggedModels(_ context.Context, q LoggedModelQuery) ([]LoggedModel, error) {
	m.query = q
	var out []LoggedModel
	for i := q.Offset; i < m.n && len(out) < q.Limit; i++ {
		out = append(out, LoggedModel{ID: "m-" + string(rune('a'+i))})
	}
	return out, nil
}

func (m *modelStore) CreateLoggedModel(_ context.Context, nm NewLoggedModel) (*LoggedModel, error) {
	m.created = nm
	return &LoggedModel{ID: "m-x", Name: nm.Name}, nil
}

func (m *modelStore) FinalizeLoggedModel(_ context.Context, id string, st LoggedModelStatus) (*LoggedModel, error) {
	return &LoggedModel{ID: id, Status: st}, nil
}

func (m *modelStore) SetLoggedModelTags(_ context.Context, _ string, tags []Tag) error {
	m.tags = tags
	return nil
}

func (m *modelStore) LogInputs(_ context.Context, _ string, d []DatasetInput, _ []ModelInput) error {
	m.datasets = d
	return nil
}

func (m *modelStore) SearchDatasets(context.Context, []string) ([]DatasetSummary, error) {
	return []DatasetSummary{{Name: "d"}}, nil
}

func wantInvalid(t *testing.T, err error, msg string) {
	t.Helper()
	if Code(err) != ErrInvalidParameterValue || !strings.Contains(err.Error(), msg) {
		t.Fatalf("got %v, want INVALID_PARAMETER_VALUE containing %q", err, msg)
	}
}

func TestSearchLoggedModelsPaging(t *testing.T) {
	st := &modelStore{n: 5}
	svc := NewService(st, ServiceOptions{})
	ctx := context.Background()
	req := LoggedModelSearch{ExperimentIDs: []string{"1"}, MaxResults: 2}
	var ids []string
	for page := 0; ; page++ {
		rows, next, err := svc.SearchLoggedModels(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			ids = append(ids, r.ID)
		}
		if page == 0 && next != "eyJleHBlcmltZW50X2lkcyI6IFsiMSJdLCAiZmlsdGVyX3N0cmluZyI6IG51bGwsICJvcmRlcl9ieSI6IG51bGwsICJvZmZzZXQiOiAyfQ==" {
			t.Fatalf("first token %q is not MLflow's", next)
		}
		if next == "" {
			break
		}
		req.PageToken = next
	}
	if want := []string{"m-a", "m-b", "m-c", "m-d", "m-e"}; !reflect.DeepEqual(ids, want) {
		t.Fatalf("pages gave %v", ids)
	}
	if st.query.Limit != 3 || st.query.Offset != 4 {
		t.Fatalf("last query %+v", st.query)
	}
}

func TestSearchLoggedModelsRequest(t *testing.T) {
	st := &modelStore{n: 1}
	svc := NewService(st, ServiceOptions{})
	ctx := context.Background()
	_, _, err := svc.SearchLoggedModels(ctx, LoggedModelSearch{
		ExperimentIDs: []string{"1", "2"}, Filter: "metrics.acc > 0.5 AND status = 'READY'",
		Datasets: []DatasetRef{{Name: "train"}},
		OrderBy:  []LoggedModelOrderBy{{FieldName: "metrics.acc", DatasetName: "train"}, {FieldName: "creation_time", Ascending: true}},
	})
	if err != nil {
		t.Fatal(err)
	}
	q := st.query
	wantOrder := []LoggedModelOrder{
		{Field: "metrics.acc", DatasetName: "train"},
		{Field: "creation_timestamp", Ascending: true},
		{Field: "model_id", Ascending: true},
	}
	if !reflect.DeepEqual(q.OrderBy, wantOrder) {
		t.Errorf("order %+v", q.OrderBy)
	}
	if q.Limit != SearchLoggedModelsZeroDefault+1 || q.Offset != 0 {
		t.Errorf("limit %d offset %d", q.Limit, q.Offset)
	}
	wantFilter := search.Filter{
		{Entity: search.EntityMetric, Key: "acc", Op: search.OpGt, Value: search.Value{Kind: search.ValueNumber, Num: 0.5}},
		{Entity: search.EntityAttribute, Key: "status", Op: search.OpEq, Value: search.Value{Kind: search.ValueString, Str: "READY"}},
	}
	if !reflect.DeepEqual(q.Filter, wantFilter) || !reflect.DeepEqual(q.Datasets, []DatasetRef{{Name: "train"}}) {
		t.Errorf("filter %+v datasets %+v", q.Filter, q.Datasets)
	}

	// No experiments: nothing to search, but the request is still checked.
	st.query = LoggedModelQuery{}
	rows, next, err := svc.SearchLoggedModels(ctx, LoggedModelSearch{})
	if err != nil || len(rows) != 0 || next != "" || st.query.Limit != 0 {
		t.Errorf("empty experiment_ids: %v %q %v %+v", rows, next, err, st.query)
	}
}

func TestSearchLoggedModelsRejects(t *testing.T) {
	svc := NewService(&modelStore{n: 3}, ServiceOptions{})
	ctx := context.Background()
	exp := []string{"1"}
	other := newModelPageToken(LoggedModelSearch{ExperimentIDs: []string{"2"}}).encode()
	filtered := newModelPageToken(LoggedModelSearch{ExperimentIDs: exp, Filter: "name = 'a'"}).encode()
	ordered := newModelPageToken(LoggedModelSearch{ExperimentIDs: exp, OrderBy: []LoggedModelOrderBy{{FieldName: "name"}}}).encode()
	for _, tc := range []struct {
		name string
		req  LoggedModelSearch
		msg  string
	}{
		{"dataset name", LoggedModelSearch{ExperimentIDs: exp, Datasets: []DatasetRef{{Digest: "x"}}}, "`dataset_name` in the `datasets` clause must be specified."},
		{"negative max_results", LoggedModelSearch{ExperimentIDs: exp, MaxResults: -1}, "max_results"},
		{"experiment id", LoggedModelSearch{ExperimentIDs: []string{"abc"}}, "Invalid experiment ID 'abc'. Experiment ID must be a valid integer."},
		{"filter", LoggedModelSearch{ExperimentIDs: exp, Filter: "metric.x > 1"}, "Invalid entity type: 'metric'."},
		{"order_by", LoggedModelSearch{ExperimentIDs: exp, OrderBy: []LoggedModelOrderBy{{FieldName: "params.x"}}}, "Invalid order by field name: params.x. Only metrics are supported."},
		{"empty order field", LoggedModelSearch{ExperimentIDs: exp, OrderBy: []LoggedModelOrderBy{{}}}, "Invalid order by field name: "},
		{"token base64", LoggedModelSearch{ExperimentIDs: exp, PageToken: "zzz"}, "Invalid page token: zzz."},
		{"token json", LoggedModelSearch{ExperimentIDs: exp, PageToken: "bm90anNvbg=="}, "Invalid page token: bm90anNvbg==."},
		{"token without ids", LoggedModelSearch{ExperimentIDs: exp, PageToken: "e30="},
			"Experiment IDs in the page token do not match the requested experiment IDs. Expected: ['1']. Found: None"},
		{"token other ids", LoggedModelSearch{ExperimentIDs: exp, PageToken: other}, "Expected: ['1']. Found: ['2']"},
		{"token other filter", LoggedModelSearch{ExperimentIDs: exp, PageToken: filtered},
			"Filter string in the page token does not match the requested filter string. Expected: None. Found: name = 'a'"},
		{"token other order", LoggedModelSearch{ExperimentIDs: exp, PageToken: ordered},
			"Order by in the page token does not match the requested order by. Expected: None. Found: [{'field_name': 'name', 'ascending': False, 'dataset_name': None, 'dataset_digest': None}]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := svc.SearchLoggedModels(ctx, tc.req)
			wantInvalid(t, err, tc.msg)
		})
	}
}

func TestLoggedModelWrites(t *testing.T) {
	st := &modelStore{}
	svc := NewService(st, ServiceOptions{})
	ctx := context.Background()
	_, err := svc.CreateLoggedModel(ctx, NewLoggedModel{ExperimentID: "1", Name: "a/b"})
	wantInvalid(t, err, `Invalid model name ('a/b') provided. Model name must be a non-empty string and cannot contain the following characters: ('/', ':', '.', '%', '"', "'")`)
	_, err = svc.CreateLoggedModel(ctx, NewLoggedModel{ExperimentID: "x"})
	wantInvalid(t, err, "Invalid experiment ID 'x'")
	_, err = svc.CreateLoggedModel(ctx, NewLoggedModel{ExperimentID: "1", Params: []Param{{Key: strings.Repeat("k", 256)}}})
	wantInvalid(t, err, "'params[0].key' exceeds the maximum length of 255 characters")
	if _, err := svc.CreateLoggedModel(ctx, NewLoggedModel{ExperimentID: "1", Tags: []Tag{{"a", "1"}, {"b", "2"}, {"a", "3"}}}); err != nil {
		t.Fatal(err)
	}
	if want := []Tag{{"a", "3"}, {"b", "2"}}; !reflect.DeepEqual(st.created.Tags, want) {
		t.Errorf("created tags %v", st.created.Tags)
	}
	if err := svc.SetLoggedModelTags(ctx, "m-x", []Tag{{"k", "1"}, {"k", "2"}}); err != nil || !reflect.DeepEqual(st.tags, []Tag{{"k", "2"}}) {
		t.Errorf("set tags: %v %v", err, st.tags)
	}
	_, err = svc.FinalizeLoggedModel(ctx, "m-x", LoggedModelStatus(7))
	wantInvalid(t, err, "Unknown model status: 7")
	if m, err := svc.FinalizeLoggedModel(ctx, "m-x", ModelStatusReady); err != nil || m.Status != ModelStatusReady {
		t.Errorf("finalize: %+v %v", m, err)
	}
}

func TestLogInputsAndDatasets(t *testing.T) {
	st := &modelStore{}
	svc := NewService(st, ServiceOptions{})
	ctx := context.Background()
	d := func(name, digest string) DatasetInput {
		return DatasetInput{Dataset: Dataset{Name: name, Digest: digest, SourceType: "local", Source: "{}"}}
	}
	first := d("train", "1")
	first.Tags = []Tag{{Key: "mlflow.data.context", Value: "train"}}
	if err := svc.LogInputs(ctx, "0123456789abcdef0123456789abcdef", []DatasetInput{first, d("train", "1"), d("eval", "1")}, nil); err != nil {
		t.Fatal(err)
	}
	if len(st.datasets) != 2 || !reflect.DeepEqual(st.datasets[0], first) {
		t.Errorf("deduped inputs %+v", st.datasets)
	}
	long := d("x", strings.Repeat("d", 37))
	wantInvalid(t, svc.LogInputs(ctx, "0123456789abcdef0123456789abcdef", []DatasetInput{long}, nil),
		"'digest' exceeds the maximum length of 36 characters")
	tagged := d("x", "1")
	tagged.Tags = []Tag{{Key: "k", Value: strings.Repeat("v", 501)}}
	wantInvalid(t, svc.LogInputs(ctx, "0123456789abcdef0123456789abcdef", []DatasetInput{tagged}, nil),
		"'value' exceeds the maximum length of 500 characters")

	_, err := svc.SearchDatasets(ctx, nil)
	wantInvalid(t, err, "SearchDatasets request must specify at least one experiment_id.")
	_, err = svc.SearchDatasets(ctx, make([]string, 21))
	wantInvalid(t, err, "SearchDatasets request cannot specify more than 20 experiment_ids. Received 21 experiment_ids.")
	_, err = svc.SearchDatasets(ctx, []string{"abc"})
	wantInvalid(t, err, "Invalid experiment ID 'abc'")
	if got, err := svc.SearchDatasets(ctx, []string{"1"}); err != nil || len(got) != 1 {
		t.Errorf("search datasets: %v %v", got, err)
	}
}

func TestPyJSONString(t *testing.T) {
	for in, want := range map[string]string{
		`a"b\c`: `"a\"b\\c"`, "é": `"\u00e9"`, "\n\x01": `"\n\u0001"`, "😀": `"\ud83d\ude00"`, "\x7f": `"\u007f"`,
	} {
		if got := pyJSONString(in); got != want {
			t.Errorf("pyJSONString(%q) = %s, want %s", in, got, want)
		}
	}
}
