package search

import (
	"fmt"
	"strconv"
	"strings"
)

// Logged-model searches speak a language of their own in MLflow
// (mlflow/utils/search_logged_model_utils.py, used by its SQL store): entity
// prefixes are exactly attributes., metrics., params. and tags. (no aliases),
// keys lose backticks but not double quotes, string values lose their single
// quotes, and every key and value is otherwise kept as written. The AST it
// produces is the one runs use, with these conventions for stores:
//
//   - EntityAttribute keys are canonical: model_id, experiment_id, name,
//     artifact_location, status, status_message, model_type, source_run_id
//     (strings) and creation_timestamp, last_updated_timestamp (numbers, in
//     ms). Aliases such as creation_time or creation_timestamp_ms are resolved.
//   - status values are MLflow's LoggedModelStatus values as users write
//     them (UNSPECIFIED, PENDING, READY, FAILED; not the proto names), already
//     checked, and only =, !=, IN and NOT IN reach a store for status.
//   - metrics compare numbers (=, !=, <, <=, >, >=) with the model's latest
//     value of that metric; params, tags and string attributes take =, !=,
//     LIKE, ILIKE, IN and NOT IN (IN lists are ValueList).

// loggedModelAttributes maps every accepted attribute spelling to its
// canonical key.
var loggedModelAttributes = map[string]string{
	"model_id":                  "model_id",
	"experiment_id":             "experiment_id",
	"name":                      "name",
	"artifact_location":         "artifact_location",
	"status":                    "status",
	"status_message":            "status_message",
	"model_type":                "model_type",
	"source_run_id":             "source_run_id",
	"creation_timestamp":        "creation_timestamp",
	"creation_timestamp_ms":     "creation_timestamp",
	"creation_time":             "creation_timestamp",
	"last_updated_timestamp":    "last_updated_timestamp",
	"last_updated_timestamp_ms": "last_updated_timestamp",
	"last_updated_time":         "last_updated_timestamp",
}

// loggedModelStatuses are MLflow's LoggedModelStatus values, the names a
// status filter takes.
var loggedModelStatuses = map[string]bool{"UNSPECIFIED": true, "PENDING": true, "READY": true, "FAILED": true}

const (
	lmNumericOps = "('<', '<=', '>', '>=', '=', '!=')"
	lmStringOps  = "('=', '!=', 'LIKE', 'ILIKE', 'IN', 'NOT IN')"
)

// sqlColumnName is the key as MLflow's SQL store names it in messages.
func sqlColumnName(key string) string {
	switch key {
	case "creation_time", "creation_timestamp":
		return "creation_timestamp_ms"
	case "last_updated_timestamp":
		return "last_updated_timestamp_ms"
	}
	return key
}

func lmNumericAttribute(key string) bool {
	c := loggedModelAttributes[key]
	return c == "creation_timestamp" || c == "last_updated_timestamp"
}

// lmEntityName is the entity prefix MLflow prints in its messages.
func lmEntityName(e Entity) string {
	switch e {
	case EntityMetric:
		return "metrics"
	case EntityParam:
		return "params"
	case EntityTag:
		return "tags"
	}
	return "attributes"
}

// ParseLoggedModelFilter parses a search-logged-models filter. Blank input is
// no filter (nil, nil). Errors carry MLflow's message where MLflow has one;
// where MLflow fails with an internal error (an unknown attribute, a metric
// compared with a string), the error says what is wrong instead. Callers
// report every error as INVALID_PARAMETER_VALUE.
func ParseLoggedModelFilter(s string) (Filter, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	invalid := fmt.Errorf("Invalid filter string: %s. Expected a list of comparisons separated by 'AND' "+
		"(e.g. 'metrics.loss > 0.1 AND params.lr = 0.01').", PyRepr(s))
	var toks []token
	afterSemicolon := false
	for _, t := range lex(s) {
		if t.kind == tkWS || t.kind == tkComment {
			continue
		}
		if afterSemicolon {
			return nil, fmt.Errorf("Invalid filter string: %s. Expected a single SQL expression.", PyRepr(s))
		}
		if t.kind == tkSemicolon {
			afterSemicolon = true
			continue
		}
		toks = append(toks, t)
	}

	var clauses []clause
	for i := 0; i < len(toks); {
		if toks[i].kind == tkWord && strings.EqualFold(toks[i].text, "AND") {
			i++
			continue
		}
		c, next, ok := parseClause(s, toks, i)
		if !ok {
			return nil, invalid
		}
		clauses = append(clauses, c)
		i = next
	}

	// MLflow checks every clause's shape first and the store's rules after.
	f := make(Filter, 0, len(clauses))
	for _, c := range clauses {
		cmp, err := lmComparison(c, invalid)
		if err != nil {
			return nil, err
		}
		f = append(f, cmp)
	}
	for i := range f {
		if err := lmStoreCheck(&f[i]); err != nil {
			return nil, err
		}
	}
	return f, nil
}

