package search

import (
	"math"
	"reflect"
	"strings"
	"testing"
)

func str(e Entity, key string, op Op, s string) Comparison {
	return Comparison{Entity: e, Key: key, Op: op, Value: Value{Kind: ValueString, Str: s}}
}

func num(e Entity, key string, op Op, n float64) Comparison {
	return Comparison{Entity: e, Key: key, Op: op, Value: Value{Kind: ValueNumber, Num: n}}
}

func list(e Entity, key string, op Op, l ...string) Comparison {
	return Comparison{Entity: e, Key: key, Op: op, Value: Value{Kind: ValueList, List: l}}
}

// The oracle table (oracle_test.go) is the broad check against MLflow; this
// table shows the language's rules one by one for readers.
func TestParseRunFilter(t *testing.T) {
	tests := []struct {
		in      string
		want    Filter
		wantErr string
	}{
		{in: "", want: nil},
		{in: "  \t", want: nil},
		{in: "metrics.rmse > 0.5", want: Filter{num(EntityMetric, "rmse", OpGt, 0.5)}},
		{in: "metric.m <= -1e-3", want: Filter{num(EntityMetric, "m", OpLe, -1e-3)}},
		{in: "metrics.m = .5", want: Filter{num(EntityMetric, "m", OpEq, 0.5)}},
		{in: "params.lr = '0.1'", want: Filter{str(EntityParam, "lr", OpEq, "0.1")}},
		{in: `param.lr != "0.1"`, want: Filter{str(EntityParam, "lr", OpNe, "0.1")}},
		{in: "parameters.x like 'a%'", want: Filter{str(EntityParam, "x", OpLike, "a%")}},
		{in: "tags.`a b` ILIKE '%X_'", want: Filter{str(EntityTag, "a b", OpILike, "%X_")}},
		{in: "tags.mlflow.parentRunId = 'abc'", want: Filter{str(EntityTag, "mlflow.parentRunId", OpEq, "abc")}},
		{in: `tags."a-b.c" = 'x'`, want: Filter{str(EntityTag, "a-b.c", OpEq, "x")}},
		{in: "tags.t IS NULL and params.p is not null", want: Filter{
			{Entity: EntityTag, Key: "t", Op: OpIsNull}, {Entity: EntityParam, Key: "p", Op: OpIsNotNull}}},
		// MLflow strips the outer quotes and never unescapes.
		{in: "tags.t = 'it''s'", want: Filter{str(EntityTag, "t", OpEq, "it''s")}},
		{in: `tags.t = 'a\'b'`, want: Filter{str(EntityTag, "t", OpEq, `a\'b`)}},
		{in: "status = 'FINISHED'", want: Filter{str(EntityAttribute, "status", OpEq, "FINISHED")}},
		{in: "attr.user_id != 'u'", want: Filter{str(EntityAttribute, "user_id", OpNe, "u")}},
		{in: "run.run_name LIKE 'r%'", want: Filter{str(EntityAttribute, "run_name", OpLike, "r%")}},
		{in: "`Run name` = 'r'", want: Filter{str(EntityAttribute, "run_name", OpEq, "r")}},
		{in: "attributes.\"run name\" = 'r'", want: Filter{str(EntityAttribute, "run_name", OpEq, "r")}},
		{in: "Created >= 1700000000000", want: Filter{num(EntityAttribute, "start_time", OpGe, 1700000000000)}},
		{in: "end_time < 5", want: Filter{num(EntityAttribute, "end_time", OpLt, 5)}},
		{in: "run_id IN ('a', \"b\")", want: Filter{list(EntityAttribute, "run_id", OpIn, "a", "b")}},
		{in: "run_id not in ('a',)", want: Filter{list(EntityAttribute, "run_id", OpNotIn, "a")}},
		// The list is a Python literal, so its strings are unescaped.
		{in: `run_id IN ('a\'b')`, want: Filter{list(EntityAttribute, "run_id", OpIn, "a'b")}},
		// Upper-case ids are kept: MLflow 3.18's parser does not drop them.
		{in: "run_id IN ('AB')", want: Filter{list(EntityAttribute, "run_id", OpIn, "AB")}},
		{in: "datasets.name IN ('a') AND dataset.context = 'train'", want: Filter{
			list(EntityDataset, "name", OpIn, "a"), str(EntityDataset, "context", OpEq, "train")}},
		{in: "metrics.a > 1 AND params.b = 'x' And tags.c = 'y'", want: Filter{
			num(EntityMetric, "a", OpGt, 1), str(EntityParam, "b", OpEq, "x"), str(EntityTag, "c", OpEq, "y")}},
		// Odd input MLflow accepts: AND is optional, and may dangle.
		{in: "metrics.a > 1 metrics.b < 2", want: Filter{num(EntityMetric, "a", OpGt, 1), num(EntityMetric, "b", OpLt, 2)}},
		{in: "AND tags.t = 'x' AND", want: Filter{str(EntityTag, "t", OpEq, "x")}},
		{in: "metrics.m > 1e400", want: Filter{num(EntityMetric, "m", OpGt, math.Inf(1))}},

		{in: "metrics.a > 1 OR metrics.b > 1", wantErr: "Invalid clause(s) in filter string: 'OR'"},
		{in: "(metrics.a > 1)", wantErr: "Invalid clause(s) in filter string: '(metrics.a > 1)'"},
		{in: "metrics.a", wantErr: "Invalid clause(s) in filter string: 'metrics.a'"},
		{in: "tags.t = 'x'; tags.u = 'y'", wantErr: `Search filter contained multiple expression "tags.t = 'x'; tags.u = 'y'". Provide AND-ed expression list.`},
		{in: "metrics.m = '1'", wantErr: "Expected numeric value type for metric. Found '1'"},
		{in: "metrics.m LIKE 1", wantErr: "Invalid comparator 'LIKE' not one of '" + setMetricOps},
		{in: "params.p > 'a'", wantErr: "Invalid comparator '>' not one of '" + setParamTagOps + "'"},
		{in: "params.p = a", wantErr: "Parameter value is either not quoted or unidentified quote types used for string value a. Use either single or double quotes."},
		{in: "tags.t = 1", wantErr: "Expected a quoted string value for tag (e.g. 'my-value'). Got value 1"},
		{in: "status IN ('a')", wantErr: "Only ['run_id'] attributes support comparison with a list of quoted string values."},
		{in: "run_id IN ()", wantErr: "While parsing a list in the query, expected a non-empty list of string values, but got empty list"},
		{in: "run_id IN ('a', 1)", wantErr: "While parsing a list in the query, expected string value, punctuation, or whitespace, but got different type in list: ('a', 1)"},
		{in: "start_time = '1'", wantErr: "Expected numeric value type for numeric attribute: start_time. Found '1'"},
		{in: "lifecycle_stage = 'active'", wantErr: "Invalid attribute key 'lifecycle_stage' specified. Valid keys are '" + setRunKeys + "'"},
		{in: "foo.bar = 'x'", wantErr: "Invalid entity type 'foo'. Valid values are ['metric', 'parameter', 'tag', 'attribute', 'dataset']"},
		{in: "METRICS.m > 1", wantErr: "Invalid entity type 'METRICS'. Valid values are ['metric', 'parameter', 'tag', 'attribute', 'dataset']"},
		{in: "dataset.size = 'x'", wantErr: "Invalid dataset key 'size' specified. Valid keys are '" + setDatasetKeys + "'"},
		{in: "metrics.m IS NULL", wantErr: "IS NULL / IS NOT NULL is only supported for tags and params, not for 'metric' 'm'"},
		{in: "params.a-b = 'x'", wantErr: "Invalid comparison clause. Expected 'Identifier' found 'params.a-b'"},
		{in: "run_id = ('a')", wantErr: "Invalid comparison clause. A list of values needs IN or NOT IN, not '='"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseRunFilter(tt.in)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %#v\nwant %#v", got, tt.want)
			}
			checkRoundTrip(t, got, ParseRunFilter)
		})
	}
}

