package filestore

import (
	"context"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/mltrack/mltrack/internal/search"
	"github.com/mltrack/mltrack/internal/tracking"
)

// The search evaluator works on the index with the SQL store's observable
// semantics: a run lacking a key never matches (even with !=), LIKE is
// case-sensitive and ILIKE is not, NULL and NaN sort last in both directions,
// and ties break on start_time DESC then run_id ASC.

// sqlLikeRegexp translates a LIKE pattern: % is any run, _ one character.
func sqlLikeRegexp(pattern string, caseInsensitive bool) (*regexp.Regexp, error) {
	var b strings.Builder
	b.WriteString("(?s")
	if caseInsensitive {
		b.WriteString("i")
	}
	b.WriteString(")^")
	for _, r := range pattern {
		switch r {
		case '%':
			b.WriteString(".*")
		case '_':
			b.WriteString(".")
		default:
			b.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	b.WriteString("$")
	return regexp.Compile(b.String())
}

// matcher is a compiled comparison.
type matcher struct {
	c  search.Comparison
	re *regexp.Regexp
	in map[string]bool
}

func compileFilter(f search.Filter) ([]matcher, error) {
	out := make([]matcher, len(f))
	for i, c := range f {
		m := matcher{c: c}
		switch c.Op {
		case search.OpLike, search.OpILike:
			re, err := sqlLikeRegexp(c.Value.Str, c.Op == search.OpILike)
			if err != nil {
				return nil, tracking.InvalidParameter("Invalid pattern %q", c.Value.Str)
			}
			m.re = re
		case search.OpIn, search.OpNotIn:
			m.in = map[string]bool{}
			for _, v := range c.Value.List {
				m.in[v] = true
			}
		}
		out[i] = m
	}
	return out, nil
}

func (m *matcher) matchString(v string) bool {
	switch m.c.Op {
	case search.OpEq:
		return v == m.c.Value.Str
	case search.OpNe:
		return v != m.c.Value.Str
	case search.OpLike, search.OpILike:
		return m.re.MatchString(v)
	case search.OpIn:
		return m.in[v]
	case search.OpNotIn:
		return !m.in[v]
	case search.OpLt:
		return v < m.c.Value.Str
	case search.OpLe:
		return v <= m.c.Value.Str
	case search.OpGt:
		return v > m.c.Value.Str
	case search.OpGe:
		return v >= m.c.Value.Str
	}
	return false
}

func (m *matcher) number() float64 {
	if m.c.Value.Kind == search.ValueNumber {
		return m.c.Value.Num
	}
	f, err := strconv.ParseFloat(m.c.Value.Str, 64)
	if err != nil {
		return math.NaN()
	}
	return f
}

func (m *matcher) matchNumber(v float64) bool {
	x := m.number()
	switch m.c.Op {
	case search.OpEq:
		return v == x
	case search.OpNe:
		return v != x
	case search.OpLt:
		return v < x
	case search.OpLe:
		return v <= x
	case search.OpGt:
		return v > x
	case search.OpGe:
		return v >= x
	}
	return false
}

// runAttrString returns a run's string attribute; ok is false for numeric or
// unknown ones.
func runAttrString(r *runEntry, key string) (string, bool) {
	switch key {
	case "run_id":
		return r.meta.RunID, true
	case "run_name":
		return r.meta.RunName, true
	case "status":
		return string(r.meta.Status), true
	case "user_id":
		return r.meta.UserID, true
	case "artifact_uri":
		return r.meta.ArtifactURI, true
	case "experiment_id":
		return r.meta.ExperimentID, true
	case "lifecycle_stage":
		return r.meta.LifecycleStage, true
	}
	return "", false
}

// runAttrNumber returns a numeric attribute; present is false for NULL.
func runAttrNumber(r *runEntry, key string) (v float64, present, ok bool) {
	switch key {
	case "start_time":
		return float64(r.meta.StartTime), true, true
	case "end_time":
		if r.meta.EndTime == nil {
			return 0, false, true
		}
		return float64(*r.meta.EndTime), true, true
	}
	return 0, false, false
}

func (m *matcher) matchRun(r *runEntry) bool {
	c := m.c
	switch c.Entity {
	case search.EntityAttribute:
		if v, present, ok := runAttrNumber(r, c.Key); ok {
			return present && m.matchNumber(v)
		}
		if v, ok := runAttrString(r, c.Key); ok {
			return m.matchString(v)
		}
		return false
	case search.EntityMetric:
		mt, ok := r.metrics[c.Key]
		return ok && m.matchNumber(mt.Value)
	case search.EntityParam:
		v, ok := r.params[c.Key]
		return ok && m.matchString(v)
	case search.EntityTag:
		v, ok := r.tags[c.Key]
		return ok && m.matchString(v)
	case search.EntityDataset:
		for _, d := range r.datasets {
			var v string
			switch c.Key {
			case "name":
				v = d.name
			case "digest":
				v = d.digest
			case "context":
				v = d.context
			default:
				return false
			}
			if m.matchString(v) {
				return true
			}
		}
	}
	return false
}

// sortKey is one order_by value: a number, a string, or NULL.
type sortKey struct {
	null  bool
	nan   bool // after every value, before NULL
	isNum bool
	num   float64
	str   string
}

func runSortKey(r *runEntry, o search.OrderBy) sortKey {
	switch o.Entity {
	case search.EntityAttribute:
		if v, present, ok := runAttrNumber(r, o.Key); ok {
			return sortKey{null: !present, isNum: true, num: v}
		}
		v, _ := runAttrString(r, o.Key)
		return sortKey{str: v}
	case search.EntityMetric:
		mt, ok := r.metrics[o.Key]
		if !ok {
			return sortKey{null: true}
		}
		if math.IsNaN(mt.Value) {
			return sortKey{nan: true}
		}
		return sortKey{isNum: true, num: mt.Value}
	case search.EntityParam:
		v, ok := r.params[o.Key]
		return sortKey{null: !ok, str: v}
	case search.EntityTag:
		v, ok := r.tags[o.Key]
		return sortKey{null: !ok, str: v}
	}
	return sortKey{null: true}
}

// compareKeys orders a before b (-1), after (1) or equal (0); NULL is last
// whatever the direction.
func compareKeys(a, b sortKey, asc bool) int {
	if a.null || b.null {
		switch {
		case a.null && b.null:
			return 0
		case a.null:
			return 1
		default:
			return -1
		}
	}
	if a.nan || b.nan {
		switch {
		case a.nan && b.nan:
			return 0
		case a.nan:
			return 1
		default:
			return -1
		}
	}
	c := 0
	if a.isNum {
		switch {
		case a.num < b.num:
			c = -1
		case a.num > b.num:
			c = 1
		}
	} else {
		c = strings.Compare(a.str, b.str)
	}
	if !asc {
		c = -c
	}
	return c
}

// runOrder adds the SQL store's tie-breakers to the requested order.
func runOrder(orderBy []search.OrderBy) []search.OrderBy {
	out := append([]search.OrderBy(nil), orderBy...)
	hasStart, hasID := false, false
	for _, o := range orderBy {
		if o.Entity == search.EntityAttribute {
			hasStart = hasStart || o.Key == "start_time"
			hasID = hasID || o.Key == "run_id"
		}
	}
	if !hasStart {
		out = append(out, search.OrderBy{Entity: search.EntityAttribute, Key: "start_time"})
	}
	if !hasID {
		out = append(out, search.OrderBy{Entity: search.EntityAttribute, Key: "run_id", Ascending: true})
	}
	return out
}

// SearchRuns filters and orders the index; only the returned page is copied.
func (s *Store) SearchRuns(ctx context.Context, q tracking.RunQuery) ([]tracking.Run, error) {
	ms, err := compileFilter(q.Filter)
	if err != nil {
		return nil, err
	}
	order := runOrder(q.OrderBy)
	s.mu.RLock()
	defer s.mu.RUnlock()
	type hit struct {
		r    *runEntry
		keys []sortKey
	}
	var hits []hit
	for _, id := range q.ExperimentIDs {
		e, ok := s.exps[id]
		if !ok {
			continue
		}
	runs:
		for _, r := range e.runs {
			if !q.ViewType.Includes(r.meta.LifecycleStage) {
				continue
			}
			for i := range ms {
				if !ms[i].matchRun(r) {
					continue runs
				}
			}
			hits = append(hits, hit{r: r})
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	// Sort keys are computed once per run, in one allocation.
	backing := make([]sortKey, len(hits)*len(order))
	for i := range hits {
		k := backing[i*len(order) : (i+1)*len(order) : (i+1)*len(order)]
		for n, o := range order {
			k[n] = runSortKey(hits[i].r, o)
		}
		hits[i].keys = k
	}
	// run_id is always the last key, so the order is total and an unstable
	// sort is deterministic.
	sort.Slice(hits, func(i, j int) bool {
		a, b := hits[i].keys, hits[j].keys
		for n, o := range order {
			if c := compareKeys(a[n], b[n], o.Ascending); c != 0 {
				return c < 0
			}
		}
		return false
	})
	page := paginate(len(hits), q.Offset, q.Limit)
	out := make([]tracking.Run, 0, page[1]-page[0])
	for _, h := range hits[page[0]:page[1]] {
		out = append(out, h.r.run())
	}
	return out, nil
}

func paginate(n, offset, limit int) [2]int {
	if offset > n {
		offset = n
	}
	if offset < 0 {
		offset = 0
	}
	end := n
	if limit > 0 && offset+limit < n {
		end = offset + limit
	}
	return [2]int{offset, end}
}

func (m *matcher) matchExperiment(e *expEntry) bool {
	c := m.c
	switch c.Entity {
	case search.EntityAttribute:
		switch c.Key {
		case "name":
			return m.matchString(e.meta.Name)
		case "experiment_id":
			return m.matchString(e.meta.ID)
		case "creation_time":
			return m.matchNumber(float64(e.meta.CreationTime))
		case "last_update_time":
			return m.matchNumber(float64(e.meta.LastUpdateTime))
		}
		return false
	case search.EntityTag:
		v, ok := e.tags[c.Key]
		return ok && m.matchString(v)
	}
	return false
}

func experimentSortKey(e *expEntry, o search.OrderBy) sortKey {
	switch o.Key {
	case "name":
		return sortKey{str: e.meta.Name}
	case "creation_time":
		return sortKey{isNum: true, num: float64(e.meta.CreationTime)}
	case "last_update_time":
		return sortKey{isNum: true, num: float64(e.meta.LastUpdateTime)}
	case "experiment_id":
		// The SQL store orders ids as integers.
		if n, err := strconv.ParseFloat(e.meta.ID, 64); err == nil {
			return sortKey{isNum: true, num: n}
		}
		return sortKey{str: e.meta.ID}
	}
	return sortKey{null: true}
}

// SearchExperiments implements tracking.ExperimentStore.
func (s *Store) SearchExperiments(ctx context.Context, q tracking.ExperimentQuery) ([]tracking.Experiment, error) {
	ms, err := compileFilter(q.Filter)
	if err != nil {
		return nil, err
	}
	order := append([]search.OrderBy(nil), q.OrderBy...)
	if len(order) == 0 {
		order = []search.OrderBy{{Entity: search.EntityAttribute, Key: "creation_time"}}
	}
	hasID := false
	for _, o := range order {
		if o.Entity != search.EntityAttribute {
			return nil, tracking.InvalidParameter("Invalid order_by entity: %s", o.Entity)
		}
		hasID = hasID || o.Key == "experiment_id"
	}
	if !hasID {
		order = append(order, search.OrderBy{Entity: search.EntityAttribute, Key: "experiment_id", Ascending: true})
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	var hits []*expEntry
exps:
	for _, e := range s.exps {
		if !q.ViewType.Includes(e.meta.LifecycleStage) {
			continue
		}
		for i := range ms {
			if !ms[i].matchExperiment(e) {
				continue exps
			}
		}
		hits = append(hits, e)
	}
	sort.SliceStable(hits, func(i, j int) bool {
		for _, o := range order {
			if c := compareKeys(experimentSortKey(hits[i], o), experimentSortKey(hits[j], o), o.Ascending); c != 0 {
				return c < 0
			}
		}
		return false
	})
	page := paginate(len(hits), q.Offset, q.Limit)
	out := make([]tracking.Experiment, 0, page[1]-page[0])
	for _, e := range hits[page[0]:page[1]] {
		out = append(out, e.experiment())
	}
	return out, nil
}
