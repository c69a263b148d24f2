package tracking

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/mltrack/mltrack/internal/search"
)

// Limits MLflow applies to logged models, dataset inputs and their searches
// (mlflow/utils/validation.py, server/handlers.py, the SQL schema).
const (
	// SearchLoggedModelsDefault is the page size when the client sends none
	// (the proto default); SearchLoggedModelsZeroDefault is the store's
	// default, used when a client sends 0.
	SearchLoggedModelsDefault     = 50
	SearchLoggedModelsZeroDefault = 100
	MaxSearchDatasetsExperiments  = 20
	MaxLoggedModelKeyLength       = 255 // VARCHAR(255) tag_key / param_key
	MaxDatasetNameLength          = 500
	MaxDatasetDigestLength        = 36
	MaxDatasetSourceLength        = 65535
	MaxDatasetSchemaLength        = 1048575
	MaxDatasetProfileLength       = 16777215
	MaxInputTagKeyLength          = 255
	MaxInputTagValueLength        = 500
	maxInt32                      = math.MaxInt32
)

// loggedModelNameBadChars are the characters MLflow refuses in model names,
// printed as MLflow prints the tuple.
const loggedModelNameBadChars = `/:.%"'`

func validateLoggedModelName(name string) error {
	if strings.ContainsAny(name, loggedModelNameBadChars) {
		return InvalidParameter("Invalid model name (%s) provided. Model name must be a non-empty string "+
			"and cannot contain the following characters: ('/', ':', '.', '%%', '\"', \"'\")", pyRepr(name))
	}
	return nil
}

// validateModelKeys refuses keys the schema cannot hold (MLflow leaves this
// to the database, which makes it an internal error on PostgreSQL).
func validateModelKeys(what string, keys []string) error {
	for i, k := range keys {
		if charLen(k) > MaxLoggedModelKeyLength {
			return exceedsMaxLength(fmt.Sprintf("%s[%d].key", what, i), MaxLoggedModelKeyLength)
		}
	}
	return nil
}

func paramKeys(ps []Param) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.Key
	}
	return out
}

func tagKeys(ts []Tag) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.Key
	}
	return out
}

// CreateLoggedModel creates a PENDING model. An empty name makes the store
// generate one, as MLflow does.
func (s *Service) CreateLoggedModel(ctx context.Context, m NewLoggedModel) (*LoggedModel, error) {
	if err := parseExperimentID(m.ExperimentID); err != nil {
		return nil, err
	}
	if err := validateLoggedModelName(m.Name); err != nil {
		return nil, err
	}
	if err := validateModelKeys("params", paramKeys(m.Params)); err != nil {
		return nil, err
	}
	if err := validateModelKeys("tags", tagKeys(m.Tags)); err != nil {
		return nil, err
	}
	m.Tags = dedupeTags(m.Tags)
	return s.store.CreateLoggedModel(ctx, m)
}

// GetLoggedModel returns a live model, or with allowDeleted a deleted one too.
func (s *Service) GetLoggedModel(ctx context.Context, id string, allowDeleted bool) (*LoggedModel, error) {
	return s.store.GetLoggedModel(ctx, id, allowDeleted)
}

// FinalizeLoggedModel sets a model's status. MLflow takes any status here,
// PENDING included; an unknown one never reaches this method (the server
// refuses it, where MLflow silently stores UNSPECIFIED).
func (s *Service) FinalizeLoggedModel(ctx context.Context, id string, status LoggedModelStatus) (*LoggedModel, error) {
	if status < ModelStatusUnspecified || status > ModelStatusUploadFailed {
		return nil, InvalidParameter("Unknown model status: %d", int(status))
	}
	return s.store.FinalizeLoggedModel(ctx, id, status)
}

func (s *Service) DeleteLoggedModel(ctx context.Context, id string) error {
	return s.store.DeleteLoggedModel(ctx, id)
}