func TestParseExperimentFilter(t *testing.T) {
	tests := []struct {
		in      string
		want    Filter
		wantErr string
	}{
		{in: "name LIKE 'test-%' AND tags.key = 'value'", want: Filter{
			str(EntityAttribute, "name", OpLike, "test-%"), str(EntityTag, "key", OpEq, "value")}},
		{in: "attributes.creation_time >= 5", want: Filter{num(EntityAttribute, "creation_time", OpGe, 5)}},
		{in: "experiment_id IN ('1', '2')", want: Filter{list(EntityAttribute, "experiment_id", OpIn, "1", "2")}},
		{in: "tags.t is null", want: Filter{{Entity: EntityTag, Key: "t", Op: OpIsNull}}},
		{in: "attr.name = 'a'", wantErr: "Invalid entity type 'attr'. Valid entity types are ('attribute', 'attributes', 'tag', 'tags')"},
		{in: "metrics.m > 1", wantErr: "Invalid entity type 'metrics'. Valid entity types are ('attribute', 'attributes', 'tag', 'tags')"},
		{in: "creation_time = 1.5", wantErr: "Invalid value for numeric attribute 'creation_time': '1.5'"},
		{in: "creation_time > 1e3", wantErr: "Invalid value for numeric attribute 'creation_time': '1000.0'"},
		{in: "experiment_id = 'abc'", wantErr: "Invalid experiment ID 'abc'. Experiment ID must be a valid integer."},
		{in: "experiment_id LIKE '1'", wantErr: "Invalid comparator for experiment_id: LIKE"},
		{in: "tags.t > 'a'", wantErr: "Invalid comparator for tag: >"},
		{in: "name IS NULL", wantErr: "IS NULL / IS NOT NULL is only supported for tags, not for attribute 'name'"},
		{in: "name = 'a' OR name = 'b'", wantErr: "Invalid clause(s) in filter string: OR"},
		{in: "foo = 'x'", wantErr: "Invalid attribute key 'foo' specified. Valid keys are '" + setExpKeys + "'"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseExperimentFilter(tt.in)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %#v\nwant %#v", got, tt.want)
			}
			checkRoundTrip(t, got, ParseExperimentFilter)
		})
	}
}

