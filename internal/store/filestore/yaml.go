package filestore

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// MLflow writes meta.yaml with PyYAML's CSafeDumper (libyaml) and sorted keys.
// Python readers do not care about the exact bytes, but diffs, backups and
// humans do, so this emitter reproduces libyaml's scalar style choice, quoting
// and line folding at 80 columns for the few shapes MLflow's files hold:
// a mapping of scalars, with at most one nested mapping of strings.

const yamlBestWidth = 80

// yamlNull is the YAML null value; int64 and string are the other scalars.
type yamlNull struct{}

// yamlEmptyList renders as [] (the legacy "tags" key of run meta.yaml).
type yamlEmptyList struct{}

// yamlField is one key of a top-level mapping. Value is string, int64,
// yamlNull, yamlEmptyList or map[string]string.
type yamlField struct {
	Key   string
	Value any
}

// emitYAML renders fields as yaml.safe_dump(sort_keys=True) would.
func emitYAML(fields []yamlField) []byte {
	sorted := append([]yamlField(nil), fields...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Key < sorted[j].Key })
	e := &yamlEmitter{}
	for _, f := range sorted {
		e.key(f.Key, 0)
		switch v := f.Value.(type) {
		case string:
			e.value(v, 0)
		case int64:
			e.raw(" " + strconv.FormatInt(v, 10))
		case yamlNull:
			e.raw(" null")
		case yamlEmptyList:
			e.raw(" []")
		case map[string]string:
			if len(v) == 0 {
				e.raw(" {}")
				break
			}
			keys := make([]string, 0, len(v))
			for k := range v {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				e.newline()
				e.raw("  ")
				e.key(k, 2)
				e.value(v[k], 2)
			}
		default:
			panic(fmt.Sprintf("filestore: cannot emit %T as YAML", v))
		}
		e.newline()
	}
	return []byte(e.b.String())
}

type yamlEmitter struct {
	b      strings.Builder
	column int
}

func (e *yamlEmitter) raw(s string) {
	e.b.WriteString(s)
	e.column += utf8.RuneCountInString(s)
}

func (e *yamlEmitter) newline() {
	e.b.WriteByte('\n')
	e.column = 0
}

// key writes a mapping key at the given mapping indent. libyaml writes keys of
// more than 128 bytes or with line breaks as complex keys ("? key\n: ").
func (e *yamlEmitter) key(k string, indent int) {
	a := analyzeScalar(k)
	if len(k) > 128 || a.multiline {
		e.raw("? ")
		e.scalar(k, a, indent+2, false)
		e.newline()
		e.raw(strings.Repeat(" ", indent) + ":")
		return
	}
	e.scalar(k, a, indent+2, true)
	e.raw(":")
}

func (e *yamlEmitter) value(v string, indent int) {
	e.raw(" ")
	e.scalar(v, analyzeScalar(v), indent+2, false)
}

type scalarAnalysis struct {
	multiline    bool
	plainAllowed bool
	singleOK     bool
}

func isYAMLBreak(r rune) bool {
	return r == '\n' || r == '\r' || r == 0x85 || r == 0x2028 || r == 0x2029
}

func isYAMLBlankOrEnd(rs []rune, i int) bool {
	return i >= len(rs) || rs[i] == ' ' || rs[i] == '\t' || isYAMLBreak(rs[i]) || rs[i] == 0
}

// isYAMLPrintable mirrors libyaml's IS_PRINTABLE, which rejects tabs and
// every character outside the Basic Multilingual Plane.
func isYAMLPrintable(r rune) bool {
	switch {
	case r == '\n', r >= 0x20 && r <= 0x7e, r == 0x85:
		return true
	case r >= 0xa0 && r <= 0xd7ff, r >= 0xe000 && r <= 0xfffd:
		return r != 0xfeff
	}
	return false
}

func analyzeScalar(s string) scalarAnalysis {
	if s == "" {
		return scalarAnalysis{singleOK: true}
	}
	rs := []rune(s)
	var flowInd, blockInd, lineBreaks, special bool
	var leadSpace, leadBreak, trailSpace, trailBreak, breakSpace, spaceBreak bool
	if strings.HasPrefix(s, "---") || strings.HasPrefix(s, "...") {
		flowInd, blockInd = true, true
	}
	precededByWS := true
	followedByWS := isYAMLBlankOrEnd(rs, 1)
	prevSpace, prevBreak := false, false
	for i, r := range rs {
		if i == 0 {
			if strings.ContainsRune("#,[]{}&*!|>'\"%@`", r) {
				flowInd, blockInd = true, true
			}
			if r == '?' || r == ':' {
				flowInd = true
				if followedByWS {
					blockInd = true
				}
			}
			if r == '-' && followedByWS {
				flowInd, blockInd = true, true
			}
		} else {
			if strings.ContainsRune(",?[]{}", r) {
				flowInd = true
			}
			if r == ':' {
				flowInd = true
				if followedByWS {
					blockInd = true
				}
			}
			if r == '#' && precededByWS {
				flowInd, blockInd = true, true
			}
		}
		if !isYAMLPrintable(r) {
			special = true
		}
		if isYAMLBreak(r) {
			lineBreaks = true
		}
		switch {
		case r == ' ':
			if i == 0 {
				leadSpace = true
			}
			if i == len(rs)-1 {
				trailSpace = true
			}
			if prevBreak {
				breakSpace = true
			}
			prevSpace, prevBreak = true, false
		case isYAMLBreak(r):
			if i == 0 {
				leadBreak = true
			}
			if i == len(rs)-1 {
				trailBreak = true
			}
			if prevSpace {
				spaceBreak = true
			}
			prevSpace, prevBreak = false, true
		default:
			prevSpace, prevBreak = false, false
		}
		precededByWS = r == ' ' || r == '\t' || isYAMLBreak(r)
		followedByWS = isYAMLBlankOrEnd(rs, i+2)
	}
	plain, single := true, true
	if leadSpace || leadBreak || trailSpace || trailBreak {
		plain = false
	}
	if breakSpace {
		plain, single = false, false
	}
	if spaceBreak || special {
		plain, single = false, false
	}
	if lineBreaks || blockInd {
		plain = false
	}
	_ = flowInd // block context only: flow indicators do not forbid plain style
	return scalarAnalysis{multiline: lineBreaks, plainAllowed: plain, singleOK: single}
}