// SetLoggedModelTags sets tags; a key repeated in one call keeps its last
// value, as MLflow does.
func (s *Service) SetLoggedModelTags(ctx context.Context, id string, tags []Tag) error {
	if err := validateModelKeys("tags", tagKeys(tags)); err != nil {
		return err
	}
	return s.store.SetLoggedModelTags(ctx, id, dedupeTags(tags))
}

// dedupeTags keeps the last value of each key, in first-seen key order.
func dedupeTags(tags []Tag) []Tag {
	if len(tags) < 2 {
		return tags
	}
	idx := make(map[string]int, len(tags))
	out := make([]Tag, 0, len(tags))
	for _, t := range tags {
		if i, ok := idx[t.Key]; ok {
			out[i].Value = t.Value
			continue
		}
		idx[t.Key] = len(out)
		out = append(out, t)
	}
	return out
}

func (s *Service) DeleteLoggedModelTag(ctx context.Context, id, key string) error {
	return s.store.DeleteLoggedModelTag(ctx, id, key)
}

func (s *Service) LogLoggedModelParams(ctx context.Context, id string, params []Param) error {
	if err := validateModelKeys("params", paramKeys(params)); err != nil {
		return err
	}
	return s.store.LogLoggedModelParams(ctx, id, params)
}

// LoggedModelOrderBy is one order_by entry of a SearchLoggedModels request
// as the client sent it.
type LoggedModelOrderBy struct {
	FieldName     string
	Ascending     bool
	DatasetName   string
	DatasetDigest string
}

// LoggedModelSearch is a SearchLoggedModels request as the client sent it.
type LoggedModelSearch struct {
	ExperimentIDs []string
	Filter        string
	Datasets      []DatasetRef
	OrderBy       []LoggedModelOrderBy
	// MaxResults 0 means the store default (100), as when MLflow's client
	// sends 0; a server fills in the proto default (50) for an absent value.
	MaxResults int64
	PageToken  string
}

// SearchLoggedModels returns one page of models and the next page's token.
// Tokens are MLflow's: they carry the experiment ids, filter and order_by of
// the search they continue, and a mismatch is refused with MLflow's message.
func (s *Service) SearchLoggedModels(ctx context.Context, req LoggedModelSearch) ([]LoggedModel, string, error) {
	for _, d := range req.Datasets {
		if d.Name == "" {
			return nil, "", InvalidParameter("`dataset_name` in the `datasets` clause must be specified.")
		}
	}
	if req.MaxResults < 0 || req.MaxResults > maxInt32 {
		return nil, "", InvalidParameter("Invalid value %d for parameter 'max_results' supplied. It must be a "+
			"positive integer not above %d.", req.MaxResults, maxInt32)
	}
	limit := int(req.MaxResults)
	if limit == 0 {
		limit = SearchLoggedModelsZeroDefault
	}
	tok := newModelPageToken(req)
	offset := 0
	if req.PageToken != "" {
		got, err := decodeModelPageToken(req.PageToken)
		if err != nil {
			return nil, "", err
		}
		if err := got.matches(tok); err != nil {
			return nil, "", err
		}
		offset = got.Offset
	}
	filter, err := search.ParseLoggedModelFilter(req.Filter)
	if err != nil {
		return nil, "", asInvalidParameter(err)
	}
	for _, id := range req.ExperimentIDs {
		if err := parseExperimentID(id); err != nil {
			return nil, "", err
		}
	}
	order, err := loggedModelOrder(req.OrderBy)
	if err != nil {
		return nil, "", err
	}
	if len(req.ExperimentIDs) == 0 {
		return nil, "", nil
	}
	rows, err := s.store.SearchLoggedModels(ctx, LoggedModelQuery{
		ExperimentIDs: req.ExperimentIDs, Filter: filter, Datasets: req.Datasets, OrderBy: order,
		Offset: offset, Limit: limit + 1,
	})
	if err != nil {
		return nil, "", err
	}
	if len(rows) <= limit {
		return rows, "", nil
	}
	tok.Offset = offset + limit
	return rows[:limit], tok.encode(), nil
}