func TestParseOrderBy(t *testing.T) {
	tests := []struct {
		in          string
		experiments bool
		want        OrderBy
		wantErr     string
	}{
		{in: "metrics.rmse DESC", want: OrderBy{EntityMetric, "rmse", false}},
		{in: "metrics.rmse", want: OrderBy{EntityMetric, "rmse", true}},
		{in: "params.`a b` asc", want: OrderBy{EntityParam, "a b", true}},
		{in: `tags."mlflow.runName" Desc`, want: OrderBy{EntityTag, "mlflow.runName", false}},
		{in: "tags.mlflow.runName", want: OrderBy{EntityTag, "mlflow.runName", true}},
		{in: "created", want: OrderBy{EntityAttribute, "start_time", true}},
		{in: "attributes.end_time\tDESC", want: OrderBy{EntityAttribute, "end_time", false}},
		{in: "name DESC", experiments: true, want: OrderBy{EntityAttribute, "name", false}},
		{in: "experiment_id", experiments: true, want: OrderBy{EntityAttribute, "experiment_id", true}},
		{in: "metrics.rmse UP", wantErr: "Invalid ordering key in order_by clause 'metrics.rmse UP'."},
		{in: "metrics.rmse DESC ASC", wantErr: "Invalid order_by clause 'metrics.rmse DESC ASC'. Could not be parsed."},
		{in: " metrics.rmse", wantErr: "Invalid order_by clause ' metrics.rmse'. Could not be parsed."},
		{in: "", wantErr: "Invalid order_by clause ''. Could not be parsed."},
		{in: "`run name`", wantErr: "Invalid attribute key 'run name' specified. Valid keys are '" + setRunOrder + "'"},
		{in: "dataset.name", wantErr: "Invalid identifier type 'dataset'"},
		{in: "tags.t", experiments: true, wantErr: "Invalid order_by entity: tag"},
		{in: "lifecycle_stage", experiments: true, wantErr: "Invalid attribute key 'lifecycle_stage' specified. Valid keys are '" + setExpKeys + "'"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			parse := ParseRunOrderBy
			if tt.experiments {
				parse = ParseExperimentOrderBy
			}
			got, err := parse(tt.in)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Fatalf("got %#v, want %#v", got, tt.want)
			}
			again, err := parse(got.String())
			if err != nil || again != got {
				t.Fatalf("String() %q parses to %#v, %v", got.String(), again, err)
			}
		})
	}
}

func TestStringForms(t *testing.T) {
	f := Filter{
		num(EntityMetric, "a b", OpGt, 1e-7),
		str(EntityTag, "mlflow.runName", OpEq, "it's"),
		list(EntityAttribute, "run_id", OpIn, "a'b", `c\d`),
		{Entity: EntityParam, Key: "p", Op: OpIsNull},
	}
	want := "metrics.`a b` > 1e-07 AND tags.`mlflow.runName` = \"it's\" AND " +
		`attributes.run_id IN ("a'b", 'c\\d') AND params.p IS NULL`
	if got := f.String(); got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	checkRoundTrip(t, f, ParseRunFilter)
}

func checkRoundTrip(t *testing.T, f Filter, parse func(string) (Filter, error)) {
	t.Helper()
	again, err := parse(f.String())
	if err != nil {
		t.Fatalf("String() %q does not parse: %v", f.String(), err)
	}
	if len(f) == 0 && len(again) == 0 {
		return
	}
	if !reflect.DeepEqual(f, again) {
		t.Fatalf("String() %q parses to %#v, want %#v", f.String(), again, f)
	}
}

