package tracking

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// EncodePageToken returns MLflow's page token for a result offset:
// base64 of the JSON {"offset": N}. Clients treat it as opaque, but the Python
// stores use the same format, so tokens stay interchangeable.
func EncodePageToken(offset int) string {
	return base64.StdEncoding.EncodeToString([]byte(fmt.Sprintf(`{"offset": %d}`, offset)))
}

// DecodePageToken turns a page token into an offset; "" is offset 0. The
// messages follow MLflow's SearchUtils so clients see the same text.
func DecodePageToken(token string) (int, error) {
	if token == "" {
		return 0, nil
	}
	// Python's b64decode drops characters outside the alphabet before
	// decoding; do the same so the same tokens fail the same way.
	clean := make([]byte, 0, len(token))
	for i := 0; i < len(token); i++ {
		c := token[i]
		if c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '/' || c == '=' {
			clean = append(clean, c)
		}
	}
	raw, err := base64.StdEncoding.DecodeString(string(clean))
	if err != nil {
		return 0, InvalidParameter("Invalid page token, could not base64-decode")
	}
	var parsed map[string]any
	if err := json.Unmarshal(raw, &parsed); err != nil {
		return 0, InvalidParameter("Invalid page token, decoded value=%s", pyBytesRepr(raw))
	}
	v, ok := parsed["offset"]
	if !ok || v == nil || v == false || v == "" || v == float64(0) {
		return 0, InvalidParameter("Invalid page token, parsed value=%s", pyValueRepr(parsed))
	}
	var offset int
	switch x := v.(type) {
	case float64:
		if x != float64(int(x)) {
			// Python's int() truncates floats; keep that.
			x = float64(int(x))
		}
		offset = int(x)
	case string:
		n, err := strconv.Atoi(x)
		if err != nil {
			return 0, InvalidParameter("Invalid page token, not stringable %s", x)
		}
		offset = n
	default:
		return 0, InvalidParameter("Invalid page token, not stringable %v", x)
	}
	if offset < 0 {
		return 0, InvalidParameter("Invalid page token, offset must be non-negative, got %d", offset)
	}
	return offset, nil
}

// pyBytesRepr renders bytes roughly as Python prints a bytes object, which is
// what MLflow puts in its "decoded value" message.
func pyBytesRepr(b []byte) string {
	out := []byte("b'")
	for _, c := range b {
		switch {
		case c == '\'' || c == '\\':
			out = append(out, '\\', c)
		case c >= 0x20 && c < 0x7f:
			out = append(out, c)
		default:
			out = append(out, []byte(fmt.Sprintf("\\x%02x", c))...)
		}
	}
	return string(append(out, '\''))
}

// pyValueRepr prints a decoded JSON value as Python's repr would.
func pyValueRepr(v any) string {
	switch x := v.(type) {
	case nil:
		return "None"
	case bool:
		if x {
			return "True"
		}
		return "False"
	case float64:
		if x == float64(int64(x)) {
			return strconv.FormatInt(int64(x), 10)
		}
		return strconv.FormatFloat(x, 'g', -1, 64)
	case string:
		return pyRepr(x)
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = pyValueRepr(e)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case map[string]any:
		// Go's maps are unordered; Python keeps insertion order. Sorting
		// keeps the message stable at least.
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = pyRepr(k) + ": " + pyValueRepr(x[k])
		}
		return "{" + strings.Join(parts, ", ") + "}"
	}
	return fmt.Sprint(v)
}
