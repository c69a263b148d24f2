package search

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// language is what differs between the runs and the experiments filter.
type language struct {
	experiments bool
}

var (
	runLanguage        = language{}
	experimentLanguage = language{experiments: true}
)

// ParseRunFilter parses a search-runs filter. Empty or blank input means no
// filter and returns nil, nil. Errors carry MLflow's message for the same
// input; callers report them as INVALID_PARAMETER_VALUE.
func ParseRunFilter(s string) (Filter, error) { return parseFilter(s, runLanguage) }

// ParseExperimentFilter parses a search-experiments filter; see ParseRunFilter.
func ParseExperimentFilter(s string) (Filter, error) { return parseFilter(s, experimentLanguage) }

type operandKind int

const (
	operandIdent     operandKind = iota + 1 // name, "quoted", `backticked`, dotted
	operandString                           // 'single quoted'
	operandNumber                           // 1, -2.5, 1e3
	operandParen                            // ( ... )
	operandNull                             // NULL
	operandOperation                        // a - b: arithmetic MLflow cannot use
)

type operand struct {
	kind  operandKind
	raw   string
	float bool // operandNumber: written as a float literal
}

// clause is one comparison as written, before MLflow's semantic checks.
type clause struct {
	left  operand
	op    Op
	right *operand // nil for IS NULL / IS NOT NULL
}

func parseFilter(s string, lang language) (Filter, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var toks []token
	afterSemicolon := false
	for _, t := range lex(s) {
		if afterSemicolon && t.kind != tkWS {
			return nil, fmt.Errorf("Search filter contained multiple expression %s. Provide AND-ed expression list.", PyRepr(s))
		}
		if t.kind == tkSemicolon {
			afterSemicolon = true
		}
		if t.kind != tkWS {
			toks = append(toks, t)
		}
	}

	var clauses []clause
	var invalid []string
	for i := 0; i < len(toks); {
		if toks[i].kind == tkWord && strings.EqualFold(toks[i].text, "AND") {
			i++
			continue
		}
		if c, next, ok := parseClause(s, toks, i); ok {
			clauses = append(clauses, c)
			i = next
			continue
		}
		// sqlparse reports a dotted name, and NOT NULL, as one piece.
		if toks[i].kind == tkWord && strings.EqualFold(toks[i].text, "NOT") && i+1 < len(toks) &&
			toks[i+1].kind == tkWord && strings.EqualFold(toks[i+1].text, "NULL") {
			invalid = append(invalid, s[toks[i].pos:toks[i+1].pos+len(toks[i+1].text)])
			i += 2
			continue
		}
		if start, end, next, ok := parseTerm(toks, i); ok {
			invalid = append(invalid, s[start:end])
			i = next
			continue
		}
		invalid = append(invalid, toks[i].text)
		i++
	}
	if len(invalid) > 0 {
		var list string
		if lang.experiments {
			list = strings.Join(invalid, ", ")
		} else {
			list = "'" + strings.Join(invalid, "', '") + "'"
		}
		return nil, fmt.Errorf("Invalid clause(s) in filter string: %s", list)
	}

	// MLflow parses every clause before its store checks any operator, so a
	// later clause's parse error wins over an earlier clause's operator error.
	f := make(Filter, 0, len(clauses))
	for _, c := range clauses {
		cmp, err := lang.resolve(c)
		if err != nil {
			return nil, err
		}
		f = append(f, cmp)
	}
	for i, c := range clauses {
		floatLiteral := c.right != nil && c.right.kind == operandNumber && c.right.float
		if err := lang.checkOperator(&f[i], floatLiteral); err != nil {
			return nil, err
		}
	}
	return f, nil
}

// parseClause reads `<operand> <op> [<operand>]` starting at toks[i].
func parseClause(s string, toks []token, i int) (clause, int, bool) {
	left, j, ok := parseOperand(s, toks, i, true)
	if !ok || left.kind == operandNull {
		return clause{}, 0, false
	}
	op, j, ok := parseOperator(toks, j)
	if !ok {
		return clause{}, 0, false
	}
	// MLflow joins IN, NOT IN and IS [NOT] NULL into a comparison only after
	// an identifier; after anything else those words stay stray tokens.
	if left.kind != operandIdent && (op == OpIn || op == OpNotIn || op == OpIsNull || op == OpIsNotNull) {
		return clause{}, 0, false
	}
	c := clause{left: left, op: op}
	if op == OpIsNull || op == OpIsNotNull {
		return c, j, true
	}
	right, j, ok := parseOperand(s, toks, j, false)
	if !ok {
		return clause{}, 0, false
	}
	if (op == OpIn || op == OpNotIn) && right.kind != operandParen {
		return clause{}, 0, false
	}
	c.right = &right
	return c, j, true
}