// fuzzSeeds are the oracle inputs plus a few hand-made edge cases.
func fuzzSeeds(f *testing.F, kinds ...string) {
	rows := loadOracle(f)
	for _, k := range kinds {
		for _, r := range rows[k] {
			f.Add(r.Input)
		}
	}
	for _, s := range []string{"", "(", "'", "`", `"`, "tags.`", "run_id IN ('\\x41', '\\u00e9')", "metrics.m > -0"} {
		f.Add(s)
	}
}

func fuzzFilter(f *testing.F, parse func(string) (Filter, error)) {
	f.Fuzz(func(t *testing.T, s string) {
		got, err := parse(s)
		if err != nil {
			if got != nil {
				t.Fatalf("error %v with a non-nil filter", err)
			}
			return
		}
		// Every accepted filter has a String() form that parses back to it.
		again, err := parse(got.String())
		if err != nil {
			t.Fatalf("%q -> String() %q: %v", s, got.String(), err)
		}
		if len(got) == 0 && len(again) == 0 {
			return
		}
		if !reflect.DeepEqual(got, again) {
			t.Fatalf("%q -> String() %q -> %#v, want %#v", s, got.String(), again, got)
		}
		if strings.Contains(got.String(), "\x00") && !strings.Contains(s, "\x00") {
			t.Fatalf("String() invented a NUL")
		}
	})
}

func FuzzParseRunFilter(f *testing.F) {
	fuzzSeeds(f, "run_filter")
	fuzzFilter(f, ParseRunFilter)
}

func FuzzParseExperimentFilter(f *testing.F) {
	fuzzSeeds(f, "experiment_filter")
	fuzzFilter(f, ParseExperimentFilter)
}

func FuzzParseRunOrderBy(f *testing.F) {
	fuzzSeeds(f, "run_order_by", "experiment_order_by")
	f.Fuzz(func(t *testing.T, s string) {
		for _, parse := range []func(string) (OrderBy, error){ParseRunOrderBy, ParseExperimentOrderBy} {
			got, err := parse(s)
			if err != nil {
				continue
			}
			again, err := parse(got.String())
			if err != nil || again != got {
				t.Fatalf("%q -> String() %q -> %#v, %v; want %#v", s, got.String(), again, err, got)
			}
		}
	})
}

func BenchmarkParseRunFilter(b *testing.B) {
	for b.Loop() {
		if _, err := ParseRunFilter("metrics.m1 > 0.5 AND params.p = 'a' AND tags.`x y` LIKE 'foo%' AND run_id IN ('a','b')"); err != nil {
			b.Fatal(err)
		}
	}
}

func TestSignedZero(t *testing.T) {
	f, err := ParseExperimentFilter("creation_time > -0")
	if err != nil {
		t.Fatal(err)
	}
	if math.Signbit(f[0].Value.Num) {
		t.Fatal("an integer literal kept a negative zero")
	}
	checkRoundTrip(t, f, ParseExperimentFilter)
	m, err := ParseRunFilter("metrics.m > -0")
	if err != nil {
		t.Fatal(err)
	}
	if !math.Signbit(m[0].Value.Num) {
		t.Fatal("a metric lost Python's float('-0') sign")
	}
	checkRoundTrip(t, m, ParseRunFilter)
}

// TestLargeInputs parses big adversarial filters; a lexer that rescans the
// rest of the input per token would make this test take minutes.
func TestLargeInputs(t *testing.T) {
	const n = 50_000
	ids := make([]string, 5000)
	for i := range ids {
		ids[i] = "'0123456789abcdef0123456789abcdef'"
	}
	inputs := []string{
		strings.Repeat("(", n),
		strings.Repeat("/* ", n/3),
		strings.Repeat("'\\", n/2),
		strings.Repeat("\"", n-1),
		strings.Repeat("1", n) + "x",
		"tags.t = '" + strings.Repeat("a", n) + "'",
		"run_id IN (" + strings.Join(ids, ", ") + ")",
	}
	for _, in := range inputs {
		_, _ = ParseRunFilter(in)
		_, _ = ParseExperimentFilter(in)
		_, _ = ParseRunOrderBy(in)
	}
	f, err := ParseRunFilter(inputs[len(inputs)-1])
	if err != nil || len(f[0].Value.List) != len(ids) {
		t.Fatalf("long IN list: %v", err)
	}
}