// loggedModelOrder parses the order_by entries and appends MLflow's
// tie-breakers (creation_timestamp DESC, model_id ASC) unless the client
// ordered by those fields itself, so every store sees a complete order.
func loggedModelOrder(entries []LoggedModelOrderBy) ([]LoggedModelOrder, error) {
	out := make([]LoggedModelOrder, 0, len(entries)+2)
	hasCreated, hasID := false, false
	for _, e := range entries {
		ob, err := search.ParseLoggedModelOrderBy(e.FieldName)
		if err != nil {
			return nil, asInvalidParameter(err)
		}
		o := LoggedModelOrder{Field: ob.Key, Ascending: e.Ascending}
		if ob.Entity == search.EntityMetric {
			o.Field = "metrics." + ob.Key
			o.DatasetName, o.DatasetDigest = e.DatasetName, e.DatasetDigest
		}
		hasCreated = hasCreated || o.Field == "creation_timestamp"
		hasID = hasID || o.Field == "model_id"
		out = append(out, o)
	}
	if !hasCreated {
		out = append(out, LoggedModelOrder{Field: "creation_timestamp", Ascending: false})
	}
	if !hasID {
		out = append(out, LoggedModelOrder{Field: "model_id", Ascending: true})
	}
	return out, nil
}

// modelPageToken is MLflow's SearchLoggedModelsPaginationToken: base64 of
// {"experiment_ids": [...], "filter_string": ..., "order_by": [...], "offset": N}.
// Nil pointers are JSON null, as None is in Python.
type modelPageToken struct {
	ExperimentIDs []string       `json:"experiment_ids"`
	FilterString  *string        `json:"filter_string"`
	OrderBy       []tokenOrderBy `json:"order_by"`
	Offset        int            `json:"offset"`
}

type tokenOrderBy struct {
	FieldName     string  `json:"field_name"`
	Ascending     bool    `json:"ascending"`
	DatasetName   *string `json:"dataset_name"`
	DatasetDigest *string `json:"dataset_digest"`
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// newModelPageToken is the token state of a request, as MLflow's handler
// hands it to the store (empty strings become None).
func newModelPageToken(req LoggedModelSearch) modelPageToken {
	t := modelPageToken{ExperimentIDs: req.ExperimentIDs, FilterString: optional(req.Filter)}
	if t.ExperimentIDs == nil {
		t.ExperimentIDs = []string{}
	}
	for _, o := range req.OrderBy {
		t.OrderBy = append(t.OrderBy, tokenOrderBy{
			FieldName: o.FieldName, Ascending: o.Ascending,
			DatasetName: optional(o.DatasetName), DatasetDigest: optional(o.DatasetDigest),
		})
	}
	return t
}

// encode writes the JSON as Python's json.dumps does (", " and ": "
// separators, non-ASCII escaped) so tokens match MLflow's byte for byte.
func (t modelPageToken) encode() string {
	var b bytes.Buffer
	b.WriteString(`{"experiment_ids": [`)
	for i, id := range t.ExperimentIDs {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(pyJSONString(id))
	}
	b.WriteString(`], "filter_string": `)
	writeOptional(&b, t.FilterString)
	b.WriteString(`, "order_by": `)
	if len(t.OrderBy) == 0 {
		b.WriteString("null")
	} else {
		b.WriteByte('[')
		for i, o := range t.OrderBy {
			if i > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, `{"field_name": %s, "ascending": %t, "dataset_name": `, pyJSONString(o.FieldName), o.Ascending)
			writeOptional(&b, o.DatasetName)
			b.WriteString(`, "dataset_digest": `)
			writeOptional(&b, o.DatasetDigest)
			b.WriteByte('}')
		}
		b.WriteByte(']')
	}
	fmt.Fprintf(&b, `, "offset": %d}`, t.Offset)
	return base64.StdEncoding.EncodeToString(b.Bytes())
}

