package search

// MLflow builds some messages with Python's repr() and reads IN lists with
// Python's ast.literal_eval, so those few pieces of Python's literal syntax
// are reproduced here: enough for the strings and numbers a list can hold.

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// PyRepr formats s as Python's repr() of a str, which MLflow embeds in many
// error messages (filters, param conflicts, tag keys).
func PyRepr(s string) string {
	q := byte('\'')
	if strings.ContainsRune(s, '\'') && !strings.ContainsRune(s, '"') {
		q = '"'
	}
	var b strings.Builder
	b.WriteByte(q)
	for _, r := range s {
		switch {
		case r == '\\':
			b.WriteString(`\\`)
		case r == rune(q):
			b.WriteByte('\\')
			b.WriteByte(q)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x100 && !unicode.IsPrint(r) && r != utf8.RuneError:
			fmt.Fprintf(&b, `\x%02x`, r)
		case !unicode.IsPrint(r) && r != ' ':
			if r < 0x10000 {
				fmt.Fprintf(&b, `\u%04x`, r)
			} else {
				fmt.Fprintf(&b, `\U%08x`, r)
			}
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte(q)
	return b.String()
}

// pyFloat formats f as Python's repr() of a float.
func pyFloat(f float64) string {
	switch {
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	case math.IsNaN(f):
		return "nan"
	}
	e := strconv.FormatFloat(f, 'e', -1, 64)
	exp, _ := strconv.Atoi(e[strings.IndexByte(e, 'e')+1:])
	if exp < -4 || exp >= 16 {
		return e
	}
	s := strconv.FormatFloat(f, 'f', -1, 64)
	if !strings.ContainsRune(s, '.') {
		s += ".0"
	}
	return s
}

// pyInt reports whether Python's int() accepts s.
func pyInt(s string) (*big.Int, bool) {
	s = strings.TrimSpace(s)
	neg := false
	if s != "" && (s[0] == '+' || s[0] == '-') {
		neg, s = s[0] == '-', s[1:]
	}
	if s == "" || s[0] == '_' || s[len(s)-1] == '_' || strings.Contains(s, "__") {
		return nil, false
	}
	for _, r := range s {
		if r != '_' && (r < '0' || r > '9') {
			return nil, false
		}
	}
	n, ok := new(big.Int).SetString(strings.ReplaceAll(s, "_", ""), 10)
	if !ok {
		return nil, false
	}
	if neg {
		n.Neg(n)
	}
	return n, true
}

var (
	errIllFormedList = errors.New("While parsing a list in the query, expected a non-empty list of string values, but got ill-formed list.")
	errEmptyList     = errors.New("While parsing a list in the query, expected a non-empty list of string values, but got empty list")
)

// pyElem is one element of a literal list: a string, or another literal kept
// only for MLflow's error message.
type pyElem struct {
	isStr bool
	str   string
	repr  string
}

// parseList reads `( ... )` as ast.literal_eval would and accepts it only when
// it holds one or more strings, as MLflow does.
func parseList(raw string) (Value, error) {
	elems, err := parsePyTuple(raw[1 : len(raw)-1])
	if err != nil {
		return Value{}, err
	}
	if len(elems) == 0 {
		return Value{}, errEmptyList
	}
	list := make([]string, 0, len(elems))
	for _, e := range elems {
		if !e.isStr {
			return Value{}, fmt.Errorf("While parsing a list in the query, expected string value, punctuation, or whitespace, but got different type in list: %s", tupleRepr(elems))
		}
		list = append(list, e.str)
	}
	return Value{Kind: ValueList, List: list}, nil
}

func tupleRepr(elems []pyElem) string {
	parts := make([]string, len(elems))
	for i, e := range elems {
		parts[i] = e.repr
	}
	if len(parts) == 1 {
		return "(" + parts[0] + ",)"
	}
	return "(" + strings.Join(parts, ", ") + ")"
}

// parsePyTuple parses the inside of a parenthesised Python literal:
// `'a'`, `'a', 'b'`, `'a',` or nothing.
func parsePyTuple(s string) ([]pyElem, error) {
	var elems []pyElem
	i := skipPySpace(s, 0)
	for i < len(s) {
		e, n, err := parsePyAtom(s, i)
		if err != nil {
			return nil, err
		}
		elems = append(elems, e)
		i = skipPySpace(s, n)
		if i == len(s) {
			break
		}
		if s[i] != ',' {
			return nil, errIllFormedList
		}
		i = skipPySpace(s, i+1)
	}
	return elems, nil
}

func skipPySpace(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r' || s[i] == '\f') {
		i++
	}
	return i
}

// parsePyAtom reads adjacent string literals (concatenated, as Python does)
// or one optionally signed number.
func parsePyAtom(s string, i int) (pyElem, int, error) {
	if s[i] == '\'' || s[i] == '"' {
		var b strings.Builder
		for i < len(s) && (s[i] == '\'' || s[i] == '"') {
			str, n, err := parsePyString(s, i)
			if err != nil {
				return pyElem{}, 0, err
			}
			b.WriteString(str)
			i = skipPySpace(s, n)
		}
		return pyElem{isStr: true, str: b.String(), repr: PyRepr(b.String())}, i, nil
	}
	for _, name := range []string{"None", "True", "False"} {
		if strings.HasPrefix(s[i:], name) && (i+len(name) == len(s) || !isPyNameChar(s[i+len(name)])) {
			return pyElem{repr: name}, i + len(name), nil
		}
	}
	neg := false
	j := i
	for j < len(s) && (s[j] == '-' || s[j] == '+') {
		if s[j] == '-' {
			neg = !neg
		}
		j = skipPySpace(s, j+1)
	}
	k := j
	for k < len(s) && (s[k] >= '0' && s[k] <= '9' || s[k] == '_' || s[k] == '.' || s[k] == 'e' || s[k] == 'E' ||
		((s[k] == '-' || s[k] == '+') && k > j && (s[k-1] == 'e' || s[k-1] == 'E'))) {
		k++
	}
	lit := s[j:k]
	if lit == "" {
		return pyElem{}, 0, errIllFormedList
	}
	if n, ok := pyInt(lit); ok && !strings.ContainsAny(lit, "+-") {
		if len(lit) > 1 && lit[0] == '0' && strings.Trim(lit, "0_") != "" {
			return pyElem{}, 0, errIllFormedList // Python rejects leading zeros
		}
		if neg {
			n.Neg(n)
		}
		return pyElem{repr: n.String()}, k, nil
	}
	if strings.Contains(lit, "__") || strings.HasPrefix(lit, "_") || strings.HasSuffix(lit, "_") {
		return pyElem{}, 0, errIllFormedList
	}
	f, err := strconv.ParseFloat(strings.ReplaceAll(lit, "_", ""), 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return pyElem{}, 0, errIllFormedList
	}
	if neg {
		f = -f
	}
	return pyElem{repr: pyFloat(f)}, k, nil
}

// parsePyString reads one single-line Python string literal at s[i].
func parsePyString(s string, i int) (string, int, error) {
	q := s[i]
	if strings.HasPrefix(s[i:], strings.Repeat(string(q), 3)) {
		return "", 0, errIllFormedList // triple quotes: not worth supporting
	}
	var b strings.Builder
	for j := i + 1; j < len(s); {
		c := s[j]
		switch {
		case c == q:
			return b.String(), j + 1, nil
		case c == '\n' || c == '\r':
			return "", 0, errIllFormedList
		case c != '\\':
			r, size := utf8.DecodeRuneInString(s[j:])
			b.WriteRune(r)
			j += size
			continue
		}
		// A backslash escape.
		if j+1 >= len(s) {
			return "", 0, errIllFormedList
		}
		e := s[j+1]
		j += 2
		switch e {
		case '\n':
		case '\\', '\'', '"':
			b.WriteByte(e)
		case 'a':
			b.WriteByte('\a')
		case 'b':
			b.WriteByte('\b')
		case 'f':
			b.WriteByte('\f')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case 'v':
			b.WriteByte('\v')
		case 'x', 'u', 'U':
			width := map[byte]int{'x': 2, 'u': 4, 'U': 8}[e]
			if j+width > len(s) {
				return "", 0, errIllFormedList
			}
			n, err := strconv.ParseUint(s[j:j+width], 16, 32)
			if err != nil || n > unicode.MaxRune {
				return "", 0, errIllFormedList
			}
			b.WriteRune(rune(n))
			j += width
		case '0', '1', '2', '3', '4', '5', '6', '7':
			k := j - 1
			for k < len(s) && k < j+2 && s[k] >= '0' && s[k] <= '7' {
				k++
			}
			n, _ := strconv.ParseUint(s[j-1:k], 8, 32)
			b.WriteRune(rune(n))
			j = k
		case 'N':
			return "", 0, errIllFormedList // named escapes: not supported
		default:
			b.WriteByte('\\')
			j-- // keep the character after the backslash as an ordinary one
		}
	}
	return "", 0, errIllFormedList
}

func isPyNameChar(c byte) bool {
	return c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80
}
