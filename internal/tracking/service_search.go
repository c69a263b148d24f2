package tracking

import (
	"cmp"
	"slices"

	"github.com/mltrack/mltrack/internal/search"
)

// OrderByClause is one parsed order_by entry.
type OrderByClause = search.OrderBy

// QueryParser turns MLflow filter and order_by text into the search AST. The
// default is package search; tests may substitute their own.
type QueryParser interface {
	RunFilter(string) (search.Filter, error)
	ExperimentFilter(string) (search.Filter, error)
	RunOrderBy(string) (search.OrderBy, error)
	ExperimentOrderBy(string) (search.OrderBy, error)
}

type searchParser struct{}

func (searchParser) RunFilter(s string) (search.Filter, error) { return search.ParseRunFilter(s) }
func (searchParser) ExperimentFilter(s string) (search.Filter, error) {
	return search.ParseExperimentFilter(s)
}
func (searchParser) RunOrderBy(s string) (search.OrderBy, error) { return search.ParseRunOrderBy(s) }
func (searchParser) ExperimentOrderBy(s string) (search.OrderBy, error) {
	return search.ParseExperimentOrderBy(s)
}

func sortStrings(s []string) { slices.Sort(s) }

type metricOrder int

const (
	byTimestampStepValue metricOrder = iota
	byStepTimestampValue
)

// sortMetrics orders points stably; NaN values compare as cmp.Compare does
// (before every number), matching no particular store but staying total.
func sortMetrics(ms []Metric, o metricOrder) {
	slices.SortStableFunc(ms, func(a, b Metric) int {
		if o == byTimestampStepValue {
			return cmp.Or(cmp.Compare(a.Timestamp, b.Timestamp), cmp.Compare(a.Step, b.Step), cmp.Compare(a.Value, b.Value))
		}
		return cmp.Or(cmp.Compare(a.Step, b.Step), cmp.Compare(a.Timestamp, b.Timestamp), cmp.Compare(a.Value, b.Value))
	})
}