func adjacent(a, b token) bool { return a.pos+len(a.text) == b.pos }

func parseOperand(s string, toks []token, i int, allowOperation bool) (operand, int, bool) {
	start, end, j, ok := parseTerm(toks, i)
	if !ok {
		return operand{}, 0, false
	}
	o := operand{raw: s[start:end]}
	t := toks[i]
	switch t.kind {
	case tkString:
		o.kind = operandString
	case tkNumber:
		o.kind, o.float = operandNumber, t.float
	case tkParen:
		o.kind = operandParen
	case tkWord:
		o.kind = operandIdent
		if strings.EqualFold(t.text, "NULL") {
			o.kind = operandNull
		}
	default:
		o.kind = operandIdent
	}
	if !allowOperation {
		return o, j, true
	}
	// sqlparse groups `a-b`, `a / 2` and the like into one operation token,
	// which MLflow then rejects as not being an identifier.
	for j+1 < len(toks) && toks[j].kind == tkOther && strings.Contains("+-*/%", toks[j].text) {
		_, e, k, ok := parseTerm(toks, j+1)
		if !ok {
			break
		}
		o.kind, end, j = operandOperation, e, k
		o.raw = s[start:end]
	}
	return o, j, true
}

// parseTerm reads one value-like term: a literal, a parenthesised group, or an
// identifier made of names, quoted names and dots written without spaces.
func parseTerm(toks []token, i int) (start, end, next int, ok bool) {
	if i >= len(toks) {
		return 0, 0, 0, false
	}
	t := toks[i]
	start, end = t.pos, t.pos+len(t.text)
	switch t.kind {
	case tkString, tkNumber, tkParen:
		return start, end, i + 1, true
	case tkWord:
		if isKeyword(t.text) && !strings.EqualFold(t.text, "NULL") {
			return 0, 0, 0, false
		}
		if strings.EqualFold(t.text, "NULL") {
			return start, end, i + 1, true
		}
	case tkQuoted, tkBacktick:
	default:
		return 0, 0, 0, false
	}
	j := i + 1
	for j < len(toks) && toks[j].kind == tkDot && adjacent(toks[j-1], toks[j]) {
		end = toks[j].pos + 1
		j++
		if j < len(toks) && adjacent(toks[j-1], toks[j]) {
			switch toks[j].kind {
			case tkWord, tkQuoted, tkBacktick:
				end = toks[j].pos + len(toks[j].text)
				j++
				continue
			}
		}
		break
	}
	return start, end, j, true
}

func parseOperator(toks []token, i int) (Op, int, bool) {
	if i >= len(toks) {
		return "", 0, false
	}
	t := toks[i]
	if t.kind == tkCompare {
		return Op(t.text), i + 1, true
	}
	if t.kind != tkWord {
		return "", 0, false
	}
	word := func(k int, w string) bool {
		return k < len(toks) && toks[k].kind == tkWord && strings.EqualFold(toks[k].text, w)
	}
	switch strings.ToUpper(t.text) {
	case "LIKE":
		return OpLike, i + 1, true
	case "ILIKE":
		return OpILike, i + 1, true
	case "IN":
		return OpIn, i + 1, true
	case "NOT":
		switch {
		case word(i+1, "IN"):
			return OpNotIn, i + 2, true
		case word(i+1, "LIKE"):
			return "NOT LIKE", i + 2, true
		case word(i+1, "ILIKE"):
			return "NOT ILIKE", i + 2, true
		}
	case "IS":
		switch {
		case word(i+1, "NULL"):
			return OpIsNull, i + 2, true
		case word(i+1, "NOT") && word(i+2, "NULL"):
			return OpIsNotNull, i + 3, true
		}
	}
	return "", 0, false
}

