package tracking

import (
	"encoding/json"
	"fmt"
	"math"
	"path"
	"regexp"
	"strings"
	"unicode/utf8"
)

// Limits MLflow enforces (mlflow/utils/validation.py, 3.18).
const (
	MaxParamsTagsPerBatch     = 100
	MaxMetricsPerBatch        = 1000
	MaxEntitiesPerBatch       = 1000
	MaxParamValueLength       = 6000
	MaxTagValueLength         = 8000
	MaxEntityKeyLength        = 250
	MaxExperimentNameLength   = 500
	MaxExperimentTagKeyLength = 250
	MaxExperimentTagValLength = 20000
	SearchMaxResultsDefault   = 1000
	SearchMaxResultsThreshold = 50000
	MaxHistoryBulkResults     = 25000
	MaxRunsPerBulkRequest     = 100
	MaxResultsPerRunInterval  = 2500
)

var (
	// keyNameRE is MLflow's non-Windows rule for metric, param and tag keys.
	// Python's \w is Unicode-aware; Go's is ASCII, hence the classes.
	keyNameRE      = regexp.MustCompile(`^[/\p{L}\p{N}_.\- :]*$`)
	runIDRE        = regexp.MustCompile(`^[a-zA-Z0-9][\p{L}\p{N}_\-]{0,255}$`)
	experimentIDRE = regexp.MustCompile(`^[a-zA-Z0-9][\p{L}\p{N}_\-]{0,63}$`)
)

const (
	badCharacterMessage = "Names may only contain alphanumerics, underscores (_), dashes (-), periods (.), spaces ( ), colon(:) and slashes (/)."
	missingKeyMessage   = "A key name must be provided."
)

// InvalidValueMessage is MLflow's "Invalid value X for parameter 'p' supplied"
// text; value is rendered as compact JSON like Python's json.dumps.
func InvalidValueMessage(param string, value any, detail string) string {
	b, err := json.Marshal(value)
	if err != nil {
		b = []byte(fmt.Sprint(value))
	}
	v := pyJSON(string(b))
	if detail != "" {
		return fmt.Sprintf("Invalid value %s for parameter '%s' supplied: %s", v, param, detail)
	}
	return fmt.Sprintf("Invalid value %s for parameter '%s' supplied.", v, param)
}

// pyJSON undoes Go's HTML escaping so the text matches Python's json.dumps.
func pyJSON(s string) string {
	r := strings.NewReplacer(`\u003c`, "<", `\u003e`, ">", `\u0026`, "&")
	return r.Replace(s)
}

// SeeAPIDocs ends MLflow's messages for request-shape errors found while
// reading a request.
const SeeAPIDocs = " See the API docs for more information about request parameters."

// CheckBulkIntervalRunIDs and CheckBulkIntervalMaxResults are the limits of
// GetMetricHistoryBulkInterval. The handler calls them in MLflow's order
// among its other field checks; the service calls them again for callers
// that do not come through HTTP.
func CheckBulkIntervalRunIDs(n int) error {
	if n > MaxRunsPerBulkRequest {
		return InvalidParameter("GetMetricHistoryBulkInterval request must specify at most %d run_ids. Received %d run_ids.%s",
			MaxRunsPerBulkRequest, n, SeeAPIDocs)
	}
	return nil
}

func CheckBulkIntervalMaxResults(n int64) error {
	if n < 1 || n > MaxResultsPerRunInterval {
		return InvalidParameter("max_results must be between 1 and %d.%s", MaxResultsPerRunInterval, SeeAPIDocs)
	}
	return nil
}

// MissingValueMessage is MLflow's text for an absent required field.
func MissingValueMessage(param string) string {
	return fmt.Sprintf("Missing value for required parameter '%s'.", param)
}

func exceedsMaxLength(name string, limit int) error {
	return InvalidParameter("'%s' exceeds the maximum length of %d characters", name, limit)
}

// joinPath is MLflow's append_to_json_path.
func joinPath(prefix, field string) string {
	if prefix == "" {
		return field
	}
	return prefix + "." + field
}

