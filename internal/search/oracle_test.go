package search

import (
	"encoding/json"
	"math"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// oracle.json is written by testdata/oracle.py from real MLflow 3.18.0 (see
// that file); each row holds an input and MLflow's parse result or error.
type oracleRow struct {
	Input  string          `json:"input"`
	Result json.RawMessage `json:"result"`
	Error  *string         `json:"error"`
	Crash  *string         `json:"crash"`
}

type oracleComparison struct {
	Type  string `json:"type"`
	Key   string `json:"key"`
	Op    string `json:"op"`
	Value any    `json:"value"`
}

type oracleOrder struct {
	Type      string `json:"type"`
	Key       string `json:"key"`
	Ascending bool   `json:"ascending"`
}

// knownDivergences lists inputs where mltrack deliberately or unavoidably
// differs from MLflow. For each, both reject the input unless noted; only
// the message differs (sqlparse groups these odd token runs its own way).
var knownDivergences = map[string]string{
	"params.from = 'x'": "MLflow rejects a key that is the SQL keyword FROM; mltrack accepts it",
	"metrics.m-1 > 1":   "both reject; sqlparse reads -1 as a number and lists fewer invalid tokens",
	"   ":               "MLflow rejects a blank filter; the API contract says blank means no filter",
}

var entityByName = map[string]Entity{
	"attribute": EntityAttribute, "metric": EntityMetric, "parameter": EntityParam,
	"tag": EntityTag, "dataset": EntityDataset,
}

var pySet = regexp.MustCompile(`\{'[^{}]*'\}`)

// normalizeMessage sorts the members of Python set literals, whose printed
// order changes from one Python process to the next.
func normalizeMessage(s string) string {
	return pySet.ReplaceAllStringFunc(s, func(set string) string {
		items := strings.Split(set[1:len(set)-1], ", ")
		sort.Strings(items)
		return "{" + strings.Join(items, ", ") + "}"
	})
}

func loadOracle(t testing.TB) map[string][]oracleRow {
	t.Helper()
	// SEARCH_ORACLE points at another oracle.py output, e.g. a large random
	// one made while exploring; the committed table is the default.
	path := "testdata/oracle.json"
	if p := os.Getenv("SEARCH_ORACLE"); p != "" {
		path = p
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var rows map[string][]oracleRow
	if err := json.Unmarshal(b, &rows); err != nil {
		t.Fatal(err)
	}
	return rows
}

func expectedFilter(t *testing.T, raw json.RawMessage) Filter {
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
		cmp := Comparison{Entity: entityByName[c.Type], Key: c.Key, Op: Op(c.Op)}
		switch v := c.Value.(type) {
		case nil:
		case float64:
			cmp.Value = Value{Kind: ValueNumber, Num: v}
		case string:
			if v == "inf" && (c.Type == "metric" || c.Type == "attribute" && strings.HasSuffix(c.Key, "_time")) {
				cmp.Value = Value{Kind: ValueNumber, Num: math.Inf(1)}
			} else {
				cmp.Value = Value{Kind: ValueString, Str: v}
			}
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

func TestOracle(t *testing.T) {
	rows := loadOracle(t)
	filters := map[string]func(string) (Filter, error){
		"run_filter":        ParseRunFilter,
		"experiment_filter": ParseExperimentFilter,
	}
	orders := map[string]func(string) (OrderBy, error){
		"run_order_by":        ParseRunOrderBy,
		"experiment_order_by": ParseExperimentOrderBy,
	}
	total := 0
	for kind, cases := range rows {
		for _, row := range cases {
			total++
			t.Run(kind+"/"+row.Input, func(t *testing.T) {
				var got any
				var err error
				var want any
				if parse, ok := filters[kind]; ok {
					got, err = parse(row.Input)
					if row.Result != nil {
						want = expectedFilter(t, row.Result)
					}
				} else {
					got, err = orders[kind](row.Input)
					if row.Result != nil {
						var o oracleOrder
						if e := json.Unmarshal(row.Result, &o); e != nil {
							t.Fatal(e)
						}
						want = OrderBy{Entity: entityByName[o.Type], Key: o.Key, Ascending: o.Ascending}
					}
				}
				if why, ok := knownDivergences[row.Input]; ok {
					t.Logf("known divergence: %s (mltrack: %v, %v)", why, got, err)
					return
				}
				switch {
				case row.Result != nil:
					if err != nil {
						t.Fatalf("MLflow accepts, mltrack: %v", err)
					}
					if f, ok := got.(Filter); ok && len(f) == 0 {
						got = Filter(nil)
					}
					if !reflect.DeepEqual(got, want) {
						t.Fatalf("got %#v\nwant %#v", got, want)
					}
				case row.Error != nil:
					if err == nil {
						t.Fatalf("MLflow rejects with %q, mltrack accepts: %#v", *row.Error, got)
					}
					if g, w := normalizeMessage(err.Error()), normalizeMessage(*row.Error); g != w {
						t.Fatalf("message\n got: %s\nwant: %s", g, w)
					}
				default:
					if err == nil {
						t.Fatalf("MLflow crashes (%s), mltrack accepts: %#v", *row.Crash, got)
					}
				}
			})
		}
	}
	if total < 300 && os.Getenv("SEARCH_ORACLE") == "" {
		t.Fatalf("only %d oracle cases", total)
	}
}