func writeOptional(b *bytes.Buffer, s *string) {
	if s == nil {
		b.WriteString("null")
		return
	}
	b.WriteString(pyJSONString(*s))
}

// pyJSONString is json.dumps of a str with ensure_ascii.
func pyJSONString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\b':
			b.WriteString(`\b`)
		case r == '\f':
			b.WriteString(`\f`)
		case r >= 0x10000:
			r -= 0x10000
			fmt.Fprintf(&b, `\u%04x\u%04x`, 0xd800+(r>>10), 0xdc00+(r&0x3ff))
		case r < 0x20 || r > 0x7e:
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// decodeModelPageToken reads a token. MLflow answers an undecodable one with
// an internal error; here it is the client's mistake.
func decodeModelPageToken(token string) (modelPageToken, error) {
	raw, err := base64.StdEncoding.DecodeString(token)
	if err != nil {
		return modelPageToken{}, InvalidParameter("Invalid page token: %s. It is not valid base64.", token)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return modelPageToken{}, InvalidParameter("Invalid page token: %s. %s", token, jsonErrorText(err))
	}
	var t modelPageToken
	bad := func(field string) error {
		return InvalidParameter("Invalid page token: %s. Field '%s' has the wrong type.", token, field)
	}
	if v, ok := fields["experiment_ids"]; ok && string(v) != "null" {
		if err := json.Unmarshal(v, &t.ExperimentIDs); err != nil {
			return t, bad("experiment_ids")
		}
	}
	if v, ok := fields["filter_string"]; ok && string(v) != "null" {
		var f string
		if err := json.Unmarshal(v, &f); err != nil {
			return t, bad("filter_string")
		}
		t.FilterString = optional(f)
	}
	if v, ok := fields["order_by"]; ok && string(v) != "null" {
		if err := json.Unmarshal(v, &t.OrderBy); err != nil {
			return t, bad("order_by")
		}
	}
	if v, ok := fields["offset"]; ok && string(v) != "null" {
		var n json.Number
		if err := json.Unmarshal(v, &n); err != nil {
			return t, bad("offset")
		}
		off, err := strconv.Atoi(n.String())
		if err != nil || off < 0 {
			return t, InvalidParameter("Invalid page token: %s. The offset must be a non-negative integer.", token)
		}
		t.Offset = off
	}
	return t, nil
}

func jsonErrorText(err error) string {
	return strings.TrimPrefix(err.Error(), "json: ")
}

// matches applies MLflow's token validation against the request's own state.
func (t modelPageToken) matches(req modelPageToken) error {
	if t.ExperimentIDs == nil || !equalStrings(t.ExperimentIDs, req.ExperimentIDs) {
		return InvalidParameter("Experiment IDs in the page token do not match the requested experiment IDs. "+
			"Expected: %s. Found: %s", pyStringList(req.ExperimentIDs, true), pyStringList(t.ExperimentIDs, t.ExperimentIDs != nil))
	}
	if !equalOptional(t.FilterString, req.FilterString) {
		return InvalidParameter("Filter string in the page token does not match the requested filter string. "+
			"Expected: %s. Found: %s", pyStr(req.FilterString), pyStr(t.FilterString))
	}
	if !equalOrder(t.OrderBy, req.OrderBy) {
		return InvalidParameter("Order by in the page token does not match the requested order by. "+
			"Expected: %s. Found: %s", pyOrderRepr(req.OrderBy), pyOrderRepr(t.OrderBy))
	}
	return nil
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func equalOptional(a, b *string) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

func equalOrder(a, b []tokenOrderBy) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].FieldName != b[i].FieldName || a[i].Ascending != b[i].Ascending ||
			!equalOptional(a[i].DatasetName, b[i].DatasetName) || !equalOptional(a[i].DatasetDigest, b[i].DatasetDigest) {
			return false
		}
	}
	return true
}

