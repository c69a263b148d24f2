package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/mltrack/mltrack/internal/tracking"
)

const seeAPIDocs = tracking.SeeAPIDocs

// fields is one request's parameters, from a JSON body or a query string, read
// the way MLflow's handlers read them: null and "" count as absent for
// required checks, wrong JSON types are INVALID_PARAMETER_VALUE naming the
// field, unknown fields are ignored.
type fields struct {
	obj map[string]any // JSON body (numbers kept as json.Number)
	q   url.Values     // query string of a GET; nil for JSON
}

// errBodyTooLarge marks a body over the server's limit.
var errBodyTooLarge = errors.New("request body too large")

// readFields builds the parameters of r. A GET with a query string reads it;
// anything else reads the JSON body, which for POST and PUT must be declared
// application/json. Like MLflow, an unparseable body counts as empty.
func readFields(r *http.Request) (*fields, error) {
	if r.Method == http.MethodGet && r.URL.RawQuery != "" {
		q, err := url.ParseQuery(r.URL.RawQuery)
		if err != nil {
			return nil, tracking.InvalidParameter("Invalid query string: %v", err)
		}
		return &fields{q: q}, nil
	}
	if r.Method == http.MethodPost || r.Method == http.MethodPut {
		ct := r.Header.Get("Content-Type")
		if ct == "" {
			return nil, tracking.InvalidParameter("Bad Request. Content-Type header is missing.")
		}
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil {
			mt = strings.TrimSpace(strings.SplitN(ct, ";", 2)[0])
		}
		if mt != "application/json" {
			return nil, tracking.InvalidParameter("Bad Request. Content-Type must be one of ['application/json'].")
		}
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, tracking.InvalidParameter("Request body exceeds the maximum size of %d bytes.", mbe.Limit)
		}
		return nil, fmt.Errorf("read request body: %w", err)
	}
	return &fields{obj: decodeBody(body)}, nil
}

// decodeBody parses a JSON object, decoding a second time when a client sent
// the object double-encoded as a string. Anything else is an empty request.
func decodeBody(body []byte) map[string]any {
	v, ok := decodeJSON(body)
	if !ok {
		return map[string]any{}
	}
	if s, isStr := v.(string); isStr {
		if v, ok = decodeJSON([]byte(s)); !ok {
			return map[string]any{}
		}
	}
	if m, isObj := v.(map[string]any); isObj {
		return m
	}
	return map[string]any{}
}

func decodeJSON(b []byte) (any, bool) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, false
	}
	if dec.More() {
		return nil, false
	}
	return v, true
}

// pyTypeName names a decoded JSON value's type as Python would.
func pyTypeName(v any) string {
	switch x := v.(type) {
	case string:
		return "str"
	case bool:
		return "bool"
	case json.Number:
		if strings.ContainsAny(string(x), ".eE") {
			return "float"
		}
		return "int"
	case []any:
		return "list"
	case map[string]any:
		return "dict"
	case nil:
		return "NoneType"
	}
	return fmt.Sprintf("%T", v)
}

// pyJSONValue renders v as Python's json.dumps(sort_keys, compact) would.
func pyJSONValue(v any) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Sprint(v)
	}
	return strings.TrimSuffix(buf.String(), "\n")
}

func invalidValue(name string, v any) error {
	return tracking.InvalidParameter("Invalid value %s for parameter '%s' supplied:  Hint: Value was of type '%s'.%s",
		pyJSONValue(v), name, pyTypeName(v), seeAPIDocs)
}

func missingValue(name string) error {
	return tracking.InvalidParameter("%s%s", tracking.MissingValueMessage(name), seeAPIDocs)
}

// raw returns the value of name and whether it is present (not null).
func (f *fields) raw(name string) (any, bool) {
	if f.q != nil {
		vs, ok := f.q[name]
		if !ok || len(vs) == 0 {
			return nil, false
		}
		return vs[0], true
	}
	v, ok := f.obj[name]
	if !ok || v == nil {
		return nil, false
	}
	return v, true
}

// str reads a string field; required refuses absent and "".
func (f *fields) str(name string, required bool) (string, error) {
	s, _, err := typedField(f, name, required, func(v any) (string, bool) { x, ok := v.(string); return x, ok })
	if err == nil && required && s == "" {
		return "", missingValue(name)
	}
	return s, err
}

// runID reads run_id, falling back to the deprecated run_uuid.
func (f *fields) runID() (string, error) {
	if _, ok := f.raw("run_id"); !ok {
		if _, ok := f.raw("run_uuid"); ok {
			v, err := f.str("run_uuid", false)
			if err != nil {
				return "", err
			}
			if v == "" {
				return "", missingValue("run_id")
			}
			return v, nil
		}
	}
	id, err := f.str("run_id", false)
	if err != nil {
		return "", err
	}
	if id == "" {
		if alt, _ := f.str("run_uuid", false); alt != "" {
			return alt, nil
		}
		return "", missingValue("run_id")
	}
	return id, nil
}

// int64Field reads an integer given as a JSON number or a decimal string,
// as protobuf's JSON parser accepts both.
func (f *fields) int64Field(name string, required bool) (int64, bool, error) {
	return typedField(f, name, required, toInt64)
}

// typedField reads field name through conv: missing is an error only when
// required; a value conv rejects is MLflow's invalid-value error.
func typedField[T any](f *fields, name string, required bool, conv func(any) (T, bool)) (T, bool, error) {
	var zero T
	v, ok := f.raw(name)
	if !ok {
		if required {
			return zero, false, missingValue(name)
		}
		return zero, false, nil
	}
	x, good := conv(v)
	if !good {
		return zero, false, invalidValue(name, v)
	}
	return x, true, nil
}

