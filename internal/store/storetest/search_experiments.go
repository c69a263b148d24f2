package storetest

import (
	"cmp"
	"slices"
	"strconv"
	"testing"

	"github.com/mltrack/mltrack/internal/search"
	"github.com/mltrack/mltrack/internal/tracking"
)

// expIDCmp orders experiment ids numerically, as the SQL schema's integer
// column does.
func expIDCmp(a, b string) int {
	x, errA := strconv.ParseInt(a, 10, 64)
	y, errB := strconv.ParseInt(b, 10, 64)
	if errA != nil || errB != nil {
		return cmp.Compare(a, b)
	}
	return cmp.Compare(x, y)
}

func testSearchExperiments(t *testing.T, newStore func(t *testing.T) tracking.Store) {
	s := newStore(t)
	ctx := ctxOf(t)
	ids := map[string]string{"Default": "0"}
	for _, e := range []struct {
		name string
		team string
	}{{"exp-a", "red"}, {"exp-b", "blue"}, {"other", "Red"}, {"exp-c", "red"}} {
		ids[e.name] = createExperiment(t, s, e.name, tracking.Tag{Key: "team", Value: e.team})
	}
	mustNoErr(t, s.DeleteExperiment(ctx, ids["exp-c"]), "DeleteExperiment")
	all := map[string]tracking.Experiment{}
	for n, id := range ids {
		all[n] = *getExperiment(t, s, id)
	}

	names := func(exps []tracking.Experiment) []string {
		out := make([]string, len(exps))
		for i, e := range exps {
			out[i] = e.Name
		}
		return out
	}
	query := func(t *testing.T, q tracking.ExperimentQuery) []tracking.Experiment {
		t.Helper()
		if q.ViewType == 0 {
			q.ViewType = tracking.ViewActiveOnly
		}
		if q.Limit == 0 {
			q.Limit = 1000
		}
		got, err := s.SearchExperiments(ctx, q)
		mustNoErr(t, err, "SearchExperiments")
		return got
	}
	// expected keeps the experiments matching pred, as names, sorted.
	expected := func(view tracking.ViewType, pred func(e tracking.Experiment) bool) []string {
		var out []string
		for n, e := range all {
			if view.Includes(e.LifecycleStage) && pred(e) {
				out = append(out, n)
			}
		}
		return sortedCopy(out)
	}
	ct := func(n string) float64 { return float64(all[n].CreationTime) }

	t.Run("ViewTypes", func(t *testing.T) {
		for _, tc := range []struct {
			view tracking.ViewType
			want []string
		}{
			{tracking.ViewActiveOnly, []string{"Default", "exp-a", "exp-b", "other"}},
			{tracking.ViewDeletedOnly, []string{"exp-c"}},
			{tracking.ViewAll, []string{"Default", "exp-a", "exp-b", "exp-c", "other"}},
		} {
			if got := sortedCopy(names(query(t, tracking.ExperimentQuery{ViewType: tc.view}))); !slices.Equal(got, sortedCopy(tc.want)) {
				t.Errorf("view %d: got %v, want %v", tc.view, got, tc.want)
			}
		}
	})

	t.Run("Filters", func(t *testing.T) {
		attr, tag := search.EntityAttribute, search.EntityTag
		for _, tc := range []struct {
			name   string
			filter search.Filter
			view   tracking.ViewType
			want   []string
		}{
			{"name =", search.Filter{str(attr, "name", search.OpEq, "exp-a")}, 0, []string{"exp-a"}},
			{"name !=", search.Filter{str(attr, "name", search.OpNe, "exp-a")}, 0, []string{"Default", "exp-b", "other"}},
			{"name LIKE", search.Filter{str(attr, "name", search.OpLike, "exp-%")}, 0, []string{"exp-a", "exp-b"}},
			{"name LIKE is case-sensitive", search.Filter{str(attr, "name", search.OpLike, "EXP-%")}, 0, nil},
			{"name ILIKE", search.Filter{str(attr, "name", search.OpILike, "EXP-%")}, 0, []string{"exp-a", "exp-b"}},
			{"name LIKE underscore", search.Filter{str(attr, "name", search.OpLike, "exp-_")}, 0, []string{"exp-a", "exp-b"}},
			{"name LIKE deleted too", search.Filter{str(attr, "name", search.OpLike, "exp-%")}, tracking.ViewAll, []string{"exp-a", "exp-b", "exp-c"}},
			{"tag =", search.Filter{str(tag, "team", search.OpEq, "red")}, 0, []string{"exp-a"}},
			{"tag = is case-sensitive", search.Filter{str(tag, "team", search.OpEq, "RED")}, 0, nil},
			{"tag !=", search.Filter{str(tag, "team", search.OpNe, "red")}, 0, []string{"exp-b", "other"}},
			{"tag LIKE", search.Filter{str(tag, "team", search.OpLike, "R%")}, 0, []string{"other"}},
			{"tag ILIKE", search.Filter{str(tag, "team", search.OpILike, "r%")}, 0, []string{"exp-a", "other"}},
			{"missing tag never matches", search.Filter{str(tag, "nope", search.OpNe, "x")}, 0, nil},
			{"name and tag", search.Filter{str(attr, "name", search.OpLike, "%a"), str(tag, "team", search.OpEq, "red")}, 0, []string{"exp-a"}},
			{"two tag terms", search.Filter{str(tag, "team", search.OpILike, "RED"), str(attr, "name", search.OpNe, "other")}, tracking.ViewAll, []string{"exp-a", "exp-c"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				got := sortedCopy(names(query(t, tracking.ExperimentQuery{Filter: tc.filter, ViewType: tc.view})))
				if !slices.Equal(got, sortedCopy(tc.want)) {
					t.Errorf("got %v, want %v", got, tc.want)
				}
			})
		}
		for _, tc := range []struct {
			op   search.Op
			pred func(a, b float64) bool
		}{
			{search.OpEq, func(a, b float64) bool { return a == b }},
			{search.OpNe, func(a, b float64) bool { return a != b }},
			{search.OpLt, func(a, b float64) bool { return a < b }},
			{search.OpLe, func(a, b float64) bool { return a <= b }},
			{search.OpGt, func(a, b float64) bool { return a > b }},
			{search.OpGe, func(a, b float64) bool { return a >= b }},
		} {
			t.Run("creation_time "+string(tc.op), func(t *testing.T) {
				pivot := ct("exp-b")
				got := sortedCopy(names(query(t, tracking.ExperimentQuery{
					Filter: search.Filter{num(attr, "creation_time", tc.op, pivot)}, ViewType: tracking.ViewAll})))
				want := expected(tracking.ViewAll, func(e tracking.Experiment) bool { return tc.pred(float64(e.CreationTime), pivot) })
				if !slices.Equal(got, want) {
					t.Errorf("creation_time %s %v: got %v, want %v", tc.op, pivot, got, want)
				}
			})
		}
	})

	// checkOrder verifies got is sorted by less and holds exactly want.
	checkOrder := func(t *testing.T, got []tracking.Experiment, want []string, less func(a, b tracking.Experiment) int) {
		t.Helper()
		if !slices.Equal(sortedCopy(names(got)), sortedCopy(want)) {
			t.Fatalf("got %v, want the set %v", names(got), want)
		}
		if !slices.IsSortedFunc(got, less) {
			t.Errorf("order %v violates the expected ordering", names(got))
		}
	}
	allNames := []string{"Default", "exp-a", "exp-b", "exp-c", "other"}

	t.Run("Order", func(t *testing.T) {
		for _, tc := range []struct {
			name    string
			orderBy []search.OrderBy
			less    func(a, b tracking.Experiment) int
		}{
			// MLflow's default: creation_time DESC, experiment_id ASC.
			{"default", nil, func(a, b tracking.Experiment) int {
				return cmp.Or(cmp.Compare(b.CreationTime, a.CreationTime), expIDCmp(a.ID, b.ID))
			}},
			{"name ASC", []search.OrderBy{asc(search.EntityAttribute, "name")}, func(a, b tracking.Experiment) int {
				return cmp.Compare(a.Name, b.Name)
			}},
			{"name DESC", []search.OrderBy{desc(search.EntityAttribute, "name")}, func(a, b tracking.Experiment) int {
				return cmp.Compare(b.Name, a.Name)
			}},
			{"experiment_id ASC", []search.OrderBy{asc(search.EntityAttribute, "experiment_id")}, func(a, b tracking.Experiment) int {
				return expIDCmp(a.ID, b.ID)
			}},
			{"experiment_id DESC", []search.OrderBy{desc(search.EntityAttribute, "experiment_id")}, func(a, b tracking.Experiment) int {
				return expIDCmp(b.ID, a.ID)
			}},
			// Without experiment_id in order_by MLflow adds experiment_id DESC as the tie-breaker.
			{"creation_time ASC", []search.OrderBy{asc(search.EntityAttribute, "creation_time")}, func(a, b tracking.Experiment) int {
				return cmp.Or(cmp.Compare(a.CreationTime, b.CreationTime), expIDCmp(b.ID, a.ID))
			}},
			{"last_update_time DESC", []search.OrderBy{desc(search.EntityAttribute, "last_update_time")}, func(a, b tracking.Experiment) int {
				return cmp.Or(cmp.Compare(b.LastUpdateTime, a.LastUpdateTime), expIDCmp(b.ID, a.ID))
			}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				got := query(t, tracking.ExperimentQuery{OrderBy: tc.orderBy, ViewType: tracking.ViewAll})
				checkOrder(t, got, allNames, tc.less)
			})
		}
		t.Run("name ASC exact", func(t *testing.T) {
			got := names(query(t, tracking.ExperimentQuery{OrderBy: []search.OrderBy{asc(search.EntityAttribute, "name")}}))
			if want := []string{"Default", "exp-a", "exp-b", "other"}; !slices.Equal(got, want) {
				t.Errorf("got %v, want %v", got, want)
			}
		})
	})

	t.Run("Paging", func(t *testing.T) {
		for _, orderBy := range [][]search.OrderBy{nil, {asc(search.EntityAttribute, "name")}} {
			full := names(query(t, tracking.ExperimentQuery{ViewType: tracking.ViewAll, OrderBy: orderBy}))
			for _, size := range []int{1, 2, 3} {
				var paged []string
				for off := 0; off < len(full)+size; off += size {
					page := query(t, tracking.ExperimentQuery{ViewType: tracking.ViewAll, OrderBy: orderBy, Offset: off, Limit: size})
					if len(page) > size {
						t.Fatalf("page of size %d at %d has %d rows", size, off, len(page))
					}
					paged = append(paged, names(page)...)
				}
				if !slices.Equal(paged, full) {
					t.Errorf("order %v, pages of %d: %v, want %v", orderBy, size, paged, full)
				}
			}
		}
	})

	t.Run("ResultsCarryTags", func(t *testing.T) {
		got := query(t, tracking.ExperimentQuery{Filter: search.Filter{str(search.EntityAttribute, "name", search.OpEq, "exp-b")}})
		if len(got) != 1 || tagMap(got[0].Tags)["team"] != "blue" || got[0].ID != ids["exp-b"] ||
			got[0].ArtifactLocation != all["exp-b"].ArtifactLocation || got[0].CreationTime != all["exp-b"].CreationTime {
			t.Errorf("got %+v, want %+v", got, all["exp-b"])
		}
	})
}
