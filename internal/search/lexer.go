package search

import (
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// tokenKind classifies the lexemes of MLflow's search language. MLflow
// tokenises with sqlparse; the kinds and the patterns below mirror the part of
// sqlparse's lexer that a filter or order_by can reach, so that the same text
// splits into the same pieces (and quoted text keeps the same raw form: MLflow
// strips the outer quotes and never unescapes).
type tokenKind int

const (
	tkWS        tokenKind = iota + 1
	tkComment             // -- ... or /* ... */
	tkString              // '...'
	tkQuoted              // "..." (an identifier in SQL, but MLflow also takes it as a string value)
	tkBacktick            // `...`
	tkNumber              // integer or float literal, optionally negative
	tkHex                 // 0x1F: a literal MLflow does not accept as a value
	tkWord                // names and keywords
	tkDot                 // .
	tkParen               // a whole balanced (...) group
	tkComma               // ,
	tkSemicolon           // ;
	tkCompare             // a run of < > = ! ~
	tkOther               // any other single character, including an unmatched quote
)

type token struct {
	kind  tokenKind
	text  string // exactly as in the input
	pos   int    // byte offset in the input
	float bool   // tkNumber: a float literal rather than an integer
}

var (
	reWS       = regexp.MustCompile(`^\s+`)
	reLineCmt  = regexp.MustCompile(`^--[^\r\n]*(\r\n|\r|\n)?`)
	reBlockCmt = regexp.MustCompile(`^/\*[\s\S]*?\*/`)
	reString   = regexp.MustCompile(`^'(''|\\'|[^'])*'`)
	reQuoted   = regexp.MustCompile(`^"(""|\\"|[^"])*"`)
	reBacktick = regexp.MustCompile("^`(``|[^`])*`")
	reHex      = regexp.MustCompile(`^0[xX][0-9a-fA-F]+`)
	reExpFloat = regexp.MustCompile(`^-?\d+(\.\d+)?[eE]-?\d+`)
	reFloat    = regexp.MustCompile(`^-?(\d+\.\d*|\.\d+)`)
	reInt      = regexp.MustCompile(`^-?\d+`)
	reWord     = regexp.MustCompile(`^[\p{L}\p{N}_][\p{L}\p{N}_$#]*`)
	reCompare  = regexp.MustCompile(`^[<>=~!]+`)
)

// wordCharFollows reports whether s starts with a character that would make
// sqlparse reject a number literal ending just before it (its `(?![_A-ZÀ-Ü])`
// look-ahead, case-insensitive).
func wordCharFollows(s string) bool {
	if s == "" {
		return false
	}
	r, _ := utf8.DecodeRuneInString(s)
	if r == '_' || ('a' <= r && r <= 'z') || ('A' <= r && r <= 'Z') {
		return true
	}
	// À-Ü and their lower-case forms à-ü.
	return (r >= 'À' && r <= 'Ü') || (r >= 'à' && r <= 'ü')
}

// lex splits s into tokens. It never fails: anything it does not recognise
// becomes a one-character tkOther token that the parser reports as invalid.
// Like sqlparse, it tokenises first and then groups each balanced (...) into
// one tkParen token; an unmatched parenthesis stays a tkOther. Both passes
// are linear, whatever the input.
func lex(s string) []token {
	var flat []token
	// Where the last "*/" starts: a "/*" after it cannot close, and knowing
	// that saves a scan to the end of the input for each such "/*".
	lastClose := strings.LastIndex(s, "*/")
	for i := 0; i < len(s); {
		t := token{pos: i}
		if strings.HasPrefix(s[i:], "/*") && lastClose >= i+2 {
			t.kind, t.text = tkComment, reBlockCmt.FindString(s[i:])
		} else {
			t.kind, t.text, t.float = lexOne(s[i:])
		}
		flat = append(flat, t)
		i += len(t.text)
	}
	closeOf := map[int]int{} // index of a "(" token -> index of its ")"
	var open []int
	for i, t := range flat {
		if t.kind != tkOther {
			continue
		}
		switch t.text {
		case "(":
			open = append(open, i)
		case ")":
			if len(open) > 0 {
				closeOf[open[len(open)-1]] = i
				open = open[:len(open)-1]
			}
		}
	}
	toks := make([]token, 0, len(flat))
	for i := 0; i < len(flat); i++ {
		if j, ok := closeOf[i]; ok {
			end := flat[j].pos + 1
			toks = append(toks, token{kind: tkParen, text: s[flat[i].pos:end], pos: flat[i].pos})
			i = j
			continue
		}
		toks = append(toks, flat[i])
	}
	return toks
}

func lexOne(rest string) (tokenKind, string, bool) {
	if m := reWS.FindString(rest); m != "" {
		return tkWS, m, false
	}
	if m := reLineCmt.FindString(rest); m != "" {
		return tkComment, m, false
	}
	switch rest[0] {
	case '\'':
		if m := reString.FindString(rest); m != "" {
			return tkString, m, false
		}
	case '"':
		if m := reQuoted.FindString(rest); m != "" {
			return tkQuoted, m, false
		}
	case '`':
		if m := reBacktick.FindString(rest); m != "" {
			return tkBacktick, m, false
		}
	case ',':
		return tkComma, ",", false
	case ';':
		return tkSemicolon, ";", false
	}
	if m := reHex.FindString(rest); m != "" {
		return tkHex, m, false
	}
	if m := reExpFloat.FindString(rest); m != "" {
		return tkNumber, m, true
	}
	if m := reFloat.FindString(rest); m != "" && !wordCharFollows(rest[len(m):]) {
		return tkNumber, m, true
	}
	if m := reInt.FindString(rest); m != "" && !wordCharFollows(rest[len(m):]) {
		return tkNumber, m, false
	}
	if m := reWord.FindString(rest); m != "" {
		return tkWord, m, false
	}
	if rest[0] == '.' {
		return tkDot, ".", false
	}
	if m := reCompare.FindString(rest); m != "" {
		return tkCompare, m, false
	}
	_, size := utf8.DecodeRuneInString(rest)
	return tkOther, rest[:size], false
}

// isKeyword reports whether a word is one of the SQL keywords that the
// grammar gives a meaning to, and that therefore cannot start an identifier.
func isKeyword(w string) bool {
	switch strings.ToUpper(w) {
	case "AND", "OR", "NOT", "IN", "LIKE", "ILIKE", "IS", "NULL", "TRUE", "FALSE":
		return true
	}
	return false
}

// isPlainWord reports whether s is a word MLflow's lexer reads as one name.
func isPlainWord(s string) bool {
	if s == "" || isKeyword(s) {
		return false
	}
	for i, r := range s {
		if r == '_' || unicode.IsLetter(r) || (i > 0 && unicode.IsDigit(r)) {
			continue
		}
		return false
	}
	return true
}