// Sets as MLflow prints them in its messages (Python set order of one run;
// the order is not stable across Python processes anyway).
const (
	setMetricOps   = "{'>=', '<', '=', '>', '<=', '!='}"
	setParamTagOps = "{'IS NULL', '=', 'IS NOT NULL', '!=', 'LIKE', 'ILIKE'}"
	setStringOps   = "{'IN', '=', '!=', 'LIKE', 'NOT IN', 'ILIKE'}"
	setRunKeys     = "{'end_time', 'created', 'start_time', 'run_id', 'artifact_uri', 'status', 'Run name', 'Created', 'run_name', 'run name', 'Run Name', 'user_id'}"
	setRunOrder    = "{'end_time', 'created', 'start_time', 'run_id', 'artifact_uri', 'status', 'Created', 'run_name', 'user_id'}"
	setDatasetKeys = "{'context', 'digest', 'name'}"
	setExpKeys     = "{'last_update_time', 'experiment_id', 'name', 'creation_time'}"
)

var (
	runFilterKeys = map[string]bool{
		"run_id": true, "run_name": true, "status": true, "user_id": true, "start_time": true,
		"end_time": true, "artifact_uri": true, "created": true, "Created": true,
		"run name": true, "Run name": true, "Run Name": true,
	}
	runOrderKeys = map[string]bool{
		"run_id": true, "run_name": true, "status": true, "user_id": true, "start_time": true,
		"end_time": true, "artifact_uri": true, "created": true, "Created": true,
	}
	experimentKeys = map[string]bool{
		"name": true, "experiment_id": true, "creation_time": true, "last_update_time": true,
	}
)

func (lang language) numericAttribute(key string) bool {
	if lang.experiments {
		return key == "creation_time" || key == "last_update_time"
	}
	switch key {
	case "start_time", "end_time", "created", "Created":
		return true
	}
	return false
}

// canonicalAttribute resolves MLflow's attribute aliases.
func canonicalAttribute(key string) string {
	switch key {
	case "created", "Created":
		return "start_time"
	case "run name", "Run name", "Run Name":
		return "run_name"
	}
	return key
}

func quotedBy(s string, q byte) bool {
	return len(s) >= 2 && s[0] == q && s[len(s)-1] == q
}

func trimBackticks(s string) string {
	if quotedBy(s, '`') {
		return s[1 : len(s)-1]
	}
	return s
}

func stripQuotes(s string) string {
	if quotedBy(s, '\'') || quotedBy(s, '"') {
		return s[1 : len(s)-1]
	}
	return s
}

// entityOf maps MLflow's identifier prefixes (and their aliases) to entities.
func entityOf(prefix string) (Entity, bool) {
	switch prefix {
	case "metric", "metrics":
		return EntityMetric, true
	case "parameter", "parameters", "param", "params":
		return EntityParam, true
	case "tag", "tags":
		return EntityTag, true
	case "attribute", "attributes", "attr", "run":
		return EntityAttribute, true
	case "dataset", "datasets":
		return EntityDataset, true
	}
	return 0, false
}

// identifier resolves `<prefix>.<key>` (or a bare attribute key) the way
// MLflow does: split at the first dot, then strip one layer of quotes and
// backticks from the key. The key returned is as written (not yet aliased).
func (lang language) identifier(raw string, order bool) (Entity, string, error) {
	prefix, key, dotted := strings.Cut(raw, ".")
	entity := EntityAttribute
	if !dotted {
		key = raw
	} else {
		if lang.experiments {
			switch prefix {
			case "attribute", "attributes", "tag", "tags":
			default:
				return 0, "", fmt.Errorf("Invalid entity type '%s'. Valid entity types are ('attribute', 'attributes', 'tag', 'tags')", prefix)
			}
		}
		prefix = trimBackticks(prefix)
		e, ok := entityOf(prefix)
		if !ok {
			return 0, "", fmt.Errorf("Invalid entity type '%s'. Valid values are ['metric', 'parameter', 'tag', 'attribute', 'dataset']", prefix)
		}
		entity = e
	}
	key = trimBackticks(stripQuotes(key))
	switch {
	case entity == EntityAttribute && lang.experiments:
		if !experimentKeys[key] {
			return 0, "", fmt.Errorf("Invalid attribute key '%s' specified. Valid keys are '%s'", key, setExpKeys)
		}
	case entity == EntityAttribute && order:
		if !runOrderKeys[key] {
			return 0, "", fmt.Errorf("Invalid attribute key '%s' specified. Valid keys are '%s'", key, setRunOrder)
		}
	case entity == EntityAttribute:
		if !runFilterKeys[key] {
			return 0, "", fmt.Errorf("Invalid attribute key '%s' specified. Valid keys are '%s'", key, setRunKeys)
		}
	case entity == EntityDataset:
		if key != "name" && key != "digest" && key != "context" {
			return 0, "", fmt.Errorf("Invalid dataset key '%s' specified. Valid keys are '%s'", key, setDatasetKeys)
		}
	}
	return entity, key, nil
}