// pathNotUnique reports keys that would name another file when used as a
// path: MLflow refuses them in every store so the stores stay interchangeable.
func pathNotUnique(name string) bool {
	norm := pyNormpath(name)
	return norm != name || norm == "." || strings.HasPrefix(norm, "..") || strings.HasPrefix(norm, "/")
}

// pyNormpath follows posixpath.normpath, which differs from path.Clean in
// keeping exactly two leading slashes and turning "" into ".".
func pyNormpath(p string) string {
	if p == "" {
		return "."
	}
	if strings.HasPrefix(p, "//") && !strings.HasPrefix(p, "///") {
		c := path.Clean(p[1:])
		return "/" + c
	}
	return path.Clean(p)
}

func badPathMessage(name string) string {
	return "Names may be treated as files in certain cases, and must not resolve to other names" +
		" when treated as such. This name would resolve to " + pyRepr(pyNormpath(name))
}

// pyRepr quotes like Python's repr of a str (single quotes unless the text has one).
func pyRepr(s string) string {
	if strings.Contains(s, "'") && !strings.Contains(s, `"`) {
		return `"` + s + `"`
	}
	return "'" + strings.ReplaceAll(s, "'", `\'`) + "'"
}

// ValidateKeyName checks a metric, param or tag key; param names the field in
// the message ("key", "params[3].key").
func ValidateKeyName(key, param string) error {
	if !keyNameRE.MatchString(key) {
		return InvalidParameter("%s", InvalidValueMessage(param, key, badCharacterMessage))
	}
	if pathNotUnique(key) {
		return InvalidParameter("%s", InvalidValueMessage(param, key, badPathMessage(key)))
	}
	return nil
}

func charLen(s string) int { return utf8.RuneCountInString(s) }

// truncate cuts s to limit characters. MLflow's server truncates over-long
// param and run-tag values (MLFLOW_TRUNCATE_LONG_VALUES defaults to true).
func truncate(s string, limit int) string {
	if charLen(s) <= limit {
		return s
	}
	return string([]rune(s)[:limit])
}

// ValidateParam checks a param and returns it with its value truncated to
// MLflow's limit.
func ValidateParam(p Param, prefix string) (Param, error) {
	if err := ValidateKeyName(p.Key, joinPath(prefix, "key")); err != nil {
		return p, err
	}
	if charLen(p.Key) > MaxEntityKeyLength {
		return p, exceedsMaxLength("Param key", MaxEntityKeyLength)
	}
	p.Value = truncate(p.Value, MaxParamValueLength)
	return p, nil
}

// ValidateRunTag checks a run tag and returns it with its value truncated.
func ValidateRunTag(t Tag, prefix string) (Tag, error) {
	if err := ValidateKeyName(t.Key, joinPath(prefix, "key")); err != nil {
		return t, err
	}
	if charLen(t.Key) > MaxEntityKeyLength {
		return t, exceedsMaxLength(joinPath(prefix, "key"), MaxEntityKeyLength)
	}
	t.Value = truncate(t.Value, MaxTagValueLength)
	return t, nil
}

// ValidateExperimentTag checks an experiment tag; long values are refused,
// not truncated.
func ValidateExperimentTag(t Tag) error {
	if err := ValidateKeyName(t.Key, "key"); err != nil {
		return err
	}
	if charLen(t.Key) > MaxExperimentTagKeyLength {
		return exceedsMaxLength("key", MaxExperimentTagKeyLength)
	}
	if charLen(t.Value) > MaxExperimentTagValLength {
		return exceedsMaxLength("value", MaxExperimentTagValLength)
	}
	return nil
}

