package search

import (
	"math"
	"strconv"
	"strings"
)

// String renders the filter in MLflow's syntax, for logs. For any filter a
// parser returned, parsing String() again gives the same filter.
func (f Filter) String() string {
	parts := make([]string, len(f))
	for i, c := range f {
		parts[i] = c.String()
	}
	return strings.Join(parts, " AND ")
}

// String renders one comparison in MLflow's syntax.
func (c Comparison) String() string {
	var b strings.Builder
	b.WriteString(identifierString(c.Entity, c.Key))
	b.WriteByte(' ')
	b.WriteString(string(c.Op))
	if c.Op == OpIsNull || c.Op == OpIsNotNull {
		return b.String()
	}
	b.WriteByte(' ')
	b.WriteString(c.Value.String())
	return b.String()
}

// String renders the value as a literal of MLflow's language.
func (v Value) String() string {
	switch v.Kind {
	case ValueString:
		return quoteWith(v.Str, valueQuotes)
	case ValueNumber:
		return numberString(v.Num)
	case ValueList:
		parts := make([]string, len(v.List))
		for i, s := range v.List {
			parts[i] = PyRepr(s)
		}
		return "(" + strings.Join(parts, ", ") + ")"
	}
	return ""
}

// String renders the order_by entry in MLflow's syntax. MLflow reads an
// entry with a direction through a shell-style split (after turning
// backticks into double quotes) but one without a direction verbatim, so the
// form that reads back as this key is found by trying the candidates.
func (o OrderBy) String() string {
	dirs := []string{" DESC"}
	if o.Ascending {
		dirs = []string{"", " ASC"}
	}
	id := identifierString(o.Entity, o.Key)
	if o.Entity == EntityAttribute {
		return id + dirs[len(dirs)-1]
	}
	prefix, _, _ := strings.Cut(id, ".")
	prefix += "."
	shellQuoted := `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(o.Key) + `"`
	forms := []string{id, prefix + o.Key, prefix + "`" + o.Key + "`", prefix + `"` + o.Key + `"`, prefix + shellQuoted}
	for _, d := range dirs {
		for _, f := range forms {
			e, k, asc, err := parseOrderBy(f+d, runLanguage)
			if err == nil && e == o.Entity && k == o.Key && asc == o.Ascending {
				return f + d
			}
		}
	}
	return id + dirs[len(dirs)-1]
}

func identifierString(e Entity, key string) string {
	prefix := map[Entity]string{
		EntityAttribute: "attributes.", EntityMetric: "metrics.", EntityParam: "params.",
		EntityTag: "tags.", EntityDataset: "datasets.",
	}[e]
	if isPlainWord(key) && len(lex(key)) == 1 {
		return prefix + key
	}
	return prefix + quoteWith(key, keyQuotes)
}

type quoteForm struct {
	kind tokenKind
	q    byte
}

var (
	valueQuotes = []quoteForm{{tkString, '\''}, {tkQuoted, '"'}}
	keyQuotes   = []quoteForm{{tkBacktick, '`'}, {tkQuoted, '"'}}
)

// quoteWith wraps s in the first quotes that the lexer reads back as one
// token holding exactly s. MLflow never unescapes quoted text, so a string
// that came out of a parse survives in the quotes it was written with.
func quoteWith(s string, forms []quoteForm) string {
	for _, f := range forms {
		w := string(f.q) + s + string(f.q)
		if toks := lex(w); len(toks) == 1 && toks[0].kind == f.kind {
			return w
		}
	}
	return string(forms[0].q) + s + string(forms[0].q)
}

// numberString writes a number so that the lexer reads it back exactly:
// integers without exponent (the experiments store rejects float literals),
// and no '+' in exponents, which MLflow's lexer does not accept.
func numberString(f float64) string {
	switch {
	case math.IsInf(f, 1):
		return "1e999"
	case math.IsInf(f, -1):
		return "-1e999"
	case f == math.Trunc(f):
		if f == 0 && math.Signbit(f) {
			return "-0.0"
		}
		return strconv.FormatFloat(f, 'f', -1, 64)
	}
	return strings.Replace(strconv.FormatFloat(f, 'e', -1, 64), "e+", "e", 1)
}