// yamlImplicit holds PyYAML's resolver patterns: a plain scalar matching one
// of them would read back as something other than a string, so it is quoted.
var yamlImplicit = []*regexp.Regexp{
	regexp.MustCompile(`^(?:yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$`),
	regexp.MustCompile(`^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$`),
	regexp.MustCompile(`^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+)$`),
	regexp.MustCompile(`^(?:<<)$`),
	regexp.MustCompile(`^(?:~|null|Null|NULL|)$`),
	regexp.MustCompile(`^(?:[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]|[0-9][0-9][0-9][0-9]-[0-9][0-9]?-[0-9][0-9]?(?:[Tt]|[ \t]+)[0-9][0-9]?:[0-9][0-9]:[0-9][0-9](?:\.[0-9]*)?(?:[ \t]*(?:Z|[-+][0-9][0-9]?(?::[0-9][0-9])?))?)$`),
	regexp.MustCompile(`^(?:=)$`),
}

func resolvesToNonString(s string) bool {
	// Python's "$" also matches before one trailing newline.
	t := strings.TrimSuffix(s, "\n")
	for _, re := range yamlImplicit {
		if re.MatchString(t) {
			return true
		}
	}
	return false
}

func (e *yamlEmitter) scalar(s string, a scalarAnalysis, indent int, simpleKey bool) {
	switch {
	case a.plainAllowed && !resolvesToNonString(s) && !(simpleKey && a.multiline):
		e.writePlain(s, indent, !simpleKey)
	case a.singleOK:
		e.writeSingle(s, indent, !simpleKey)
	default:
		e.writeDouble(s, indent, !simpleKey)
	}
}

func (e *yamlEmitter) writeIndent(indent int) {
	e.newline()
	e.raw(strings.Repeat(" ", indent))
}

func (e *yamlEmitter) writePlain(s string, indent int, allowBreaks bool) {
	rs := []rune(s)
	spaces := false
	for i, r := range rs {
		if r == ' ' {
			if allowBreaks && !spaces && e.column > yamlBestWidth && !(i+1 < len(rs) && rs[i+1] == ' ') {
				e.writeIndent(indent)
			} else {
				e.raw(" ")
			}
			spaces = true
			continue
		}
		e.raw(string(r))
		spaces = false
	}
}

func (e *yamlEmitter) writeSingle(s string, indent int, allowBreaks bool) {
	e.raw("'")
	rs := []rune(s)
	spaces, breaks := false, false
	for i, r := range rs {
		switch {
		case r == ' ':
			if allowBreaks && !spaces && e.column > yamlBestWidth && i != 0 && i != len(rs)-1 &&
				!(i+1 < len(rs) && rs[i+1] == ' ') {
				e.writeIndent(indent)
			} else {
				e.raw(" ")
			}
			spaces = true
		case isYAMLBreak(r):
			if !breaks && r == '\n' {
				e.newline()
			}
			if r == '\n' {
				e.newline()
			} else {
				e.b.WriteRune(r)
				e.column = 0
			}
			breaks = true
		default:
			if breaks {
				e.raw(strings.Repeat(" ", indent))
			}
			if r == '\'' {
				e.raw("''")
			} else {
				e.raw(string(r))
			}
			spaces, breaks = false, false
		}
	}
	if breaks {
		e.raw(strings.Repeat(" ", indent))
	}
	e.raw("'")
}

var yamlEscapes = map[rune]string{
	0: `\0`, 7: `\a`, 8: `\b`, 9: `\t`, 10: `\n`, 11: `\v`, 12: `\f`, 13: `\r`, 27: `\e`,
	'"': `\"`, '\\': `\\`, 0x85: `\N`, 0xa0: `\_`, 0x2028: `\L`, 0x2029: `\P`,
}

func (e *yamlEmitter) writeDouble(s string, indent int, allowBreaks bool) {
	e.raw(`"`)
	rs := []rune(s)
	spaces := false
	for i, r := range rs {
		if !isYAMLPrintable(r) || r == 0xfeff || isYAMLBreak(r) || r == '"' || r == '\\' {
			if esc, ok := yamlEscapes[r]; ok {
				e.raw(esc)
			} else if r <= 0xff {
				e.raw(fmt.Sprintf(`\x%02X`, r))
			} else if r <= 0xffff {
				e.raw(fmt.Sprintf(`\u%04X`, r))
			} else {
				e.raw(fmt.Sprintf(`\U%08X`, r))
			}
			spaces = false
			continue
		}
		if r == ' ' {
			if allowBreaks && !spaces && e.column > yamlBestWidth && i != 0 && i != len(rs)-1 {
				e.writeIndent(indent)
				if i+1 < len(rs) && rs[i+1] == ' ' {
					e.raw(`\`)
				}
			} else {
				e.raw(" ")
			}
			spaces = true
			continue
		}
		e.raw(string(r))
		spaces = false
	}
	e.raw(`"`)
}