func toInt64(v any) (int64, bool) {
	var s string
	switch x := v.(type) {
	case json.Number:
		s = string(x)
	case string:
		s = strings.TrimSpace(x)
	default:
		return 0, false
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n, true
	}
	// Integral floats such as 5.0 or 1e3 are valid proto JSON integers.
	fl, err := strconv.ParseFloat(s, 64)
	if err != nil || fl != math.Trunc(fl) || math.Abs(fl) > 9.2e18 {
		return 0, false
	}
	return int64(fl), true
}

// floatField reads a double: a JSON number, a numeric string, or one of
// "NaN", "Infinity", "-Infinity".
func (f *fields) floatField(name string, required bool) (float64, bool, error) {
	return typedField(f, name, required, toFloat)
}

func toFloat(v any) (float64, bool) {
	var s string
	switch x := v.(type) {
	case json.Number:
		s = string(x)
	case string:
		s = strings.TrimSpace(x)
		switch s {
		case "NaN", "nan":
			return math.NaN(), true
		case "Infinity", "inf", "+Infinity":
			return math.Inf(1), true
		case "-Infinity", "-inf":
			return math.Inf(-1), true
		}
	default:
		return 0, false
	}
	fl, err := strconv.ParseFloat(s, 64)
	if err != nil {
		var ne *strconv.NumError
		if errors.As(err, &ne) && ne.Err == strconv.ErrRange {
			return fl, true
		}
		return 0, false
	}
	return fl, true
}

// strList reads a repeated string field: repeated query keys, or a JSON
// array of strings.
func (f *fields) strList(name string) ([]string, error) {
	if f.q != nil {
		return f.q[name], nil
	}
	v, ok := f.raw(name)
	if !ok {
		return nil, nil
	}
	arr, isArr := v.([]any)
	if !isArr {
		return nil, invalidValue(name, v)
	}
	out := make([]string, 0, len(arr))
	for _, e := range arr {
		s, isStr := e.(string)
		if !isStr {
			return nil, invalidValue(name, v)
		}
		out = append(out, s)
	}
	return out, nil
}

// objList reads a repeated message field as a list of JSON objects.
func (f *fields) objList(name string) ([]*fields, error) {
	if f.q != nil {
		if _, ok := f.q[name]; ok {
			return nil, tracking.InvalidParameter("Parameter '%s' cannot be given in a query string.", name)
		}
		return nil, nil
	}
	v, ok := f.raw(name)
	if !ok {
		return nil, nil
	}
	arr, isArr := v.([]any)
	if !isArr {
		return nil, invalidValue(name, v)
	}
	out := make([]*fields, len(arr))
	for i, e := range arr {
		m, isObj := e.(map[string]any)
		if !isObj {
			return nil, invalidValue(fmt.Sprintf("%s[%d]", name, i), e)
		}
		out[i] = &fields{obj: m}
	}
	return out, nil
}

// tags reads a list of {key, value} entries; a missing key is reported with
// the entry's path, as MLflow's log-batch does.
func (f *fields) tags(name string, keyRequired bool) ([]tracking.Tag, error) {
	objs, err := f.objList(name)
	if err != nil {
		return nil, err
	}
	out := make([]tracking.Tag, 0, len(objs))
	for i, o := range objs {
		path := fmt.Sprintf("%s[%d]", name, i)
		k, err := o.str("key", false)
		if err != nil {
			return nil, prefixed(err, path)
		}
		if keyRequired && k == "" {
			return nil, missingValue(path + ".key")
		}
		v, err := o.str("value", false)
		if err != nil {
			return nil, prefixed(err, path)
		}
		out = append(out, tracking.Tag{Key: k, Value: v})
	}
	return out, nil
}

// prefixed re-reads a nested field error with the entry's path in front.
func prefixed(err error, path string) error {
	var e *tracking.Error
	if errors.As(err, &e) {
		msg := strings.Replace(e.Message, "parameter '", "parameter '"+path+".", 1)
		return &tracking.Error{Code: e.Code, Message: msg}
	}
	return err
}

// viewType reads an enum given by name or number.
func (f *fields) viewType(name string) (tracking.ViewType, error) {
	v, ok := f.raw(name)
	if !ok {
		return 0, nil
	}
	if s, isStr := v.(string); isStr {
		if vt, ok := tracking.ViewTypeFromName(s); ok {
			return vt, nil
		}
	}
	if n, ok := toInt64(v); ok && n >= 1 && n <= 3 {
		return tracking.ViewType(n), nil
	}
	return 0, invalidValue(name, v)
}

// boolField reads a bool given as a JSON boolean, or as "true"/"false" in a
// query string.
func (f *fields) boolField(name string) (bool, bool, error) {
	return typedField(f, name, false, func(v any) (bool, bool) {
		switch x := v.(type) {
		case bool:
			return x, true
		case string:
			if f.q != nil {
				switch strings.ToLower(x) {
				case "true":
					return true, true
				case "false":
					return false, true
				}
			}
		}
		return false, false
	})
}

// object reads a nested message field; absent gives an empty message.
func (f *fields) object(name string) (*fields, error) {
	if f.q != nil {
		if _, ok := f.q[name]; ok {
			return nil, tracking.InvalidParameter("Parameter '%s' cannot be given in a query string.", name)
		}
		return &fields{obj: map[string]any{}}, nil
	}
	v, ok := f.raw(name)
	if !ok {
		return &fields{obj: map[string]any{}}, nil
	}
	m, isObj := v.(map[string]any)
	if !isObj {
		return nil, invalidValue(name, v)
	}
	return &fields{obj: m}, nil
}