// resolve applies MLflow's parse-time checks to one clause: the identifier,
// then the value's type for that identifier.
func (lang language) resolve(c clause) (Comparison, error) {
	if c.left.kind != operandIdent {
		return Comparison{}, fmt.Errorf("Invalid comparison clause. Expected 'Identifier' found '%s'", c.left.raw)
	}
	entity, key, err := lang.identifier(c.left.raw, false)
	if err != nil {
		return Comparison{}, err
	}
	cmp := Comparison{Entity: entity, Key: key, Op: c.op}
	if entity == EntityAttribute {
		cmp.Key = canonicalAttribute(key)
	}
	if c.right == nil {
		if lang.experiments && entity != EntityTag {
			return Comparison{}, fmt.Errorf("IS NULL / IS NOT NULL is only supported for tags, not for attribute '%s'", key)
		}
		if entity != EntityTag && entity != EntityParam {
			return Comparison{}, fmt.Errorf("IS NULL / IS NOT NULL is only supported for tags and params, not for '%s' '%s'", entity, key)
		}
		return cmp, nil
	}
	v, err := lang.value(entity, key, *c.right)
	if err != nil {
		return Comparison{}, err
	}
	cmp.Value = v
	return cmp, nil
}

func quotedString(o operand) (Value, error) {
	if quotedBy(o.raw, '\'') || quotedBy(o.raw, '"') {
		return Value{Kind: ValueString, Str: o.raw[1 : len(o.raw)-1]}, nil
	}
	return Value{}, fmt.Errorf("Parameter value is either not quoted or unidentified quote types used for string value %s. Use either single or double quotes.", o.raw)
}

func (lang language) value(entity Entity, key string, o operand) (Value, error) {
	stringLike := o.kind == operandString || o.kind == operandIdent
	switch entity {
	case EntityMetric:
		if o.kind != operandNumber {
			return Value{}, fmt.Errorf("Expected numeric value type for metric. Found %s", o.raw)
		}
		return Value{Kind: ValueNumber, Num: parseNumber(o.raw)}, nil
	case EntityParam, EntityTag:
		if stringLike {
			return quotedString(o)
		}
		return Value{}, fmt.Errorf("Expected a quoted string value for %s (e.g. 'my-value'). Got value %s", entity, o.raw)
	case EntityAttribute:
		switch {
		case lang.numericAttribute(key):
			if o.kind != operandNumber {
				return Value{}, fmt.Errorf("Expected numeric value type for numeric attribute: %s. Found %s", key, o.raw)
			}
			n := parseNumber(o.raw)
			if !o.float && n == 0 {
				n = 0 // Python's int("-0") is 0; only floats keep a signed zero
			}
			return Value{Kind: ValueNumber, Num: n}, nil
		case stringLike:
			return quotedString(o)
		case o.kind == operandParen:
			listKey := "run_id"
			if lang.experiments {
				listKey = "experiment_id"
			}
			if key != listKey {
				return Value{}, fmt.Errorf("Only ['%s'] attributes support comparison with a list of quoted string values.", listKey)
			}
			return parseList(o.raw)
		}
		return Value{}, fmt.Errorf("Expected a quoted string value for attributes. Got value %s", o.raw)
	case EntityDataset:
		switch {
		case stringLike:
			return quotedString(o)
		case o.kind == operandParen:
			return parseList(o.raw)
		}
		return Value{}, fmt.Errorf("Expected a quoted string value for dataset attributes. Got value %s", o.raw)
	}
	return Value{}, errors.New("Invalid identifier type")
}

// parseNumber converts a literal the lexer accepted as a number; Python's
// float() and int() accept the same texts, overflowing to infinity.
func parseNumber(s string) float64 {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return math.NaN() // unreachable: the lexer only admits valid literals
	}
	return f
}