// ValidateMetric checks a metric's key, timestamp and key length. The value
// and step are typed numbers by the time they reach here (the wire layer
// rejects non-numbers), so only the remaining rules apply.
func ValidateMetric(m Metric, prefix string) error {
	if !keyNameRE.MatchString(m.Key) {
		return InvalidParameter("%s", InvalidValueMessage(joinPath(prefix, "name"), m.Key, badCharacterMessage))
	}
	if pathNotUnique(m.Key) {
		return InvalidParameter("%s", InvalidValueMessage(joinPath(prefix, "name"), m.Key, badPathMessage(m.Key)))
	}
	if m.Timestamp < 0 {
		return InvalidParameter("%s", InvalidValueMessage(joinPath(prefix, "timestamp"), m.Timestamp,
			fmt.Sprintf("metric '%s' (value=%s). Timestamp must be a nonnegative long (64-bit integer) ",
				m.Key, pyFloat(m.Value))))
	}
	if charLen(m.Key) > MaxEntityKeyLength {
		return exceedsMaxLength("Metric name", MaxEntityKeyLength)
	}
	return nil
}

// pyFloat prints a float as Python's str() does for the common cases.
func pyFloat(f float64) string {
	switch {
	case f != f:
		return "nan"
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	}
	s := fmt.Sprintf("%v", f)
	if !strings.ContainsAny(s, ".eEn") {
		s += ".0"
	}
	return s
}

// ValidateExperimentName applies MLflow's experiment name rules.
func ValidateExperimentName(name string) error {
	if strings.TrimSpace(name) == "" {
		return InvalidParameter("Invalid experiment name: '%s'", name)
	}
	if charLen(name) > MaxExperimentNameLength {
		return exceedsMaxLength("name", MaxExperimentNameLength)
	}
	return nil
}

// ValidateRunID checks a run id's shape (param names the field).
func ValidateRunID(id, param string) error {
	if !runIDRE.MatchString(id) {
		return InvalidParameter("%s", InvalidValueMessage(param, id, ""))
	}
	return nil
}

// ValidateExperimentID checks an experiment id's shape.
func ValidateExperimentID(id string) error {
	if !experimentIDRE.MatchString(id) {
		return InvalidParameter("Invalid experiment ID: '%s'", id)
	}
	return nil
}

// ValidateBatchLimits applies MLflow's per-request batch limits.
func ValidateBatchLimits(nMetrics, nParams, nTags int) error {
	checks := []struct {
		name  string
		limit int
		n     int
	}{
		{"metrics", MaxMetricsPerBatch, nMetrics},
		{"params", MaxParamsTagsPerBatch, nParams},
		{"tags", MaxParamsTagsPerBatch, nTags},
		{"metrics, params, and tags", MaxEntitiesPerBatch, nMetrics + nParams + nTags},
	}
	for _, c := range checks {
		if c.n > c.limit {
			return InvalidParameter("A batch logging request can contain at most %d %s. Got %d %s. "+
				"Please split up %s across multiple requests and try again.", c.limit, c.name, c.n, c.name, c.name)
		}
	}
	return nil
}

// ValidateParamKeysUnique refuses a batch that logs one param key twice.
func ValidateParamKeysUnique(params []Param) error {
	seen := make(map[string]bool, len(params))
	var dupes []string
	for _, p := range params {
		if seen[p.Key] {
			dupes = append(dupes, p.Key)
		}
		seen[p.Key] = true
	}
	if len(dupes) == 0 {
		return nil
	}
	quoted := make([]string, len(dupes))
	for i, d := range dupes {
		quoted[i] = pyRepr(d)
	}
	return InvalidParameter("Duplicate parameter keys have been submitted: [%s]. Please ensure "+
		"the request contains only one param value per param key.", strings.Join(quoted, ", "))
}

// ValidateArtifactLocation refuses runs:/ URIs as experiment artifact roots.
func ValidateArtifactLocation(loc string) error {
	if strings.HasPrefix(strings.ToLower(loc), "runs:") {
		return InvalidParameter("Artifact location cannot be a runs:/ URI. Given: '%s'", loc)
	}
	return nil
}

// ValidateSearchMaxResults applies the stores' bound on max_results.
func ValidateSearchMaxResults(n int64) error {
	if n < 1 {
		return InvalidParameter("Invalid value %d for parameter 'max_results' supplied. It must be a positive integer", n)
	}
	if n > SearchMaxResultsThreshold {
		return InvalidParameter("Invalid value %d for parameter 'max_results' supplied. It must be at most %d", n, SearchMaxResultsThreshold)
	}
	return nil
}
