package search

import (
	"errors"
	"fmt"
	"strings"
)

// ParseRunOrderBy parses one search-runs order_by entry,
// "<identifier> [ASC|DESC]". Errors carry MLflow's message.
func ParseRunOrderBy(s string) (OrderBy, error) {
	entity, key, asc, err := parseOrderBy(s, runLanguage)
	if err != nil {
		return OrderBy{}, err
	}
	switch entity {
	case EntityAttribute:
		key = canonicalAttribute(key)
	case EntityDataset:
		return OrderBy{}, fmt.Errorf("Invalid identifier type '%s'", entity)
	}
	return OrderBy{Entity: entity, Key: key, Ascending: asc}, nil
}

// ParseExperimentOrderBy parses one search-experiments order_by entry; only
// the attributes name, experiment_id, creation_time and last_update_time.
func ParseExperimentOrderBy(s string) (OrderBy, error) {
	entity, key, asc, err := parseOrderBy(s, experimentLanguage)
	if err != nil {
		return OrderBy{}, err
	}
	if entity != EntityAttribute {
		return OrderBy{}, fmt.Errorf("Invalid order_by entity: %s", entity)
	}
	return OrderBy{Entity: entity, Key: key, Ascending: asc}, nil
}

func parseOrderBy(s string, lang language) (Entity, string, bool, error) {
	unparsable := fmt.Errorf("Invalid order_by clause '%s'. Could not be parsed.", s)
	// MLflow first asks sqlparse whether the entry is one identifier,
	// optionally followed by one word (the direction, or anything sqlparse
	// takes for an alias); surrounding whitespace already fails that test.
	toks := lex(s)
	_, _, next, ok := parseTerm(toks, 0)
	if !ok || toks[0].kind == tkString || toks[0].kind == tkNumber || toks[0].kind == tkParen ||
		(toks[0].kind == tkWord && strings.EqualFold(toks[0].text, "NULL")) {
		return 0, "", false, unparsable
	}
	switch {
	case next == len(toks):
	case next+2 == len(toks) && toks[next].kind == tkWS && toks[next+1].kind == tkWord:
	default:
		return 0, "", false, unparsable
	}

	// Then it splits shell-style with backticks read as double quotes.
	words, err := shellSplit(strings.ReplaceAll(s, "`", `"`))
	if err != nil {
		return 0, "", false, err
	}
	ident, asc := s, true
	switch len(words) {
	case 1:
	case 2:
		switch strings.ToLower(words[1]) {
		case "asc":
		case "desc":
			asc = false
		default:
			return 0, "", false, fmt.Errorf("Invalid ordering key in order_by clause '%s'.", s)
		}
		ident = words[0]
	default:
		return 0, "", false, unparsable
	}
	entity, key, err := lang.identifier(strings.TrimSpace(ident), true)
	if err != nil {
		return 0, "", false, err
	}
	return entity, key, asc, nil
}

// shellSplit splits s like Python's shlex.split (POSIX mode, no comments).
func shellSplit(s string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case c == '\\':
			if i+1 >= len(s) {
				return nil, errors.New("No escaped character")
			}
			i++
			cur.WriteByte(s[i])
			inWord = true
		case c == '\'':
			end := strings.IndexByte(s[i+1:], '\'')
			if end < 0 {
				return nil, errors.New("No closing quotation")
			}
			cur.WriteString(s[i+1 : i+1+end])
			i += end + 1
			inWord = true
		case c == '"':
			inWord = true
			closed := false
			for i++; i < len(s); i++ {
				if s[i] == '"' {
					closed = true
					break
				}
				if s[i] == '\\' && i+1 < len(s) && strings.IndexByte("\\\"$`\n", s[i+1]) >= 0 {
					i++
				}
				cur.WriteByte(s[i])
			}
			if !closed {
				return nil, errors.New("No closing quotation")
			}
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}