// pyStringList prints a list of str as Python does, or None.
func pyStringList(s []string, present bool) string {
	if !present {
		return "None"
	}
	parts := make([]string, len(s))
	for i, x := range s {
		parts[i] = pyRepr(x)
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// pyStr prints an optional string as Python's str() does inside an f-string.
func pyStr(s *string) string {
	if s == nil {
		return "None"
	}
	return *s
}

func pyOptionalRepr(s *string) string {
	if s == nil {
		return "None"
	}
	return pyRepr(*s)
}

func pyOrderRepr(o []tokenOrderBy) string {
	if len(o) == 0 {
		return "None"
	}
	parts := make([]string, len(o))
	for i, x := range o {
		asc := "False"
		if x.Ascending {
			asc = "True"
		}
		parts[i] = fmt.Sprintf("{'field_name': %s, 'ascending': %s, 'dataset_name': %s, 'dataset_digest': %s}",
			pyRepr(x.FieldName), asc, pyOptionalRepr(x.DatasetName), pyOptionalRepr(x.DatasetDigest))
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// ---- run inputs and outputs ----

// LogInputs validates dataset inputs as MLflow does and links them, and any
// logged models, to the run. Inputs repeating a (name, digest) pair keep
// the first, as MLflow does.
func (s *Service) LogInputs(ctx context.Context, runID string, datasets []DatasetInput, models []ModelInput) error {
	if err := ValidateRunID(runID, "run_id"); err != nil {
		return err
	}
	seen := map[[2]string]bool{}
	kept := make([]DatasetInput, 0, len(datasets))
	for _, in := range datasets {
		if err := validateDatasetInput(in); err != nil {
			return err
		}
		k := [2]string{in.Dataset.Name, in.Dataset.Digest}
		if seen[k] {
			continue
		}
		seen[k] = true
		kept = append(kept, in)
	}
	return s.store.LogInputs(ctx, runID, kept, models)
}

func validateDatasetInput(in DatasetInput) error {
	d := in.Dataset
	for _, f := range []struct {
		name  string
		value string
		limit int
	}{
		{"name", d.Name, MaxDatasetNameLength},
		{"digest", d.Digest, MaxDatasetDigestLength},
		{"source", d.Source, MaxDatasetSourceLength},
		{"schema", d.Schema, MaxDatasetSchemaLength},
		{"profile", d.Profile, MaxDatasetProfileLength},
	} {
		if charLen(f.value) > f.limit {
			return exceedsMaxLength(f.name, f.limit)
		}
	}
	for _, t := range in.Tags {
		if charLen(t.Key) > MaxInputTagKeyLength {
			return exceedsMaxLength("key", MaxInputTagKeyLength)
		}
		if charLen(t.Value) > MaxInputTagValueLength {
			return exceedsMaxLength("value", MaxInputTagValueLength)
		}
	}
	return nil
}

// LogOutputs links logged models to the run as its outputs.
func (s *Service) LogOutputs(ctx context.Context, runID string, models []ModelOutput) error {
	return s.store.LogOutputs(ctx, runID, models)
}

// SearchDatasets serves the UI's dataset list for 1 to 20 experiments.
func (s *Service) SearchDatasets(ctx context.Context, experimentIDs []string) ([]DatasetSummary, error) {
	if len(experimentIDs) == 0 {
		return nil, InvalidParameter("SearchDatasets request must specify at least one experiment_id.")
	}
	if len(experimentIDs) > MaxSearchDatasetsExperiments {
		return nil, InvalidParameter("SearchDatasets request cannot specify more than %d experiment_ids. Received %d experiment_ids.",
			MaxSearchDatasetsExperiments, len(experimentIDs))
	}
	for _, id := range experimentIDs {
		if err := parseExperimentID(id); err != nil {
			return nil, err
		}
	}
	return s.store.SearchDatasets(ctx, experimentIDs)
}