// checkOperator applies the operator checks MLflow's SQL store makes after
// parsing, with the same messages.
func (lang language) checkOperator(c *Comparison, floatLiteral bool) error {
	op := Op(strings.ToUpper(string(c.Op)))
	if lang.experiments {
		return checkExperimentOperator(c, op, floatLiteral)
	}
	switch c.Entity {
	case EntityMetric:
		if !isNumericOp(op) {
			return fmt.Errorf("Invalid comparator '%s' not one of '%s", op, setMetricOps)
		}
	case EntityParam:
		if !isParamTagOp(op) {
			return fmt.Errorf("Invalid comparator '%s' not one of '%s'", op, setParamTagOps)
		}
	case EntityTag:
		if !isParamTagOp(op) {
			return fmt.Errorf("Invalid comparator '%s' not one of '%s", op, setParamTagOps)
		}
	case EntityDataset:
		if !isStringOp(op) {
			return fmt.Errorf("Invalid comparator '%s' not one of '%s", op, setStringOps)
		}
	case EntityAttribute:
		if c.Key == "start_time" || c.Key == "end_time" {
			if !isNumericOp(op) {
				// MLflow names the string operators here; the message is its own.
				return fmt.Errorf("Invalid comparator '%s' not one of '%s", op, setStringOps)
			}
		} else if !isStringOp(op) {
			return fmt.Errorf("Invalid comparator '%s' not one of '%s'", op, setStringOps)
		}
	}
	if err := checkListOperator(c, op); err != nil {
		return err
	}
	c.Op = op
	return nil
}

func checkExperimentOperator(c *Comparison, op Op, floatLiteral bool) error {
	switch {
	case c.Entity == EntityTag:
		if op != OpIsNull && op != OpIsNotNull && !isParamTagOp(op) {
			return fmt.Errorf("Invalid comparator for tag: %s", op)
		}
	case c.Key == "experiment_id":
		if op != OpEq && op != OpNe && op != OpIn && op != OpNotIn {
			return fmt.Errorf("Invalid comparator for experiment_id: %s", op)
		}
		ids := c.Value.List
		if c.Value.Kind == ValueString {
			ids = []string{c.Value.Str}
		}
		for _, id := range ids {
			if _, ok := pyInt(id); !ok {
				return fmt.Errorf("Invalid experiment ID '%s'. Experiment ID must be a valid integer.", id)
			}
		}
	case c.Key == "creation_time" || c.Key == "last_update_time":
		if !isNumericOp(op) {
			return fmt.Errorf("Invalid comparator '%s' not one of '%s", op, setStringOps)
		}
		// The store takes only integers here; MLflow prints the float's str().
		if floatLiteral {
			return fmt.Errorf("Invalid value for numeric attribute '%s': %s", c.Key, PyRepr(pyFloat(c.Value.Num)))
		}
	default:
		if !isStringOp(op) {
			return fmt.Errorf("Invalid comparator '%s' not one of '%s'", op, setStringOps)
		}
		if op == OpIn || op == OpNotIn {
			return fmt.Errorf("Invalid comparator for string attribute: %s", op)
		}
	}
	if err := checkListOperator(c, op); err != nil {
		return err
	}
	c.Op = op
	return nil
}

// checkListOperator rejects a list with = or != and the like. MLflow passes
// such a pair on to SQL, which fails or compares nonsense; mltrack says so.
func checkListOperator(c *Comparison, op Op) error {
	if c.Value.Kind == ValueList && op != OpIn && op != OpNotIn {
		return fmt.Errorf("Invalid comparison clause. A list of values needs IN or NOT IN, not '%s'", op)
	}
	return nil
}

func isNumericOp(op Op) bool {
	switch op {
	case OpEq, OpNe, OpLt, OpLe, OpGt, OpGe:
		return true
	}
	return false
}

func isParamTagOp(op Op) bool {
	switch op {
	case OpEq, OpNe, OpLike, OpILike, OpIsNull, OpIsNotNull:
		return true
	}
	return false
}

func isStringOp(op Op) bool {
	switch op {
	case OpEq, OpNe, OpLike, OpILike, OpIn, OpNotIn:
		return true
	}
	return false
}