// lmIdentifier splits `<prefix>.<key>` as MLflow's `^([a-z]+)\.(.+)$` does;
// anything else is an attribute. Keys keep their spelling here.
func lmIdentifier(raw string) (Entity, string, error) {
	prefix, key, dotted := strings.Cut(raw, ".")
	lower := dotted && prefix != "" && key != "" && strings.IndexFunc(prefix, func(r rune) bool { return r < 'a' || r > 'z' }) < 0
	if !lower {
		return EntityAttribute, strings.Trim(sqlColumnName(raw), "`"), nil
	}
	var e Entity
	switch prefix {
	case "attributes":
		e = EntityAttribute
	case "metrics":
		e = EntityMetric
	case "params":
		e = EntityParam
	case "tags":
		e = EntityTag
	default:
		return 0, "", fmt.Errorf("Invalid entity type: %s. Expected one of ['attributes', 'metrics', 'params', 'tags'].", PyRepr(prefix))
	}
	return e, strings.Trim(key, "`"), nil
}

func lmComparison(c clause, invalid error) (Comparison, error) {
	// sqlparse hands MLflow `params.my-param` as one piece of text, which
	// its regex then reads as prefix and key; an operation is such text too.
	if c.left.kind != operandIdent && c.left.kind != operandOperation {
		return Comparison{}, invalid
	}
	entity, key, err := lmIdentifier(c.left.raw)
	if err != nil {
		return Comparison{}, err
	}
	op := Op(strings.ToUpper(string(c.op)))
	numeric := entity == EntityMetric || (entity == EntityAttribute && lmNumericAttribute(key))
	ok, opsRepr := isStringOp(op), lmStringOps
	if numeric {
		ok, opsRepr = isNumericOp(op), lmNumericOps
	}
	if !ok {
		return Comparison{}, fmt.Errorf("Invalid comparison operator for %s.%s: %s. Expected one of %s.",
			lmEntityName(entity), key, PyRepr(string(op)), opsRepr)
	}
	cmp := Comparison{Entity: entity, Key: key, Op: op}
	right := *c.right // IS [NOT] NULL, the only clauses without one, failed the operator check
	if numeric {
		n, ok := lmNumber(right)
		if !ok {
			return Comparison{}, fmt.Errorf("Invalid filter string: %s. Expected a numeric value for %s.%s.",
				PyRepr(right.raw), lmEntityName(entity), key)
		}
		cmp.Value = Value{Kind: ValueNumber, Num: n}
		return cmp, nil
	}
	if right.kind == operandParen {
		v, err := parseList(right.raw)
		if err != nil {
			return Comparison{}, err
		}
		cmp.Value = v
		if err := checkListOperator(&cmp, op); err != nil {
			return Comparison{}, err
		}
		return cmp, nil
	}
	// MLflow strips single quotes only, and all of them at either end.
	cmp.Value = Value{Kind: ValueString, Str: strings.Trim(right.raw, "'")}
	return cmp, nil
}

// lmNumber reads a value as Python's float() reads the raw text.
func lmNumber(o operand) (float64, bool) {
	switch o.kind {
	case operandNumber:
		return parseNumber(o.raw), true
	case operandIdent:
		switch strings.ToLower(o.raw) {
		case "inf", "infinity", "nan":
			f, err := strconv.ParseFloat(o.raw, 64)
			return f, err == nil
		}
	}
	return 0, false
}

// lmStoreCheck applies what MLflow's SQL store checks after parsing: known
// attributes, and status values and operators.
func lmStoreCheck(c *Comparison) error {
	if c.Entity != EntityAttribute {
		return nil
	}
	canonical, ok := loggedModelAttributes[c.Key]
	if !ok {
		return fmt.Errorf("Invalid logged model search key '%s'", c.Key)
	}
	c.Key = canonical
	if canonical != "status" {
		return nil
	}
	switch c.Op {
	case OpEq, OpNe, OpIn, OpNotIn:
	default:
		return fmt.Errorf("Invalid comparison operator for status: %s", c.Op)
	}
	values := c.Value.List
	if c.Value.Kind == ValueString {
		values = []string{c.Value.Str}
	}
	for _, v := range values {
		if loggedModelStatuses[v] {
			continue
		}
		repr := PyRepr(c.Value.Str)
		if c.Value.Kind == ValueList {
			elems := make([]pyElem, len(values))
			for j, s := range values {
				elems[j] = pyElem{isStr: true, str: s, repr: PyRepr(s)}
			}
			repr = tupleRepr(elems)
		}
		return fmt.Errorf("Unknown model status in filter: %s", repr)
	}
	return nil
}

// ParseLoggedModelOrderBy parses the field_name of one search-logged-models
// order_by entry: an attribute (aliases resolved to the canonical keys of
// ParseLoggedModelFilter) or metrics.<key>. The caller sets Ascending.
func ParseLoggedModelOrderBy(field string) (OrderBy, error) {
	if prefix, key, dotted := strings.Cut(field, "."); dotted {
		if prefix != "metrics" {
			return OrderBy{}, fmt.Errorf("Invalid order by field name: %s. Only metrics are supported.", field)
		}
		return OrderBy{Entity: EntityMetric, Key: key, Ascending: true}, nil
	}
	canonical, ok := loggedModelAttributes[field]
	if !ok {
		return OrderBy{}, fmt.Errorf("Invalid order by field name: %s", field)
	}
	return OrderBy{Entity: EntityAttribute, Key: canonical, Ascending: true}, nil
}
