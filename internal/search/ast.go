// Package search parses MLflow's search filter and order_by languages into an
// AST. Stores compile the AST into their own queries; no store ever sees the
// user's text.
package search

// Entity is what an identifier refers to.
type Entity int

const (
	EntityAttribute Entity = iota + 1
	EntityMetric
	EntityParam
	EntityTag
	EntityDataset
)

func (e Entity) String() string {
	switch e {
	case EntityAttribute:
		return "attribute"
	case EntityMetric:
		return "metric"
	case EntityParam:
		return "parameter"
	case EntityTag:
		return "tag"
	case EntityDataset:
		return "dataset"
	}
	return "unknown"
}

// Op is a comparison operator, upper-case as in MLflow: = != < <= > >= LIKE
// ILIKE IN "NOT IN".
type Op string

const (
	OpEq    Op = "="
	OpNe    Op = "!="
	OpLt    Op = "<"
	OpLe    Op = "<="
	OpGt    Op = ">"
	OpGe    Op = ">="
	OpLike  Op = "LIKE"
	OpILike Op = "ILIKE"
	OpIn    Op = "IN"
	OpNotIn Op = "NOT IN"

	// IS NULL and IS NOT NULL (MLflow 3.x) apply to run params and tags and
	// to experiment tags. They carry no Value (its Kind is 0) and test whether
	// the run or experiment has the key at all.
	OpIsNull    Op = "IS NULL"
	OpIsNotNull Op = "IS NOT NULL"
)

// ValueKind tells which field of Value is set.
type ValueKind int

const (
	ValueString ValueKind = iota + 1
	ValueNumber
	ValueList
)

// Value is the right-hand side of a comparison.
type Value struct {
	Kind ValueKind
	Str  string   // ValueString
	Num  float64  // ValueNumber
	List []string // ValueList (IN / NOT IN)
}

// Comparison is one `<identifier> <op> <value>` term.
type Comparison struct {
	Entity Entity
	// Key is the metric/param/tag key, or for attributes and datasets the
	// canonical attribute name (aliases resolved: "created" -> "start_time",
	// "run name" -> "run_name"; dataset: "name", "digest", "context").
	Key   string
	Op    Op
	Value Value
}

// Filter is a conjunction of comparisons (MLflow has no OR). Empty matches all.
type Filter []Comparison

// OrderBy is one order_by clause.
type OrderBy struct {
	Entity    Entity // EntityAttribute, EntityMetric, EntityParam or EntityTag
	Key       string // canonical attribute name, or the metric/param/tag key
	Ascending bool
}
