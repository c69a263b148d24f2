package search

import (
	"encoding/json"
	"math"
	"os"
	"reflect"
	"strings"
	"testing"
)

// loggedmodel_oracle.json is written by testdata/loggedmodel_oracle.py from
// real MLflow 3.18.0: its parser and its SQL store's search.
type lmOracle struct {
	Filter []struct {
		Input  string          `json:"input"`
		Result json.RawMessage `json:"result"`
		Error  *string         `json:"error"`
		Crash  *string         `json:"crash"`
	} `json:"filter"`
	OrderBy []struct {
		Input  string  `json:"input"`
		Result *string `json:"result"`
		Error  *string `json:"error"`
	} `json:"order_by"`
}

// lmDivergences are inputs both reject with different messages, or that
// MLflow accepts in its parser and then fails on inside its store.
var lmDivergences = map[string]string{
	"params.lr IS NULL": "both reject; sqlparse splits IS NULL oddly and MLflow's message shows that",
}

var lmEntityByName = map[string]Entity{
	"attributes": EntityAttribute, "metrics": EntityMetric, "params": EntityParam, "tags": EntityTag,
}

// lmExpected turns MLflow's parse into the AST mltrack promises stores:
// canonical attribute keys.
func lmExpected(t *testing.T, raw json.RawMessage) Filter {
	t.Helper()
	var cs []oracleComparison
	if err := json.Unmarshal(raw, &cs); err != nil {
		t.Fatal(err)
	}
	if len(cs) == 0 {
		return nil
	}
	f := Filter{}
	for _, c := range cs {
		e := lmEntityByName[c.Type]
		key := c.Key
		if e == EntityAttribute {
			key = strings.TrimSuffix(key, "_ms")
		}
		cmp := Comparison{Entity: e, Key: key, Op: Op(c.Op)}
		switch v := c.Value.(type) {
		case float64:
			cmp.Value = Value{Kind: ValueNumber, Num: v}
		case string:
			if f, ok := pyFloatText(v); ok && (e == EntityMetric || strings.Contains(key, "timestamp")) {
				cmp.Value = Value{Kind: ValueNumber, Num: f}
				break
			}
			cmp.Value = Value{Kind: ValueString, Str: v}
		case []any:
			list := []string{}
			for _, s := range v {
				list = append(list, s.(string))
			}
			cmp.Value = Value{Kind: ValueList, List: list}
		default:
			t.Fatalf("unexpected value %T", v)
		}
		f = append(f, cmp)
	}
	return f
}

// pyFloatText reads the strings oracle.py writes for infinite and NaN floats.
func pyFloatText(s string) (float64, bool) {
	switch s {
	case "inf":
		return math.Inf(1), true
	case "-inf":
		return math.Inf(-1), true
	}
	return 0, false
}

func TestLoggedModelOracle(t *testing.T) {
	b, err := os.ReadFile("testdata/loggedmodel_oracle.json")
	if err != nil {
		t.Fatal(err)
	}
	var o lmOracle
	if err := json.Unmarshal(b, &o); err != nil {
		t.Fatal(err)
	}
	if len(o.Filter) < 50 || len(o.OrderBy) < 10 {
		t.Fatalf("only %d filter and %d order_by cases", len(o.Filter), len(o.OrderBy))
	}
	for _, row := range o.Filter {
		t.Run("filter/"+row.Input, func(t *testing.T) {
			got, err := ParseLoggedModelFilter(row.Input)
			if why, ok := lmDivergences[row.Input]; ok {
				if err == nil {
					t.Fatalf("accepted (%s)", why)
				}
				return
			}
			switch {
			case row.Result != nil:
				if err != nil {
					t.Fatalf("MLflow accepts, mltrack: %v", err)
				}
				if want := lmExpected(t, row.Result); !reflect.DeepEqual(got, want) {
					t.Fatalf("got %#v\nwant %#v", got, want)
				}
			case row.Error != nil:
				if err == nil {
					t.Fatalf("MLflow rejects with %q, mltrack accepts: %#v", *row.Error, got)
				}
				if err.Error() != *row.Error {
					t.Fatalf("message\n got: %s\nwant: %s", err, *row.Error)
				}
			default:
				if err == nil {
					t.Fatalf("MLflow crashes (%s), mltrack accepts: %#v", *row.Crash, got)
				}
			}
		})
	}
	for _, row := range o.OrderBy {
		t.Run("order_by/"+row.Input, func(t *testing.T) {
			_, err := ParseLoggedModelOrderBy(row.Input)
			switch {
			case row.Result != nil && err != nil:
				t.Fatalf("MLflow accepts, mltrack: %v", err)
			case row.Error != nil && err == nil:
				t.Fatalf("MLflow rejects with %q, mltrack accepts", *row.Error)
			case row.Error != nil && err.Error() != *row.Error:
				t.Fatalf("message\n got: %s\nwant: %s", err, *row.Error)
			}
		})
	}
}

// Inputs where MLflow fails with an internal error (a 500 to clients):
// mltrack must refuse them as the client's mistake.
func TestLoggedModelFilterRejects(t *testing.T) {
	for _, tc := range []struct{ in, msg string }{
		{"metrics.x > 'a'", `Invalid filter string: "'a'". Expected a numeric value for metrics.x.`},
		{"creation_timestamp > abc", `Invalid filter string: 'abc'. Expected a numeric value for attributes.creation_timestamp_ms.`},
		{"foo = 'a'", "Invalid logged model search key 'foo'"},
		{"Name = 'a'", "Invalid logged model search key 'Name'"},
		{"lifecycle_stage = 'active'", "Invalid logged model search key 'lifecycle_stage'"},
		{"'a' = name", `Invalid filter string: "'a' = name". Expected a list of comparisons separated by 'AND' (e.g. 'metrics.loss > 0.1 AND params.lr = 0.01').`},
		{"name = ('a', 'b')", "Invalid comparison clause. A list of values needs IN or NOT IN, not '='"},
		{"name IN (1, 2)", "While parsing a list in the query, expected string value, punctuation, or whitespace, but got different type in list: (1, 2)"},
		{"name IN ()", "While parsing a list in the query, expected a non-empty list of string values, but got empty list"},
		{"params.x IS NOT NULL", "Invalid comparison operator for params.x: 'IS NOT NULL'. Expected one of ('=', '!=', 'LIKE', 'ILIKE', 'IN', 'NOT IN')."},
	} {
		t.Run(tc.in, func(t *testing.T) {
			f, err := ParseLoggedModelFilter(tc.in)
			if err == nil {
				t.Fatalf("accepted: %#v", f)
			}
			if err.Error() != tc.msg {
				t.Fatalf("message\n got: %s\nwant: %s", err, tc.msg)
			}
		})
	}
}

// MLflow's float() takes inf and nan; aliases reach the canonical keys.
func TestLoggedModelFilterValues(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Comparison
	}{
		{"metrics.x < inf", Comparison{EntityMetric, "x", OpLt, Value{Kind: ValueNumber, Num: math.Inf(1)}}},
		{"attributes.creation_time > 3", Comparison{EntityAttribute, "creation_timestamp", OpGt, Value{Kind: ValueNumber, Num: 3}}},
		{"last_updated_time = 3", Comparison{EntityAttribute, "last_updated_timestamp", OpEq, Value{Kind: ValueNumber, Num: 3}}},
		{"`name` = 'x'", Comparison{EntityAttribute, "name", OpEq, Value{Kind: ValueString, Str: "x"}}},
	} {
		t.Run(tc.in, func(t *testing.T) {
			f, err := ParseLoggedModelFilter(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if len(f) != 1 || !reflect.DeepEqual(f[0], tc.want) {
				t.Fatalf("got %#v\nwant %#v", f, tc.want)
			}
		})
	}
	f, err := ParseLoggedModelFilter("metrics.x = nan")
	if err != nil || len(f) != 1 || !math.IsNaN(f[0].Value.Num) {
		t.Fatalf("nan: %#v, %v", f, err)
	}
}

func TestLoggedModelOrderByKeys(t *testing.T) {
	for in, want := range map[string]OrderBy{
		"creation_time":    {Entity: EntityAttribute, Key: "creation_timestamp", Ascending: true},
		"name":             {Entity: EntityAttribute, Key: "name", Ascending: true},
		"metrics.val.loss": {Entity: EntityMetric, Key: "val.loss", Ascending: true},
	} {
		got, err := ParseLoggedModelOrderBy(in)
		if err != nil || got != want {
			t.Errorf("%s: got %#v, %v; want %#v", in, got, err, want)
		}
	}
}

// FuzzParseLoggedModelFilter: any text either fails or yields comparisons
// a store can rely on (canonical attribute keys, valid operators, a
// number for every numeric comparison, checked status values).
func FuzzParseLoggedModelFilter(f *testing.F) {
	b, err := os.ReadFile("testdata/loggedmodel_oracle.json")
	if err != nil {
		f.Fatal(err)
	}
	var o lmOracle
	if err := json.Unmarshal(b, &o); err != nil {
		f.Fatal(err)
	}
	for _, row := range o.Filter {
		f.Add(row.Input)
	}
	canonical := map[string]bool{}
	for _, c := range loggedModelAttributes {
		canonical[c] = true
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseLoggedModelFilter(s)
		if err != nil {
			return
		}
		for _, c := range got {
			numeric := c.Entity == EntityMetric || c.Key == "creation_timestamp" || c.Key == "last_updated_timestamp"
			switch {
			case c.Entity == EntityAttribute && !canonical[c.Key]:
				t.Fatalf("%q: attribute key %q is not canonical", s, c.Key)
			case numeric && (!isNumericOp(c.Op) || c.Value.Kind != ValueNumber):
				t.Fatalf("%q: numeric comparison %#v", s, c)
			case !numeric && (!isStringOp(c.Op) || c.Value.Kind == ValueNumber):
				t.Fatalf("%q: string comparison %#v", s, c)
			case c.Value.Kind == ValueList && c.Op != OpIn && c.Op != OpNotIn:
				t.Fatalf("%q: list with %s", s, c.Op)
			case c.Key == "status" && c.Entity == EntityAttribute:
				for _, v := range append([]string{c.Value.Str}, c.Value.List...) {
					if v != "" && !loggedModelStatuses[v] {
						t.Fatalf("%q: status %q", s, v)
					}
				}
			}
		}
	})
}
